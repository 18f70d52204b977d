"""The command line's first impression: `main.py --help` names the commands, mistyped options get the
sentence a mistyped TOML key gets (trainer/cli/argparsing.py), `estimate` checks the training folder, and the
bitsandbytes kernel warning stays out of a normal run (trainer/quiet.py)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import main as entry
from tools_fixtures import one_torch_thread, tools_files  # noqa: F401

from trainer.cli.argparsing import did_you_mean
from trainer.cli.commands import COMMANDS
from trainer.config.files import ConfigError, from_dict

ROOT = Path(__file__).resolve().parent.parent


def test_main_help_lists_every_command_with_one_line():
    p = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    for name, (_, _, summary) in COMMANDS.items():
        assert f"  {name}  ".rstrip() in "\n".join(lines)
        assert sum(1 for line in lines if line.strip().startswith(name + " ") and summary in line) == 1
    assert "--screenshot" in p.stdout and "--lang" in p.stdout  # the window's options are still there


def test_unknown_command_gets_a_suggestion(capsys):
    assert entry.main(["trian"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Did you mean 'train'?" in err


def _error_lines(capsys, fn, argv) -> list[str]:
    with pytest.raises(SystemExit) as e:
        fn(argv)
    assert e.value.code == 1
    return capsys.readouterr().err.strip().splitlines()


def test_train_option_typo_is_the_toml_sentence_in_two_lines(capsys):
    from trainer.cli.train import main_train

    lines = _error_lines(capsys, main_train, ["--learnin_rate", "1e-4"])
    assert lines[0] == "error: Unknown option '--learnin_rate'. Did you mean '--learning_rate'?"
    assert len(lines) == 2 and "main.py train --help" in lines[1]
    lines = _error_lines(capsys, main_train, ["my_lora.toml"])
    assert lines[0] == "error: Unexpected argument(s): my_lora.toml. Did you mean '--config_file my_lora.toml'?"
    with pytest.raises(ConfigError) as toml_error:  # the same suggestion for the TOML key
        from_dict({"learnin_rate": 1e-4})
    assert did_you_mean("learnin_rate", ["learning_rate"]) in str(toml_error.value)


def test_estimate_and_tool_typos(capsys):
    from trainer.tools.cli import main_check, main_merge, main_resize, main_sample
    from trainer.cli.estimate import main_estimate

    assert _error_lines(capsys, main_estimate, ["--network_dm", "8"])[0].endswith("Did you mean '--network_dim'?")
    for fn, argv, want in ((main_resize, ["--model", "a", "--save_to", "b", "--new_rnak", "4"], "--new_rank"),
                           (main_merge, ["--models", "a", "--save_to", "b", "--ratois", "1"], "--ratios"),
                           (main_sample, ["--sd_model", "a", "--out", "g.png", "--prompt", "x", "--negatve", "3"],
                            "--negative"),
                           (main_check, ["a.safetensors", "--verbsoe"], "--verbose")):
        assert fn(argv) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 2 and f"Did you mean '{want}'?" in lines[0], lines
    assert main_resize(["--model", "a"]) == 1  # other argparse errors: a sentence too, no usage dump
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "error: The following arguments are required: --save_to." and len(lines) == 2


@pytest.fixture
def estimate_toml(tiny_ckpt, tmp_path):
    from conftest import make_dataset

    data = make_dataset(tmp_path / "data")
    p = tmp_path / "train.toml"
    p.write_text(f"pretrained_model_name_or_path = {json.dumps(str(tiny_ckpt('sd1')))}\n"
                 f"train_data_dir = {json.dumps(str(data))}\nresolution = \"64,64\"\n", encoding="utf-8")
    return p, data


def test_estimate_checks_the_training_folder(estimate_toml, tmp_path, capsys):
    from trainer.cli.estimate import main_estimate

    toml, data = estimate_toml
    assert main_estimate(["--config_file", str(toml)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("peak: ") and any(line.startswith(f"dataset: {data}: ") for line in out)
    assert main_estimate(["--config_file", str(toml), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"]["images"] > 0
    missing = tmp_path / "no_such_folder"
    assert main_estimate(["--config_file", str(toml), "--train_data_dir", str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: Training folder '{missing}' does not exist."]
    (tmp_path / "flat").mkdir()
    assert main_estimate(["--config_file", str(toml), "--train_data_dir", str(tmp_path / "flat")]) == 1
    assert "no concept folders" in capsys.readouterr().err


def test_estimate_applies_a_preset(estimate_toml, capsys):
    from trainer.config.presets import list_presets
    from trainer.cli.estimate import main_estimate

    name = sorted(list_presets())[0]
    assert main_estimate(["--config_file", str(estimate_toml[0]), "--preset", name]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("peak: ")


def test_the_bitsandbytes_kernel_warning_is_dropped_and_others_are_not(caplog):
    import trainer  # noqa: F401 - installs the filter

    log = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING):
        log.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please ...", "No module")
        log.warning("something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]


@pytest.mark.slow
def test_check_command_prints_no_library_noise(tools_files):
    p = subprocess.run([sys.executable, "main.py", "check", str(tools_files["lora"])], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


def test_the_torchvision_fallback_warning_is_dropped(caplog):
    import trainer  # noqa: F401

    log = logging.getLogger("transformers.utils.import_utils")
    with caplog.at_level(logging.WARNING):
        log.warning("`CLIPImageProcessor` requires torchvision (not installed); falling back to `X` for ...")
    assert caplog.records == []


def test_estimate_makes_the_demo_model_like_train(tmp_path, monkeypatch, capsys):
    from trainer.cli import demo
    from trainer.cli.estimate import main_estimate

    model = tmp_path / "demo_model" / "tiny-sd1.safetensors"
    monkeypatch.setattr(demo, "DEMO_MODEL", model)
    assert main_estimate(["--config_file", str(demo.DEMO_CONFIG), "--pretrained_model_name_or_path", str(model),
                          "--train_data_dir", str(ROOT / "examples" / "demo_dataset")]) == 0
    assert model.is_file() and capsys.readouterr().out.strip().splitlines()[-1].startswith("peak: ")
