"""The training core end to end on tiny SD 1.x and SD 2.x checkpoints in the original single-file layout:
train a few steps, then load the file with diffusers' own loader and check every module was applied."""
import pytest
import torch
from conftest import quick_config, run_training
from diffusers_check import SD_KEY, file_modules, lora_wrapped, outputs, pipeline_for

from trainer import events as ev
from trainer.models.loader import load_base_model


@pytest.mark.parametrize("family,extra", [
    ("sd1", {}),
    ("sd2", {"v_parameterization": True, "network_args": ["conv_dim=4", "conv_alpha=1"], "min_snr_gamma": 5.0}),
])
def test_trained_file_loads_in_diffusers_with_every_module(tiny_ckpt, dataset, tmp_path, family, extra):
    model = tiny_ckpt(family)
    cfg = quick_config(model, dataset, tmp_path / "out", **extra)
    path, events = run_training(cfg)
    assert isinstance(events[-1], ev.Finished) and events[-1].steps == 3

    unet_mods, te_mods = file_modules(path)
    assert unet_mods and te_mods
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        keys, meta = list(f.keys()), f.metadata()
    bad = [k for k in keys if not SD_KEY.match(k)]
    assert not bad, f"keys sd-scripts would not write: {bad[:5]}"
    assert meta["ss_network_module"] == "networks.lora" and meta["ss_steps"] == "3"
    assert meta["ss_base_model_version"] == ("sd_v1" if family == "sd1" else "sd_v2_v")  # as sd-scripts
    assert meta["sshs_model_hash"] and meta["ss_tag_frequency"].startswith("{")

    base = load_base_model(model, v_parameterization=extra.get("v_parameterization"))
    pipe = pipeline_for(base)
    te_before, unet_before = outputs(pipe)
    pipe.load_lora_weights(str(path))
    assert lora_wrapped(pipe.unet) == len(unet_mods)
    assert lora_wrapped(pipe.text_encoder) == len(te_mods)
    te_after, unet_after = outputs(pipe)
    assert not torch.allclose(te_before, te_after)
    assert not torch.allclose(unet_before, unet_after)
