"""Where each LoRA module name lands in a single-file (original layout) checkpoint.

``target_map(shapes, spec)`` -> ``{lora module name: Target(checkpoint key, rows)}``. Names are made from the
checkpoint's own keys, so no name is ever parsed back from its underscores:
- UNet: sd-scripts writes SD 1.x/2.x names in diffusers spelling (``lora_unet_down_blocks_0_attentions_0_...``)
  and SDXL names in the original layout (``lora_unet_input_blocks_4_1_...``). Both spellings are mapped for every
  family (``Target.native`` says which one sd-scripts would write), so a merge takes files from other trainers;
  ``check`` reports the foreign spelling as a naming problem.
- CLIP text encoders (SD 1.x, SDXL te1): ``...transformer.text_model.encoder.layers.0.self_attn.q_proj.weight``
  -> ``lora_te[1]_text_model_encoder_layers_0_self_attn_q_proj``.
- OpenCLIP text towers (SD 2.x, SDXL te2) fuse q/k/v in ``attn.in_proj_weight``: q/k/v LoRA modules target a
  row block of it (``rows``); out_proj, c_fc, c_proj map to ``self_attn_out_proj``, ``mlp_fc1``, ``mlp_fc2``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..models.keymaps import PrefixMap, UNetLayout, open_clip_pairs, unet_pairs
from ..models.spec import SD1_TE_PREFIX, SD2_TE_PREFIX, SDXL_TE1_PREFIX, SDXL_TE2_PREFIX, UNET_PREFIX


@dataclass(frozen=True)
class Target:
    key: str  # checkpoint key of the weight
    shape: tuple  # shape of the changed weight (the row block for fused q/k/v)
    rows: tuple | None = None  # (start, stop) rows of a fused OpenCLIP in_proj_weight
    native: bool = True  # the spelling sd-scripts writes for this family
    group: str = ""  # unet-attn | unet-conv | unet-other | te


def _lora(prefix: str, dotted: str) -> str:
    return prefix + dotted.replace(".", "_")


def target_map(shapes: dict, spec) -> dict[str, Target]:
    """``shapes``: ``{checkpoint key: shape}`` (``family.shapes_of``); ``spec``: the file's ``ModelSpec``."""
    out: dict[str, Target] = {}
    fam = spec.family
    to_diffusers = PrefixMap(unet_pairs(UNetLayout.from_spec(spec.unet)))
    for key, shape in shapes.items():
        if not key.startswith(UNET_PREFIX) or not key.endswith(".weight") or len(shape) not in (2, 4):
            continue
        rel = key[len(UNET_PREFIX):]
        diff = to_diffusers(rel)
        dmod = diff[: -len(".weight")] if diff else None
        group = "unet-other"
        if dmod and ".attentions." in dmod:
            group = "unet-attn"
        elif dmod and any(s in dmod for s in (".resnets.", ".downsamplers.", ".upsamplers.")):
            group = "unet-conv"
        orig = _lora("lora_unet_", rel[: -len(".weight")])
        out[orig] = Target(key, tuple(shape), native=fam == "sdxl", group=group)
        if dmod:
            out[_lora("lora_unet_", dmod)] = Target(key, tuple(shape), native=fam != "sdxl", group=group)
    tes = {"sd1": [("lora_te_", SD1_TE_PREFIX)], "sd2": [("lora_te_", SD2_TE_PREFIX)],
           "sdxl": [("lora_te1_", SDXL_TE1_PREFIX), ("lora_te2_", SDXL_TE2_PREFIX)]}[fam]
    for (lora_prefix, ckpt_prefix), te_spec in zip(tes, spec.text_encoders):
        if te_spec.layout == "clip":
            _clip_targets(shapes, ckpt_prefix, lora_prefix, te_spec.num_layers, out)
        else:
            _open_clip_targets(shapes, ckpt_prefix, lora_prefix, te_spec.num_layers, te_spec.hidden_size, out)
    return out


def _clip_targets(shapes, ckpt_prefix, lora_prefix, layers, out):
    for key, shape in shapes.items():
        if not key.startswith(ckpt_prefix) or not key.endswith(".weight") or len(shape) != 2:
            continue
        rel = key[len(ckpt_prefix):]
        rel = rel[len("text_model."):] if rel.startswith("text_model.") else rel
        if not rel.startswith("encoder.layers."):
            continue
        if int(rel.split(".")[2]) >= layers:
            continue
        out[_lora(lora_prefix + "text_model_", rel[: -len(".weight")])] = Target(key, tuple(shape), group="te")


def _open_clip_targets(shapes, ckpt_prefix, lora_prefix, layers, hidden, out):
    pmap = PrefixMap(open_clip_pairs(layers))
    for i in range(layers):
        blk = f"{ckpt_prefix}transformer.resblocks.{i}."
        fused = blk + "attn.in_proj_weight"
        if fused in shapes:
            for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
                out[_lora(lora_prefix + "text_model_", f"encoder.layers.{i}.self_attn.{name}")] = Target(
                    fused, (hidden, tuple(shapes[fused])[1]), rows=(j * hidden, (j + 1) * hidden), group="te")
        for part in ("attn.out_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"):
            key = blk + part
            if key in shapes:
                hf = pmap(f"transformer.resblocks.{i}.{part}")
                out[_lora(lora_prefix + "text_model_", hf[: -len(".weight")])] = Target(key, tuple(shapes[key]),
                                                                                      group="te")


# ------------------------------------------------------------------------------------- real architectures

_REAL_SHAPES: dict = {}


def real_model_shapes(family: str) -> dict:
    """``{checkpoint key: shape}`` of the real SD 1.x / 2.x / SDXL base model (built on the meta device), in the
    layout the app writes checkpoints (SD 2.x with sd-scripts' dummy 24th text encoder block)."""
    if family not in _REAL_SHAPES:
        from ..models.diffusers_to_ldm import to_ldm_state_dict
        from ..models.fullsize import full_size_models

        unet, _vae, encoders = full_size_models(family)
        sd = to_ldm_state_dict(family, unet, None, encoders)
        _REAL_SHAPES[family] = {k: tuple(v.shape) for k, v in sd.items()}
    return _REAL_SHAPES[family]


def real_model_spec(family: str):
    """The ``ModelSpec`` of ``real_model_shapes(family)``, read from those shapes as from a checkpoint file."""
    from ..models.family import detect

    return detect(real_model_shapes(family), where=f"The real {family} model")
