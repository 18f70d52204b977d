"""Every option name of sd-scripts' train_network.py / sdxl_train_network.py loads (tests/data holds the names
with the sd-scripts commit they came from); the metadata carries sd-scripts' keys; a TOML with every implemented
option set away from its default trains. The formulas are in test_sd_scripts_formulas.py."""
from pathlib import Path

import pytest
import toml
import torch

from trainer.config.fields import FIELDS, TrainConfig
from trainer.config.compat import ACCEPTED_ONLY, ALIASES
from trainer.config.files import from_dict, load_toml
from trainer.errors import ConfigError

DATA = Path(__file__).parent / "data"
PENDING: set[str] = set()  # every sd-scripts name is a setting, an alias or accepted-only


def _names(file: str) -> list[str]:
    lines = (DATA / file).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_every_sd_scripts_option_name_is_known():
    names = _names("sd_scripts_train_network_options.txt")
    assert len(names) == len(set(names)) == 197
    unknown = [n for n in names if n not in FIELDS and n not in ACCEPTED_ONLY and n not in ALIASES
               and n not in PENDING]
    assert unknown == []


def test_a_toml_with_every_accepted_only_option_loads_and_each_set_one_is_named(tmp_path):
    from trainer.config.validate import validate

    values = {n: True for n in ACCEPTED_ONLY}
    values.update(log_with="wandb", huggingface_repo_id="me/lora", zero_stage=3, tokenizer_cache_dir="cache")
    path = tmp_path / "kohya.toml"
    path.write_text(toml.dumps({"general": values, "caption_extention": ".caption"}), encoding="utf-8")
    cfg = load_toml(path)
    assert cfg.caption_extension == ".caption"
    warned = {i.field: i.message for i in validate(cfg, need_paths=False) if not i.error}
    assert set(ACCEPTED_ONLY) <= set(warned)
    assert "tokenizers ship with LoRA Desk" in warned["tokenizer_cache_dir"]
    assert "accelerate launch" in warned["deepspeed"]
    assert warned["log_with"].startswith("log_with wandb is ignored")


def test_inert_values_of_accepted_only_options_say_nothing():
    from trainer.config.validate import validate

    cfg = from_dict({"huggingface_repo_id": "", "deepspeed": False, "log_with": "tensorboard", "zero_stage": 2})
    fields = {i.field for i in validate(cfg, need_paths=False)}
    assert not fields & {"huggingface_repo_id", "deepspeed", "log_with", "zero_stage"}


def test_legacy_aliases_map_like_sd_scripts():
    assert from_dict({"use_8bit_adam": True}).optimizer_type == "AdamW8bit"
    assert from_dict({"use_lion_optimizer": True}).optimizer_type == "Lion"
    assert from_dict({"use_8bit_adam": False}).optimizer_type == "AdamW"
    assert from_dict({"caption_extention": ".cap", "caption_extension": ".txt"}).caption_extension == ".txt"
    with pytest.raises(ConfigError, match="use_8bit_adam and optimizer_type = Lion"):
        from_dict({"use_8bit_adam": True, "optimizer_type": "Lion"})


def test_accepted_only_options_survive_replace_and_save(tmp_path):
    from trainer.config.files import save_toml

    cfg = from_dict({"wandb_run_name": "x"}).replace(seed=3)
    assert cfg.accepted_only == {"wandb_run_name": "x"}
    save_toml(cfg, tmp_path / "c.toml")
    assert load_toml(tmp_path / "c.toml").accepted_only == {"wandb_run_name": "x"}


def test_train_help_lists_every_name_with_the_accepted_only_ones_apart():
    from trainer.cli.train import build_parser, config_from_args

    text = build_parser().format_help()
    for name in _names("sd_scripts_train_network_options.txt"):
        if name not in PENDING and name != "config_file":
            assert f"--{name}" in text, name
    tail = text.split("sd-scripts options accepted without effect", 1)[1]
    assert "--deepspeed" in tail and "--loss_type" not in tail and "accelerate launch" in tail
    cfg = config_from_args(["--use_8bit_adam", "--deepspeed", "--log_with", "wandb", "--loss_type", "huber"])
    assert cfg.optimizer_type == "AdamW8bit" and cfg.loss_type == "huber"
    assert cfg.accepted_only == {"deepspeed": True, "log_with": "wandb"}


# --- formulas (sd-scripts library/train_util.py, library/custom_train_functions.py)

def _run_info(**kw):
    from trainer.network.metadata import RunInfo

    base = dict(model_version="sd_v1", session_id=1, started_at=1.7e9, num_train_images=5, batches_per_epoch=3,
                epochs=2, total_steps=6, optimizer="torch.optim.AdamW", model_hashes=("a", "b"))
    base.update(kw)
    return RunInfo(**base)


def test_metadata_has_every_key_sd_scripts_writes():
    from trainer.network.metadata import build_metadata, with_progress

    cfg = TrainConfig(pretrained_model_name_or_path="/m/base.safetensors", output_name="mine", network_dim=8,
                      network_alpha=4, network_args=["conv_dim=4"])
    md = with_progress(build_metadata(cfg, _run_info()), epoch=2, step=6)
    expected = set(_names("sd_scripts_lora_metadata_keys.txt"))
    missing = expected - set(md)
    assert missing == {"ss_sd_scripts_commit_hash"}  # not sd-scripts: ss_lora_desk_version instead
    assert md["ss_network_alpha"] == "4"  # a TOML int; 4.0 is written "4.0" (tests/test_lora_alpha_dtype.py)
    assert md["ss_network_args"] == '{"conv_dim": "4", "dropout": null}'  # sd-scripts adds network_dropout
    assert md["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert md["modelspec.implementation"] == "diffusers"
    assert md["modelspec.title"] == "mine" and md["modelspec.resolution"] == "512x512"
    assert md["modelspec.prediction_type"] == "epsilon"


def test_a_dataset_config_run_writes_ss_datasets_instead_of_the_run_wide_dataset_keys():
    """sd-scripts' train_network.py writes ss_resolution, ss_batch_size_per_device, ss_flip_aug, ...,
    ss_reg_dataset_dirs and ss_bucket_info only without --dataset_config (its `else` branch)."""
    from trainer.network.metadata import build_metadata

    folder_only = {"ss_batch_size_per_device", "ss_total_batch_size", "ss_resolution", "ss_color_aug",
                   "ss_flip_aug", "ss_random_crop", "ss_shuffle_caption", "ss_enable_bucket",
                   "ss_bucket_no_upscale", "ss_min_bucket_reso", "ss_max_bucket_reso", "ss_keep_tokens",
                   "ss_reg_dataset_dirs", "ss_bucket_info"}
    plain = build_metadata(TrainConfig(), _run_info())
    assert folder_only <= set(plain) and "ss_datasets" not in plain
    run = _run_info(datasets=[{"batch_size_per_device": 2}])
    md = build_metadata(TrainConfig(dataset_config="ds.toml"), run)
    assert not folder_only & set(md)
    assert set(plain) - set(md) == folder_only  # everything else is written as before
    assert md["ss_datasets"] == '[{"batch_size_per_device": 2}]' and "ss_dataset_dirs" in md
    assert "ss_tag_frequency" in md and "ss_num_reg_images" in md


def test_modelspec_for_sdxl_v_pred_and_metadata_options():
    from trainer.network.metadata import build_metadata

    cfg = TrainConfig(output_name="x", resolution="1024", metadata_title="Title", metadata_author="Me",
                      metadata_tags="a,b", metadata_trigger_phrase="trig", min_timestep=100, clip_skip=2)
    md = build_metadata(cfg, _run_info(model_version="sdxl_base_v1-0"))
    assert md["modelspec.architecture"] == "stable-diffusion-xl-v1-base/lora"
    assert md["modelspec.implementation"] == "https://github.com/Stability-AI/generative-models"
    assert (md["modelspec.title"], md["modelspec.author"], md["modelspec.tags"]) == ("Title", "Me", "a,b")
    assert md["modelspec.trigger_phrase"] == "trig" and md["modelspec.timestep_range"] == "100,1000"
    assert md["modelspec.encoder_layer"] == "2" and md["modelspec.resolution"] == "1024x1024"
    v2 = build_metadata(TrainConfig(v_parameterization=True), _run_info(model_version="sd_v2_v"))
    assert v2["modelspec.architecture"] == "stable-diffusion-v2-768-v/lora"
    assert v2["modelspec.prediction_type"] == "v"


def test_no_metadata_keeps_the_minimum_and_modelspec():
    from trainer.network.metadata import MINIMUM_KEYS, build_metadata, with_progress

    md = with_progress(build_metadata(TrainConfig(no_metadata=True), _run_info()), epoch=1, step=1)
    assert {k for k in md if k.startswith("ss_")} <= set(MINIMUM_KEYS)
    assert "ss_tag_frequency" not in md and "modelspec.title" in md and "ss_epoch" not in md


# --- the real loop with every implemented option away from its default

NEW_OPTIONS = dict(  # every field issue 17 added, each away from its default
    loss_type="huber", huber_schedule="exponential", huber_c=0.2, huber_scale=1.5, ip_noise_gamma=0.1,
    ip_noise_gamma_random_strength=True, noise_offset_random_strength=True, debiased_estimation_loss=True,
    min_timestep=10, max_timestep=900, caption_prefix="(pre:1.2)", caption_suffix="post", caption_separator=";",
    secondary_separator=";;;", enable_wildcard=True, caption_dropout_every_n_epochs=3, token_warmup_min=2,
    token_warmup_step=0.5, weighted_captions=True, color_aug=True, face_crop_aug_range="2.0,3.0",
    resize_interpolation="area", no_half_vae=True, fp8_base_unet=True, highvram=True,
    disable_mmap_load_safetensors=True, text_encoder_batch_size=2, lr_decay_steps=0.5,
    lr_scheduler_min_lr_ratio=0.1, lr_scheduler_timescale=5, save_last_n_steps=2, save_n_epoch_ratio=2,
    save_last_n_epochs_state=1, save_last_n_steps_state=1, save_state_on_train_end=True, initial_epoch=1,
    initial_step=2, skip_until_initial_step=True, no_metadata=True, metadata_title="T", metadata_author="A",
    metadata_description="D", metadata_license="L", metadata_tags="t", metadata_trigger_phrase="tp",
    metadata_usage_hint="u", metadata_preprocessor="p", metadata_merged_from="m", metadata_thumbnail="data:,x",
    metadata_is_negative_embedding="false", ddp_timeout=5)


@pytest.mark.slow
def test_toml_with_every_implemented_option_trains(tiny_ckpt, dataset, tmp_path):
    from conftest import quick_config, run_training
    from safetensors import safe_open
    from tools_fixtures import make_lora

    from trainer.config.files import save_toml

    style = make_lora(tmp_path / "style.safetensors", "sd1", seed=2, dim=2, alpha=1.0)
    options = dict(NEW_OPTIONS, base_weights=[str(style)], base_weights_multiplier=["0.5"])
    for name, value in options.items():
        assert name in FIELDS and value != getattr(TrainConfig(), name), name
    concept = dataset / "2_redcircle"
    (concept / "img0.png").rename(concept / "img0_32_32_20_20.png")  # a face-crop file name
    (concept / "img0.txt").rename(concept / "img0_32_32_20_20.txt")
    (concept / "img1.txt").write_text("{red|blue} circle;;; round, (shape:1.3)\nsecond line\n", encoding="utf-8")
    cfg = quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "out", max_train_steps=6, mixed_precision="bf16",
                       lr_scheduler="warmup_stable_decay", save_every_n_steps=2)
    save_toml(cfg, tmp_path / "base.toml")
    data = toml.loads((tmp_path / "base.toml").read_text(encoding="utf-8"))
    data.update(options, huggingface_repo_id="me/x", use_8bit_adam=False, caption_extention=".txt")
    (tmp_path / "all.toml").write_text(toml.dumps(data), encoding="utf-8")
    cfg = load_toml(tmp_path / "all.toml")
    path, events = run_training(cfg)
    with safe_open(path, "pt") as f:
        md = f.metadata()
    assert md["modelspec.title"] == "T" and md["modelspec.timestep_range"] == "10,900"
    assert md["modelspec.author"] == "A" and "ss_loss_type" not in md  # no_metadata: minimum ss_* keys
    logs = [e.message for e in events if type(e).__name__ == "Log"]
    assert any("huggingface_repo_id is ignored" in m for m in logs)
    assert any("Merged style.safetensors into the base model at 0.5" in m for m in logs)
    assert [e.step for e in events if type(e).__name__ == "Step"] == [3, 4, 5, 6]
    assert (tmp_path / "out" / "lora-state").is_dir()


def test_text_encoder_outputs_are_cached_in_batches_of_text_encoder_batch_size():
    from types import SimpleNamespace

    from trainer.run.caching import cache_text_outputs

    items = [SimpleNamespace(entry=SimpleNamespace(caption=c, path=Path(f"/nowhere/{i}.png")))
             for i, c in enumerate(["a", "b", "a", "c", "d"])]
    data = SimpleNamespace(items=items, caption=lambda i, epoch, rng: "pre " + items[i].entry.caption)
    calls = []

    def encode(captions):
        calls.append(list(captions))
        return torch.arange(len(captions), dtype=torch.float32).view(-1, 1, 1) + len(calls) * 10, None

    out = cache_text_outputs(data, encode, "m", to_disk=False, max_token_length=None, clip_skip=None,
                             batch_size=3)
    assert calls == [["pre a", "pre b", "pre c"], ["pre d"]]  # unique captions, prefix applied
    assert float(out[0][0]) == float(out[2][0]) == 10.0 and float(out[4][0]) == 20.0


def test_output_config_writes_a_new_file_and_never_replaces_one(tmp_path, capsys):
    from trainer.cli.train import main_train

    target = tmp_path / "made.toml"
    assert main_train(["--config_file", str(target), "--output_config", "--loss_type", "huber",
                       "--use_8bit_adam", "--wandb_run_name", "r"]) == 0
    cfg = load_toml(target)
    assert (cfg.loss_type, cfg.optimizer_type, cfg.accepted_only) == ("huber", "AdamW8bit", {"wandb_run_name": "r"})
    before = target.read_bytes()
    assert main_train(["--config_file", str(target), "--output_config"]) == 1
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == before
