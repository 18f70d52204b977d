"""sd-scripts option names that are not TrainConfig fields: legacy aliases (mapped as sd-scripts maps them) and
names that are accepted but change nothing here, each with the one sentence a run logs when it is set.

Config loading (config_io) and `main.py train --help` (cli) both read these tables, so a kohya TOML never
stops at one of these names and a user is always told what happened to it. No torch, no Qt."""
from __future__ import annotations

from typing import Any

# old spelling -> (field, value to set when the old option is on; None = take the option's own value)
ALIASES: dict[str, tuple[str, Any]] = {
    "caption_extention": ("caption_extension", None),  # sd-scripts' early misspelling, still accepted there
    "use_8bit_adam": ("optimizer_type", "AdamW8bit"),
    "use_lion_optimizer": ("optimizer_type", "Lion"),
}

_HUB = "uploading to the Hugging Face Hub is not part of LoRA Desk; upload the saved files yourself."
_TRACKER = "only TensorBoard logging (logging_dir) is built in; other trackers are not used."
_DEEPSPEED = ("DeepSpeed is not used by LoRA Desk's trainer; for several GPUs start it with "
              "`accelerate launch main.py train ...` (plain data-parallel).")
_CONSOLE = "LoRA Desk shows its own log in the window and on the console."

# name -> the reason it changes nothing (logged as "<name> is ignored: <reason>")
ACCEPTED_ONLY: dict[str, str] = {
    **{n: _HUB for n in ("huggingface_repo_id", "huggingface_repo_type", "huggingface_path_in_repo",
                         "huggingface_token", "huggingface_repo_visibility", "save_state_to_huggingface",
                         "resume_from_huggingface", "async_upload")},
    "log_with": "only tensorboard is used (with logging_dir); wandb is not built in.",
    **{n: _TRACKER for n in ("log_tracker_name", "log_tracker_config", "wandb_run_name", "wandb_api_key",
                             "log_config")},
    **{n: _DEEPSPEED for n in ("deepspeed", "zero_stage", "offload_optimizer_device", "offload_optimizer_nvme_path",
                               "offload_param_device", "offload_param_nvme_path", "zero3_init_flag",
                               "zero3_save_16bit_model", "fp16_master_weights_and_gradients")},
    "ddp_gradient_as_bucket_view": "gradients are all-reduced by LoRA Desk itself, not by torch's DDP wrapper.",
    "ddp_static_graph": "gradients are all-reduced by LoRA Desk itself, not by torch's DDP wrapper.",
    **{n: _CONSOLE for n in ("console_log_level", "console_log_file", "console_log_simple")},
    "tokenizer_cache_dir": "the tokenizers ship with LoRA Desk, so nothing is downloaded or cached.",
    "in_json": "fine-tune (metadata JSON) datasets are not supported; use a folder of <repeats>_<name> concepts.",
    "dataset_repeats": "it only applies to in_json fine-tune datasets; folder repeats come from the "
                       "<repeats>_ prefix.",
    "dataset_class": "custom dataset classes are not supported; use a folder of <repeats>_<name> concepts.",
    "debug_dataset": "it only shows images in sd-scripts; the Dataset page shows them here.",
    "cache_info": "the dataset scan reads captions and sizes quickly without a cache file.",
    "cpu_offload_checkpointing": "it only applies to DiT models in sd-scripts, not to SD 1.x/2.x/SDXL U-Nets.",
    "fused_backward_pass": "it is not implemented for LoRA training; gradient_checkpointing and an 8-bit "
                           "optimizer save memory instead.",
    "skip_cache_check": "the check of a disk cache here compares a few numbers stored in the cache file, which "
                        "costs nothing next to reading it, so it always runs.",
    "output_config": "it only works on the command line, where it writes the options given there to "
                     "--config_file (a new file) instead of training.",
    "config_file": "a config file cannot load another config file; give it on the command line.",
}

# values that ask for nothing: a kohya GUI writes every key, mostly as false / "" / 0 / its default
_DEFAULTS = {"log_with": ("tensorboard",), "dataset_repeats": (1,), "zero_stage": (2,)}


def is_inert(name: str, value: Any) -> bool:
    """True when an accepted-only option is set to a value that would change nothing in sd-scripts either."""
    if value is None or value is False or value == "" or value == [] or value == 0 and not isinstance(value, bool):
        return True
    return not isinstance(value, bool) and value in _DEFAULTS.get(name, ())  # True == 1 in Python


def note(name: str, value: Any) -> str | None:
    """The sentence a run logs for an accepted-only option, or None when its value asks for nothing."""
    if name == "log_with":
        return None if is_inert(name, value) else f"log_with {value} is ignored: {_TRACKER}"
    if is_inert(name, value):
        return None
    reason = ACCEPTED_ONLY[name]
    return reason[0].upper() + reason[1:] if reason.startswith(name) else f"{name} is ignored: {reason}"


def split(flat: dict) -> tuple[dict, dict]:
    """A flat kohya dict -> (field values with aliases mapped, accepted-only options). ConfigError when an
    alias contradicts the field it stands for, as sd-scripts refuses use_8bit_adam with another optimizer."""
    from trainer.errors import ConfigError

    fields, accepted = {}, {}
    for key, value in flat.items():
        if key in ACCEPTED_ONLY:
            accepted[key] = value
        elif key not in ALIASES:
            fields[key] = value
    for key, (target, fixed) in ALIASES.items():
        if key not in flat or flat[key] is None or flat[key] is False:
            continue
        value = flat[key] if fixed is None else fixed
        given = fields.get(target)
        if fixed is not None and given not in (None, "", value):
            raise ConfigError(f"{key} and optimizer_type = {given} both choose the optimizer; keep one of them.")
        if fixed is None and given is not None and given != value:
            continue  # the correct spelling wins over the old one
        fields[target] = value
    return fields, accepted
