"""SDXL: train a tiny single-file SDXL model with both text encoders, then load the file with diffusers'
StableDiffusionXLPipeline.load_lora_weights; sd-scripts' SDXL key names; text-encoder output caching."""
import torch
from conftest import quick_config, run_training
from diffusers_check import SDXL_KEY, file_modules, lora_wrapped, sdxl_outputs, sdxl_pipeline_for
from safetensors import safe_open

from trainer import events as ev
from trainer.models.loader import load_base_model


def test_sdxl_file_has_original_layout_names_and_loads_in_diffusers(tiny_ckpt, dataset, tmp_path):
    model = tiny_ckpt("sdxl")
    path, events = run_training(quick_config(model, dataset, tmp_path / "out", max_train_steps=2,
                                             network_args=["conv_dim=4", "conv_alpha=1"]))
    with safe_open(path, "pt") as f:
        keys, meta = list(f.keys()), f.metadata()
    bad = [k for k in keys if not SDXL_KEY.match(k)]
    assert not bad, bad[:5]
    # upsampler of a decoder level with attention sits at position 2 (real SDXL: output_blocks_2_2_conv)
    assert "lora_unet_output_blocks_1_2_conv.lora_down.weight" in keys
    assert any(k.startswith("lora_te1_text_model_encoder_layers_0_") for k in keys)
    assert any(k.startswith("lora_te2_text_model_encoder_layers_0_") for k in keys)
    assert meta["ss_base_model_version"] == "sdxl_base_v1-0"

    unet_mods, te_mods = file_modules(path)
    base = load_base_model(model)
    pipe = sdxl_pipeline_for(base)
    before = sdxl_outputs(pipe)
    pipe.load_lora_weights(str(path))
    assert lora_wrapped(pipe.unet) == len(unet_mods)
    assert lora_wrapped(pipe.text_encoder) == len([m for m in te_mods if m.startswith("lora_te1_")])
    assert lora_wrapped(pipe.text_encoder_2) == len([m for m in te_mods if m.startswith("lora_te2_")])
    after = sdxl_outputs(pipe)
    for a, b in zip(before, after):
        assert not torch.allclose(a, b)


def test_cached_text_encoder_outputs_train_unet_only_with_the_same_first_loss(tiny_ckpt, dataset, tmp_path):
    model = tiny_ckpt("sdxl")
    common = dict(max_train_steps=1, network_train_unet_only=True, train_batch_size=1)
    _, plain = run_training(quick_config(model, dataset, tmp_path / "a", **common))
    path, cached = run_training(quick_config(model, dataset, tmp_path / "b", cache_text_encoder_outputs=True,
                                             cache_text_encoder_outputs_to_disk=True, **common))
    with safe_open(path, "pt") as f:
        assert not [k for k in f.keys() if k.startswith("lora_te")]
    first = [e.loss for e in plain if isinstance(e, ev.Step)][0]
    first_cached = [e.loss for e in cached if isinstance(e, ev.Step)][0]
    assert abs(first - first_cached) < 1e-5
    assert list(dataset.rglob("*_te_outputs.npz"))


def test_fp8_base_trains_with_unet_weights_in_8_bits(tiny_ckpt, dataset, tmp_path):
    """The 8 GB recipe: fp8 UNet, cached text-encoder outputs, checkpointing, Adafactor, bf16 autocast."""
    path, events = run_training(quick_config(
        tiny_ckpt("sdxl"), dataset, tmp_path, max_train_steps=2, fp8_base=True, mixed_precision="bf16",
        network_train_unet_only=True, cache_text_encoder_outputs=True, gradient_checkpointing=True,
        cache_latents=True, optimizer_type="AdaFactor",
        optimizer_args=["scale_parameter=False", "relative_step=False", "warmup_init=False"]))
    losses = [e.loss for e in events if isinstance(e, ev.Step)]
    assert len(losses) == 2 and all(x == x for x in losses)
    with safe_open(path, "pt") as f:
        assert f.metadata()["ss_fp8_base"] == "True"


def test_cast_to_fp8_keeps_linear_and_conv_weights_in_one_byte():
    from torch import nn

    from trainer.models.fp8 import cast_to_fp8
    from trainer.models.tiny import make_tiny_models

    unet = make_tiny_models("sdxl")[0]
    before = sum(p.numel() * p.element_size() for p in unet.parameters())
    after = cast_to_fp8(unet, torch.bfloat16)
    lin = [m for m in unet.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert all(m.weight.dtype == torch.float8_e4m3fn for m in lin)
    assert all(p.dtype == torch.bfloat16 for m in unet.modules() if isinstance(m, nn.GroupNorm)
               for p in m.parameters())
    assert after < before / 3.5
