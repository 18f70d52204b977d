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
