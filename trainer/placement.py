"""Frozen modules visiting the training device: latent and text-encoder caching leave the VAE and the text
encoders on the CPU, and sample images and the validation loss need them on the GPU for a moment."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch


@contextmanager
def on_device(modules: Iterable[torch.nn.Module], device) -> Iterator[None]:
    """Inside the block every module is on ``device``; those that were elsewhere go back where they were
    after it, also when the block raises (one copy each: moved, never duplicated)."""
    device = torch.device(device)
    moved: list[tuple[torch.nn.Module, torch.device]] = []
    for module in dict.fromkeys(modules):  # a module named twice moves once
        first = next(module.parameters(), None)
        if first is not None and first.device != device:
            moved.append((module, first.device))
            module.to(device)
    try:
        yield
    finally:
        for module, where in reversed(moved):
            module.to(where)
