"""Tell SD 1.x, SD 2.x and SDXL apart from tensor names and shapes, and infer every dimension.

``detect(state_dict_or_shapes)`` accepts tensors or ``{name: (shape, dtype)}`` (``checkpoint_io.read_shapes``)
and returns a ``ModelSpec``; anything that is not a supported base model raises ``ModelError`` saying what the
file looks like instead.

Rules (as in the original configs, checked against sd-scripts and diffusers):
- UNet heads: SD 1.x has 8 heads per attention; SD 2.x and SDXL have 64-wide heads (heads = channels / 64).
- Text encoders have 64-wide heads (CLIP-L 12, OpenCLIP-H 16, OpenCLIP-bigG 20).
- SD 2.x files carry 24 OpenCLIP blocks, but SD 2.x uses the penultimate block's output. Like sd-scripts and
  diffusers we build a CLIPTextModel with N-1 layers and leave block N-1 out (it is kept aside for a
  faithful re-save; see ``diffusers_to_ldm``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from trainer.errors import ModelError

from .spec import (
    HEAD_WIDTH,
    SD1_TE_PREFIX,
    SD1_UNET_HEADS,
    SD2_TE_PREFIX,
    SDXL_TE1_PREFIX,
    SDXL_TE2_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
    VAE_SCALING,
    ModelSpec,
    TextEncoderSpec,
    UNetSpec,
    VAESpec,
)


def shapes_of(sd) -> dict:
    """``{name: shape tuple}`` from tensors, from ``(shape, dtype)`` pairs or from shapes."""
    out = {}
    for k, v in sd.items():
        shape = getattr(v, "shape", None)
        if shape is None:
            shape = v[0] if (isinstance(v, (tuple, list)) and len(v) == 2 and isinstance(v[0], (tuple, list))) else v
        out[k] = tuple(int(d) for d in shape)
    return out


def _sub(shapes: dict, prefix: str) -> dict:
    n = len(prefix)
    return {k[n:]: v for k, v in shapes.items() if k.startswith(prefix)}


def _indices(shapes: dict, pattern: str) -> list:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in shapes if (m := rx.match(k))})


def _need(shapes: dict, key: str, what: str, where: str):
    try:
        return shapes[key]
    except KeyError:
        raise ModelError(f"{where} has an incomplete {what}: the tensor {key!r} is missing.") from None


# --------------------------------------------------------------------------------------------------- errors


def describe_non_sd(shapes: dict) -> str | None:
    """A short phrase saying what a non-Stable-Diffusion file looks like, or None when it may be SD."""
    keys = list(shapes)
    if any(k.startswith(("lora_unet_", "lora_te", "lycoris_")) or ".lora_down." in k or ".lora_A." in k
           or ".hada_w1_a" in k or ".lokr_w1" in k for k in keys):
        return "looks like a LoRA/LyCORIS file, not a base model"
    if any(".joint_blocks." in k or k.startswith("joint_blocks.") for k in keys):
        return "has SD3-like keys (joint_blocks), which is not supported"
    if any(".double_blocks." in k or k.startswith(("double_blocks.", "single_blocks.")) for k in keys):
        return "has Flux-like keys (double_blocks/single_blocks), which is not supported"
    if any(k.startswith(UNET_PREFIX) for k in keys):
        return None
    if all(k.startswith((VAE_PREFIX, "encoder.", "decoder.", "quant_conv.", "post_quant_conv.")) for k in keys):
        return "looks like a VAE only; give it as the separate VAE, with a full base model"
    if any(k.startswith(("down_blocks.", "mid_block.", "conv_in.")) for k in keys):
        return "looks like a diffusers UNet weights file; give the whole diffusers folder (with model_index.json)"
    if any(k.startswith("input_blocks.") for k in keys):
        return "looks like a bare UNet without text encoder and VAE"
    return None


def _prefixes(shapes: dict, n: int = 6) -> str:
    counts = Counter(k.split(".")[0] for k in shapes)
    return ", ".join(f"{p} ({c})" for p, c in counts.most_common(n)) or "none"


# --------------------------------------------------------------------------------------------------- detect


def detect_family(shapes: dict, where: str = "The file") -> str:
    what = describe_non_sd(shapes)
    if what:
        raise ModelError(f"{where} {what}.")
    if not any(k.startswith(UNET_PREFIX) for k in shapes):
        raise ModelError(
            f"{where} is not a Stable Diffusion checkpoint: it has no UNet (model.diffusion_model.*); "
            f"its top-level key prefixes are {_prefixes(shapes)}."
        )
    has = lambda p: any(k.startswith(p) for k in shapes)  # noqa: E731
    if has("conditioner.embedders.0.model."):
        raise ModelError(
            f"{where} is an SDXL refiner (its only text encoder is OpenCLIP-bigG); refiners are not supported "
            "for LoRA training, use an SDXL base model."
        )
    if has(SDXL_TE1_PREFIX) or has(SDXL_TE2_PREFIX) or f"{UNET_PREFIX}label_emb.0.0.weight" in shapes:
        if not (has(SDXL_TE1_PREFIX) and has(SDXL_TE2_PREFIX)):
            raise ModelError(f"{where} looks like SDXL but lacks one of its two text encoders (conditioner.embedders.0/1).")
        return "sdxl"
    if has(SD2_TE_PREFIX):
        return "sd2"
    if has(SD1_TE_PREFIX):
        return "sd1"
    raise ModelError(
        f"{where} has a UNet but no text encoder this app knows (cond_stage_model.* or conditioner.embedders.*); "
        f"its top-level key prefixes are {_prefixes(shapes)}."
    )


def detect(sd, *, v2: bool | None = None, where: str = "The file", require_vae: bool = False) -> ModelSpec:
    """Family and dimensions of a single-file (LDM layout) checkpoint.

    ``v2`` is the user's setting (None: unknown). ``v2=True`` contradicts an SDXL or SD 1.x file and raises.
    """
    shapes = shapes_of(sd)
    family = detect_family(shapes, where)
    if v2 and family != "sd2":
        fam = "an SDXL" if family == "sdxl" else "an SD 1.x"
        raise ModelError(f"{where} is {fam} model, but the setting v2 (SD 2.x) is on; turn v2 off.")
    unet = unet_spec_from_shapes(_sub(shapes, UNET_PREFIX), family, where)
    vae_shapes = _sub(shapes, VAE_PREFIX)
    vae = vae_spec_from_shapes(vae_shapes, family, where) if vae_shapes else None
    if vae is None and require_vae:
        raise ModelError(f"{where} has no VAE (first_stage_model.*); give a separate VAE file.")
    if family == "sd1":
        tes = (clip_spec_from_shapes(shapes, SD1_TE_PREFIX, where),)
    elif family == "sd2":
        tes = (open_clip_spec_from_shapes(shapes, SD2_TE_PREFIX, where, drop_last=True),)
    else:
        tes = (
            clip_spec_from_shapes(shapes, SDXL_TE1_PREFIX, where),
            open_clip_spec_from_shapes(shapes, SDXL_TE2_PREFIX, where, drop_last=False),
        )
    if unet.adm_in_channels:
        extra = unet.adm_in_channels - (tes[-1].projection_dim or 0)
        if extra <= 0 or extra % 6:
            raise ModelError(f"{where} has an SDXL UNet whose size embedding ({unet.adm_in_channels}) does not fit its text encoder.")
        unet = replace(unet, addition_time_embed_dim=extra // 6)
    context = sum(t.hidden_size for t in tes)
    if unet.cross_attention_dim != context:
        raise ModelError(
            f"{where} is inconsistent: the UNet expects {unet.cross_attention_dim}-wide text features but the "
            f"text encoder(s) give {context}."
        )
    return ModelSpec(family=family, unet=unet, vae=vae, text_encoders=tes)


# --------------------------------------------------------------------------------------------------- UNet


def unet_spec_from_shapes(u: dict, family: str, where: str = "The file") -> UNetSpec:
    w = _need(u, "input_blocks.0.0.weight", "UNet", where)
    in_channels = w[1]
    if in_channels == 9:
        raise ModelError(
            f"{where} is an inpainting model (its UNet takes 9 input channels); train LoRAs on the normal base model."
        )
    if in_channels != 4:
        raise ModelError(
            f"{where} has a UNet with {in_channels} input channels (depth, instruct-pix2pix or similar); "
            "only plain text-to-image models (4 channels) are supported."
        )
    out_channels = _need(u, "out.2.weight", "UNet", where)[0]
    n_in = len(_indices(u, r"input_blocks\.(\d+)\."))
    downs = [i for i in range(n_in) if f"input_blocks.{i}.0.op.weight" in u]
    if not downs:
        raise ModelError(f"{where} has a UNet without downsampling layers; it is not a Stable Diffusion UNet.")
    L = downs[0] - 1
    levels = len(downs) + 1
    if L < 1 or n_in != levels * (L + 1) or downs != [(i + 1) * (L + 1) for i in range(levels - 1)]:
        raise ModelError(f"{where} has a UNet whose block layout is not the Stable Diffusion one.")
    n_out = len(_indices(u, r"output_blocks\.(\d+)\."))
    if n_out != levels * (L + 1):
        raise ModelError(f"{where} has a UNet with {n_out} output blocks, expected {levels * (L + 1)}.")

    def depth_at(block: str) -> int:
        return len(_indices(u, re.escape(block) + r"\.transformer_blocks\.(\d+)\."))

    channels, depths = [], []
    for lvl in range(levels):
        first = 1 + lvl * (L + 1)
        channels.append(_need(u, f"input_blocks.{first}.0.out_layers.3.weight", "UNet", where)[0])
        d = [depth_at(f"input_blocks.{first + j}.1") for j in range(L)]
        if len(set(d)) != 1:
            raise ModelError(f"{where} has a UNet whose levels mix attention depths ({d}); not supported.")
        depths.append(d[0])
    # the decoder side must mirror the encoder side (true for SD 1.x, 2.x, SDXL)
    for up in range(levels):
        want = depths[levels - 1 - up]
        got = [depth_at(f"output_blocks.{up * (L + 1) + j}.1") for j in range(L + 1)]
        if any(g != want for g in got):
            raise ModelError(f"{where} has an asymmetric UNet (decoder attention depths {got}); not supported.")
    mid = depth_at("middle_block.1")
    if mid == 0 or (depths[-1] and depths[-1] != mid):
        raise ModelError(f"{where} has a UNet mid block this app cannot map (depth {mid}).")
    if not any(depths):
        raise ModelError(f"{where} has a UNet without cross-attention; it is not a text-to-image model.")
    first_attn = next(1 + lvl * (L + 1) for lvl in range(levels) if depths[lvl])
    base = f"input_blocks.{first_attn}.1."
    proj_in = _need(u, base + "proj_in.weight", "UNet", where)
    cross = _need(u, base + "transformer_blocks.0.attn2.to_k.weight", "UNet", where)[1]
    adm = u.get("label_emb.0.0.weight")
    if family == "sd1":
        rule, heads = "heads8", tuple(SD1_UNET_HEADS for _ in channels)
    else:
        rule, heads = "width64", tuple(c // HEAD_WIDTH for c in channels)
        if any(c % HEAD_WIDTH for c, d in zip(channels, depths) if d):
            raise ModelError(f"{where} has UNet channels {channels} that are not multiples of 64-wide heads.")
    if adm is not None and family != "sdxl":
        raise ModelError(f"{where} has a class-conditioned UNet (unCLIP or upscaler); not supported.")
    addition_time = None
    if adm is not None:
        addition_time = 256
    return UNetSpec(
        in_channels=in_channels,
        out_channels=out_channels,
        block_out_channels=tuple(channels),
        layers_per_block=L,
        transformer_depth=tuple(depths),
        mid_transformer_depth=mid,
        cross_attention_dim=cross,
        num_heads=heads,
        use_linear_projection=len(proj_in) == 2,
        adm_in_channels=adm[1] if adm is not None else None,
        addition_time_embed_dim=addition_time,
        head_rule=rule,
    )


# --------------------------------------------------------------------------------------------------- VAE


def vae_layout(v: dict) -> str:
    """'ldm' (encoder.down.N.block...) or 'diffusers' (encoder.down_blocks.N.resnets...) for un-prefixed keys."""
    if any(k.startswith("encoder.down_blocks.") for k in v):
        return "diffusers"
    if any(k.startswith("encoder.down.") for k in v):
        return "ldm"
    return "unknown"


def vae_spec_from_shapes(v: dict, family: str | None, where: str = "The file") -> VAESpec:
    """VAE dimensions from un-prefixed VAE keys in LDM or diffusers layout."""
    layout = vae_layout(v)
    if layout == "unknown":
        raise ModelError(f"{where} has no VAE encoder/decoder weights in a known layout.")
    if layout == "ldm":
        levels = _indices(v, r"encoder\.down\.(\d+)\.")
        blocks = _indices(v, r"encoder\.down\.0\.block\.(\d+)\.")
        chans = [_need(v, f"encoder.down.{i}.block.{len(blocks) - 1}.conv2.weight", "VAE", where)[0] for i in levels]
        attn_q = _need(v, "encoder.mid.attn_1.q.weight", "VAE", where)
    else:
        levels = _indices(v, r"encoder\.down_blocks\.(\d+)\.")
        blocks = _indices(v, r"encoder\.down_blocks\.0\.resnets\.(\d+)\.")
        chans = [_need(v, f"encoder.down_blocks.{i}.resnets.{len(blocks) - 1}.conv2.weight", "VAE", where)[0]
                 for i in levels]
        attn_q = _need(v, "encoder.mid_block.attentions.0.to_q.weight", "VAE", where)
    return VAESpec(
        in_channels=_need(v, "encoder.conv_in.weight", "VAE", where)[1],
        out_channels=_need(v, "decoder.conv_out.weight", "VAE", where)[0],
        block_out_channels=tuple(chans),
        layers_per_block=len(blocks),
        latent_channels=_need(v, "decoder.conv_in.weight", "VAE", where)[1],
        scaling_factor=VAE_SCALING.get(family or "sd1", 0.18215),
        attn_conv=len(attn_q) == 4,
    )


# --------------------------------------------------------------------------------------------------- text encoders


def clip_spec_from_shapes(shapes: dict, prefix: str, where: str = "The file") -> TextEncoderSpec:
    """OpenAI CLIP text encoder stored with Hugging Face names (``text_model.`` optional)."""
    t = _sub(shapes, prefix)
    tm = any(k.startswith("text_model.") for k in t)
    if tm:
        t = _sub(t, "text_model.")
    tok = _need(t, "embeddings.token_embedding.weight", "text encoder", where)
    layers = len(_indices(t, r"encoder\.layers\.(\d+)\."))
    hidden = tok[1]
    return TextEncoderSpec(
        layout="clip",
        prefix=prefix,
        hidden_size=hidden,
        num_layers=layers,
        file_layers=layers,
        num_heads=max(1, hidden // HEAD_WIDTH),
        intermediate_size=_need(t, "encoder.layers.0.mlp.fc1.weight", "text encoder", where)[0],
        vocab_size=tok[0],
        max_position_embeddings=_need(t, "embeddings.position_embedding.weight", "text encoder", where)[0],
        hidden_act="quick_gelu",
        projection_dim=None,
        text_model_prefix=tm,
    )


def open_clip_spec_from_shapes(shapes: dict, prefix: str, where: str = "The file", *, drop_last: bool) -> TextEncoderSpec:
    """OpenCLIP text tower (``transformer.resblocks.N`` with fused ``in_proj``)."""
    t = _sub(shapes, prefix)
    tok = _need(t, "token_embedding.weight", "text encoder", where)
    blocks = len(_indices(t, r"transformer\.resblocks\.(\d+)\."))
    if blocks < (2 if drop_last else 1):
        raise ModelError(f"{where} has a text encoder without transformer blocks.")
    hidden = tok[1]
    proj = None
    if not drop_last:
        proj = _need(t, "text_projection", "text encoder", where)[-1]
    return TextEncoderSpec(
        layout="open_clip",
        prefix=prefix,
        hidden_size=hidden,
        num_layers=blocks - 1 if drop_last else blocks,
        file_layers=blocks,
        num_heads=max(1, hidden // HEAD_WIDTH),
        intermediate_size=_need(t, "transformer.resblocks.0.mlp.c_fc.weight", "text encoder", where)[0],
        vocab_size=tok[0],
        max_position_embeddings=_need(t, "positional_embedding", "text encoder", where)[0],
        hidden_act="gelu",
        projection_dim=proj,
    )
