"""resize: ranks as asked, alpha keeps the scale, the weight change stays within the kept-energy bound."""
import math

import pytest
import torch
from safetensors.torch import load_file
from tools_fixtures import make_lora, one_torch_thread, tools_files  # noqa: F401

from trainer.errors import UserError
from trainer.network.lora_file import read_metadata
from trainer.tools.lora_modules import lora_delta, parse_modules
from trainer.tools.resize import resize_lora


def _low_rank_lora(tmp_path):
    """A LoCon file whose modules have a decaying spectrum (so dynamic methods choose different ranks)."""
    src = make_lora(tmp_path / "src.safetensors", "sd1", seed=5, dim=16, alpha=8.0,
                    args=["conv_dim=8", "conv_alpha=4"])
    sd = load_file(str(src))
    g = torch.Generator().manual_seed(0)
    for k in [k for k in sd if k.endswith("lora_down.weight")]:
        r = sd[k].shape[0]
        decay = torch.tensor([0.6 ** i for i in range(r)])
        sd[k] = sd[k] * decay.reshape(r, *([1] * (sd[k].ndim - 1))) + 1e-4 * torch.randn(sd[k].shape, generator=g)
    from trainer.network.lora_file import save_lora

    save_lora(src, sd, read_metadata(src), "fp32")
    return src


def test_fixed_rank_keeps_modules_ranks_and_energy_bound(tmp_path):
    src = _low_rank_lora(tmp_path)
    out = tmp_path / "r4.safetensors"
    res = resize_lora(src, out, 4)
    a, b = parse_modules(load_file(str(src))), parse_modules(load_file(str(out)))
    assert set(a) == set(b) and len(res.rows) == len(a)
    for name, m in a.items():
        n = b[name]
        assert n.rank == 4
        assert n.tensors["lora_down.weight"].shape[1:] == m.tensors["lora_down.weight"].shape[1:]
        assert math.isclose(n.scale, m.scale, rel_tol=1e-5)  # alpha rescaled: alpha/rank unchanged
        d0, d1 = lora_delta(m), lora_delta(n)
        kept = next(r.fro_kept for r in res.rows if r.module == name)
        # truncated SVD: the error is exactly the dropped energy, the kept part is the reported fraction
        err = torch.linalg.vector_norm(d0 - d1) / torch.linalg.vector_norm(d0)
        assert err <= math.sqrt(max(0.0, 1 - kept ** 2)) + 1e-3
        assert torch.linalg.vector_norm(d1) / torch.linalg.vector_norm(d0) == pytest.approx(kept, abs=1e-3)
    assert 0.9 < res.average_fro_kept <= 1.0
    md = read_metadata(out)
    assert md["ss_network_dim"] == "4" and "resized from" in md["ss_training_comment"]
    assert md["sshs_model_hash"] != read_metadata(src)["sshs_model_hash"]


def test_dynamic_sv_fro_keeps_ninety_percent_of_each_module(tmp_path):
    src = _low_rank_lora(tmp_path)
    out = tmp_path / "dyn.safetensors"
    res = resize_lora(src, out, 16, dynamic_method="sv_fro", dynamic_param=0.9)
    assert res.min_fro_kept >= 0.9
    ranks = {r.new_rank for r in res.rows}
    assert max(ranks) < 16 and len(ranks) >= 1
    b = parse_modules(load_file(str(out)))
    a = parse_modules(load_file(str(src)))
    for name, m in a.items():
        d0, d1 = lora_delta(m), lora_delta(b[name])
        assert torch.linalg.vector_norm(d1) >= 0.9 * torch.linalg.vector_norm(d0) - 1e-4
    md = read_metadata(out)
    assert md["ss_network_dim"] == "Dynamic" and md["ss_resize_dynamic_method"] == "sv_fro"
    low = resize_lora(src, tmp_path / "low.safetensors", 16, dynamic_method="sv_fro", dynamic_param=0.5)
    assert any("0.9" in w for w in low.warnings)


def test_other_dynamic_methods_and_precision(tmp_path):
    src = _low_rank_lora(tmp_path)
    r1 = resize_lora(src, tmp_path / "a.safetensors", 8, dynamic_method="sv_ratio", dynamic_param=4)
    r2 = resize_lora(src, tmp_path / "b.safetensors", 8, dynamic_method="sv_cumulative", dynamic_param=0.8,
                     save_precision="fp16")
    assert all(1 <= r.new_rank <= 8 for r in r1.rows + r2.rows)
    assert load_file(str(tmp_path / "b.safetensors"))[next(iter(load_file(str(src))))].dtype == torch.float16


def test_bad_input(tmp_path, tools_files):
    with pytest.raises(UserError, match="overwrite"):
        resize_lora(tools_files["lora"], tools_files["lora"], 2)
    with pytest.raises(UserError, match="not a LoRA"):
        resize_lora(tools_files["base"], tmp_path / "x.safetensors", 2)
    with pytest.raises(UserError, match="dynamic_param"):
        resize_lora(tools_files["lora"], tmp_path / "x.safetensors", 2, dynamic_method="sv_fro", dynamic_param=2)
