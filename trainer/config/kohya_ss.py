"""Importing configs saved by other LoRA trainers' GUIs into a TrainConfig.

Two formats are understood besides our own flat/sectioned kohya TOML:

* LoRA_Easy_Training_Scripts (derrian-distro) TOML: sections such as ``[general_args.args]``,
  ``[network_args.args]``, ``[optimizer_args.args]``, ``[saving_args.args]``, ``[bucket_args.dataset_args]``,
  dicts of extra options in ``[network_args.network_args]`` / ``[optimizer_args.optimizer_args]`` /
  ``[optimizer_args.lr_scheduler_args]``, and the folders as ``[[subsets]]`` (``image_dir``, ``num_repeats``).
* bmaltais/kohya_ss GUI JSON (or the same keys in TOML): flat keys like ``epoch``, ``max_resolution``,
  ``optimizer``, ``lr_warmup`` (a percentage), ``LoRA_type``, ``conv_dim``, numbers stored as strings and ``""``
  for "not set".

Keys with the same meaning are renamed, values converted; keys we cannot use are listed in
:attr:`ImportResult.unknown` (never dropped silently), and conversions worth knowing in ``notes``.
No torch, no Qt.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import toml

from trainer.config.fields import FIELDS, TrainConfig
from trainer.config.kohya_ss_folders import keep_per_folder, save_dataset_config  # noqa: F401  (the page imports both here)
from trainer.config.files import coerce
from trainer.errors import ConfigError

# -- renames shared by both formats (their name -> ours)
RENAMES: dict[str, str] = {
    "epoch": "max_train_epochs",
    "batch_size": "train_batch_size",
    "optimizer": "optimizer_type",
    "lora_network_weights": "network_weights",
    "warmup_steps": "lr_warmup_steps",
    "num_cycles": "lr_scheduler_num_cycles",
    "scheduler": "lr_scheduler",
    "scheduler_num_cycles": "lr_scheduler_num_cycles",
    "scheduler_power": "lr_scheduler_power",
    "max_resolution": "resolution",
    "train_unet_only": "network_train_unet_only",
    "train_text_encoder_only": "network_train_text_encoder_only",
    "unet_only": "network_train_unet_only",
    "text_encoder_only": "network_train_text_encoder_only",
}

# keys that become network_args items (key=value)
NETWORK_ARG_KEYS = ("conv_dim", "conv_alpha", "algo", "preset", "dora_wd", "use_tucker", "use_cp", "factor",
                    "train_norm", "constraint", "constrain", "rank_dropout", "module_dropout", "use_scalar",
                    "rank_dropout_scale", "decompose_both")

# 0 means "off" in the other GUIs; ours is empty (None) or, for max_train_steps, the default
ZERO_OFF = {"max_train_epochs", "save_every_n_epochs", "save_every_n_steps", "save_last_n_epochs",
            "max_token_length", "clip_skip", "network_dim", "min_snr_gamma", "scale_weight_norms",
            "network_dropout", "noise_offset", "multires_noise_iterations", "adaptive_noise_scale",
            "v_pred_like_loss", "max_train_steps", "sample_every_n_steps", "sample_every_n_epochs",
            "validate_every_n_steps", "validate_every_n_epochs", "max_validation_steps"}

# bmaltais keys whose value is a space-separated "key=value" string
SPLIT_LIST_KEYS = ("optimizer_args", "lr_scheduler_args", "network_args")

# GUI-only settings that do not change training (reported as ignored, with this reason)
GUI_ONLY = {
    "model_list": "a GUI model picker",
    "LyCORIS_preset": None,  # converted to preset= below
    "num_cpu_threads_per_process": "accelerate launcher setting",
    "save_toml": "GUI option", "save_toml_location": "GUI option", "tag_occurrence": "GUI option",
    "train_mode": "GUI option", "save_as_bool": "GUI option", "use_wandb": "logging service",
    "wandb_api_key": "logging service", "wandb_run_name": "logging service",
}

LORA_TYPES = {  # bmaltais LoRA_type -> (network_module, algo or None, conv layers)
    "standard": ("networks.lora", None, False),
    "kohya locon": ("networks.lora", None, True),
    "locon": ("networks.lora", None, True),
    "kohya dylora": ("networks.dylora", None, False),
    "lycoris/locon": ("lycoris.kohya", "locon", True),
    "lycoris/loha": ("lycoris.kohya", "loha", True),
    "lycoris/lokr": ("lycoris.kohya", "lokr", True),
    "lycoris/ia3": ("lycoris.kohya", "ia3", False),
    "lycoris/dylora": ("lycoris.kohya", "dylora", True),
    "lycoris/glora": ("lycoris.kohya", "glora", True),
    "lycoris/diag-oft": ("lycoris.kohya", "diag-oft", True),
    "lycoris/boft": ("lycoris.kohya", "boft", True),
    "lycoris/native fine-tuning": ("lycoris.kohya", "full", True),
    "lyco/full": ("lycoris.kohya", "full", True),
}


@dataclass
class ImportResult:
    config: TrainConfig
    source_format: str                       # "kohya" | "easy_training_scripts" | "bmaltais"
    mapped: dict[str, str] = field(default_factory=dict)   # their key -> our field
    unknown: list[str] = field(default_factory=list)       # keys not used, each with why
    notes: list[str] = field(default_factory=list)         # conversions worth knowing
    dataset_config: dict | None = None  # per-folder options kept as an sd-scripts dataset config (to save)

    def report(self) -> str:
        lines = [f"Imported a {FORMAT_NAMES[self.source_format]} config: {len(self.mapped)} settings."]
        lines += self.notes
        if self.unknown:
            lines.append(f"Not used ({len(self.unknown)}): " + "; ".join(self.unknown))
        return "\n".join(lines)


FORMAT_NAMES = {"kohya": "kohya sd-scripts", "easy_training_scripts": "LoRA_Easy_Training_Scripts",
                "bmaltais": "bmaltais/kohya_ss"}


def read_any(path: str | os.PathLike) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {p} is not UTF-8 text.") from None
    if p.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"Config file {p} is not valid JSON: {e}") from None
    else:
        try:
            data = toml.loads(text)
        except toml.TomlDecodeError as e:
            raise ConfigError(f"Config file {p} is not valid TOML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {p} does not hold a table of settings.")
    return data


def detect_format(data: dict) -> str:
    if "subsets" in data or any(k.endswith("_args") and isinstance(v, dict) and "args" in v
                                for k, v in data.items()):
        return "easy_training_scripts"
    if "LoRA_type" in data or "max_resolution" in data or "optimizer" in data or "epoch" in data:
        return "bmaltais"
    return "kohya"


def import_config(path_or_data: str | os.PathLike | dict, *, base: TrainConfig | None = None) -> ImportResult:
    """Read a config of any supported format; ``base`` supplies the settings the file does not name."""
    data = path_or_data if isinstance(path_or_data, dict) else read_any(path_or_data)
    fmt = detect_format(data)
    res = ImportResult(base or TrainConfig(), fmt)
    flat: dict[str, Any] = {}
    extra_lists: dict[str, list[str]] = {"network_args": [], "optimizer_args": [], "lr_scheduler_args": []}
    if fmt == "easy_training_scripts":
        _flatten_easy(data, flat, extra_lists, res)
    else:
        _flatten_plain(data, flat, res)
    values: dict[str, Any] = {}
    _convert(flat, values, extra_lists, res)
    for key, items in extra_lists.items():
        if items:
            values[key] = list(values.get(key, [])) + [i for i in items if i not in values.get(key, [])]
    try:
        res.config = (base or TrainConfig()).replace(**values)
    except TypeError as e:  # cannot happen for FIELDS keys; kept as a sentence
        raise ConfigError(str(e)) from None
    return res


# ------------------------------------------------------------------------------------------------ flattening
def _flatten_plain(data: dict, flat: dict, res: ImportResult, prefix: str = "") -> None:
    for k, v in data.items():
        if isinstance(v, dict) and k not in SPLIT_LIST_KEYS:
            _flatten_plain(v, flat, res, f"{prefix}{k}.")
        else:
            flat[k] = v


def _flatten_easy(data: dict, flat: dict, extra: dict, res: ImportResult) -> None:
    for section, body in data.items():
        if section == "subsets":
            _subsets(body, flat, res)
        elif isinstance(body, dict):
            for sub, inner in body.items():
                if isinstance(inner, dict) and sub in ("network_args", "optimizer_args", "lr_scheduler_args"):
                    extra[sub] += [f"{k}={_text(v)}" for k, v in inner.items()]
                    res.mapped[f"{section}.{sub}"] = sub
                elif isinstance(inner, dict):
                    for k, v in inner.items():
                        if isinstance(v, dict):
                            res.unknown.append(f"{section}.{sub}.{k} (a table)")
                        else:
                            flat[k] = v
                else:
                    flat[sub] = inner
        else:
            flat[section] = body


def _subsets(subsets, flat: dict, res: ImportResult) -> None:
    """[[subsets]] with image_dir + num_repeats: our training folder is their common parent when every
    folder is already named <repeats>_<name>."""
    if isinstance(subsets, dict):
        subsets = [subsets]
    dirs = []
    for i, s in enumerate(subsets or []):
        if not isinstance(s, dict):
            continue
        d = s.get("image_dir")
        if d:
            dirs.append((Path(str(d)), s.get("num_repeats")))
        for k, v in s.items():
            if k in ("image_dir", "num_repeats", "name"):
                continue
            if k in FIELDS and k not in flat:
                flat[k] = v
            elif k not in FIELDS:
                res.unknown.append(f"subsets[{i}].{k} (per-folder option)")
    if not dirs:
        return
    keep_per_folder(subsets, res)
    parents = {d.parent for d, _ in dirs}
    named = all(d.name.split("_", 1)[0].isdigit() and (r is None or int(d.name.split("_", 1)[0]) == int(r))
                for d, r in dirs)
    if len(parents) == 1 and named:
        flat["train_data_dir"] = str(parents.pop())
        res.mapped["subsets.image_dir"] = "train_data_dir"
    else:
        res.unknown.append("subsets (" + ", ".join(f"{d} x{r}" for d, r in dirs) + "): the training folder must "
                           "hold <repeats>_<name> folders; rename them and choose their parent as the training "
                           "folder")


def _text(v) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (list, tuple)):
        return ",".join(_text(x) for x in v)
    return str(v)


# ------------------------------------------------------------------------------------------------ conversion
def _convert(flat: dict, values: dict, extra: dict, res: ImportResult) -> None:
    lora_type = flat.pop("LoRA_type", None)
    preset = flat.pop("LyCORIS_preset", None)
    noise_type = flat.pop("noise_offset_type", None)
    warmup_pct = flat.pop("lr_warmup", None)
    warmup_ratio = flat.pop("warmup_ratio", None)
    attention = flat.get("xformers")
    additional = flat.pop("additional_parameters", None)

    for key, value in flat.items():
        target = RENAMES.get(key, key)
        if key in GUI_ONLY and GUI_ONLY[key]:
            res.unknown.append(f"{key} ({GUI_ONLY[key]}, no effect on training)")
            continue
        if key in NETWORK_ARG_KEYS:
            if not _empty(value) and value not in (0, 0.0, False, "0"):
                extra["network_args"].append(f"{'constraint' if key == 'constrain' else key}={_text(value)}")
                res.mapped[key] = "network_args"
            continue
        if key == "sample_prompts" and res.source_format == "bmaltais" and not _empty(value):
            # kohya_ss keeps the prompt text itself here (it writes the file at training time); ours is a file
            res.unknown.append(f"{key} = {_short(value)} (the prompt text: save it as a .txt file and choose "
                               "that file as sample_prompts)")
            continue
        if key == "xformers" and isinstance(value, str):  # newer bmaltais: "xformers" | "sdpa" | "none"
            values["xformers"] = value.lower() == "xformers"
            values["sdpa"] = value.lower() == "sdpa"
            res.mapped[key] = "xformers"
            continue
        if target is None or target not in FIELDS:
            if not _empty(value) and value is not False:
                res.unknown.append(f"{key} = {_short(value)}")
            elif key not in FIELDS:
                res.unknown.append(f"{key} (empty)")
            continue
        if _empty(value):
            continue  # "" in bmaltais files means "not set": keep our default
        try:
            v = _value(target, value)
        except ConfigError as e:
            res.unknown.append(f"{key} = {_short(value)} ({e})")
            continue
        res.mapped[key] = target
        if v == 0 and not isinstance(v, bool) and target in ZERO_OFF:
            if target == "max_train_steps" or target in values:
                continue  # 0 means "off" in these GUIs: keep what another key or our default says
            v = None
        values[target] = v

    if warmup_pct not in (None, "", 0, "0"):
        pct = float(warmup_pct)
        values["lr_warmup_steps"] = pct / 100.0 if pct < 100 else 0
        res.mapped["lr_warmup"] = "lr_warmup_steps"
        res.notes.append(f"lr_warmup {pct:g} % became lr_warmup_steps = {pct / 100:g} (a share of all steps).")
    if warmup_ratio not in (None, "", 0, "0"):
        values["lr_warmup_steps"] = float(warmup_ratio)
        res.mapped["warmup_ratio"] = "lr_warmup_steps"
    if lora_type is not None:
        kind = LORA_TYPES.get(str(lora_type).strip().lower())
        if kind is None:
            res.unknown.append(f"LoRA_type = {lora_type} (not supported; trained as standard LoRA)")
        else:
            module, algo, conv = kind
            values["network_module"] = module
            res.mapped["LoRA_type"] = "network_module"
            if algo and not any(a.startswith("algo=") for a in extra["network_args"]):
                extra["network_args"].insert(0, f"algo={algo}")
            if not conv:
                extra["network_args"][:] = [a for a in extra["network_args"]
                                            if not a.startswith(("conv_dim=", "conv_alpha="))]
    if preset not in (None, "") and values.get("network_module") == "lycoris.kohya":
        extra["network_args"].append(f"preset={preset}")
        res.mapped["LyCORIS_preset"] = "network_args"
    if noise_type is not None:
        res.mapped["noise_offset_type"] = "noise_offset / multires_noise_iterations"
        if str(noise_type).lower() == "multires":
            values.pop("noise_offset", None)
            values.pop("adaptive_noise_scale", None)
        else:
            values.pop("multires_noise_iterations", None)
            values.pop("multires_noise_discount", None)
    if attention is not None and "xformers" not in res.mapped:
        res.mapped["xformers"] = "xformers"
    if additional not in (None, ""):
        _additional(str(additional), values, res)
    if values.get("max_token_length") is not None and values["max_token_length"] not in (75, 150, 225):
        res.unknown.append(f"max_token_length = {values.pop('max_token_length')} (must be 75, 150 or 225)")


def _additional(text: str, values: dict, res: ImportResult) -> None:
    """bmaltais' free text of extra command-line flags: --key value / --flag."""
    import shlex

    try:
        words = shlex.split(text)
    except ValueError:
        res.unknown.append(f"additional_parameters = {_short(text)}")
        return
    i = 0
    while i < len(words):
        w = words[i]
        if not w.startswith("--"):
            res.unknown.append(f"additional_parameters: {w}")
            i += 1
            continue
        key, _, val = w[2:].partition("=")
        args = [val] if val else []
        while not val and i + 1 < len(words) and not words[i + 1].startswith("--"):
            i += 1
            args.append(words[i])
        i += 1
        if key not in FIELDS:
            res.unknown.append(f"additional_parameters: --{key}")
            continue
        try:
            if isinstance(getattr(TrainConfig(), key), list):
                values[key] = list(values.get(key, [])) + args
            elif not args:
                values[key] = coerce(key, "true", from_text=True)
            else:
                values[key] = coerce(key, args[0], from_text=True)
            res.mapped[f"--{key}"] = key
        except ConfigError as e:
            res.unknown.append(f"additional_parameters: --{key} ({e})")


def _empty(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def _short(v) -> str:
    s = repr(v) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "…"


def _value(name: str, value):
    if name in SPLIT_LIST_KEYS and isinstance(value, str):
        import shlex

        return [w for w in shlex.split(value) if w]
    if name in SPLIT_LIST_KEYS and isinstance(value, dict):
        return [f"{k}={_text(v)}" for k, v in value.items()]
    if name == "resolution" and isinstance(value, str):
        return value.replace(" ", "")
    if isinstance(value, str):  # bmaltais stores many numbers as text
        return coerce(name, value, from_text=True)
    return coerce(name, value)
