"""EMA of the trained network's weights, as OneTrainer keeps it (its names: ema = off/gpu/cpu, ema_decay,
ema_update_step_interval; SimpleTuner's use_ema/ema_decay are the same idea). sd-scripts has no EMA.

Every ema_update_step_interval optimizer steps: ema += (1 - d) * (weight - ema), with the warm-up decay
d = min(step / (step + 9), ema_decay) (OneTrainer's (1+s)/(10+s) for its 0-based step s), so the average
does not stay stuck at the untrained start of a short LoRA run. The copy is fp32, on the GPU or the CPU.
Files: the EMA weights are swapped into the network for the write and swapped back (ema_save "ema_only"
writes only them, "both" writes the trained weights and a second file with the -ema suffix). Saved states
keep the copy (ema.safetensors), so a resumed run continues the same average."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch

STATE_FILE = "ema.safetensors"


def ema_path(path: Path) -> Path:
    return path.with_name(path.stem + "-ema" + path.suffix)


class WeightEMA:
    def __init__(self, params: list, decay: float, interval: int, device):
        self.params = list(params)  # a generator would be used up by the copy below
        self.decay, self.interval = float(decay), max(1, int(interval))
        self.device = torch.device(device)
        self.shadow = [p.detach().to(self.device, torch.float32, copy=True) for p in self.params]

    def current_decay(self, step: int) -> float:
        return min(step / (step + 9), self.decay)

    @torch.no_grad()
    def update(self, step: int) -> None:
        """``step``: optimizer steps done (1-based)."""
        if step % self.interval:
            return
        # weights already fp32 on the copy's device are used as they are; others get a converted copy
        weights = [p.detach().to(self.device, torch.float32) for p in self.params]
        # ema + rate * (weight - ema) for all tensors in one launch (a loop launched three kernels a tensor)
        torch._foreach_lerp_(self.shadow, weights, 1.0 - self.current_decay(step))

    @contextmanager
    def swapped_in(self):
        """The network holds the EMA weights inside the block, its trained weights again after it."""
        kept = [p.detach().clone() for p in self.params]
        try:
            with torch.no_grad():
                for s, p in zip(self.shadow, self.params):
                    p.copy_(s.to(p.device, p.dtype))
            yield
        finally:
            with torch.no_grad():
                for k, p in zip(kept, self.params):
                    p.copy_(k)

    def save(self, folder: Path) -> None:
        from safetensors.torch import save

        from trainer.fileio import write_atomic

        write_atomic(Path(folder) / STATE_FILE,
                     save({str(i): s.detach().cpu().contiguous() for i, s in enumerate(self.shadow)}))

    def load(self, folder: Path) -> bool:
        """From a saved state; False when it has none (then the average starts from the current weights)."""
        from safetensors.torch import load_file

        f = Path(folder) / STATE_FILE
        if not f.is_file():
            return False
        saved = load_file(str(f))
        if len(saved) != len(self.shadow) or any(saved[str(i)].shape != s.shape for i, s in enumerate(self.shadow)):
            from trainer.errors import UserError

            raise UserError(f"{f} does not fit this network (other rank or layout); use the same network settings "
                            "to resume.")
        self.shadow = [saved[str(i)].to(self.device, torch.float32) for i in range(len(self.shadow))]
        return True
