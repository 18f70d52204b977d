"""network_args ("conv_dim=8" "algo=locon" ...) as sd-scripts passes them: key=value strings."""
from __future__ import annotations

KNOWN = {
    "conv_dim", "conv_alpha", "algo", "preset", "dora_wd", "use_tucker", "use_cp", "use_conv_cp",
    "disable_conv_cp", "factor", "train_norm", "constraint", "constrain", "rescaled", "dropout",
    "rank_dropout", "module_dropout", "block_size", "use_scalar", "decompose_both", "full_matrix",
    "rs_lora", "unit", "bypass_mode", "wd_on_output", "down_lr_weight", "mid_lr_weight", "up_lr_weight",
    "loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio",
}


def parse_network_args(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"network_args item '{item}' must look like key=value, for example conv_dim=8.")
        key, value = item.split("=", 1)
        key = key.strip()
        if key not in KNOWN:
            raise ValueError(f"network_args: unknown option '{key}'. Known: " + ", ".join(sorted(KNOWN)) + ".")
        out[key] = value.strip()
    return out


def as_bool(value: str | bool | None) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")
