"""Noise and loss options of sd-scripts: noise offset, pyramid (multi-resolution) noise, zero terminal SNR,
min-SNR weighting and the v-prediction loss scalings. Formulas follow sd-scripts so results compare."""
from __future__ import annotations

import math
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
               multires_iterations: int | None, multires_discount: float, offset_random_strength: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
    noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    if noise_offset:
        offset = noise_offset
        if offset_random_strength:  # sd-scripts: one strength in [0, noise_offset) per batch
            # a 1-element tensor, as sd-scripts keeps it: reading it with .item() would wait for the GPU
            offset = torch.rand(1, generator=generator, device=latents.device) * noise_offset
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
                v_prediction: bool, scale_v_pred_like_noise: bool, v_pred_like_loss: float | None,
                debiased: bool = False) -> torch.Tensor:
    """Per-sample loss (shape [B]) -> weighted per-sample loss, in sd-scripts' order (post_process_loss)."""
    if debiased:
        loss = weight_loss(loss, timesteps, sched, min_snr_gamma=min_snr_gamma, v_prediction=v_prediction,
                           scale_v_pred_like_noise=scale_v_pred_like_noise, v_pred_like_loss=v_pred_like_loss)
        return debiased_estimation(loss, timesteps, sched, v_prediction)
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


# --- sd-scripts' timestep range, input perturbation, loss types and debiased estimation
# (library/train_util.py get_timesteps, get_noise_noisy_latents_and_timesteps, get_huber_threshold_if_needed,
# conditional_loss; library/custom_train_functions.py apply_debiased_estimation)

def sample_timesteps(batch: int, min_timestep: int | None, max_timestep: int | None, num_train_timesteps: int,
                     device, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform in [min, max); a single value when min >= max."""
    lo = 0 if min_timestep is None else min_timestep
    hi = num_train_timesteps if max_timestep is None else max_timestep
    if lo < hi:
        t = torch.randint(lo, hi, (batch,), generator=generator)
    else:
        t = torch.full((batch,), hi)
    return t.long().to(device)


def input_perturbation(noise: torch.Tensor, gamma: float | None, random_strength: bool,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """The noise added to the latents (the target stays `noise`): noise + strength * N(0, 1)."""
    if not gamma:
        return noise
    strength = torch.rand(1, generator=generator).item() * gamma if random_strength else gamma
    extra = torch.randn(noise.shape, generator=generator, device=noise.device, dtype=noise.dtype)
    return noise + strength * extra


def huber_threshold(loss_type: str, schedule: str, huber_c: float, huber_scale: float, timesteps: torch.Tensor,
                    sched) -> torch.Tensor | None:
    """Per-sample Huber c for loss types huber and smooth_l1, None for l1/l2."""
    if loss_type not in ("huber", "smooth_l1"):
        return None
    if schedule == "exponential":
        alpha = -math.log(huber_c) / sched.config.num_train_timesteps
        return torch.exp(-alpha * timesteps.float()) * huber_scale
    if schedule == "snr":
        alphas_cumprod = sched.alphas_cumprod.to(timesteps.device)[timesteps]
        sigmas = ((1.0 - alphas_cumprod) / alphas_cumprod) ** 0.5
        return (1 - huber_c) / (1 + sigmas) ** 2 + huber_c
    if schedule == "constant":
        return torch.full(timesteps.shape, huber_c * huber_scale, device=timesteps.device)
    raise ValueError(f"unknown huber_schedule {schedule!r}")


def elementwise_loss(pred: torch.Tensor, target: torch.Tensor, loss_type: str,
                     huber_c: torch.Tensor | None = None) -> torch.Tensor:
    """Unreduced loss of one of sd-scripts' loss types (l2, l1, huber, smooth_l1)."""
    if loss_type == "l2":
        return F.mse_loss(pred, target, reduction="none")
    if loss_type == "l1":
        return F.l1_loss(pred, target, reduction="none")
    c = huber_c.view(-1, *([1] * (pred.ndim - 1)))
    if loss_type == "huber":
        return 2 * c * (torch.sqrt((pred - target) ** 2 + c ** 2) - c)
    if loss_type == "smooth_l1":
        return 2 * (torch.sqrt((pred - target) ** 2 + c ** 2) - c)
    raise ValueError(f"unknown loss_type {loss_type!r}")


def debiased_estimation(loss: torch.Tensor, timesteps: torch.Tensor, sched, v_prediction: bool) -> torch.Tensor:
    """Per-sample loss * 1/sqrt(SNR) (epsilon) or 1/(SNR+1) (v-prediction), SNR capped at 1000."""
    snr = torch.clamp(snr_of(sched, timesteps).float(), max=1000)
    weight = 1 / (snr + 1) if v_prediction else 1 / torch.sqrt(snr)
    return loss * weight
