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
    dlrs: dict[str, float] = field(default_factory=dict)  # Prodigy/D-Adaptation: d*lr per group, the real step size


@dataclass
class Saved:
    path: str
    epoch: int
    step: int
    final: bool = False
    size_bytes: int = 0


@dataclass
class Sample:
    path: str                # the PNG in <output_dir>/sample/
    prompt_index: int        # position in the prompt file (0-based, as in the file name)
    step: int                # optimizer steps done when it was made
    epoch: int | None        # the epoch that just ended (epoch-end and first samples), None for step samples
    prompt: str = ""


@dataclass
class Validation:
    step: int
    epoch: int               # 1-based, the epoch the step belongs to
    loss: float              # mean loss over the held-out images at fixed noise and timesteps
    at_epoch_end: bool = False


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
    """The final LoRA could not be written where asked; the weights were kept (see trainer.run.save_guard)."""
    path: str                # where it should have gone
    reason: str              # a few words: "the disk is full"
    fallback: str            # where it was written instead; "" when that failed too
    data: bytes = field(default=b"", repr=False)  # the whole file, for a retry elsewhere


Event = Started | Step | Saved | Sample | Validation | Log | Finished | Failed | SaveFailed
