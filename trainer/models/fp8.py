"""fp8_base: keep the frozen UNet's Linear/Conv weights in float8_e4m3fn (1 byte a weight). Autocast casts
them up to bf16/fp16 layer by layer in the forward pass. Autograd keeps those upcast copies for the backward
pass unless gradient checkpointing recomputes them, so fp8_base saves most with checkpointing on."""
from __future__ import annotations

import torch
from torch import nn


def cast_to_fp8(unet: nn.Module, compute_dtype: torch.dtype) -> int:
    """Cast Linear/Conv weights to fp8 and everything else (norms, embeddings) to `compute_dtype`.
    Returns the number of bytes the weights take afterwards."""
    unet.to(dtype=compute_dtype)
    for m in unet.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.to(dtype=torch.float8_e4m3fn)
    return sum(p.numel() * p.element_size() for p in unet.parameters())
