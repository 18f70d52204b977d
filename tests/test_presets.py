"""Presets: every built-in preset loads through the CLI's option parsing and passes validation; a preset only
changes the keys it names; user presets are saved without paths, never replace one without being asked and never take a built-in name."""
import pytest

from trainer.cli.train import config_from_args
from trainer.config.fields import TrainConfig
from trainer.errors import ConfigError
from trainer.config.presets import apply_preset, list_presets, preset_values, save_user_preset
from trainer.config.validate import errors

NAMES = ["sd15_8gb", "sd15_12gb", "sd15_24gb"] + [f"sdxl_pony_{k}_{g}gb" for k in ("character", "style")
                                                   for g in (8, 12, 16, 24)]


@pytest.fixture(autouse=True)
def user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "cfg"))


@pytest.mark.parametrize("name", NAMES)
def test_builtin_preset_loads_in_the_cli_and_is_valid(name, tmp_path):
    assert name in list_presets()
    cfg = config_from_args(["--preset", name, "--pretrained_model_name_or_path", "m.safetensors",
                            "--train_data_dir", str(tmp_path), "--output_dir", str(tmp_path)])
    assert not errors(cfg), [e.message for e in errors(cfg)]


def test_8gb_sdxl_preset_uses_every_memory_saver():
    v = preset_values("sdxl_pony_character_8gb")
    assert v["fp8_base"] and v["cache_text_encoder_outputs"] and v["gradient_checkpointing"]
    assert v["optimizer_type"] == "AdaFactor" and v["network_train_unet_only"]


def test_preset_changes_only_the_keys_it_names():
    mine = TrainConfig(output_name="my_lora", seed=7, network_dim=128)
    after = apply_preset(mine, "sd15_8gb")
    assert after.output_name == "my_lora" and after.seed == 7
    assert after.network_dim == 32 and after.optimizer_type == "AdamW8bit"


def test_user_preset_round_trip_without_paths():
    cfg = TrainConfig(pretrained_model_name_or_path="/x/model.safetensors", network_dim=24, unet_lr=2e-4)
    path = save_user_preset(cfg, "mine")
    assert "model.safetensors" not in path.read_text()
    assert apply_preset(TrainConfig(), "mine").network_dim == 24
    with pytest.raises(Exception, match="Did you mean 'mine'"):
        preset_values("mien")
    with pytest.raises(FileExistsError):  # replaced only when asked to
        save_user_preset(TrainConfig(network_dim=8), "mine")
    save_user_preset(TrainConfig(network_dim=8), "mine", overwrite=True)
    assert apply_preset(TrainConfig(), "mine").network_dim == 8


@pytest.mark.parametrize("name, why", [("../escape", "cannot be a preset name"), ("a/b", "cannot be a preset name"),
                                       ("x:y", "cannot be a preset name"), ("con", "cannot be a preset name"),
                                       ("", "cannot be a preset name"), ("sd15_8gb", "is a built-in preset")])
def test_bad_user_preset_names_are_refused(name, why):
    with pytest.raises(ConfigError, match=why):
        save_user_preset(TrainConfig(network_dim=8), name)
