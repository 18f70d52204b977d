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
    from .validate import parse_resolution

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


def merged_modelspec(first: dict[str, str], title: str, sources: list[str], started_at: float,
                     implementation_version: str) -> dict[str, str]:
    """modelspec.* of a LoRA+LoRA merge, as sd-scripts' merge scripts write it: the first file's architecture
    and resolution kept, a new title, date and merged_from; keys about one training run are dropped."""
    keep = ("modelspec.sai_model_spec", "modelspec.architecture", "modelspec.implementation",
            "modelspec.resolution", "modelspec.prediction_type", "modelspec.timestep_range",
            "modelspec.encoder_layer")
    md = {k: v for k, v in first.items() if k in keep}
    if "modelspec.architecture" not in md:
        return {}
    md["modelspec.sai_model_spec"] = SPEC_VERSION
    md["modelspec.title"] = title
    md["modelspec.date"] = datetime.datetime.fromtimestamp(int(started_at)).isoformat()
    md["modelspec.merged_from"] = ", ".join(sources)
    md["modelspec.implementation_version"] = implementation_version
    return md
