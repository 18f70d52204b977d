"""merge: the merged checkpoint equals base + LoRA as diffusers' load_lora_weights applies it; LoHa/LoKr as
lycoris applies them; bad input gives one sentence; the input is never overwritten; no partial file."""
import errno

import pytest
import torch
from diffusers_check import outputs, pipeline_for
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tools_fixtures import make_lora, one_torch_thread, tiny_config, tools_files  # noqa: F401

from trainer.errors import ModelError, UserError
from trainer.models.loader import load_base_model
from trainer.tools.cli import main_merge
from trainer.tools.lora_modules import lora_delta, parse_modules
from trainer.tools.merge import merge_into_checkpoint, merge_loras
from trainer.network.lora_file import load_lora

TOL = 1e-4  # fp32 here; an fp16 merge differs by fp16 rounding only


def _diffusers_outputs(base_path, loras, weights):
    pipe = pipeline_for(load_base_model(base_path))
    names = []
    for i, p in enumerate(loras):
        pipe.load_lora_weights(str(p), adapter_name=f"a{i}")
        names.append(f"a{i}")
    pipe.set_adapters(names, weights)
    return outputs(pipe)


def _merged_outputs(path):
    return outputs(pipeline_for(load_base_model(path)))


def test_sd1_merge_equals_diffusers_at_0_7(tools_files, tmp_path):
    base, lora, locon = tools_files["base"], tools_files["lora"], tools_files["locon"]
    out = tmp_path / "merged.safetensors"
    r = merge_into_checkpoint(base, [lora], [0.7], out)
    assert r.rows[0].modules == len(parse_modules(load_file(str(lora)))) and r.tensors_changed == r.rows[0].modules
    te_d, unet_d = _diffusers_outputs(base, [lora], [0.7])
    te_m, unet_m = _merged_outputs(out)
    te_b, unet_b = _merged_outputs(base)
    assert (te_d - te_b).abs().max() > 100 * TOL and (unet_d - unet_b).abs().max() > 100 * TOL  # it did change
    assert (te_m - te_d).abs().max() < TOL
    assert (unet_m - unet_d).abs().max() < TOL
    # the base's own layout: same keys, shapes and dtypes as the base file
    with safe_open(str(base), "pt") as f, safe_open(str(out), "pt") as g:
        assert set(f.keys()) == set(g.keys())
        k = next(iter(f.keys()))
        assert f.get_tensor(k).dtype == g.get_tensor(k).dtype
        assert "lora_desk_merged" in g.metadata()

    # two files, LoRA + LoCon (conv layers), fp16 output
    out2 = tmp_path / "merged2.safetensors"
    merge_into_checkpoint(base, [lora, locon], [0.7, 0.5], out2, save_precision="fp16")
    te_d, unet_d = _diffusers_outputs(base, [lora, locon], [0.7, 0.5])
    te_m, unet_m = _merged_outputs(out2)
    assert (te_m - te_d).abs().max() < 2e-2 and (unet_m - unet_d).abs().max() < 2e-2


@pytest.mark.parametrize("family", ["sd2", "sdxl"])
def test_merge_equals_diffusers_fused_weights(tiny_ckpt, tmp_path, family):
    """SD 2.x (OpenCLIP fused q/k/v) and SDXL (original-layout names, two text encoders): every weight of the
    re-loaded merged checkpoint equals diffusers' load_lora_weights + fuse_lora at 0.7."""
    from trainer.tools.sample import _scheduler, build_pipeline

    base = tiny_ckpt(family)
    lora = make_lora(tmp_path / f"{family}.safetensors", family, seed=4, args=["conv_dim=4", "conv_alpha=2"])
    out = tmp_path / "m.safetensors"
    r = merge_into_checkpoint(base, [lora], [0.7], out)
    bm = load_base_model(base)
    pipe = build_pipeline(bm, _scheduler("euler", bm.scheduler_config)[0])
    pipe.load_lora_weights(str(lora), adapter_name="a")
    pipe.fuse_lora(lora_scale=0.7)
    pipe.unload_lora_weights()  # keeps the fused weights
    merged = load_base_model(out)
    changed = 0
    for a, b in [(pipe.unet, merged.unet), *zip(bm.text_encoders, merged.text_encoders)]:
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert (sa[k] - sb[k]).abs().max() < 1e-5, k
    fresh = load_base_model(base)
    changed = sum(not torch.equal(v, fresh.unet.state_dict()[k]) for k, v in merged.unet.state_dict().items())
    assert changed > 0 and r.tensors_changed > 0


@pytest.mark.parametrize("algo", ["loha", "lokr"])
def test_lycoris_kinds_merge_as_lycoris_applies_them(tools_files, tmp_path, algo):
    from trainer.network.build import build_network

    base = tools_files["base"]
    args = ["algo=" + algo, "preset=attn-mlp"] + (["factor=4"] if algo == "lokr" else [])
    lora = make_lora(tmp_path / f"{algo}.safetensors", "sd1", seed=6, dim=4, alpha=2.0, module="lycoris.kohya",
                     args=args)
    out = tmp_path / f"m-{algo}.safetensors"
    r = merge_into_checkpoint(base, [lora], [0.7], out)
    assert r.rows[0].kinds == algo
    bm = load_base_model(base)
    net = build_network(tiny_config("lycoris.kohya", 4, 2.0, args), bm.unet, bm.text_encoders)
    missing, unexpected = net.load_state_dict(load_file(str(lora)))
    assert not unexpected
    net.set_multiplier(0.7)
    te_l, unet_l = outputs(pipeline_for(bm))
    te_m, unet_m = _merged_outputs(out)
    assert (te_m - te_l).abs().max() < TOL and (unet_m - unet_l).abs().max() < TOL


def test_ckpt_base_and_lora_into_lora(tools_files, tmp_path):
    from trainer.models.tiny import make_tiny_checkpoint

    ckpt = make_tiny_checkpoint(tmp_path / "base.ckpt", "sd1", seed=0)
    a = merge_into_checkpoint(ckpt, [tools_files["lora"]], [0.7], tmp_path / "a.safetensors")
    b = merge_into_checkpoint(tools_files["base"], [tools_files["lora"]], [0.7], tmp_path / "b.safetensors")
    sa, sb = load_file(str(a.path)), load_file(str(b.path))
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

    la, lb = tools_files["lora"], tools_files["lora_b"]
    cat = merge_loras([la, lb], [0.7, 0.5], tmp_path / "cat.safetensors")
    m_a, m_b = parse_modules(load_file(str(la))), parse_modules(load_file(str(lb)))
    m_c = parse_modules(load_file(str(cat.path)))
    for name in m_a:
        want = 0.7 * lora_delta(m_a[name]) + 0.5 * lora_delta(m_b[name])
        assert m_c[name].rank == 12
        assert (lora_delta(m_c[name]) - want).abs().max() < 1e-5
    svd = merge_loras([la, lb], [0.7, 0.5], tmp_path / "svd.safetensors", new_rank=12)
    m_s = parse_modules(load_file(str(svd.path)))
    name = next(iter(m_a))
    assert (lora_delta(m_s[name]) - lora_delta(m_c[name])).abs().max() < 1e-4  # rank 12 holds it all


def test_bad_input_gives_one_sentence(tools_files, tmp_path, monkeypatch, capsys):
    base, lora = tools_files["base"], tools_files["lora"]
    # an SDXL LoRA (te1/te2 names) on an SD 1.x checkpoint
    sd = {k.replace("lora_te_", "lora_te1_"): v for k, v in load_file(str(lora)).items()}
    sdxl = tmp_path / "sdxl.safetensors"
    save_file(sd, str(sdxl))
    with pytest.raises(ModelError, match="an SDXL LoRA, but .* SD 1.x checkpoint"):
        merge_into_checkpoint(base, [sdxl], [1.0], tmp_path / "o.safetensors")
    # an SD 2.x LoRA without metadata: the shapes do not fit
    sd2 = make_lora(tmp_path / "sd2.safetensors", "sd2", seed=1, metadata={"ss_base_model_version": ""})
    with pytest.raises(ModelError, match="does not fit"):
        merge_into_checkpoint(base, [sd2], [1.0], tmp_path / "o.safetensors")
    with pytest.raises(ModelError, match="not a LoRA"):
        merge_into_checkpoint(base, [base], [1.0], tmp_path / "o.safetensors")
    with pytest.raises(ModelError, match="LoRA/LyCORIS file, not a base model"):
        merge_into_checkpoint(lora, [lora], [1.0], tmp_path / "o.safetensors")
    with pytest.raises(UserError, match="overwrite its input"):
        merge_into_checkpoint(base, [lora], [1.0], base)
    with pytest.raises(UserError, match="2 LoRA files but 3 ratios"):
        merge_into_checkpoint(base, [lora, lora], [1, 1, 1], tmp_path / "o.safetensors")
    # a module of no kind this app knows: both merges name it and its tensors
    odd = tmp_path / "odd.safetensors"
    save_file({**load_file(str(lora)), "lora_unet_mystery.weird_a": torch.zeros(2)}, str(odd))
    for merge in (merge_into_checkpoint, lambda *a: merge_loras(*a[1:])):
        with pytest.raises(ModelError, match=r"^odd.safetensors has modules this app cannot merge "
                                             r"\(not LoRA, LoCon, LoHa or LoKr\), e.g. lora_unet_mystery "
                                             r"\(weird_a\)\.$"):
            merge(base, [odd], [1.0], tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()

    # a full disk: the write fails, no partial file (final or temporary) is left
    import trainer.tools.stream_io as sio

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sio.os, "fsync", full)
    target = tmp_path / "full" / "merged.safetensors"
    with pytest.raises(UserError, match="No space left"):
        merge_into_checkpoint(base, [lora], [1.0], target)
    assert list(target.parent.iterdir()) == []
    assert main_merge(["--sd_model", str(base), "--models", str(lora), "--save_to", str(target)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and errors[0].startswith("error: Could not write")


@pytest.mark.parametrize("algo", ["loha", "lokr"])
def test_lycoris_files_merge_into_one_lora_by_svd(tools_files, tmp_path, algo):
    """LoHa/LoKr + LoRA -> one LoRA: the summed full weight change, reduced by SVD (exact at full rank)."""
    from trainer.models.family import detect
    from trainer.tools.lora_modules import module_delta
    from trainer.tools.targets import target_map
    from trainer.tools.stream_io import CheckpointReader

    args = ["algo=" + algo, "preset=full"] + (["factor=4"] if algo == "lokr" else [])
    lyco = make_lora(tmp_path / f"{algo}.safetensors", "sd1", seed=7, dim=4, alpha=2.0, module="lycoris.kohya",
                     args=args)
    plain = tools_files["locon"]
    with pytest.raises(UserError, match="give a new rank"):
        merge_loras([lyco, plain], [0.7, 0.5], tmp_path / "no.safetensors")
    reader = CheckpointReader(tools_files["base"])
    shapes = reader.shapes()
    reader.close()
    tm = target_map(shapes, detect(shapes))
    r = merge_loras([lyco, plain], [0.7, 0.5], tmp_path / "full.safetensors", new_rank=100000,
                    shapes_from=tools_files["base"])
    assert r.rows[0].kinds == algo and r.rows[1].kinds == "lora"
    m_l, m_p = parse_modules(load_file(str(lyco))), parse_modules(load_file(str(plain)))
    out_sd, out_md = load_lora(r.path)
    m_o = parse_modules(out_sd)
    assert set(m_o) == set(m_l) | set(m_p) and all(m.plain for m in m_o.values())
    assert out_md["ss_network_module"] == "networks.lora"
    assert "algo" not in out_md["ss_network_args"] and "conv_dim" in out_md["ss_network_args"]
    convs = 0
    for name, m in m_o.items():
        shape = tm[name].shape
        want = sum(r_ * module_delta(mods[name], shape) for mods, r_ in ((m_l, 0.7), (m_p, 0.5)) if name in mods)
        got = lora_delta(m).reshape(shape)
        assert (got - want).abs().max() < 1e-5 * max(1.0, float(want.abs().max())), name
        convs += len(shape) == 4
    assert convs > 0  # conv layers (3x3) come out as LoCon modules
    small = merge_loras([lyco, plain], [0.7, 0.5], tmp_path / "r2.safetensors", new_rank=2,
                        shapes_from=tools_files["base"])
    # without shapes_from the real SD 1.x architecture is used: the tiny model's factors do not fit it
    with pytest.raises(ModelError, match="does not fit its layer"):
        merge_loras([lyco], [1.0], tmp_path / "real.safetensors", new_rank=4)
    assert {m.rank for m in parse_modules(load_lora(small.path)[0]).values()} <= {1, 2}
