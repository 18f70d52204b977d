"""The Stability AI model-spec keys (`modelspec.*`) sd-scripts writes into every LoRA next to its `ss_*` keys
(library/sai_model_spec.py, spec 1.0.1): model managers and UIs read the architecture, title and resolution
from them. Values are strings; keys whose value is unknown are left out, as sd-scripts does."""
from __future__ import annotations

import datetime

SPEC_VERSION = "1.0.1"
IMPL_STABILITY_AI = "https://github.com/Stability-AI/generative-models"
IMPL_DIFFUSERS = "diffusers"
ARCH = {"sd_v1": "stable-diffusion-v1", "sd_v2_512": "stable-diffusion-v2-512",
        "sd_v2_768_v": "stable-diffusion-v2-768-v", "sdxl": "stable-diffusion-xl-v1-base"}
# metadata_<name> settings that go in as modelspec.<name> (title is handled apart: it defaults)
OPTIONAL = ("author", "description", "license", "tags", "usage_hint", "thumbnail", "merged_from",
            "trigger_phrase", "preprocessor", "is_negative_embedding")


def architecture(family: str, v_parameterization: bool, lora: bool = True) -> str:
    if family == "sdxl":
        arch = ARCH["sdxl"]
    elif family == "sd2":
        arch = ARCH["sd_v2_768_v"] if v_parameterization else ARCH["sd_v2_512"]
    else:
        arch = ARCH["sd_v1"]
    return arch + "/lora" if lora else arch


def implementation(family: str, lora: bool = True) -> str:
    """sd-scripts: SDXL LoRAs (and full checkpoints) name Stability's code, SD 1.x/2.x LoRAs name diffusers."""
    return IMPL_STABILITY_AI if (lora and family == "sdxl") or not lora else IMPL_DIFFUSERS


def family_of(model_version: str) -> str:
    """ss_base_model_version (sd_v1, sd_v2, sdxl_base_v1-0, ...) -> sd1 | sd2 | sdxl."""
    if model_version.startswith("sdxl"):
        return "sdxl"
    return "sd2" if model_version.startswith("sd_v2") else "sd1"


def build_modelspec(cfg, model_version: str, started_at: float, implementation_version: str) -> dict[str, str]:
    """The modelspec.* keys of a trained LoRA, as sd-scripts' get_sai_model_spec(lora=True) builds them."""
    from trainer.config.validate import parse_resolution

    w, h = parse_resolution(cfg.resolution)
    family, v_pred = family_of(model_version), cfg.v_parameterization or model_version.endswith("_v")
    md = {
        "modelspec.sai_model_spec": SPEC_VERSION,
        "modelspec.architecture": architecture(family, v_pred),
        "modelspec.implementation": implementation(family),
        "modelspec.title": cfg.metadata_title or cfg.output_name,
        "modelspec.resolution": f"{w}x{h}",
        "modelspec.date": datetime.datetime.fromtimestamp(int(started_at)).isoformat(),
        "modelspec.prediction_type": "v" if v_pred else "epsilon",
        "modelspec.implementation_version": implementation_version,
    }
    if cfg.min_timestep is not None or cfg.max_timestep is not None:
        lo = cfg.min_timestep if cfg.min_timestep is not None else 0
        hi = cfg.max_timestep if cfg.max_timestep is not None else 1000
        md["modelspec.timestep_range"] = f"{lo},{hi}"
    if cfg.clip_skip is not None:
        md["modelspec.encoder_layer"] = str(cfg.clip_skip)
    for name in OPTIONAL:
        value = getattr(cfg, f"metadata_{name}", "")
        if value:
            md[f"modelspec.{name}"] = str(value)
    return md


def title_of(path, metadata: dict) -> str:
    """sd-scripts' build_merged_from: a file's modelspec.title, else its file name without extension."""
    from pathlib import Path

    return metadata.get("modelspec.title") or Path(path).stem


def is_v_pred(metadata: dict) -> bool:
    """Whether a LoRA's metadata says it was trained for a v-prediction model."""
    return (metadata.get("modelspec.prediction_type") == "v" or metadata.get("ss_v_parameterization") == "True"
            or metadata.get("ss_base_model_version", "").endswith("_v"))


def merged_modelspec(family: str, v_pred: bool, title: str, merged_from: list[str], started_at: float, *,
                     lora: bool) -> dict[str, str]:
    """modelspec.* of a merge result, as sd-scripts' merge_lora.py / svd_merge_lora.py write it: title = the
    output file's name, merged_from = the titles of the inputs, a new date; nothing of one training run."""
    return {
        "modelspec.sai_model_spec": SPEC_VERSION,
        "modelspec.architecture": architecture(family, v_pred, lora),
        "modelspec.implementation": implementation(family, lora),
        "modelspec.title": title,
        "modelspec.resolution": "1024x1024" if family == "sdxl" else "768x768" if family == "sd2" and v_pred
        else "512x512",
        "modelspec.date": datetime.datetime.fromtimestamp(int(started_at)).isoformat(),
        "modelspec.merged_from": ", ".join(merged_from),
        "modelspec.prediction_type": "v" if v_pred else "epsilon",
    }
