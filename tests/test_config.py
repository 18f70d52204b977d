"""TrainConfig: kohya names and defaults, TOML round trip (flat and sectioned), typed errors, validation."""
import pytest

from trainer.config.fields import FIELDS, GROUPS, TrainConfig
from trainer.config.files import apply_overrides, dumps_toml, from_dict, load_toml, save_toml
from trainer.errors import ConfigError
from trainer.config.validate import validate


def test_every_field_has_group_and_help():
    for name, f in FIELDS.items():
        assert f.metadata["group"] in GROUPS, name
        assert len(f.metadata["help"]) > 10, name


def test_defaults_are_sd_scripts_defaults():
    c = TrainConfig()
    assert (c.learning_rate, c.max_train_steps, c.network_alpha, c.lr_scheduler) == (2e-6, 1600, 1.0, "constant")
    assert (c.min_bucket_reso, c.max_bucket_reso, c.bucket_reso_steps) == (256, 1024, 64)
    assert c.max_data_loader_n_workers == 8 and c.multires_noise_discount == 0.3 and c.max_grad_norm == 1.0


def test_sectioned_toml_is_flattened_and_round_trips(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[model]\npretrained_model_name_or_path = "m.safetensors"\n[network]\nnetwork_dim = 32\n'
                 'network_args = ["conv_dim=8", "conv_alpha=4"]\n[opt]\nlearning_rate = 1e-4\n'
                 'lr_warmup_steps = 0.1\nresolution = 768\n', encoding="utf-8")
    c = load_toml(p)
    assert c.network_dim == 32 and c.network_args == ["conv_dim=8", "conv_alpha=4"]
    assert c.learning_rate == 1e-4 and c.lr_warmup_steps == 0.1 and c.resolution == "768"
    out = tmp_path / "out.toml"
    save_toml(c, out)
    assert load_toml(out) == c


def test_unknown_key_names_it_and_suggests(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("learning_rat = 1e-4\n")
    with pytest.raises(ConfigError, match="learning_rat.*Did you mean 'learning_rate'"):
        load_toml(p)


def test_type_errors_are_sentences():
    with pytest.raises(ConfigError, match="'network_dim' must be a whole number"):
        from_dict({"network_dim": "big"})
    with pytest.raises(ConfigError, match="'shuffle_caption' must be true or false"):
        from_dict({"shuffle_caption": "yes please"})


def test_cli_overrides_are_typed():
    c = apply_overrides(TrainConfig(), {"seed": "42", "cache_latents": "true", "unet_lr": "1e-4",
                                        "network_args": ["conv_dim=4"], "lr_warmup_steps": "100"})
    assert c.seed == 42 and c.cache_latents is True and c.unet_lr == 1e-4
    assert c.network_args == ["conv_dim=4"] and c.lr_warmup_steps == 100


def test_none_values_are_left_out_of_toml():
    text = dumps_toml(TrainConfig())
    assert "network_dim" not in text and "learning_rate" in text


def _messages(cfg, field=None):
    return [i.message for i in validate(cfg, need_paths=False) if field is None or i.field == field]


def test_text_encoder_cache_refusals_explain_why():
    msgs = _messages(TrainConfig(cache_text_encoder_outputs=True, shuffle_caption=True, network_train_unet_only=True))
    assert "cache_text_encoder_outputs cannot be used with shuffle_caption: the captions change every step." in msgs
    msgs = _messages(TrainConfig(cache_text_encoder_outputs=True, caption_dropout_rate=0.1, network_train_unet_only=True))
    assert any("caption dropout" in m for m in msgs)
    msgs = _messages(TrainConfig(cache_text_encoder_outputs=True))
    assert any("trained text encoder" in m for m in msgs)
    assert not [i for i in validate(TrainConfig(cache_text_encoder_outputs=True, network_train_unet_only=True),
                                    need_paths=False) if i.error]


def test_adaptive_optimizer_with_two_lrs_warns():
    issues = validate(TrainConfig(optimizer_type="Prodigy", learning_rate=1.0, unet_lr=1.0, text_encoder_lr=0.5),
                      need_paths=False)
    assert any(i.field == "text_encoder_lr" and not i.error and "one learning rate" in i.message for i in issues)


def test_precision_combinations():
    assert _messages(TrainConfig(full_bf16=True), "full_bf16") == ["full_bf16 needs mixed_precision = bf16."]
    assert any("resolution" in m.lower() for m in _messages(TrainConfig(resolution="big")))
    assert _messages(TrainConfig(network_args=["conv_dim"]), "network_args")
