"""What a run carries from step to step, in one object: the parts it trains with and where it is."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainer.run.saving import Progress


@dataclass
class RunState:
    # the parts, built once by the set-up (trainer.run.setup)
    base: Any           # models.loader.BaseModel: UNet, VAE, text encoders, family
    model: Any          # step.StepModel: the forward pass and the loss
    network: Any        # the trained LoRA network
    opt: Any            # the optimizer
    sched: Any          # the learning-rate scheduler
    plan: Any           # dataset.plan.StepPlan: steps per epoch, total steps, epochs
    data: Any           # data.TrainData
    resumed: Progress   # where this run starts (a resumed state or initial_step; zeros otherwise)
    scaler: Any = None  # the fp16 gradient scaler, or None
    tb: Any = None      # tb.TensorBoard, or None
    watch: Any = None   # watch.Watch: samples, validation, EMA, d*lr
    losses: Any = None  # step_stats.StepLosses: each step's loss, read without waiting for the GPU
    params: list = field(default_factory=list)  # the trained parameters
    # where the run is
    step: int = 0            # optimizer steps done
    epoch: int = 0           # epochs fully done
    batch_in_epoch: int = 0  # local batches done in the current epoch
    start_step: int = 0      # the step this run (re)started at: before its first optimizer step nothing is saved
    start_time: float = 0.0
    stopped: bool = False    # the stop Event was seen after an optimizer step
    reported_bad: set = field(default_factory=set)  # unreadable images already named in the log

    def progress(self) -> Progress:
        """The position a state saved now resumes from."""
        return Progress(self.step, self.epoch, self.batch_in_epoch, self.resumed.session_id,
                        self.plan.total_steps)
