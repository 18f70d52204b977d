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


# sd-scripts' SDXL names: original-layout UNet blocks, te1/te2 text encoders
SDXL_KEY = re.compile(
    r"^lora_(unet_(input_blocks|middle_block|output_blocks)_[a-z0-9_]+|te[12]_text_model_encoder_layers_\d+_"
    r"(self_attn_(q|k|v|out)_proj|mlp_fc[12]))\.(lora_down\.weight|lora_up\.weight|alpha)$")


def sdxl_pipeline_for(base):
    from diffusers import DDPMScheduler, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline(vae=base.vae, text_encoder=base.text_encoders[0],
                                     text_encoder_2=base.text_encoders[1], tokenizer=base.tokenizers[0],
                                     tokenizer_2=base.tokenizers[1], unet=base.unet,
                                     scheduler=DDPMScheduler(**base.scheduler_config))


@torch.no_grad()
def sdxl_outputs(pipe, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids1 = pipe.tokenizer(["redcircle"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    ids2 = pipe.tokenizer_2(["redcircle"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    h1 = pipe.text_encoder(ids1, output_hidden_states=True).hidden_states[-2]
    out2 = pipe.text_encoder_2(ids2, output_hidden_states=True)
    states = torch.cat([h1, out2.hidden_states[-2]], dim=-1)
    lat = torch.randn((1, 4, 8, 8), generator=g)
    added = {"text_embeds": out2.text_embeds, "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]])}
    unet_out = pipe.unet(lat, torch.tensor([500]), states, added_cond_kwargs=added).sample
    return h1, out2.hidden_states[-2], unet_out
