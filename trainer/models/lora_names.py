"""SDXL LoRA module names: diffusers' UNet paths inside the trainer, the original block layout in files.

sd-scripts' SDXL trainer names UNet modules after the original layout (`lora_unet_input_blocks_4_1_...`,
`lora_unet_output_blocks_2_2_conv`), and that is what AUTOMATIC1111 and ComfyUI map for SDXL; diffusers'
`down_blocks` names would be read as the wrong SD 1.x blocks there. The map is built from the UNet's own
modules with the same key pairs the checkpoint converter uses, so it is exact for any SDXL-shaped UNet.
"""
from __future__ import annotations

from .keymaps import PrefixMap, UNetLayout, unet_pairs

PREFIX = "lora_unet_"


def sdxl_unet_name_map(unet) -> dict[str, str]:
    """{diffusers-style LoRA module name: original-layout LoRA module name} for every module of `unet`."""
    to_ldm = PrefixMap(unet_pairs(UNetLayout.from_config(unet.config)), reverse=True)
    out = {}
    for name, _ in unet.named_modules():
        if not name:
            continue
        ldm = to_ldm(name + ".")
        if ldm is not None:
            out[PREFIX + name.replace(".", "_")] = PREFIX + ldm.rstrip(".").replace(".", "_")
    return out


class SdxlRenamer:
    """Callable renaming LoRA module names between the two spellings (text-encoder names pass through)."""

    def __init__(self, unet, to_original: bool):
        forward = sdxl_unet_name_map(unet)
        self.map = forward if to_original else {v: k for k, v in forward.items()}

    def __call__(self, module: str) -> str:
        return self.map.get(module, module)
