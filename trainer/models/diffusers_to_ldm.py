"""diffusers / transformers models -> the original single-file (LDM) layout, and saving such a file.

``to_ldm_state_dict`` returns the dict (the merge tool uses it); ``save_checkpoint`` writes it.

SD 2.x: the CLIPTextModel has N-1 layers but files carry N OpenCLIP blocks (SD 2.x uses the penultimate
output). When the original last block is known (``extras`` from the loader) it is written back unchanged;
otherwise, like sd-scripts, a dummy last block (a copy of block N-2), an identity-like ``text_projection`` and
``logit_scale`` are written so the file has the standard SD 2.x layout. The dummy block is never used by SD 2.x.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from trainer.errors import ModelError

from .keymaps import PrefixMap, UNetLayout, open_clip_pairs, unet_pairs, vae_pairs
from .spec import SD1_TE_PREFIX, SD2_TE_PREFIX, SDXL_TE1_PREFIX, SDXL_TE2_PREFIX, UNET_PREFIX, VAE_PREFIX

LOGIT_SCALE = math.log(100.0)  # OpenCLIP's trained value (exp -> 100)


def _rename_all(sd: dict, pmap: PrefixMap, what: str) -> dict:
    out = {}
    for k, v in sd.items():
        new = pmap(k)
        if new is None:
            raise ModelError(f"The {what} has a weight with no place in the original layout: {k}.")
        out[new] = v
    return out


def unet_to_ldm(unet_sd: dict, layout: UNetLayout) -> dict:
    return _rename_all(unet_sd, PrefixMap(unet_pairs(layout), reverse=True), "UNet")


def vae_to_ldm(vae_sd: dict, levels: int, layers_per_block: int, attn_conv: bool = True) -> dict:
    out = _rename_all(vae_sd, PrefixMap(vae_pairs(levels, layers_per_block), reverse=True), "VAE")
    if attn_conv:
        for k in out:
            if ".mid.attn_1." in k and k.endswith(("q.weight", "k.weight", "v.weight", "proj_out.weight")):
                if out[k].ndim == 2:
                    out[k] = out[k].reshape(*out[k].shape, 1, 1)
    return out


def clip_to_ldm(te_sd: dict, text_model_prefix: bool = True) -> dict:
    """CLIPTextModel (flat names) or ...WithProjection (``text_model.`` names) -> ``text_model.*`` (HF CLIP layout)."""
    out = {}
    for k, v in te_sd.items():
        rel = k[len("text_model."):] if k.startswith("text_model.") else k
        if rel.endswith("position_ids"):
            continue
        out[("text_model." if text_model_prefix else "") + rel] = v
    return out


def open_clip_to_ldm(te_sd: dict, num_layers: int) -> dict:
    """CLIPTextModel(WithProjection) -> OpenCLIP text tower (fused q/k/v, transposed text_projection)."""
    import torch

    pmap = PrefixMap(open_clip_pairs(num_layers), reverse=True)
    rel_sd = {}
    out = {}
    for k, v in te_sd.items():
        if k == "text_projection.weight":
            out["text_projection"] = v.t().contiguous()
            continue
        rel = k[len("text_model."):] if k.startswith("text_model.") else k
        if rel.endswith("position_ids"):
            continue
        rel_sd[rel] = v
    for i in range(num_layers):
        b = f"encoder.layers.{i}.self_attn."
        for kind in ("weight", "bias"):
            parts = [rel_sd.pop(f"{b}{n}.{kind}") for n in ("q_proj", "k_proj", "v_proj")]
            out[f"transformer.resblocks.{i}.attn.in_proj_{kind}"] = torch.cat(parts, dim=0)
    out["positional_embedding"] = rel_sd.pop("embeddings.position_embedding.weight")
    out.update(_rename_all(rel_sd, pmap, "text encoder"))
    return out


def _state(model) -> dict:
    return {k: v for k, v in model.state_dict().items()}


def to_ldm_state_dict(family: str, unet, vae, text_encoders, *, dtype=None, spec=None, extras=None) -> dict:
    """All models as one original-layout state dict (tensors are shared with the models unless ``dtype`` casts).

    ``spec`` (the loaded file's ``ModelSpec``) keeps layout details of the source file (old SD1 text encoder
    names without ``text_model.``, VAE attention stored as linear); ``extras`` (``BaseModel.extras``) are the
    source file's tensors that the models do not hold. With both, LDM -> diffusers -> LDM is an identity.
    """
    if family not in ("sd1", "sd2", "sdxl"):
        raise ModelError(f"Unknown model family {family!r}.")
    tes = list(text_encoders)
    if len(tes) != (2 if family == "sdxl" else 1):
        raise ModelError(f"A {family} model needs {2 if family == 'sdxl' else 1} text encoder(s), got {len(tes)}.")
    extras = dict(extras or {})
    te_specs = list(spec.text_encoders) if spec is not None else [None] * len(tes)
    out = {}
    layout = UNetLayout.from_config(dict(unet.config))
    out.update({UNET_PREFIX + k: v for k, v in unet_to_ldm(_state(unet), layout).items()})
    if vae is not None:
        attn_conv = spec.vae.attn_conv if (spec is not None and spec.vae is not None) else True
        vae_sd = vae_to_ldm(_state(vae), len(vae.config.block_out_channels), vae.config.layers_per_block, attn_conv)
        out.update({VAE_PREFIX + k: v for k, v in vae_sd.items()})

    if family == "sd1":
        tm = te_specs[0].text_model_prefix if te_specs[0] is not None else True
        out.update({SD1_TE_PREFIX + k: v for k, v in clip_to_ldm(_state(tes[0]), tm).items()})
    elif family == "sd2":
        n = tes[0].config.num_hidden_layers
        te = {SD2_TE_PREFIX + k: v for k, v in open_clip_to_ldm(_state(tes[0]), n).items()}
        last = f"{SD2_TE_PREFIX}transformer.resblocks.{n}."
        if not any(k.startswith(last) for k in extras):
            # sd-scripts' approach: a dummy last block copied from the previous one (unused by SD 2.x)
            prev = f"{SD2_TE_PREFIX}transformer.resblocks.{n - 1}."
            for k in [k for k in te if k.startswith(prev)]:
                extras[last + k[len(prev):]] = te[k].clone()
            if SD2_TE_PREFIX + "text_projection" not in extras:
                import torch

                h = tes[0].config.hidden_size
                ref = te[SD2_TE_PREFIX + "positional_embedding"]
                extras[SD2_TE_PREFIX + "text_projection"] = torch.eye(h, dtype=ref.dtype)
            extras.setdefault(SD2_TE_PREFIX + "logit_scale", _logit_scale(te))
        out.update(te)
    else:
        tm = te_specs[0].text_model_prefix if te_specs[0] is not None else True
        out.update({SDXL_TE1_PREFIX + k: v for k, v in clip_to_ldm(_state(tes[0]), tm).items()})
        te2 = open_clip_to_ldm(_state(tes[1]), tes[1].config.num_hidden_layers)
        te2 = {SDXL_TE2_PREFIX + k: v for k, v in te2.items()}
        extras.setdefault(SDXL_TE2_PREFIX + "logit_scale", _logit_scale(te2))
        out.update(te2)

    for k, v in extras.items():
        out.setdefault(k, v)
    if dtype is not None:
        out = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in out.items()}
    return out


def _logit_scale(ref_sd: dict):
    import torch

    dt = next(iter(ref_sd.values())).dtype
    return torch.tensor(LOGIT_SCALE, dtype=dt if dt.is_floating_point else torch.float32)


def save_state_dict(path, sd: dict, metadata: dict | None = None) -> Path:
    """Write ``sd`` atomically: ``.safetensors`` (with string metadata) or ``.ckpt``/``.pt`` as {"state_dict": sd}."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".part")
    sd = {k: (v if v.is_contiguous() else v.contiguous()) for k, v in sd.items()}
    # safetensors refuses tensors that share memory; give any such tensor its own copy
    seen = set()
    for k, v in sd.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else None
        if ptr is not None and ptr in seen:
            sd[k] = v.clone()
        elif ptr is not None:
            seen.add(ptr)
    try:
        if p.suffix.lower() == ".safetensors":
            from safetensors.torch import save_file

            save_file(sd, str(tmp), metadata={str(k): str(v) for k, v in (metadata or {}).items()})
        else:
            torch.save({"state_dict": sd}, str(tmp))
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p


def save_checkpoint(path, family, unet, vae, text_encoders, dtype=None, metadata=None, *, spec=None, extras=None):
    """Save the models as one single-file checkpoint in the original layout; returns the path."""
    sd = to_ldm_state_dict(family, unet, vae, text_encoders, dtype=dtype, spec=spec, extras=extras)
    return save_state_dict(path, sd, metadata)
