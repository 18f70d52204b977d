"""Host work per optimizer step, without a GPU: the torch operations our Trainer dispatches per step and the
host-device syncs it makes, against a bare diffusers + peft LoRA loop doing the same work on the same tiny
SD 1.x model (same LoRA targets and rank, AdamW, max_grad_norm 1, batch 2, cached latents and text states).

    python bench/step_ops.py [--steps 8] [--warmup 3] [--show] [--by-op]

Operations: every aten call seen by a TorchDispatchMode (forward, backward, optimizer; what a GPU would get
as kernel launches or host-side work), counted over `--steps` optimizer steps after `--warmup`.
Syncs: `.item()`, `bool(t)`, `float(t)`, `int(t)`, `.tolist()`, `.cpu()`, `.numpy()` on a tensor that
lives on the training device in a GPU run. Not counted, because they never block on a GPU: torch.optim's
reads of its own step counters (kept on the host unless capturable/fused), the DataLoader's base seed
drawn once per epoch on the host, and reads of tensors our code keeps in host memory
(trainer.run.step_stats.host_tensor). On a CUDA machine the same run also counts the
syncs torch itself reports (torch.cuda.set_sync_debug_mode).
`--show` reads every Step event's loss as a GUI does; without it nothing is shown.
Ends with `ops ratio: <ours/bare>` (goal <= 1.05; syncs: at most 1 per step, none when nothing is shown).
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from bare_step import bare_optimizer, bare_step, bare_unet  # noqa: E402

SYNC_METHODS = ("item", "__bool__", "__float__", "__int__", "tolist", "cpu", "numpy")
BATCH, RANK, RES = 2, 4, 64


class OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket.__name__)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.ops.values())


class SyncCounter:
    """Counts the Tensor methods that make the host wait for the device, with where they were called."""

    def __init__(self):
        self.where: collections.Counter = collections.Counter()
        self.on = False
        self._saved = {}

    @property
    def total(self) -> int:
        return sum(self.where.values())

    def _skip(self, t) -> bool:
        from trainer.run.step_stats import is_host_tensor

        if is_host_tensor(t):
            return True
        caller = sys._getframe(2).f_code
        where = caller.co_filename.replace("\\", "/")
        # torch's own host-side scalars: optimizer step counters, the DataLoader's per-epoch base seed
        return (caller.co_name == "_get_value" and "torch/optim" in where) or "torch/utils/data" in where

    def __enter__(self):
        for name in SYNC_METHODS:
            orig = getattr(torch.Tensor, name)
            self._saved[name] = orig

            def wrapped(t, *a, _orig=orig, _name=name, **k):
                if self.on and not self._skip(t):
                    frame = next((f for f in reversed(traceback.extract_stack(limit=12)[:-1])
                                  if "/torch/" not in f.filename.replace("\\", "/")), None)
                    self.where[f"{_name} at {Path(frame.filename).name}:{frame.lineno}" if frame else _name] += 1
                return _orig(t, *a, **k)

            setattr(torch.Tensor, name, wrapped)
        return self

    def __exit__(self, *exc):
        for name, orig in self._saved.items():
            setattr(torch.Tensor, name, orig)


class Window:
    """Counts ops and syncs between two step marks: start at mark `warmup`, stop at `warmup + steps`."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.steps = warmup, steps
        self.ops, self.syncs = OpCounter(), SyncCounter()
        self.marks = 0
        self.cuda_syncs = 0
        self._warnings = None

    def mark(self) -> None:
        self.marks += 1
        if self.marks == self.warmup:
            self.ops.__enter__()
            self.syncs.on = True
            if torch.cuda.is_available():  # torch's own count of synchronizing calls
                import warnings

                self._warnings = warnings.catch_warnings(record=True)
                self._caught = self._warnings.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
        elif self.marks == self.warmup + self.steps:
            self.close()

    def close(self) -> None:
        if self.syncs.on:
            self.syncs.on = False
            self.ops.__exit__(None, None, None)
            if self._warnings is not None:
                torch.cuda.set_sync_debug_mode(0)
                self._warnings.__exit__(None, None, None)
                self.cuda_syncs = sum("synchroniz" in str(x.message) for x in self._caught)

    def result(self) -> dict:
        assert self.marks >= self.warmup + self.steps, f"only {self.marks} steps ran"
        return {"ops": self.ops.total / self.steps, "syncs": self.syncs.total / self.steps,
                "by_op": {k: v / self.steps for k, v in self.ops.ops.items()},
                "sync_sites": dict(self.syncs.where), "cuda_syncs": self.cuda_syncs / self.steps}


def ours(model, data, out, warmup, steps, show) -> dict:
    from conftest import quick_config

    from trainer import events as ev
    from trainer.run.trainer import Trainer

    w = Window(warmup, steps)
    shown = []

    def on_event(e):
        if isinstance(e, ev.Step):
            if show:
                shown.append((e.loss, e.avg_loss))  # what the progress view and the CLI read
            w.mark()

    cfg = quick_config(model, data, out, max_train_steps=warmup + steps + 2, train_batch_size=BATCH,
                       network_dim=RANK, network_alpha=float(RANK), cache_latents=True,
                       cache_text_encoder_outputs=True, network_train_unet_only=True, learning_rate=1e-4,
                       resolution=f"{RES},{RES}", max_grad_norm=1.0)
    with w.syncs:
        try:
            Trainer(cfg, on_event).run()
        finally:
            w.close()
    return w.result()


def bare(model, warmup, steps) -> dict:
    """The loop of diffusers' train_text_to_image_lora.py reduced to its step, on cached latents/states."""
    from trainer.models.loader import load_base_model

    torch.manual_seed(0)
    base = load_base_model(model)
    unet = bare_unet(base, RANK)
    params, opt, sched = bare_optimizer(unet, base)
    lat = RES // 8
    latents = torch.randn(BATCH, 4, lat, lat)
    states = torch.randn(BATCH, 77, unet.config.cross_attention_dim)
    w = Window(warmup, steps)
    with w.syncs:
        try:
            for _ in range(warmup + steps):
                bare_step(unet, sched, latents, states, params, opt)
                w.mark()
        finally:
            w.close()
    return w.result()


def measure(warmup: int = 3, steps: int = 8, show: bool = False, work: Path | None = None) -> dict:
    from conftest import make_dataset

    from trainer.models.tiny import make_tiny_checkpoint

    tmp = Path(work or tempfile.mkdtemp())
    model = tmp / "tiny.safetensors"
    if not model.exists():
        make_tiny_checkpoint(model, family="sd1")
    data = tmp / "data"
    if not data.exists():
        make_dataset(data, {"1_a": 4})
    b = bare(model, warmup, steps)
    o = ours(model, data, tmp / "out", warmup, steps, show)
    return {"ours": o, "bare": b, "ratio": o["ops"] / b["ops"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--show", action="store_true", help="read every Step event's loss, as the GUI does")
    ap.add_argument("--by-op", action="store_true", help="list the operations whose counts differ")
    a = ap.parse_args(argv)
    r = measure(a.warmup, a.steps, a.show)
    o, b = r["ours"], r["bare"]
    print(f"bare diffusers+peft: {b['ops']:.1f} ops/step, {b['syncs']:.2f} syncs/step")
    print(f"ours (Trainer):      {o['ops']:.1f} ops/step, {o['syncs']:.2f} syncs/step "
          f"({'loss shown every step' if a.show else 'nothing shown'})")
    for site, n in sorted(o["sync_sites"].items(), key=lambda kv: -kv[1]):
        print(f"  sync {n / a.steps:.2f}/step: {site}")
    if a.by_op:
        names = set(o["by_op"]) | set(b["by_op"])
        diff = sorted(names, key=lambda n: -abs(o["by_op"].get(n, 0) - b["by_op"].get(n, 0)))
        for n in diff[:25]:
            print(f"  {n:40s} ours {o['by_op'].get(n, 0):7.1f}  bare {b['by_op'].get(n, 0):7.1f}")
    print(f"ops ratio: {r['ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
