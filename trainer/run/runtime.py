"""Where and in which precision training runs: device, process group (accelerate launch), autocast,
gradient scaling and the cross-process gradient average."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from trainer.errors import ConfigError

DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class Runtime:
    device: torch.device
    num_processes: int
    process_index: int
    mixed_precision: str          # what is really used (fp16 falls back to bf16 on a CPU)
    weight_dtype: torch.dtype     # frozen base weights
    notes: list[str]

    @property
    def is_main(self) -> bool:
        return self.process_index == 0

    def autocast(self):
        if self.mixed_precision == "no":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.mixed_precision])

    def make_scaler(self, full_fp16: bool = False):
        """fp16 needs loss scaling on CUDA; bf16 and fp32 do not."""
        if self.mixed_precision != "fp16" or self.device.type != "cuda":
            return None
        scaler = torch.amp.GradScaler("cuda")
        if full_fp16:  # the trained weights themselves are fp16: let the scaler unscale fp16 gradients
            unscale = scaler._unscale_grads_  # as sd-scripts' patch_accelerator_for_fp16_training does
            scaler._unscale_grads_ = lambda opt, inv, found, allow_fp16: unscale(opt, inv, found, True)
        return scaler

    def all_reduce_grads(self, params) -> None:
        """Average gradients over processes (data-parallel) before the optimizer step."""
        if self.num_processes <= 1:
            return
        import torch.distributed as dist

        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        dist.all_reduce(flat)
        flat /= self.num_processes
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g).to(g.dtype))
            offset += n

    def barrier(self) -> None:
        if self.num_processes > 1:
            import torch.distributed as dist

            dist.barrier()


def _join_process_group(timeout_minutes: int | None = None) -> tuple[int, int, torch.device]:
    """Started by `accelerate launch --multi_gpu` or torchrun: they set RANK/WORLD_SIZE/MASTER_ADDR; we join
    the group ourselves (NCCL on GPUs, gloo on CPUs; accelerate's PartialState ignores CPU-only groups)."""
    import os

    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        import datetime

        timeout = datetime.timedelta(minutes=timeout_minutes) if timeout_minutes else None  # ddp_timeout
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world, timeout=timeout)
    return world, rank, torch.device(f"cuda:{local}") if cuda else torch.device("cpu")


def make_runtime(cfg) -> Runtime:
    """Single process, or one of several started by `accelerate launch` / torchrun (data-parallel)."""
    import os

    notes: list[str] = []
    num, index = 1, 0
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        num, index, device = _join_process_group(cfg.ddp_timeout)
    mp = cfg.mixed_precision
    if cfg.full_fp16 and device.type == "cpu":
        raise ConfigError("full_fp16 needs an NVIDIA GPU; on a CPU use full_bf16 with mixed_precision bf16.")
    if mp == "fp16" and device.type == "cpu":
        notes.append("fp16 needs an NVIDIA GPU; training on the CPU in bf16 instead.")
        mp = "bf16"
    if mp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("This GPU does not support bf16: set mixed_precision = fp16.")
    if cfg.fp8_base or cfg.fp8_base_unet:
        if not hasattr(torch, "float8_e4m3fn"):
            raise ConfigError("fp8_base needs PyTorch 2.1 or newer.")
        if mp == "no":
            raise ConfigError("fp8_base needs mixed_precision bf16 or fp16: the 8-bit weights are computed "
                              "in that precision.")
    weight_dtype = DTYPES[mp]
    return Runtime(device, num, index, mp, weight_dtype, notes)
