"""check: a healthy file passes; zeroed tensors, NaN, a misnamed key and mixed spellings are found."""
import pytest
import torch
from safetensors.torch import load_file, save_file
from tools_fixtures import one_torch_thread, tools_files  # noqa: F401

from trainer.errors import ModelError
from trainer.network.lora_file import read_metadata
from trainer.tools.check import check_lora, format_report
from trainer.tools.cli import main_check


def test_healthy_file(tools_files, capsys):
    r = check_lora(tools_files["locon"], sd_model=tools_files["base"])
    assert r.healthy, r.problems
    assert r.family == "sd1" and len(r.modules) == len(r.table())
    assert all(m.delta_norm and m.delta_norm > 0 for m in r.modules)
    assert r.present["unet-attn"] and r.present["te"] and r.present["unet-conv"]
    assert r.missing["te"] == [] and r.missing["unet-attn"] == []
    assert r.metadata["dim"] == "8" and r.metadata["network"] == "networks.lora"
    # without a base, names are checked against the real SD 1.x architecture (the tiny one is a subset of it)
    r2 = check_lora(tools_files["lora"])
    assert r2.healthy and r2.family_source == "metadata" and r2.missing["te"]  # real CLIP-L has 12 layers
    assert main_check([str(tools_files["lora"]), "--sd_model", str(tools_files["base"])]) == 0
    assert "healthy" in capsys.readouterr().out


def test_zeroed_tensors_nan_and_misnamed_key_are_flagged(tools_files, tmp_path, capsys):
    sd = load_file(str(tools_files["lora"]))
    ups = sorted(k for k in sd if k.endswith("lora_up.weight"))
    sd[ups[0]] = torch.zeros_like(sd[ups[0]])  # fp16 underflow looks like this
    sd[ups[1]] = torch.full_like(sd[ups[1]], 1e-12)
    sd[ups[2]] = sd[ups[2]].clone()
    sd[ups[2]][0, 0] = float("nan")
    bad = ups[3].split(".")[0]
    for k in [k for k in sd if k.startswith(bad + ".")]:
        sd[k.replace("attn1_to", "attn1_too") if "attn1_to" in k else k.replace(bad, bad + "_typo")] = sd.pop(k)
    path = tmp_path / "sick.safetensors"
    save_file(sd, str(path), read_metadata(tools_files["lora"]))
    r = check_lora(path, sd_model=tools_files["base"])
    assert r.zero == [ups[0]] and r.near_zero == [ups[1]] and r.nonfinite == [ups[2]]
    assert len(r.unknown_names) == 1 and not r.healthy
    assert len(r.problems) == 4
    text = format_report(r, verbose=True)
    assert "PROBLEM" in text and "all zero" in text
    assert main_check([str(path), "--sd_model", str(tools_files["base"])]) == 1
    assert "problem(s) found" in capsys.readouterr().out


def test_foreign_and_mixed_spellings(tools_files, tmp_path):
    sd = load_file(str(tools_files["lora"]))
    # flat transformers-5 text encoder names and one UNet module in the original (input_blocks) spelling
    k0 = next(k for k in sd if k.startswith("lora_te_text_model_encoder_layers_0_self_attn_q_proj"))
    out = {}
    for k, v in sd.items():
        k = k.replace("lora_te_text_model_encoder_layers_", "lora_te_encoder_layers_")
        k = k.replace("lora_unet_down_blocks_0_attentions_0_", "lora_unet_input_blocks_1_1_")
        out[k] = v
    path = tmp_path / "names.safetensors"
    save_file(out, str(path))
    r = check_lora(path, sd_model=tools_files["base"])
    assert r.mixed_spelling and not r.unknown_names
    assert any(n.startswith("lora_te_encoder_layers_") for n in r.foreign_names)
    assert any(n.startswith("lora_unet_input_blocks_1_1_") for n in r.foreign_names)
    assert k0  # sanity


def test_not_a_lora(tools_files, tmp_path):
    with pytest.raises(ModelError, match="not a LoRA"):
        check_lora(tools_files["base"])
    (tmp_path / "x.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a readable"):
        check_lora(tmp_path / "x.safetensors")
