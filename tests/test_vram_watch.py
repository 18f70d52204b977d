"""The VRAM estimate knows the extra cost of sample images (and EMA) on full-size SD 1.5 shapes."""
from __future__ import annotations

import pytest

from trainer import vram
from trainer.config.fields import TrainConfig
from trainer.models.fullsize import write_full_size_checkpoint

GiB = 1024 ** 3


@pytest.fixture(scope="module")
def sd15(tmp_path_factory):
    path = write_full_size_checkpoint(tmp_path_factory.mktemp("fullsize") / "sd1.safetensors", "sd1")

    def make(**kw) -> TrainConfig:
        base = dict(pretrained_model_name_or_path=str(path), resolution="512,512", train_batch_size=1,
                    network_dim=32, network_alpha=16, optimizer_type="AdamW8bit", mixed_precision="fp16",
                    gradient_checkpointing=True, cache_latents=True)
        base.update(kw)
        return TrainConfig(**base)

    return make


def test_sample_images_bring_the_vae_back_and_cost_a_no_grad_pass(sd15, tmp_path):
    plain = vram.estimate(sd15())
    assert plain.sampling_peak_bytes is None
    prompts = tmp_path / "p.txt"
    prompts.write_text("a cat --w 512 --h 512\na dog --w 768 --h 768\n", encoding="utf-8")
    est = vram.estimate(sd15(sample_prompts=str(prompts), sample_every_n_epochs=1))
    vae = 83_653_863 * 4  # SD 1.5 VAE parameters in fp32: cached latents left it on the CPU
    assert est.sampling_peak_bytes > plain.allocated_bytes + vae
    assert est.peak_bytes == max(est.training_peak_bytes, est.caching_peak_bytes or 0, est.sampling_peak_bytes)
    assert "sample images:" in est.format() and est.to_dict()["sampling_peak_gib"] > 0
    bigger = vram.estimate(sd15(sample_prompts=str(prompts), sample_every_n_epochs=1, resolution="256,256"))
    assert bigger.sampling_peak_bytes == est.sampling_peak_bytes  # the sample size counts, not the training one
    prompts.write_text("a cat --w 512 --h 512\n", encoding="utf-8")
    smaller = vram.estimate(sd15(sample_prompts=str(prompts), sample_every_n_epochs=1))
    assert smaller.sampling_peak_bytes < est.sampling_peak_bytes
    # a prompt file that is set but never used costs nothing
    assert vram.estimate(sd15(sample_prompts=str(prompts))).sampling_peak_bytes is None
    assert 2 * GiB < est.sampling_peak_bytes < 8 * GiB


def test_ema_on_the_gpu_costs_an_fp32_copy_of_the_lora(sd15):
    plain = vram.estimate(sd15())
    gpu = vram.estimate(sd15(ema="gpu"))
    ema = next(p for p in gpu.parts if p.key == "ema_weights")
    assert ema.bytes == plain.trainable_params * 4
    assert not [p for p in vram.estimate(sd15(ema="cpu")).parts if p.key == "ema_weights"]
