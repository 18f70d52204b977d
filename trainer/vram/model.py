"""What a checkpoint holds, read from its safetensors header only (no weights loaded, no torch)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

# ------------------------------------------------------------------------------------------------ model analysis

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."

# UNet layer categories (LDM key names) -> diffusers module classes the presets name
_RX_RESNET = re.compile(r"\.(in_layers\.2|out_layers\.3|emb_layers\.1|skip_connection)\.weight$")
_RX_DOWN = re.compile(r"^input_blocks\.\d+\.0\.op\.weight$")
_RX_UP = re.compile(r"^output_blocks\.\d+\.\d+\.conv\.weight$")
_RX_PROJ = re.compile(r"\.\d+\.proj_(in|out)\.weight$")
_EXTRA = {"input_blocks.0.0.weight": "conv_in", "out.2.weight": "conv_out",
          "time_embed.0.weight": "time_embedding.linear_1", "time_embed.2.weight": "time_embedding.linear_2"}
# the unit diffusers' gradient checkpointing recomputes: one ResNet block or one transformer block
_RX_CKPT_UNIT = re.compile(r"^((?:input_blocks|output_blocks)\.\d+\.\d+|middle_block\.\d+)"
                           r"(?:\.(transformer_blocks\.\d+))?\.")
_RX_CLIP_LAYER = re.compile(r"encoder\.layers\.(\d+)\.(self_attn\.(?:q|k|v|out)_proj|mlp\.fc[12])\.weight$")
_RX_OPENCLIP_LAYER = re.compile(r"transformer\.resblocks\.(\d+)\.(attn\.in_proj_weight|attn\.out_proj\.weight|"
                                r"mlp\.c_fc\.weight|mlp\.c_proj\.weight)$")


@dataclass(frozen=True)
class Layer:
    """A Linear or Conv2d layer LoRA may wrap: kind is the preset class it belongs to."""
    kind: str  # "transformer", "resnet", "downsample", "upsample", "extra", "te"
    attention: bool  # inside an attention module (attn1/attn2, CLIP self-attention)
    out: int
    inp: int
    k: int  # kernel size (1 for linear)
    conv: bool
    bias: bool


@dataclass
class ModelInfo:
    family: str
    spec: object  # trainer.models.spec.ModelSpec
    unet_numel: int
    te_numel: tuple  # per text encoder (tensors the trainer loads)
    vae_numel: int
    vae_channels0: int
    unet_layers: list
    te_layers: tuple  # per text encoder: [Layer]
    unet_matrix_numel: int  # >= 2-D UNet tensors (what fp8 upcasts)
    unet_linear_conv_numel: int  # Linear/Conv weights and their biases (what fp8_base stores in 1 byte)
    ckpt_unit_max_numel: int  # matrices of the largest checkpointed unit
    unet_unckpt_numel: int  # matrices outside the checkpointed units


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def read_header_shapes(path) -> dict:
    """``{name: (shape, dtype name)}`` from a .safetensors header (json; nothing else is read)."""
    from ..models.checkpoint_io import read_shapes

    p = Path(path)
    if p.suffix.lower() != ".safetensors":  # read_shapes would load a .ckpt whole (and import torch)
        raise ModelError(f"{p.name} is not a .safetensors file.")
    try:
        return read_shapes(p)
    except OSError as e:
        raise ModelError(f"Cannot read {p}: {e.strerror or e}.") from None


def _model_shapes(path: str) -> dict:
    p = Path(path)
    if p.is_dir():
        raise ModelError(f"{p} is a diffusers folder; the memory estimate reads single-file checkpoints "
                         "(.safetensors) only.")
    if not p.exists():
        raise ModelError(f"The model file {p} does not exist.")
    if p.suffix.lower() != ".safetensors":
        raise ModelError(f"{p.name} is not a .safetensors file; the memory estimate reads only safetensors "
                         "headers (a .ckpt would have to be loaded whole).")
    return read_header_shapes(p)


def analyze_shapes(shapes: dict) -> ModelInfo:
    """Everything the estimate needs from ``{name: (shape, dtype)}`` (LDM single-file layout)."""
    from ..models.family import detect
    from ..models.spec import SD2_TE_PREFIX

    shp = {k: (v[0] if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], tuple) else tuple(v))
           for k, v in shapes.items()}
    try:  # detection scans the keys many times: give it one key per transformer block / encoder layer
        spec = detect(_detection_subset(shp))
    except ModelError:
        spec = detect(shp)  # the full set gives the exact message
    unet_numel = vae_numel = 0
    te_numel = [0] * len(spec.text_encoders)
    layers: list[Layer] = []
    matrix_numel = 0
    units: dict[str, int] = {}
    for key, shape in shp.items():
        n = _numel(shape)
        if key.startswith(UNET_PREFIX):
            unet_numel += n
            rel = key[len(UNET_PREFIX):]
            if len(shape) >= 2:
                matrix_numel += n
                m = _RX_CKPT_UNIT.match(rel)
                if m and not _RX_PROJ.search(rel) and not _RX_DOWN.match(rel) and not _RX_UP.match(rel):
                    unit = m.group(1) + ("." + m.group(2) if m.group(2) else "")
                    units[unit] = units.get(unit, 0) + n
                layer = _unet_layer(rel, shape, shp)
                if layer is not None:
                    layers.append(layer)
        elif key.startswith(VAE_PREFIX):
            vae_numel += n
        else:
            for i, te in enumerate(spec.text_encoders):
                if key.startswith(te.prefix):
                    if _not_loaded(key[len(te.prefix):], te, te.prefix == SD2_TE_PREFIX):
                        break
                    te_numel[i] += n
                    break
    te_layers = tuple(_te_layers(shp, te) for te in spec.text_encoders)
    vae_c0 = spec.vae.block_out_channels[0] if spec.vae is not None else 128
    if spec.vae is None:  # a separate VAE file will be needed; assume the standard one (83.7 M parameters)
        vae_numel = 83_653_863
    ckpt_total = sum(units.values())
    lin_conv = matrix_numel + sum(_numel(shp[k[:-len("weight")] + "bias"]) for k, v in shp.items()
                                  if k.startswith(UNET_PREFIX) and k.endswith(".weight") and len(v) >= 2
                                  and k[:-len("weight")] + "bias" in shp)
    return ModelInfo(spec.family, spec, unet_numel, tuple(te_numel), vae_numel, vae_c0, layers, te_layers,
                     matrix_numel, lin_conv, max(units.values(), default=0), matrix_numel - ckpt_total)


_RX_SKIP_FOR_DETECT = re.compile(
    r"\.transformer_blocks\.\d+\.(?!attn2\.to_k\.weight$)"  # UNet: keep one tensor per transformer block
    r"|\.layers\.\d+\.(?!mlp\.fc1\.weight$)"  # CLIP: one per layer
    r"|\.resblocks\.\d+\.(?!mlp\.c_fc\.weight$)")  # OpenCLIP: one per block


def _detection_subset(shp: dict) -> dict:
    """The keys ``family.detect`` needs: it counts blocks by index and reads a few shapes; a test checks that
    the subset gives the same spec as the full set."""
    return {k: v for k, v in shp.items() if not _RX_SKIP_FOR_DETECT.search(k)}


def _not_loaded(rel: str, te, sd2: bool) -> bool:
    """OpenCLIP's logit_scale is never loaded; SD 2.x files also carry one more block (and a projection) than
    the text encoder uses."""
    if te.layout != "open_clip":
        return False
    if rel == "logit_scale":
        return True
    return sd2 and (rel == "text_projection" or rel.startswith(f"transformer.resblocks.{te.num_layers}."))


def _unet_layer(rel: str, shape: tuple, shp: dict) -> Layer | None:
    if not rel.endswith(".weight"):
        return None
    conv = len(shape) == 4
    k = shape[2] if conv else 1
    bias = (UNET_PREFIX + rel[: -len("weight")] + "bias") in shp
    inp = shape[1]
    if ".transformer_blocks." in rel or _RX_PROJ.search(rel):
        kind = "transformer"
    elif _RX_RESNET.search(rel):
        kind = "resnet"
    elif _RX_DOWN.match(rel):
        kind = "downsample"
    elif _RX_UP.match(rel):
        kind = "upsample"
    elif rel in _EXTRA:
        kind = "extra"
    else:
        return None
    return Layer(kind, ".attn1." in rel or ".attn2." in rel, shape[0], inp, k, conv, bias)


def _te_layers(shp: dict, te) -> list:
    out = []
    n = len(te.prefix)
    for key, shape in shp.items():
        if not key.startswith(te.prefix):
            continue
        rel = key[n:]
        if te.layout == "clip":
            m = _RX_CLIP_LAYER.search(rel)
            if m and int(m.group(1)) < te.num_layers:
                bias = (key[: -len("weight")] + "bias") in shp
                out.append(Layer("te", m.group(2).startswith("self_attn"), shape[0], shape[1], 1, False, bias))
        else:
            m = _RX_OPENCLIP_LAYER.search(rel)
            if m and int(m.group(1)) < te.num_layers:
                what = m.group(2)
                if what == "attn.in_proj_weight":  # fused q, k, v -> three Linear layers in transformers
                    out += [Layer("te", True, shape[0] // 3, shape[1], 1, False, True)] * 3
                else:
                    out.append(Layer("te", what.startswith("attn"), shape[0], shape[1], 1, False, True))
    return out


_CACHE: dict = {}


def analyze_model(path: str) -> ModelInfo:
    """``analyze_shapes`` of a checkpoint file, cached by path, size and modification time."""
    p = Path(path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    info = analyze_shapes(_model_shapes(path))
    if key is not None:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = info
    return info
