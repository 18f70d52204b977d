"""Importing LoRA_Easy_Training_Scripts and bmaltais/kohya_ss configs (trainer/config/kohya_ss.py, no torch)."""
import json

import pytest

from trainer.config.kohya_ss import detect_format, import_config
from trainer.errors import ConfigError

EASY = """
[[subsets]]
caption_extension = ".txt"
image_dir = "{root}/6_maid"
keep_tokens = 1
name = "maid"
num_repeats = 6
shuffle_caption = true
color_aug = false

[[subsets]]
image_dir = "{root}/2_bg"
num_repeats = 2

[train_mode]
train_mode = "lora"

[general_args.args]
max_data_loader_n_workers = 1
persistent_data_loader_workers = true
pretrained_model_name_or_path = "/models/noob.safetensors"
sdxl = true
no_half_vae = true
full_bf16 = true
mixed_precision = "bf16"
gradient_checkpointing = true
gradient_accumulation_steps = 4
seed = 42
max_token_length = 225
prior_loss_weight = 1.0
max_train_epochs = 12

[network_args.args]
network_dim = 16
network_alpha = 8.0
network_train_unet_only = true

[network_args.network_args]
conv_dim = 8
conv_alpha = 4

[optimizer_args.args]
optimizer_type = "AdamW8bit"
lr_scheduler = "cosine"
learning_rate = 0.0001
unet_lr = 0.0001
warmup_ratio = 0.05
max_grad_norm = 1.0
min_snr_gamma = 5

[optimizer_args.optimizer_args]
weight_decay = "0.1"
betas = "0.9,0.99"

[saving_args.args]
output_dir = "/out"
output_name = "maid"
save_precision = "fp16"
save_model_as = "safetensors"
save_every_n_epochs = 1
save_toml = true

[bucket_args.dataset_args]
resolution = 1024
batch_size = 2

[bucket_args.args]
enable_bucket = true
min_bucket_reso = 256
max_bucket_reso = 2048
"""


def test_easy_training_scripts_toml(tmp_path):
    f = tmp_path / "easy.toml"
    f.write_text(EASY.format(root=tmp_path.as_posix()), encoding="utf-8")
    res = import_config(f)
    c = res.config
    assert res.source_format == "easy_training_scripts"
    assert c.train_data_dir == tmp_path.as_posix()
    assert (c.sdxl, c.full_bf16, c.mixed_precision, c.gradient_checkpointing) == (True, True, "bf16", True)
    assert (c.train_batch_size, c.resolution, c.max_train_epochs, c.gradient_accumulation_steps) == (2, "1024", 12, 4)
    assert (c.network_dim, c.network_alpha, c.network_train_unet_only) == (16, 8.0, True)
    assert c.network_args == ["conv_dim=8", "conv_alpha=4"]
    assert c.optimizer_args == ["weight_decay=0.1", "betas=0.9,0.99"]
    assert c.lr_warmup_steps == 0.05 and c.optimizer_type == "AdamW8bit" and c.min_snr_gamma == 5
    assert (c.keep_tokens, c.shuffle_caption, c.max_token_length, c.save_precision) == (1, True, 225, "fp16")
    text = res.report()
    assert c.no_half_vae and not c.color_aug  # sd-scripts options LoRA Desk now has (issue 17)
    for key in ("save_toml", "train_mode"):
        assert key in text, key  # listed, not silently dropped
    assert "prior_loss_weight" in res.mapped
    # the folders differ in their options: each keeps its own in a dataset config
    maid, bg = res.dataset_config["datasets"][0]["subsets"]
    assert (maid["num_repeats"], maid["keep_tokens"], maid["shuffle_caption"], maid["color_aug"]) == (6, 1, True, False)
    assert bg == {"image_dir": f"{tmp_path.as_posix()}/2_bg", "num_repeats": 2}


BMALTAIS = {
    "LoRA_type": "LyCORIS/LoHa", "LyCORIS_preset": "attn-mlp", "adaptive_noise_scale": 0,
    "additional_parameters": "--keep_tokens_separator ||| --weird_flag 3", "bucket_no_upscale": True,
    "bucket_reso_steps": 64, "cache_latents": True, "cache_latents_to_disk": False,
    "caption_dropout_every_n_epochs": 0.0, "caption_extension": ".txt", "clip_skip": "2",
    "conv_alpha": 4, "conv_dim": 8, "enable_bucket": True, "epoch": 20, "flip_aug": False,
    "gradient_accumulation_steps": 1, "keep_tokens": "1", "learning_rate": 1.0, "logging_dir": "/logs",
    "lora_network_weights": "", "lr_scheduler": "cosine", "lr_scheduler_args": "",
    "lr_scheduler_num_cycles": "", "lr_scheduler_power": "", "lr_warmup": 10, "max_resolution": "768,768",
    "max_train_epochs": "", "max_train_steps": "0", "max_data_loader_n_workers": "0",
    "max_token_length": "150", "mixed_precision": "bf16", "model_list": "custom", "network_alpha": 16,
    "network_dim": 32, "noise_offset_type": "Multires", "noise_offset": 0.05,
    "multires_noise_iterations": 6, "multires_noise_discount": 0.3, "optimizer": "Prodigy",
    "optimizer_args": "decouple=True weight_decay=0.01 betas=0.9,0.99", "output_dir": "/out",
    "output_name": "x", "pretrained_model_name_or_path": "/m.safetensors", "reg_data_dir": "",
    "sample_prompts": "a cat", "sample_every_n_steps": 0, "save_every_n_epochs": 2, "save_precision": "fp16", "seed": "0",
    "text_encoder_lr": 1.0, "unet_lr": 1.0, "train_batch_size": 4, "train_data_dir": "/data",
    "xformers": "sdpa", "stop_text_encoder_training": 0, "num_cpu_threads_per_process": 2,
}


def test_bmaltais_json(tmp_path):
    f = tmp_path / "kohya_ss.json"
    f.write_text(json.dumps(BMALTAIS), encoding="utf-8")
    res = import_config(f)
    c = res.config
    assert res.source_format == "bmaltais"
    assert c.network_module == "lycoris.kohya"
    assert c.network_args[0] == "algo=loha" and "conv_dim=8" in c.network_args and "preset=attn-mlp" in c.network_args
    assert (c.max_train_epochs, c.max_train_steps, c.resolution, c.lr_warmup_steps) == (20, 1600, "768,768", 0.1)
    assert (c.clip_skip, c.keep_tokens, c.seed, c.max_token_length) == (2, 1, 0, 150)
    assert c.optimizer_type == "Prodigy" and c.optimizer_args == ["decouple=True", "weight_decay=0.01", "betas=0.9,0.99"]
    assert c.noise_offset is None and c.multires_noise_iterations == 6  # Multires chosen: the offset is off
    assert (c.sdpa, c.xformers) == (True, False)
    assert c.keep_tokens_separator == "|||"
    assert c.network_weights == "" and c.lr_scheduler_num_cycles == 1  # "" = not set
    assert c.reg_data_dir == ""  # now a setting: an empty folder is "none"
    unknown = " ".join(res.unknown)
    for key in ("sample_prompts", "model_list", "num_cpu_threads_per_process", "--weird_flag",
                "stop_text_encoder_training"):
        assert key in unknown, key
    assert "caption_dropout_every_n_epochs" not in unknown  # a setting since issue 17
    assert "lr_warmup 10 %" in res.report()
    assert "save it as a .txt file" in unknown and c.sample_prompts == ""  # kohya_ss keeps the text, not a file
    assert c.sample_every_n_steps is None  # 0 is "off" there


def test_plain_kohya_toml_and_detection(tmp_path):
    f = tmp_path / "k.toml"
    f.write_text('[model]\npretrained_model_name_or_path = "a.safetensors"\n[x]\nnetwork_dim = 4\n'
                 'bogus_key = 3\n', encoding="utf-8")
    res = import_config(f)
    assert res.source_format == "kohya" and res.config.network_dim == 4
    assert res.unknown == ["bogus_key = 3"]
    assert detect_format({"LoRA_type": "Standard"}) == "bmaltais"
    with pytest.raises(ConfigError):
        import_config(tmp_path / "missing.toml")
    (tmp_path / "bad.json").write_text("{nope", encoding="utf-8")
    with pytest.raises(ConfigError):
        import_config(tmp_path / "bad.json")


def test_subsets_not_named_with_repeats_are_listed(tmp_path):
    data = {"subsets": [{"image_dir": "/a/cats", "num_repeats": 3}], "general_args": {"args": {"seed": 1}}}
    res = import_config(data)
    assert res.config.train_data_dir == "" and res.config.seed == 1
    assert any("repeats" in u and "/a/cats" in u for u in res.unknown)


def test_import_keeps_base_settings_not_named():
    from trainer.config.fields import TrainConfig

    res = import_config({"LoRA_type": "Standard", "network_dim": 8}, base=TrainConfig(output_dir="/keep"))
    assert res.config.output_dir == "/keep" and res.config.network_dim == 8
    assert res.config.network_module == "networks.lora"


def test_per_folder_options_are_saved_beside_the_imported_file_and_train(tmp_path):
    from conftest import make_dataset
    from trainer.config.kohya_ss import save_dataset_config
    from trainer.dataset.sources import scan_sources

    make_dataset(tmp_path, {"6_maid": 1, "2_bg": 1})
    f = tmp_path / "lets.toml"
    f.write_text(EASY.format(root=tmp_path.as_posix()), encoding="utf-8")
    (tmp_path / "lets.dataset.toml").write_text("mine", encoding="utf-8")  # never overwritten
    res = import_config(f)
    written = save_dataset_config(res, f)
    assert written.endswith("lets.dataset-2.toml") and (tmp_path / "lets.dataset.toml").read_text() == "mine"
    assert res.config.dataset_config == written and not res.config.train_data_dir
    maid, bg = scan_sources(res.config).concepts
    assert (maid.repeats, maid.options["keep_tokens"], bg.repeats, bg.options) == (6, 1, 2, {})
