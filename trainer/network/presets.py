"""Explicit target lists for lycoris-lora.

lycoris' own presets collide on diffusers UNets (its "full" preset targets TimestepEmbedding *and* the name
time_embedding.linear_1 and asserts; "attn-mlp" picks up the time embedding), so every preset is spelt out."""
from __future__ import annotations

TE_ALL = ["CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"]
UNET_TRANSFORMER = ["Transformer2DModel"]
UNET_CONV_BLOCKS = ["ResnetBlock2D", "Downsample2D", "Upsample2D"]
UNET_EXTRA_NAMES = ["conv_in", "conv_out", "time_embedding.linear_1", "time_embedding.linear_2"]

# name -> (unet modules, unet names, text-encoder modules, conv layers enabled)
PRESETS: dict[str, tuple[list[str], list[str], list[str], bool]] = {
    "full": (UNET_TRANSFORMER + UNET_CONV_BLOCKS, UNET_EXTRA_NAMES, TE_ALL, True),
    "full-lin": (UNET_TRANSFORMER + ["ResnetBlock2D"], [], TE_ALL, False),
    "attn-mlp": (UNET_TRANSFORMER, [], TE_ALL, False),
    "attn-only": (["Attention"], [], ["CLIPAttention", "CLIPSdpaAttention"], False),
    "unet-only": (UNET_TRANSFORMER + UNET_CONV_BLOCKS, UNET_EXTRA_NAMES, [], True),
    "unet-transformer-only": (UNET_TRANSFORMER, [], [], False),
    "unet-convblock-only": (UNET_CONV_BLOCKS, [], [], True),
}


def lycoris_preset(unet_modules: list[str], unet_names: list[str], te_modules: list[str], conv: bool) -> dict:
    return {
        "enable_conv": conv,
        "unet_target_module": list(unet_modules),
        "unet_target_name": list(unet_names),
        "text_encoder_target_module": list(te_modules),
        "text_encoder_target_name": [],
        "module_algo_map": {},
        "name_algo_map": {},
        "use_fnmatch": False,
        "exclude_name": [],
    }
