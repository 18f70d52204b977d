"""The bare diffusers + peft loop the benches compare LoRA Desk's step against: the frozen UNet with peft
LoRA layers, AdamW and the DDPM scheduler as diffusers' train_text_to_image_lora.py sets them up, and one
step (random noise and timesteps, the UNet's noise prediction, MSE, backward, clipping, AdamW). Shared so
every bench measures the same baseline."""
from __future__ import annotations

import contextlib

import torch

# the attention and feed-forward layers of the UNet that the bare loop trains
TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]


def bare_unet(base, rank: int):
    """The base model's UNet, frozen, with peft LoRA layers of ``rank`` (alpha = rank) on TARGETS."""
    from peft import LoraConfig

    unet = base.unet
    unet.requires_grad_(False)
    lora = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=TARGETS)
    unet.add_adapter(lora)
    return unet


def bare_optimizer(unet, base):
    """-> (the LoRA parameters, AdamW over them, the DDPM scheduler); call it once the UNet is where it
    trains."""
    from diffusers import DDPMScheduler

    params = [p for p in unet.parameters() if p.requires_grad]
    return params, torch.optim.AdamW(params, lr=1e-4), DDPMScheduler(**base.scheduler_config)


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
