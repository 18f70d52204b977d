"""Key names of LoRA files as kohya-ss sd-scripts writes them (what AUTOMATIC1111 and ComfyUI map).

Inside the trainer, modules are named after the diffusers/transformers models we train. Text encoders are
named through a `text_model` wrapper so that the names are already sd-scripts' ones
(`lora_te_text_model_encoder_layers_0_self_attn_q_proj`); files written by lycoris-lora with transformers 5
(`lora_te_encoder_layers_...`) are accepted on load. SDXL UNet names are converted to the original layout
(`lora_unet_input_blocks_4_1_...`) on save and back on load.
"""
from __future__ import annotations

import re

_TE_FLAT = re.compile(r"^(lora_te[12]?)_(encoder_layers_|final_layer_norm|embeddings_)")


def te_name_to_kohya(key: str) -> str:
    """`lora_te_encoder_layers_0...` (transformers 5 flattened CLIPTextModel) -> `lora_te_text_model_encoder_layers_0...`."""
    return _TE_FLAT.sub(lambda m: f"{m.group(1)}_text_model_{m.group(2)}", key)


def split_key(key: str) -> tuple[str, str]:
    """`lora_unet_x_y.lora_down.weight` -> (`lora_unet_x_y`, `lora_down.weight`)."""
    module, _, rest = key.partition(".")
    return module, rest


def rename_modules(state_dict: dict, fn) -> dict:
    out = {}
    for key, value in state_dict.items():
        module, rest = split_key(key)
        new = fn(module)
        out[f"{new}.{rest}" if rest else new] = value
    return out


def uses_both_unet_spellings(keys) -> bool:
    """A file mixing `input_blocks` and `down_blocks` UNet names loses the first kind in diffusers."""
    orig = any(k.startswith(("lora_unet_input_blocks", "lora_unet_output_blocks", "lora_unet_middle_block"))
               for k in keys)
    diff = any(k.startswith(("lora_unet_down_blocks", "lora_unet_up_blocks", "lora_unet_mid_block"))
               for k in keys)
    return orig and diff
