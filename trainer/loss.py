"""Noise and loss options of sd-scripts: noise offset, pyramid (multi-resolution) noise, zero terminal SNR,
min-SNR weighting and the v-prediction loss scalings. Formulas follow sd-scripts so results compare."""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F


def make_noise_scheduler(prediction_type: str = "epsilon", zero_terminal_snr: bool = False):
    """The DDPM training schedule every SD 1.x/2.x/SDXL model was trained with."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          num_train_timesteps=1000, clip_sample=False, prediction_type=prediction_type)
    if zero_terminal_snr:
        rescale_zero_terminal_snr(sched)
    sched.all_snr = (sched.alphas_cumprod / (1.0 - sched.alphas_cumprod)).clamp(max=1e6)
    return sched


def rescale_zero_terminal_snr(sched) -> None:
    """Rescale betas so the last timestep has SNR 0 (Lin et al. 2023), in place."""
    alphas_bar_sqrt = sched.alphas_cumprod.sqrt()
    first, last = alphas_bar_sqrt[0].clone(), alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * first / (first - last)
    alphas_bar = alphas_bar_sqrt ** 2
    alphas = torch.cat([alphas_bar[0:1], alphas_bar[1:] / alphas_bar[:-1]])
    alphas_cumprod = torch.cumprod(alphas, 0)
    # SNR of exactly 0 would divide by zero in the weights; sd-scripts keeps a tiny positive value
    alphas_cumprod[-1] = 4.8973451890853435e-08
    sched.alphas_cumprod = alphas_cumprod
    sched.betas = 1 - alphas
    sched.alphas = alphas


def make_noise(latents: torch.Tensor, *, noise_offset: float | None, adaptive_noise_scale: float | None,
               multires_iterations: int | None, multires_discount: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    if noise_offset:
        offset = noise_offset
        if adaptive_noise_scale:
            offset = offset + adaptive_noise_scale * latents.mean(dim=(2, 3), keepdim=True).abs()
        noise = noise + offset * torch.randn((latents.shape[0], latents.shape[1], 1, 1), generator=generator,
                                             device=latents.device, dtype=latents.dtype)
    elif multires_iterations:
        noise = pyramid_noise(noise, multires_iterations, multires_discount, generator)
    return noise


def pyramid_noise(noise: torch.Tensor, iterations: int, discount: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    b, c, h, w = noise.shape
    for i in range(1, iterations + 1):
        r = random.random() * 2 + 2
        hn, wn = max(1, int(h / (r ** i))), max(1, int(w / (r ** i)))
        low = torch.randn((b, c, hn, wn), generator=generator, device=noise.device, dtype=noise.dtype)
        noise = noise + F.interpolate(low, size=(h, w), mode="bilinear") * discount ** i
        if hn == 1 or wn == 1:
            break
    return noise / noise.std()


def snr_of(sched, timesteps: torch.Tensor) -> torch.Tensor:
    return sched.all_snr.to(timesteps.device)[timesteps]


def weight_loss(loss: torch.Tensor, timesteps: torch.Tensor, sched, *, min_snr_gamma: float | None,
                v_prediction: bool, scale_v_pred_like_noise: bool, v_pred_like_loss: float | None) -> torch.Tensor:
    """Per-sample loss (shape [B]) -> weighted per-sample loss."""
    if not (min_snr_gamma or scale_v_pred_like_noise or v_pred_like_loss):
        return loss
    snr = snr_of(sched, timesteps).float()
    if min_snr_gamma:
        clipped = torch.clamp(snr, max=min_snr_gamma)
        loss = loss * (clipped / (snr + 1) if v_prediction else clipped / snr)
    if scale_v_pred_like_noise:
        loss = loss * (torch.clamp(snr, max=1000) / (torch.clamp(snr, max=1000) + 1))
    if v_pred_like_loss:
        scale = torch.clamp(snr, max=1000) / (torch.clamp(snr, max=1000) + 1)
        loss = loss + loss / scale * v_pred_like_loss
    return loss
