"""Load our LoRA files with diffusers' own loader (needs peft) and measure what it applied."""
import re

import torch

# sd-scripts' names for SD 1.x/2.x: diffusers-style UNet paths, text_model.* text encoder paths
SD_KEY = re.compile(
    r"^lora_(unet_(down_blocks|up_blocks|mid_block)_[a-z0-9_]+|te_text_model_encoder_layers_\d+_(self_attn_(q|k|v|out)_proj|mlp_fc[12]))"
    r"\.(lora_down\.weight|lora_up\.weight|alpha)$")


def pipeline_for(base):
    from diffusers import DDPMScheduler, StableDiffusionPipeline

    return StableDiffusionPipeline(vae=base.vae, text_encoder=base.text_encoders[0], tokenizer=base.tokenizers[0],
                                   unet=base.unet, scheduler=DDPMScheduler(**base.scheduler_config),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def lora_wrapped(module) -> int:
    from peft.tuners.lora import LoraLayer

    return sum(isinstance(m, LoraLayer) for m in module.modules())


@torch.no_grad()
def outputs(pipe, seed=0):
    g = torch.Generator().manual_seed(seed)
    te = pipe.text_encoder
    ids = pipe.tokenizer(["redcircle, simple background"], padding="max_length", max_length=77,
                         return_tensors="pt").input_ids
    states = te(ids)[0]
    lat = torch.randn((1, pipe.unet.config.in_channels, 8, 8), generator=g)
    unet_out = pipe.unet(lat, torch.tensor([500]), states).sample
    return states, unet_out


def file_modules(path) -> tuple[set, set]:
    from safetensors.torch import load_file

    keys = load_file(str(path)).keys()
    mods = {k.split(".")[0] for k in keys}
    return {m for m in mods if m.startswith("lora_unet_")}, {m for m in mods if m.startswith("lora_te")}
