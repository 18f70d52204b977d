"""trainer/run/loss.py against values computed by hand from the published formulas (DDPM scaled-linear schedule,
Lin et al. 2023 zero terminal SNR, Hang et al. 2023 min-SNR weighting, sd-scripts' v-prediction scalings)."""
import math

import numpy as np
import pytest
import torch

from trainer.run import loss as L


def _alphas_cumprod_by_hand(n=1000, start=0.00085, end=0.012):
    betas = np.linspace(math.sqrt(start), math.sqrt(end), n, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def test_training_schedule_is_sd_scaled_linear():
    sched = L.make_noise_scheduler()
    expected = _alphas_cumprod_by_hand()
    got = sched.alphas_cumprod.double().numpy()
    assert got[0] == pytest.approx(1 - 0.00085, rel=1e-6)
    assert np.allclose(got, expected, rtol=1e-5)
    # the terminal SNR of SD's schedule is about 0.0047: never pure noise (why zero_terminal_snr exists)
    snr_last = expected[-1] / (1 - expected[-1])
    assert float(sched.all_snr[-1]) == pytest.approx(snr_last, rel=1e-4)
    assert 0.004 < snr_last < 0.005


def test_zero_terminal_snr_matches_lin_et_al():
    sched = L.make_noise_scheduler(zero_terminal_snr=True)
    a = np.sqrt(_alphas_cumprod_by_hand())
    rescaled = (a - a[-1]) * a[0] / (a[0] - a[-1])  # shift so the last is 0, scale so the first is unchanged
    got = sched.alphas_cumprod.double().numpy()
    assert np.allclose(got[:-1], rescaled[:-1] ** 2, rtol=1e-4, atol=1e-9)
    assert got[0] == pytest.approx(a[0] ** 2, rel=1e-6)
    assert got[-1] == pytest.approx(4.8973451890853435e-08)  # sd-scripts' tiny positive stand-in for 0
    assert float(sched.all_snr[-1]) < 1e-7
    # betas/alphas describe the same schedule up to the last step (whose alpha is exactly 0)
    assert torch.allclose(torch.cumprod(sched.alphas, 0)[:-1], sched.alphas_cumprod[:-1], rtol=1e-4)
    assert float(sched.betas[-1]) == pytest.approx(1.0)


def _sched_with_snr(values):
    """A schedule stub whose SNR table is given (timestep i has SNR values[i])."""
    class S:
        all_snr = torch.tensor(values, dtype=torch.float32)
    return S()


SNR = [0.25, 1.0, 4.0, 25.0]


def test_min_snr_weight_noise_prediction():
    sched, t = _sched_with_snr(SNR), torch.arange(4)
    out = L.weight_loss(torch.ones(4), t, sched, min_snr_gamma=5.0, v_prediction=False,
                        scale_v_pred_like_noise=False, v_pred_like_loss=None)
    # min(snr, gamma) / snr
    assert out.tolist() == pytest.approx([1.0, 1.0, 1.0, 5.0 / 25.0])


def test_min_snr_weight_v_prediction():
    sched, t = _sched_with_snr(SNR), torch.arange(4)
    out = L.weight_loss(torch.full((4,), 2.0), t, sched, min_snr_gamma=5.0, v_prediction=True,
                        scale_v_pred_like_noise=False, v_pred_like_loss=None)
    # min(snr, gamma) / (snr + 1)
    assert out.tolist() == pytest.approx([2 * 0.25 / 1.25, 2 * 1 / 2, 2 * 4 / 5, 2 * 5 / 26])


def test_scale_v_pred_loss_like_noise_pred():
    sched, t = _sched_with_snr(SNR), torch.arange(4)
    out = L.weight_loss(torch.ones(4), t, sched, min_snr_gamma=None, v_prediction=True,
                        scale_v_pred_like_noise=True, v_pred_like_loss=None)
    assert out.tolist() == pytest.approx([s / (s + 1) for s in SNR])


def test_v_pred_like_loss_adds_a_scaled_term():
    sched, t = _sched_with_snr(SNR), torch.arange(4)
    out = L.weight_loss(torch.ones(4), t, sched, min_snr_gamma=None, v_prediction=False,
                        scale_v_pred_like_noise=False, v_pred_like_loss=0.1)
    # loss + loss / (snr / (snr + 1)) * weight
    assert out.tolist() == pytest.approx([1 + (s + 1) / s * 0.1 for s in SNR])


def test_no_option_leaves_the_loss_alone():
    loss = torch.tensor([0.3, 0.7])
    assert L.weight_loss(loss, torch.tensor([0, 1]), _sched_with_snr(SNR), min_snr_gamma=None,
                         v_prediction=False, scale_v_pred_like_noise=False, v_pred_like_loss=None) is loss


def test_noise_offset_adds_one_value_per_channel():
    latents = torch.zeros(2, 4, 8, 8)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    noise = L.make_noise(latents, noise_offset=0.1, adaptive_noise_scale=None, multires_iterations=None,
                         multires_discount=0.3, generator=g1)
    base = torch.randn(latents.shape, generator=g2)
    offset = torch.randn((2, 4, 1, 1), generator=g2)
    assert torch.allclose(noise, base + 0.1 * offset)


def test_adaptive_noise_scale_grows_the_offset_with_the_latent_mean():
    latents = torch.full((1, 4, 8, 8), -2.0)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    noise = L.make_noise(latents, noise_offset=0.1, adaptive_noise_scale=0.5, multires_iterations=None,
                         multires_discount=0.3, generator=g1)
    base = torch.randn(latents.shape, generator=g2)
    offset = torch.randn((1, 4, 1, 1), generator=g2)
    assert torch.allclose(noise, base + (0.1 + 0.5 * 2.0) * offset)


def test_pyramid_noise_is_unit_variance_and_low_frequency_rich():
    import random

    random.seed(0)  # the level sizes are drawn with python's random, as in sd-scripts
    torch.manual_seed(0)
    white = torch.randn(4, 4, 64, 64)
    noise = L.pyramid_noise(white.clone(), 6, 0.8)
    assert noise.shape == white.shape
    assert float(noise.std()) == pytest.approx(1.0, abs=1e-4)
    # the added low-resolution levels make neighbouring pixels correlated; white noise has none
    def neighbour_corr(x):
        a, b = x[..., :, :-1].flatten(), x[..., :, 1:].flatten()
        return float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    assert abs(neighbour_corr(white)) < 0.05 and neighbour_corr(noise) > 0.2
