"""network_args ("conv_dim=8" "algo=locon" ...) as sd-scripts passes them: key=value strings."""
from __future__ import annotations

KNOWN = {
    "conv_dim", "conv_alpha", "algo", "preset", "dora_wd", "use_tucker", "use_cp", "use_conv_cp",
    "disable_conv_cp", "factor", "train_norm", "constraint", "constrain", "rescaled", "dropout",
    "rank_dropout", "module_dropout", "block_size", "use_scalar", "decompose_both", "full_matrix",
    "rs_lora", "unit", "bypass_mode", "wd_on_output", "rank_dropout_scale", "down_lr_weight", "mid_lr_weight",
    "up_lr_weight", "loraplus_lr_ratio", "loraplus_unet_lr_ratio", "loraplus_text_encoder_lr_ratio",
}

# values read as numbers (whole numbers where int(float(value)) is taken) and as true/false
NUMBERS = ("conv_dim", "conv_alpha", "factor", "block_size", "unit", "dropout", "rank_dropout",
           "module_dropout", "constraint", "constrain")
DROPOUTS = ("dropout", "rank_dropout", "module_dropout")
BOOLS = ("dora_wd", "use_tucker", "use_cp", "use_conv_cp", "disable_conv_cp", "train_norm", "rescaled",
         "use_scalar", "decompose_both", "full_matrix", "rs_lora", "bypass_mode", "wd_on_output",
         "rank_dropout_scale")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

# options sd-scripts or LyCORIS know but this trainer does not implement: refused with the reason, never
# accepted and ignored
UNSUPPORTED = {
    "loraplus_lr_ratio": "LoRA+ (a higher learning rate for the up matrices) is not supported",
    "loraplus_unet_lr_ratio": "LoRA+ (a higher learning rate for the up matrices) is not supported",
    "loraplus_text_encoder_lr_ratio": "LoRA+ (a higher learning rate for the up matrices) is not supported",
    "down_lr_weight": "block learning-rate weights are not supported",
    "mid_lr_weight": "block learning-rate weights are not supported",
    "up_lr_weight": "block learning-rate weights are not supported",
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
    return str(value).strip().lower() in _TRUE


def value_problem(key: str, value: str) -> str | None:
    """Why ``key=value`` cannot be used (a sentence), or None. Only the value's form is checked here."""
    if key in NUMBERS:
        try:
            number = float(value)
        except ValueError:
            return f"network_args {key}={value}: the value must be a number."
        if number != number or number in (float("inf"), float("-inf")):
            return f"network_args {key}={value}: the value must be a finite number."
        if key in DROPOUTS and not 0 <= number < 1:
            return f"network_args {key}={value}: a dropout must be at least 0 and below 1."
    elif key in BOOLS and value.strip().lower() not in _TRUE + _FALSE:
        return f"network_args {key}={value}: the value must be True or False."
    return None


def use_tucker(args: dict) -> bool:
    """LyCORIS' Tucker (CP) decomposition of conv layers: use_tucker, or its older names use_cp / use_conv_cp,
    or disable_conv_cp=False (LyCORIS reads all four)."""
    if any(as_bool(args[k]) for k in ("use_tucker", "use_cp", "use_conv_cp") if k in args):
        return True
    return "disable_conv_cp" in args and not as_bool(args["disable_conv_cp"])
