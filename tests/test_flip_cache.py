"""flip_aug with cache_latents: the mirrored image's latents are cached beside the others (sd-scripts), a step
picks one of the two; color_aug / random_crop with caching stay refused."""
import random

import numpy as np
import pytest
import torch
from conftest import make_dataset, quick_config, run_training, train_data

from trainer.config.fields import TrainConfig
from trainer.config.validate import errors


def _data(tiny_ckpt, root, **kw):
    from trainer.models.loader import load_base_model

    data_dir = make_dataset(root, {"1_redcircle": 2})
    cfg = quick_config(tiny_ckpt("sd1"), data_dir, root / "out", **kw)
    return train_data(cfg), load_base_model(cfg.pretrained_model_name_or_path)


@pytest.fixture
def exact_vae(monkeypatch):
    """The VAE's posterior sample draws noise; its mode makes "the encoding of an image" one tensor."""
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    monkeypatch.setattr(DiagonalGaussianDistribution, "sample", lambda self, generator=None: self.mode())


@torch.no_grad()
def test_flipped_cached_latents_are_the_encoding_of_the_mirrored_image(tiny_ckpt, tmp_path, exact_vae):
    from PIL import Image

    from trainer.run.caching import cache_latents
    from trainer.dataset.images import open_image_rgb
    from trainer.models.spec import VAE_SCALING

    data, base = _data(tiny_ckpt, tmp_path / "d", flip_aug=True, cache_latents=True)
    latents, _, failed = cache_latents(data, base.vae, base.family, torch.device("cpu"),
                                       to_disk=False, batch_size=2)
    assert not failed and data.latents_flipped is not None
    for i, item in enumerate(data.items):
        img = open_image_rgb(item.entry.path).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        want = base.vae.encode(x).latent_dist.mode()[0] * VAE_SCALING[base.family]
        torch.testing.assert_close(data.latents_flipped[i], want, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(latents[i], want, atol=1e-3)  # the image is not symmetric


def test_a_cached_step_uses_either_latent(tiny_ckpt, tmp_path):
    data, _ = _data(tiny_ckpt, tmp_path / "d", flip_aug=True)
    data.latents = [torch.zeros(4, 8, 8) for _ in data.items]
    data.latents_flipped = [torch.ones(4, 8, 8) for _ in data.items]
    seen = {float(data._cached_latent(0, random.Random(k)).mean()) for k in range(20)}
    assert seen == {0.0, 1.0}


def test_disk_cache_holds_the_mirrored_latents_and_gains_them_when_flip_is_turned_on(tiny_ckpt, tmp_path):
    data_dir = make_dataset(tmp_path / "d", {"1_redcircle": 2})
    cfg = quick_config(tiny_ckpt("sd1"), data_dir, tmp_path / "a", cache_latents=True, cache_latents_to_disk=True,
                       max_train_steps=1)
    run_training(cfg)
    caches = sorted(data_dir.rglob("*.npz"))
    assert len(caches) == 2 and all("latents_flipped" not in np.load(p) for p in caches)
    path, _ = run_training(cfg.replace(output_dir=str(tmp_path / "b"), flip_aug=True))
    assert path
    for p in caches:
        with np.load(p) as z:
            assert z["latents_flipped"].shape == z["latents"].shape
            assert not np.allclose(z["latents_flipped"], z["latents"])
    stamp = {p: p.stat().st_mtime_ns for p in caches}
    run_training(cfg.replace(output_dir=str(tmp_path / "c"), flip_aug=True))
    assert all(p.stat().st_mtime_ns == stamp[p] for p in caches)  # reused with its mirrored twin


def test_flip_with_cache_is_allowed_and_random_crop_or_color_aug_are_refused():
    base = TrainConfig(pretrained_model_name_or_path="m", train_data_dir="d", output_dir="o", cache_latents=True)
    assert not errors(base.replace(flip_aug=True))
    assert not errors(base.replace(cache_latents=False, cache_latents_to_disk=True, flip_aug=True))
    (crop,) = errors(base.replace(random_crop=True))
    assert "random_crop" in crop.message and crop.message.endswith(".")
    cfg = base.replace()
    cfg.color_aug = True  # the field is added by another change; the check reads it when present
    (color,) = errors(cfg)
    assert "color_aug" in color.message


def test_the_memory_estimate_shows_the_doubled_cache(tiny_ckpt):
    from trainer.vram.estimate import estimate

    cfg = TrainConfig(pretrained_model_name_or_path=str(tiny_ckpt("sd1")), resolution="512,512",
                      cache_latents=True)
    plain = estimate(cfg).latent_cache_bytes_per_image
    flipped = estimate(cfg.replace(flip_aug=True))
    assert plain == 4 * 64 * 64 * 4
    assert flipped.latent_cache_bytes_per_image == 2 * plain
    assert any("twice" in n for n in flipped.notes)
    assert estimate(cfg.replace(cache_latents=False)).latent_cache_bytes_per_image is None
