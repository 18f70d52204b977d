"""Original single-file (LDM) state dicts -> diffusers / transformers models.

Each ``convert_*`` takes the component's keys *without* their file prefix and returns
``(diffusers_state_dict, extras)``; extras are tensors the diffusers-side model has no place for but a faithful
re-save needs (``position_ids``, ``logit_scale``, SD 2.x's unused last OpenCLIP block and ``text_projection``).
A key the map does not know raises ``ModelError`` (strict). ``build_*`` make the model on the meta device and
assign the converted tensors (no random init, no second copy of the weights).

Text encoder names (transformers 5): ``CLIPTextModel`` has NO ``text_model.`` prefix
(``encoder.layers.0.self_attn.q_proj``); ``CLIPTextModelWithProjection`` keeps it
(``text_model.encoder.layers.0...`` + ``text_projection``). Both are mapped explicitly here.
"""

from __future__ import annotations

from trainer.errors import ModelError

from .keymaps import PrefixMap, UNetLayout, open_clip_pairs, unet_pairs, vae_pairs
from .spec import TextEncoderSpec, UNetSpec, VAESpec


def _few(keys, n: int = 4) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _rename(sub: dict, pmap: PrefixMap, where: str, what: str) -> dict:
    out, unknown = {}, []
    for k in list(sub):
        new = pmap(k)
        if new is None:
            unknown.append(k)
        else:
            out[new] = sub.pop(k)
    if unknown:
        raise ModelError(f"{where} has {what} weights this app cannot place: {_few(unknown)}.")
    return out


def pop_prefixed(sd: dict, prefix: str) -> dict:
    """Remove and return the keys under ``prefix`` (prefix stripped), so the big dict shrinks as we go."""
    n = len(prefix)
    return {k[n:]: sd.pop(k) for k in [k for k in sd if k.startswith(prefix)]}


# --------------------------------------------------------------------------------------------------- UNet


def convert_unet(sub: dict, spec: UNetSpec, where: str = "The file") -> dict:
    return _rename(sub, PrefixMap(unet_pairs(UNetLayout.from_spec(spec))), where, "UNet")


# --------------------------------------------------------------------------------------------------- VAE


def convert_vae(sub: dict, spec: VAESpec, layout: str = "ldm", where: str = "The file") -> dict:
    """LDM or diffusers layout -> diffusers AutoencoderKL keys; 1x1-conv attention weights become linear."""
    if layout == "ldm":
        out = _rename(sub, PrefixMap(vae_pairs(len(spec.block_out_channels), spec.layers_per_block)), where, "VAE")
    else:
        out = dict(sub)
        sub.clear()
        # very old diffusers files name the mid attention query/key/value/proj_attn
        for old, new in (("query.", "to_q."), ("key.", "to_k."), ("value.", "to_v."), ("proj_attn.", "to_out.0.")):
            for k in [k for k in out if f"attentions.0.{old}" in k]:
                out[k.replace(f"attentions.0.{old}", f"attentions.0.{new}")] = out.pop(k)
    for k in list(out):
        if ".mid_block.attentions.0.to_" in k and k.endswith(".weight") and out[k].ndim == 4:
            out[k] = out[k].reshape(out[k].shape[0], out[k].shape[1])
    return out


# --------------------------------------------------------------------------------------------------- text encoders


def convert_clip_text(sub: dict, spec: TextEncoderSpec, where: str = "The file") -> tuple:
    """HF-named CLIP text encoder (with or without ``text_model.``) -> CLIPTextModel / ...WithProjection keys."""
    head = "text_model." if spec.projection_dim else ""
    out, extras = {}, {}
    for k in list(sub):
        v = sub.pop(k)
        rel = k[len("text_model."):] if spec.text_model_prefix and k.startswith("text_model.") else k
        if rel.endswith("position_ids"):
            extras[k] = v
        elif rel.startswith(("embeddings.", "encoder.", "final_layer_norm.")):
            out[head + rel] = v
        elif rel == "text_projection.weight" and spec.projection_dim:
            out[rel] = v
        else:
            raise ModelError(f"{where} has a text encoder weight this app cannot place: {spec.prefix}{k}.")
    return out, {spec.prefix + k: v for k, v in extras.items()}


_OPEN_CLIP_EXTRAS = ("logit_scale", "attn_mask")


def convert_open_clip_text(sub: dict, spec: TextEncoderSpec, where: str = "The file") -> tuple:
    """OpenCLIP text tower -> CLIPTextModel (SD 2.x, last block left out) or ...WithProjection (SDXL)."""
    head = "text_model." if spec.projection_dim else ""
    pmap = PrefixMap(open_clip_pairs(spec.num_layers))
    h = spec.hidden_size
    out, extras, unknown = {}, {}, []
    dropped = tuple(f"transformer.resblocks.{i}." for i in range(spec.num_layers, spec.file_layers))
    for k in list(sub):
        v = sub.pop(k)
        if k in _OPEN_CLIP_EXTRAS or (dropped and k.startswith(dropped)):
            extras[k] = v
        elif k == "text_projection":
            if spec.projection_dim:
                out["text_projection.weight"] = v.t().contiguous()
            else:
                extras[k] = v
        elif k == "positional_embedding":
            out[head + "embeddings.position_embedding.weight"] = v
        elif k.endswith((".attn.in_proj_weight", ".attn.in_proj_bias")):
            base = pmap(k.rsplit(".attn.", 1)[0] + ".ln_1.x")
            if base is None:
                unknown.append(k)
                continue
            layer = base[: -len("layer_norm1.x")]
            kind = "weight" if k.endswith("weight") else "bias"
            if v.shape[0] != 3 * h:
                raise ModelError(f"{where} has a fused attention weight of unexpected size: {spec.prefix}{k}.")
            for name, part in zip(("q_proj", "k_proj", "v_proj"), v.split(h, dim=0)):
                out[f"{head}{layer}self_attn.{name}.{kind}"] = part.clone()
            del v
        else:
            new = pmap(k)
            if new is None:
                unknown.append(k)
            else:
                out[head + new] = v
    if unknown:
        raise ModelError(f"{where} has text encoder weights this app cannot place: {_few(spec.prefix + k for k in unknown)}.")
    return out, {spec.prefix + k: v for k, v in extras.items()}


def convert_text_encoder(sub: dict, spec: TextEncoderSpec, where: str = "The file") -> tuple:
    if spec.layout == "clip":
        return convert_clip_text(sub, spec, where)
    return convert_open_clip_text(sub, spec, where)


# --------------------------------------------------------------------------------------------------- building


def assign_weights(model, sd: dict, dtype, where: str, what: str):
    """Strictly load ``sd`` into a meta-initialised ``model`` by assignment; empties ``sd``."""

    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {_few(unexpected)}")
        raise ModelError(f"{where} does not fit the {what} inferred from it: {'; '.join(parts)}.")
    wrong = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items() if sd[k].shape != v.shape]
    if wrong:
        raise ModelError(f"{where} has {what} weights of unexpected shape: {_few(wrong, 3)}.")
    for k in list(sd):
        t = sd[k]
        if dtype is not None and t.is_floating_point() and t.dtype != dtype:
            sd[k] = t.to(dtype)
        elif not t.is_contiguous():
            sd[k] = t.contiguous()
    model.load_state_dict(sd, strict=True, assign=True)
    sd.clear()
    left = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.device.type == "meta"]
    if left:
        raise ModelError(f"{where}: internal error, {what} tensors left uninitialised: {_few(left)}.")
    model.eval()
    return model


def _empty(factory):
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        return factory()


def build_unet(config: dict, sd: dict, dtype=None, where: str = "The file"):
    from diffusers import UNet2DConditionModel

    model = _empty(lambda: UNet2DConditionModel(**config))
    return assign_weights(model, sd, dtype, where, "UNet")


def build_vae(config: dict, sd: dict, dtype=None, where: str = "The file"):
    from diffusers import AutoencoderKL

    model = _empty(lambda: AutoencoderKL(**config))
    return assign_weights(model, sd, dtype, where, "VAE")


def build_text_encoder(spec: TextEncoderSpec, sd: dict, dtype=None, where: str = "The file"):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    cls = CLIPTextModelWithProjection if spec.projection_dim else CLIPTextModel
    cfg = spec.transformers_config()
    model = _empty(lambda: cls(cfg))
    return assign_weights(model, sd, dtype, where, "text encoder")
