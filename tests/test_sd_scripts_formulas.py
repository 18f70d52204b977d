"""sd-scripts' formulas for the options issue 17 added: huber thresholds, loss types, debiased estimation,
timestep range and input perturbation, caption wildcards/token warm-up, weighted captions, the added
schedulers and the face crop, each against sd-scripts' own computation."""
import math
import random

import pytest
import torch

from trainer.config.fields import TrainConfig
from trainer.config.files import from_dict


def _sched():
    from trainer.run.loss import make_noise_scheduler

    return make_noise_scheduler()


def test_huber_thresholds_follow_sd_scripts():
    from trainer.run.loss import huber_threshold

    sched, t = _sched(), torch.tensor([0, 250, 999])
    snr = huber_threshold("huber", "snr", 0.1, 1.0, t, sched)
    ac = sched.alphas_cumprod[t]
    sigma = ((1 - ac) / ac) ** 0.5
    assert torch.allclose(snr, (1 - 0.1) / (1 + sigma) ** 2 + 0.1)
    exp = huber_threshold("smooth_l1", "exponential", 0.1, 2.0, t, sched)
    alpha = -math.log(0.1) / 1000
    assert torch.allclose(exp, torch.exp(-alpha * t.float()) * 2.0)
    assert torch.allclose(huber_threshold("huber", "constant", 0.1, 2.0, t, sched), torch.full((3,), 0.2))
    assert huber_threshold("l2", "snr", 0.1, 1.0, t, sched) is None


def test_loss_types_follow_sd_scripts():
    from trainer.run.loss import elementwise_loss

    pred, target = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    c = torch.tensor([0.1, 0.5])
    d2 = (pred - target) ** 2
    cc = c.view(-1, 1, 1, 1)
    assert torch.allclose(elementwise_loss(pred, target, "l2"), d2)
    assert torch.allclose(elementwise_loss(pred, target, "l1"), (pred - target).abs())
    assert torch.allclose(elementwise_loss(pred, target, "huber", c), 2 * cc * (torch.sqrt(d2 + cc ** 2) - cc))
    assert torch.allclose(elementwise_loss(pred, target, "smooth_l1", c), 2 * (torch.sqrt(d2 + cc ** 2) - cc))


def test_debiased_estimation_follows_sd_scripts():
    from trainer.run.loss import weight_loss

    sched, t = _sched(), torch.tensor([0, 500, 999])
    loss = torch.ones(3)
    snr = torch.clamp(sched.all_snr[t], max=1000)
    out = weight_loss(loss, t, sched, min_snr_gamma=None, v_prediction=False, scale_v_pred_like_noise=False,
                      v_pred_like_loss=None, debiased=True)
    assert torch.allclose(out, 1 / torch.sqrt(snr))
    out_v = weight_loss(loss, t, sched, min_snr_gamma=5.0, v_prediction=True, scale_v_pred_like_noise=False,
                        v_pred_like_loss=None, debiased=True)
    min_snr = torch.clamp(sched.all_snr[t], max=5.0) / (sched.all_snr[t] + 1)  # applied first, as sd-scripts
    assert torch.allclose(out_v, min_snr / (snr + 1))


def test_timestep_range_and_input_perturbation():
    from trainer.run.loss import input_perturbation, make_noise, sample_timesteps

    g = torch.Generator().manual_seed(0)
    t = sample_timesteps(4000, 200, 300, 1000, "cpu", g)
    assert int(t.min()) == 200 and int(t.max()) == 299
    assert sample_timesteps(3, 500, 500, 1000, "cpu").tolist() == [500, 500, 500]
    assert int(sample_timesteps(4000, None, None, 1000, "cpu", g).max()) == 999
    noise = torch.zeros(2, 4, 8, 8)
    assert input_perturbation(noise, None, False) is noise
    fixed = input_perturbation(noise, 0.1, False, torch.Generator().manual_seed(1))
    assert torch.allclose(fixed, 0.1 * torch.randn(noise.shape, generator=torch.Generator().manual_seed(1)))
    random_strength = input_perturbation(noise, 0.1, True, torch.Generator().manual_seed(1)).std()
    assert 0 < random_strength < fixed.std()
    lat = torch.zeros(64, 4, 2, 2)
    offsets = make_noise(lat, noise_offset=0.5, adaptive_noise_scale=None, multires_iterations=None,
                         multires_discount=0.3, offset_random_strength=True, generator=g)
    plain = make_noise(lat, noise_offset=0.5, adaptive_noise_scale=None, multires_iterations=None,
                       multires_discount=0.3, generator=torch.Generator().manual_seed(0))
    assert offsets.std() < plain.std()  # the offset's strength is drawn from [0, 0.5)


# --- captions (sd-scripts BaseDataset.process_caption)

def test_wildcards_pick_a_line_and_a_choice():
    from trainer.dataset.captions import process_caption

    seen = {process_caption("a {red|blue} {{x}}\nsecond line", enable_wildcard=True, rng=random.Random(i))
            for i in range(60)}
    assert seen == {"a red {x}", "a blue {x}", "second line"}
    assert process_caption("one\ntwo", rng=random.Random(0)) == "one"


def test_token_warmup_prefix_suffix_and_dropout_every_n_epochs():
    from trainer.dataset.captions import process_caption

    cap = "t0, t1, t2, t3, t4, t5"
    # sd-scripts: floor(step * (len - min) / warmup_step) + min tokens before warmup_step
    assert process_caption(cap, token_warmup_min=2, token_warmup_step=8, step=0) == "t0, t1"
    assert process_caption(cap, token_warmup_min=2, token_warmup_step=8, step=4) == "t0, t1, t2, t3"
    assert process_caption(cap, token_warmup_min=2, token_warmup_step=8, step=8) == cap
    assert process_caption("x", caption_prefix="pre", caption_suffix="post") == "pre x post"
    assert process_caption("x", caption_dropout_every_n_epochs=2, epoch=2) == ""
    assert process_caption("x", caption_dropout_every_n_epochs=2, epoch=3) == "x"
    assert process_caption("a;;;b, c", secondary_separator=";;;") == "a,b, c"


# --- metadata: sd-scripts' keys, plus ours


@pytest.mark.parametrize("mtl", [None, 150])
def test_weighted_captions_scale_each_token_like_sd_scripts(mtl):
    from trainer.models.tokenizers import load_tokenizers
    from trainer.run.text import scale_tokens, tokenize, tokenize_weighted

    tok = load_tokenizers("sd1")[0]
    ids, w = tokenize_weighted(tok, ["a photo of (red:1.5) [hat]", "plain"], mtl)
    assert torch.equal(ids, tokenize(tok, ["a photo of red hat", "plain"], mtl))
    n_red = len(tok("a photo of", add_special_tokens=False).input_ids) + 1  # position after <BOS>
    assert float(w[0, 0, n_red]) == 1.5 and float(w[0, 0, n_red + 1]) == pytest.approx(1 / 1.1)
    assert torch.all(w[1] == 1)
    states = torch.ones(2, ids.shape[1] * 75 + 2, 3)
    scaled = scale_tokens(states, w)
    # sd-scripts: hidden[:, i*75+1 : i*75+76] *= weight[:, i, 1:-1]; <BOS>/<EOS> unscaled, no mean restore
    assert float(scaled[0, n_red, 0]) == 1.5 and float(scaled[0, 0, 0]) == 1.0 and float(scaled[0, -1, 0]) == 1.0


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_weighted_captions_in_the_step_model(tiny_ckpt, family):
    from types import SimpleNamespace

    from trainer.run.loss import make_noise_scheduler
    from trainer.models.loader import load_base_model
    from trainer.run.step import StepModel

    base = load_base_model(tiny_ckpt(family))
    rt = SimpleNamespace(device=torch.device("cpu"))

    def encode(caption, **kw):
        model = StepModel(base, TrainConfig(**kw), rt, make_noise_scheduler(), train_te=False)
        with torch.no_grad():
            return model.encode_captions([caption])

    weighted, pooled_w = encode("red (hat:2)", weighted_captions=True)
    plain, pooled = encode("red hat")
    assert torch.allclose(weighted[:, 2], 2 * plain[:, 2], atol=1e-5)  # <BOS> red hat: hat is token 2
    assert torch.allclose(weighted[:, :2], plain[:, :2]) and torch.allclose(weighted[:, 3:], plain[:, 3:])
    if family == "sdxl":
        assert torch.allclose(pooled_w, pooled)


@pytest.mark.parametrize("name", ["cosine_with_min_lr", "warmup_stable_decay", "inverse_sqrt"])
def test_min_lr_wsd_and_inverse_sqrt_schedulers_equal_transformers_as_sd_scripts_calls_them(name):
    from transformers import optimization as T

    from trainer.optim.schedulers import build_scheduler

    def opt():
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)

    total, warmup, cycles = 100, 10, 1
    ours = build_scheduler(opt(), lr_scheduler=name, num_training_steps=total, lr_warmup_steps=warmup,
                           lr_scheduler_num_cycles=cycles, lr_decay_steps=0.3, lr_scheduler_timescale=20,
                           lr_scheduler_min_lr_ratio=0.1)
    # sd-scripts get_scheduler_fix: num_cycles / 2, min_lr_rate / min_lr_ratio, decay = int(0.3 * total)
    if name == "cosine_with_min_lr":
        ref = T.get_cosine_with_min_lr_schedule_with_warmup(opt(), warmup, total, num_cycles=cycles / 2,
                                                            min_lr_rate=0.1)
    elif name == "warmup_stable_decay":
        ref = T.get_wsd_schedule(opt(), warmup, 30, num_stable_steps=total - warmup - 30, num_cycles=cycles / 2,
                                 min_lr_ratio=0.1)
    else:
        ref = T.get_inverse_sqrt_schedule(opt(), warmup, timescale=20)
    got, want = [], []
    for _ in range(total):
        got.append(ours.get_last_lr()[0])
        want.append(ref.get_last_lr()[0])
        ours.optimizer.step(), ours.step(), ref.optimizer.step(), ref.step()
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_scheduler_options_are_checked_before_the_model_loads():
    from trainer.config.validate import errors

    fields = {i.field for i in errors(TrainConfig(lr_scheduler="cosine_with_min_lr"), need_paths=False)}
    assert "lr_scheduler_min_lr_ratio" in fields
    fields = {i.field for i in errors(TrainConfig(lr_scheduler="warmup_stable_decay"), need_paths=False)}
    assert "lr_decay_steps" in fields
    assert from_dict({"lr_decay_steps": 20}).lr_decay_steps == 20
    assert from_dict({"lr_decay_steps": 0.2}).lr_decay_steps == 0.2


def test_face_crop_follows_sd_scripts_crop_target():
    from PIL import Image, ImageDraw

    from trainer.run.augment import face_crop, face_info

    assert face_info("/d/img_150_50_40_40.png") == (150, 50, 40, 40) and face_info("/d/plain.png") is None
    img = Image.new("RGB", (200, 100), (0, 0, 255))
    ImageDraw.Draw(img).rectangle([130, 30, 170, 70], fill=(255, 0, 0))  # the face, centre (150, 50)
    # range 2..2: the face's side becomes half the crop's shorter side: scale max(0.64, 64/80) = 0.8
    out, (top, left) = face_crop(img, (64, 64), (150, 50, 40, 40), (2.0, 2.0), False, random.Random(0), None)
    assert out.size == (64, 64) and (top, left) == (8, 88)  # face at (120, 40) in the 160x80 image
    assert out.getpixel((32, 32))[0] > 200  # the face is in the middle
