"""Plain event objects the trainer reports through its callback. The CLI prints them, the GUI's worker
turns them into Qt signals. No torch, no Qt."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Started:
    total_steps: int
    epochs: int
    steps_per_epoch: int
    samples_per_epoch: int
    batch_size: int
    plan_text: str
    start_step: int = 0


@dataclass
class Step:
    step: int                # optimizer steps done (1-based)
    total_steps: int
    epoch: int               # 1-based
    loss: float              # this step's loss (mean over accumulated batches)
    avg_loss: float          # moving average over the last epoch's steps, like sd-scripts
    lrs: dict[str, float]    # learning rate per parameter group (unet, textencoder)
    it_per_s: float
    eta_s: float
    extra: dict = field(default_factory=dict)  # keys_scaled / average_key_norm when scale_weight_norms


@dataclass
class Saved:
    path: str
    epoch: int
    step: int
    final: bool = False
    size_bytes: int = 0


@dataclass
class Log:
    message: str
    level: str = "info"      # info | warning | error


@dataclass
class Finished:
    path: str | None         # the final LoRA file; "" when stopped before the first step (nothing saved)
    steps: int
    stopped: bool = False    # True when the user stopped early


@dataclass
class Failed:
    message: str             # what went wrong, one sentence
    advice: str = ""         # what to change
    kind: str = "error"      # error | nan | oom | input
    last_good: str | None = None  # newest usable LoRA file, if any


@dataclass
class SaveFailed:
    """The final LoRA could not be written where asked; the weights were kept (see trainer.save_guard)."""
    path: str                # where it should have gone
    reason: str              # a few words: "the disk is full"
    fallback: str            # where it was written instead; "" when that failed too
    data: bytes = field(default=b"", repr=False)  # the whole file, for a retry elsewhere


Event = Started | Step | Saved | Log | Finished | Failed | SaveFailed
