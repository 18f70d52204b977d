"""check's zero-tensor report: every zero / near-zero tensor grouped by module and block, and the clip-skip
pattern (the last text-encoder layer untrained) recognised as expected (trainer/tools/zeros.py)."""
import re

import pytest
import torch
from safetensors.torch import load_file, save_file
from tools_fixtures import one_torch_thread, tools_files  # noqa: F401

from trainer.network.lora_file import read_metadata
from trainer.tools.check import check_lora, format_report
from trainer.tools.cli import main_check
from trainer.tools.zeros import summary_lines, untrained_modules

LAYER = re.compile(r"^lora_te_text_model_encoder_layers_(\d+)_")


def _variant(tools_files, path, *, clip_skip=None, last_layer=True, unet_modules=0):
    """The tiny LoRA with the last text-encoder layer's lora_up zeroed (as training with clip skip 2 leaves
    it), `unet_modules` UNet modules' lora_up zeroed too, and ss_clip_skip set or removed."""
    sd = load_file(str(tools_files["lora"]))
    ups = sorted(k for k in sd if k.endswith("lora_up.weight"))
    last = max(int(m.group(1)) for k in ups if (m := LAYER.match(k)))
    te_last = [k for k in ups if (m := LAYER.match(k)) and int(m.group(1)) == last]
    zeroed = list(te_last) if last_layer else []
    zeroed += [k for k in ups if k.startswith("lora_unet_")][::6][:unet_modules]  # spread over blocks
    for k in zeroed:
        sd[k] = torch.zeros_like(sd[k])
    md = dict(read_metadata(tools_files["lora"]))
    md.pop("ss_clip_skip", None)
    if clip_skip is not None:
        md["ss_clip_skip"] = str(clip_skip)
    save_file(sd, str(path), md)
    return te_last, zeroed


def test_clip_skip_2_pattern_is_expected_and_exits_0(tools_files, tmp_path, capsys):
    path = tmp_path / "cs2.safetensors"
    te_last, _ = _variant(tools_files, path, clip_skip=2)
    assert len(te_last) == 6  # q, k, v, out, fc1, fc2
    r = check_lora(path, sd_model=tools_files["base"])
    assert r.healthy, r.problems
    assert len(r.findings) == 6 and all(f.expected and f.block.startswith("text encoder layer") for f in r.findings)
    assert "clip skip 2" in r.expected_reason
    assert main_check([str(path), "--sd_model", str(tools_files["base"])]) == 0
    out = capsys.readouterr().out
    assert "expected: 6 zero tensor(s) in 6 module(s), trained with clip skip 2" in out and "healthy" in out


def test_exactly_the_last_layer_without_metadata_is_read_as_clip_skip_2(tools_files, tmp_path):
    path = tmp_path / "nometa.safetensors"
    _variant(tools_files, path)
    r = check_lora(path, sd_model=tools_files["base"])
    assert r.healthy and "does not record ss_clip_skip" in r.expected_reason
    # one more zero tensor: no longer exactly the pattern, so all seven are problems
    _variant(tools_files, path, unet_modules=1)
    r = check_lora(path, sd_model=tools_files["base"])
    assert not r.healthy and not any(f.expected for f in r.findings)
    assert r.problems[0].startswith("7 tensor(s) in 7 module(s) are all zero")


def test_clip_skip_1_zero_last_layer_is_a_problem(tools_files, tmp_path):
    path = tmp_path / "cs1.safetensors"
    _variant(tools_files, path, clip_skip=1)
    r = check_lora(path, sd_model=tools_files["base"])
    assert not r.healthy and r.problems[0].startswith("6 tensor(s) in 6 module(s) are all zero")


def test_every_zero_tensor_is_listed_by_block_with_verbose(tools_files, tmp_path):
    path = tmp_path / "many.safetensors"
    _, zeroed = _variant(tools_files, path, clip_skip=2, unet_modules=8)
    r = check_lora(path, sd_model=tools_files["base"])
    bad = [f for f in r.findings if not f.expected]
    blocks = {f.block for f in bad}
    assert len(bad) == 8 and len(blocks) > 2 and all(b.startswith("UNet ") for b in blocks)
    assert r.problems == [r.problems[0]] and r.problems[0].startswith("8 tensor(s) in 8 module(s) are all zero")
    short = format_report(r)
    assert f"zero tensors: 8 in 8 module(s) of {len(blocks)} block(s)" in short
    assert all(f"  {b}: " in short for b in blocks) and not any(f.module in short for f in bad)
    lines = summary_lines(r.findings, r.expected_reason, verbose=False, limit=2)
    assert f"... {len(blocks) - 2} more block(s); --verbose lists every tensor" in lines[-1]
    full = format_report(r, verbose=True)
    for key in zeroed:  # every tensor, the expected ones too
        module, _, tensor = key.partition(".")
        assert f"{module}: {tensor}" in full
    rows = r.findings_table()
    assert len(rows) == 14 and sum(1 for row in rows if row[4]) == 6


@pytest.mark.parametrize("family,skip,want", [
    ("sd1", "3", {"lora_te_text_model_encoder_layers_10_mlp_fc1", "lora_te_text_model_encoder_layers_11_mlp_fc1"}),
    ("sdxl", None, {"lora_te1_text_model_encoder_layers_11_mlp_fc1"}),
])
def test_untrained_layers_by_family(family, skip, want):
    prefixes = ["lora_te1", "lora_te2"] if family == "sdxl" else ["lora_te"]
    names = [f"{p}_text_model_encoder_layers_{i}_mlp_fc1" for p in prefixes for i in range(12)]
    md = {"ss_clip_skip": skip} if skip else {}
    mods, reason = untrained_modules(family, names, names, md, set())
    assert mods == want and reason


def test_check_panel_shows_every_finding(qtbot, tools_files, tmp_path):
    from widgets.tools.tools_panels import CheckPanel

    path = tmp_path / "panel.safetensors"
    _variant(tools_files, path, clip_skip=2, unet_modules=2)
    r = check_lora(path, sd_model=tools_files["base"])
    w = CheckPanel()
    qtbot.addWidget(w)
    w.show_result(r)
    assert w.findings.rowCount() == 8
    expected = [w.findings.item(i, 4).text() for i in range(8)]
    assert expected.count("yes") == 6 and expected.count("no") == 2
    assert "1 problem(s) found." in w.status.text() and "as expected (clip skip)" in w.status.text()
