"""Step losses without making the host wait for the GPU.

Reading a CUDA loss with `.item()` (or `bool(torch.isfinite(loss))`) blocks the host until the GPU has run
the whole step, so the next step's kernels cannot be queued meanwhile: on a host-bound step that is lost time.
Here each optimizer step's loss is copied into pinned host memory without blocking, with an event recorded
after it; a value is read once its event has completed (event.query() does not block). On a CPU the copy is
done at once, so nothing is late there.

NaN/inf detection therefore may learn of a bad loss one step late, after the optimizer step that used its
gradients. To still keep the weights of the last good step (the trainer writes them on NaN), the trained
parameters are copied (one fused copy, LoRA weights only) before an optimizer step whose loss is not known
yet, and put back if that loss turns out bad. At most one step is ever unknown: an older one is waited for.
"""
from __future__ import annotations

import time
from collections import deque

import torch


def host_tensor(t: torch.Tensor) -> torch.Tensor:
    """Mark a tensor kept in host memory on purpose: reading it never waits for a GPU (bench/step_ops.py)."""
    t._lora_desk_host = True
    return t


def is_host_tensor(t) -> bool:
    return getattr(t, "_lora_desk_host", False)


def rate_and_eta(step: int, start_step: int, total: int, start_time: float) -> tuple[float, float]:
    """Optimizer steps per second since this run's first step, and the seconds left at that rate."""
    elapsed = time.perf_counter() - start_time
    rate = (step - start_step) / elapsed if elapsed > 0 else 0.0
    return rate, (total - step) / rate if rate > 0 else float("inf")


class StepLosses:
    def __init__(self, device: torch.device, window: int):
        self.cuda = device.type == "cuda"
        self.acc: torch.Tensor | None = None
        self.n = 0
        self.pending: deque = deque()  # (step, host buffer, event or None), oldest first
        self.known: list[tuple[int, float]] = []  # read, not reported yet
        self.recent: deque[float] = deque(maxlen=max(1, window))  # moving average, like sd-scripts
        self._free: list[torch.Tensor] = []
        self._snapshot: list[torch.Tensor] | None = None
        self._snapshot_step = 0  # the step whose loss decides whether the snapshot is needed
        self._params: list[torch.Tensor] = []

    def add(self, loss: torch.Tensor) -> None:
        """One batch's loss (gradient accumulation adds several per optimizer step)."""
        d = loss.detach()
        self.acc = d if self.acc is None else self.acc + d
        self.n += 1

    def step(self, step: int, params: list[torch.Tensor]) -> int | None:
        """Before optimizer step `step` (1-based): queue its loss, read what is ready. Returns the number of the
        first step whose loss is NaN/inf (the parameters are then those before that step), else None."""
        mean = self.acc if self.n == 1 else self.acc / self.n
        self.acc, self.n = None, 0
        buf = self._free.pop() if self._free else host_tensor(torch.empty((), pin_memory=self.cuda))
        buf.copy_(mean, non_blocking=self.cuda)
        self.pending.append((step, buf, self._event()))
        self._params = params
        bad = self._read(older_than=step)
        if bad is not None:
            if bad != step:  # its optimizer step has run: go back to the weights before it
                self._restore(bad)
            return bad
        if self.pending:  # this step's loss is still on its way: keep the weights it would overwrite
            with torch.no_grad():
                if self._snapshot is None:
                    self._snapshot = [p.detach().clone() for p in params]
                else:
                    torch._foreach_copy_(self._snapshot, params)
            self._snapshot_step = step
        return None

    def _event(self):
        """Something whose query() says the copy has landed (None: it already has)."""
        if not self.cuda:
            return None
        event = torch.cuda.Event()
        event.record()
        return event

    def drain(self) -> int | None:
        """After an optimizer step: read every queued loss (waits for the GPU); the bad step as in step()."""
        bad = self._read(older_than=None)
        if bad is not None:
            self._restore(bad)
        return bad

    def reports(self) -> list[tuple[int, float, float]]:
        """(step, loss, moving average) of each step read since the last call, in order."""
        out = []
        for step, value in self.known:
            self.recent.append(value)
            out.append((step, value, sum(self.recent) / len(self.recent)))
        self.known = []
        return out

    def average(self) -> float | None:
        """The moving average of the losses reported so far (None before the first)."""
        return sum(self.recent) / len(self.recent) if self.recent else None

    def _read(self, older_than: int | None) -> int | None:
        while self.pending:
            step, buf, event = self.pending[0]
            if event is not None and not event.query():
                if older_than is not None and step >= older_than:
                    break
                event.synchronize()  # more than one step behind (or draining): wait
            self.pending.popleft()
            value = buf.item()
            self._free.append(buf)
            if value != value or value in (float("inf"), float("-inf")):
                return step
            self.known.append((step, value))
        return None

    def _restore(self, bad: int) -> None:
        if self._snapshot is None or self._snapshot_step != bad:
            raise RuntimeError(f"no copy of the weights before step {bad}")  # cannot happen: one step unknown
        with torch.no_grad():
            torch._foreach_copy_(self._params, self._snapshot)
