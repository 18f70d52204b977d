"""One training step of the bare diffusers + peft loop the benches compare LoRA Desk's step against: random
noise and timesteps, the UNet's noise prediction, MSE, backward, clipping, AdamW. Shared so every bench
measures the same baseline."""
from __future__ import annotations

import contextlib

import torch


def bare_step(unet, sched, latents, states, params, opt, *, added=None, autocast=None) -> None:
    noise = torch.randn_like(latents)
    t = torch.randint(0, 1000, (latents.shape[0],), device=latents.device)
    with autocast or contextlib.nullcontext():
        pred = unet(sched.add_noise(latents, noise, t), t, states, added_cond_kwargs=added).sample
    loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
