"""Estimate the peak GPU memory of a LoRA training run from the checkpoint's tensor shapes and the settings.

Pure arithmetic, no torch: the GUI calls ``estimate(cfg)`` on every change of a field. Shapes come from the
safetensors header only (``checkpoint_io.read_shapes``; no weights are read) and the model analysis is cached
per file (path, size, modification time), so later calls take well under a millisecond.

Calibration against real GPUs is PENDING: the constants in the CALIBRATION block below are first-principles
guesses (what autograd saves, what autocast casts), sanity-checked only against rough published numbers (SD 1.5
LoRA with checkpointing in ~6 GB; SDXL with fp8_base, cached text-encoder outputs, checkpointing and Adafactor
in 8 GB; SDXL without fp8 with checkpointing and AdamW8bit ~12 GB as nvidia-smi reports it). The parameter and
optimizer-state parts are exact (tested against the real network and optimizers).

The model (bytes; B = train_batch_size, W x H the resolution, latent h x w = H/8 x W/8; UNet level l has C_l
channels and N_l = ceil(h/2^l) * ceil(w/2^l) tokens; e = bytes of the compute dtype: 2 with mixed precision
fp16/bf16, else 4; f = 4, the fp32 in which autocast runs group/layer norms and softmax)

resident for the whole step
    unet weights     numel(UNet) * e; with fp8_base Linear/Conv weights and biases take 1 byte (models/fp8.py)
    text encoders    numel(TE) * (4 when trained, else e); 0 when cache_text_encoder_outputs (the outputs are
                     cached and the encoders moved to the CPU)
    VAE              numel(VAE) * 4 (fp32, as sd-scripts); 0 when cache_latents (moved to the CPU after caching)
    LoRA weights     P * p, P trainable parameters counted per targeted layer from its shape (below),
                     p = 2 with full_bf16/full_fp16, else 4
    LoRA gradients   P * p
    optimizer state  per LoRA tensor: AdamW 8 B/param, AdamW8bit 2 + 2*4/256 (tensors under 4096 values keep
                     32-bit state, as bitsandbytes does), Lion 4, Prodigy 16 (12 for the zero-initialised up
                     weights of a new network), Adafactor factored: rows+cols
                     values per matrix (+ a full first moment with beta1) ... (``OPTIMIZER_STATE``; non-8-bit
                     state has the parameter's dtype)
    autocast copies  P * 2 with mixed precision and fp32 LoRA weights (autocast caches half copies of them)
transient (the larger of the two)
    training         UNet activations + text-encoder activations (when trained) + fp8 upcast copies
    VAE encode       B * W * H * C_vae0 * 4 * VAE_ENCODE_LIVE_TENSORS (fp32, no grad), when latents are not cached
overhead
    allocator        ALLOCATOR_FRAGMENTATION * (resident + transient)
    CUDA context     CUDA_CONTEXT_BYTES
peak = resident + transient + overhead   (the listed parts sum to it). With cache_latents the caching phase
(UNet + text encoders + VAE + a VAE encode of vae_batch_size images) is estimated too; peak is the larger.

LoRA parameters per targeted layer (in -> out features, kernel k; r = network_dim for linear and 1x1 layers,
conv_dim for k x k convolutions, which are only trained when conv layers are enabled):
    LoRA/LoCon/DyLoRA  r * (in*k*k + out)      (Tucker: r*in + r*r*k*k + r*out)
    LoHa               2 * r * (in*k*k + out)  (Tucker: 2 * (r*r*k*k + r*in + r*out))
    LoKr               Kronecker factors as lycoris builds them (factorization of in and out by ``factor``)
    IA3                out;  full: in*out*k*k + out;  DoRA (dora_wd) adds out per layer
    diag-oft, boft, glora are approximated as LoCon.
Targets follow trainer/network/presets.py: sd-scripts' LoRA trains the UNet's transformer blocks (attention,
feed-forward, proj_in/out) and, with conv_dim, its ResNet blocks and up/down samplers; the text encoders'
attention and MLP layers unless network_train_unet_only.

Activations per sample, summed over every block of the UNet (bytes per token at the block's level):
    ResNet block (C_in -> C)      (2f + e)(C_in + C) + e*C_in [1x1 skip conv] (+ e(C_in + C) with conv LoRA)
    transformer block (C)         (3f + 26e) * C   + attention: SDPA/xformers (memory-efficient) heads * 4,
                                  naive: heads * (N + M) * (f + e)  (the N x N and N x M score matrices)
    Transformer2D wrapper (C)     (f + 2e) * C     (group norm, proj_in/proj_out LoRA inputs)
    down/up sampler (C)           e * C (+ e * C with conv LoRA)
    + BACKWARD_WORKSPACE * the largest block (gradients in flight)
With gradient checkpointing (diffusers checkpoints each ResNet and each transformer block): every checkpointed
block keeps only its input (e * C_in per token), the wrappers and samplers keep theirs, and one block at a time
is recomputed: sum(inputs) + (1 + BACKWARD_WORKSPACE) * largest block.
Text encoders (trained, T = 77 * max_token_length/75 tokens per caption): (2f + 18e) * width per token and
layer (checkpointed: one layer plus the inputs). fp8_base: autocast casts each frozen fp8 weight to the compute
dtype and autograd keeps that copy for the backward pass: all UNet matrices * e without checkpointing, the
largest checkpointed block's plus the never-checkpointed layers' with it.
"""
from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ConfigError, ModelError
from .netargs import as_bool, parse_network_args

GiB = 1024 ** 3

# ----------------------------------------------------------------------------------------- CALIBRATION
# Every tunable constant of the estimate is here. Calibration against torch.cuda.max_memory_allocated on real
# GPUs is pending (no GPU was available when this was written); bench/ will hold the measured table.
CALIBRATION_STATUS = "pending"
CUDA_CONTEXT_BYTES = int(0.5 * GiB)  # CUDA context + cuBLAS/cuDNN workspaces; 0.4-0.6 GiB on recent drivers
ALLOCATOR_FRAGMENTATION = 0.05       # memory the caching allocator reserves beyond live tensors
BACKWARD_WORKSPACE = 0.5             # gradients in flight during backward, as a share of the largest block
VAE_ENCODE_LIVE_TENSORS = 4          # full-resolution fp32 feature maps alive at once in the VAE encoder
FP32_NORM = 4                        # autocast runs group/layer norm, softmax in fp32 (bytes per value)
RESNET_NORM_ACTS = 2                 # group norm input + SiLU input, per norm (both fp32 under autocast)
TRANSFORMER_NORM_ACTS = 3            # three layer norms per transformer block (fp32 inputs saved)
TRANSFORMER_HALF_ACTS = 26           # per transformer block, in units of C compute-dtype values per token:
#   q/k/v LoRA input casts 3 + SDPA q,k,v,out 4 + attn2 q LoRA input + q + out 3 + ff proj LoRA input 1
#   + GEGLU (8C projection + 4C gelu) 12 + ff out LoRA input 4 - shared tensors 1
TRANSFORMER_WRAPPER_ACTS = (1, 2)    # (fp32 group norm input, compute-dtype proj_in/proj_out LoRA inputs)
TE_NORM_ACTS = 2                     # text encoder layer: two layer norms (fp32)
TE_HALF_ACTS = 18                    # q/k/v casts 3 + SDPA 4 + out 1 + fc1 input 1 + gelu 4 + fc2 input 4 + 1
TOKENS_PER_CHUNK = 77
# ---------------------------------------------------------------------------------------------------------

_BLOCK = 4 / 256  # one fp32 absmax per 256-value block of 8-bit state (bitsandbytes)
MIN_8BIT_SIZE = 4096  # bitsandbytes keeps smaller tensors in 32-bit state

# name -> (state bytes per fp32 parameter, is 8-bit, bytes per parameter of the 32-bit fallback for small
# tensors). Must agree with trainer.optim.optimizers.OPTIMIZERS (which imports torch; a test checks both).
OPTIMIZER_STATE: dict[str, tuple[float, bool, float]] = {
    "AdamW": (8, False, 8),
    "AdamW8bit": (2 + 2 * _BLOCK, True, 8),
    "PagedAdamW8bit": (2 + 2 * _BLOCK, True, 8),
    "PagedAdamW": (8, False, 8),
    "PagedAdamW32bit": (8, False, 8),
    "Lion": (4, False, 4),
    "Lion8bit": (1 + _BLOCK, True, 4),
    "PagedLion8bit": (1 + _BLOCK, True, 4),
    "SGDNesterov": (4, False, 4),
    "SGDNesterov8bit": (1 + _BLOCK, True, 4),
    "DAdaptation": (12, False, 12),
    "DAdaptAdamPreprint": (12, False, 12),
    "DAdaptAdaGrad": (12, False, 12),
    "DAdaptAdam": (12, False, 12),
    "DAdaptAdan": (20, False, 20),
    "DAdaptAdanIP": (20, False, 20),
    "DAdaptLion": (8, False, 8),
    "DAdaptSGD": (12, False, 12),
    "Prodigy": (16, False, 16),
    "AdaFactor": (0.5, False, 0.5),  # nominal; computed per matrix from the factored shapes below
}
_OPT_LOWER = {k.lower(): k for k in OPTIMIZER_STATE}

_DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1,
                "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn",
              "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
              "U8": "uint8", "BOOL": "bool"}


# ------------------------------------------------------------------------------------------------ results


@dataclass
class Part:
    key: str
    label: str
    bytes: int
    group: str  # "weights", "training", "activations", "overhead"
    note: str = ""

    @property
    def gib(self) -> float:
        return self.bytes / GiB


@dataclass
class Estimate:
    family: str
    model: str
    resolution: tuple
    batch_size: int
    parts: list  # [Part]; they sum to training_peak_bytes
    trainable_params: int
    lora_modules: int
    peak_bytes: int
    allocated_bytes: int  # live tensors at the peak (compare with torch.cuda.max_memory_allocated)
    caching_peak_bytes: int | None = None  # the latent-caching phase, when cache_latents
    not_added: list = field(default_factory=list)  # [Part] transients smaller than the one counted
    notes: list = field(default_factory=list)
    calibration: str = CALIBRATION_STATUS

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GiB

    @property
    def training_peak_bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    @property
    def dominant(self) -> Part:
        """The largest part (what to change first to save memory)."""
        return max(self.parts, key=lambda p: p.bytes)

    def to_dict(self) -> dict:
        def part(p: Part) -> dict:
            d = asdict(p)
            d["gib"] = round(p.gib, 4)
            return d

        return {
            "family": self.family,
            "model": self.model,
            "resolution": list(self.resolution),
            "batch_size": self.batch_size,
            "parts": [part(p) for p in self.parts],
            "not_added": [part(p) for p in self.not_added],
            "dominant": self.dominant.key,
            "trainable_params": self.trainable_params,
            "lora_modules": self.lora_modules,
            "allocated_gib": round(self.allocated_bytes / GiB, 4),
            "caching_peak_gib": None if self.caching_peak_bytes is None else round(self.caching_peak_bytes / GiB, 4),
            "peak_bytes": self.peak_bytes,
            "peak_gib": round(self.peak_gib, 4),
            "calibration": self.calibration,
            "notes": list(self.notes),
        }

    def format(self) -> str:
        """The breakdown as text lines; the last line is ``peak: <GiB> GiB``."""
        w, h = self.resolution
        lines = [f"VRAM estimate for {self.family.upper()} {Path(self.model).name}, {w}x{h}, batch {self.batch_size}",
                 f"calibration {self.calibration}: the formula has not been checked against a real GPU yet",
                 f"LoRA: {self.lora_modules} modules, {self.trainable_params:,} trainable parameters"]
        width = max(len(p.label) for p in self.parts + self.not_added)
        group = None
        for p in self.parts:
            if p.group != group:
                group = p.group
                lines.append(f"{group}:")
            lines.append(f"  {p.label:<{width}}  {p.gib:8.3f} GiB" + (f"  ({p.note})" if p.note else ""))
        if self.not_added:
            lines.append("not added (a smaller transient at another moment of the step):")
        for p in self.not_added:
            lines.append(f"  {p.label:<{width}}  {p.gib:8.3f} GiB  ({p.note})")
        lines.append(f"live tensors at the peak (torch max_memory_allocated): {self.allocated_bytes / GiB:.3f} GiB")
        if self.caching_peak_bytes is not None:
            lines.append(f"latent caching phase: {self.caching_peak_bytes / GiB:.3f} GiB")
        d = self.dominant
        lines.append(f"largest part: {d.label} ({100 * d.bytes / max(1, self.training_peak_bytes):.0f} %)")
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"peak: {self.peak_gib:.2f} GiB")
        return "\n".join(lines)


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
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise ModelError(f"{p} is not a .safetensors file (too short).")
            (n,) = struct.unpack("<Q", raw)
            if not 2 <= n < (1 << 31):
                raise ModelError(f"{p} is not a .safetensors file.")
            header = json.loads(f.read(n))
    except OSError as e:
        raise ModelError(f"Cannot read {p}: {e.strerror or e}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"{p} has a damaged .safetensors header.") from None
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            out[name] = (tuple(int(d) for d in info["shape"]), _ST_DTYPES.get(info["dtype"], info["dtype"]))
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{p} has a damaged .safetensors header (entry {name!r}).") from None
    return out


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
    from .models.family import detect
    from .models.spec import SD2_TE_PREFIX

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


# ------------------------------------------------------------------------------------------------ network


@dataclass(frozen=True)
class NetSettings:
    """The network settings that decide which layers are wrapped and how (mirrors network/build.py)."""
    algo: str
    dim: int
    conv_dim: int
    preset: str
    use_tucker: bool = False
    dora: bool = False
    factor: int = -1
    decompose_both: bool = False
    full_matrix: bool = False
    block_size: int = 4


# preset -> (UNet kinds, text-encoder targets "all"/"attn"/None, conv layers enabled); see network/presets.py
_PRESET_KINDS = {
    "full": ({"transformer", "resnet", "downsample", "upsample", "extra"}, "all", True),
    "full-lin": ({"transformer", "resnet"}, "all", False),
    "attn-mlp": ({"transformer"}, "all", False),
    "attn-only": ({"attention"}, "attn", False),
    "unet-only": ({"transformer", "resnet", "downsample", "upsample", "extra"}, None, True),
    "unet-transformer-only": ({"transformer"}, None, False),
    "unet-convblock-only": ({"resnet", "downsample", "upsample"}, None, True),
}


def net_settings(cfg) -> NetSettings:
    """network_module / network_dim / network_args -> NetSettings, as trainer.network.build.network_spec."""
    try:
        args = parse_network_args(cfg.network_args)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    dim = cfg.network_dim or 4
    try:
        conv_dim = int(float(args.get("conv_dim", 0) or 0))
        factor = int(float(args.get("factor", -1)))
        block = int(float(args.get("block_size", args.get("unit", 4))))
    except ValueError:
        raise ConfigError("network_args: conv_dim, factor and block_size must be numbers.") from None
    if cfg.network_module == "lycoris.kohya":
        algo = args.get("algo", "lora").lower()
        preset = args.get("preset", "full")
        if preset not in _PRESET_KINDS:
            raise ConfigError(f"network_args preset='{preset}' is not known; use one of {', '.join(_PRESET_KINDS)}.")
        if "conv_dim" not in args:
            conv_dim = dim
    elif cfg.network_module in ("networks.lora", "networks.dylora"):
        algo = "dylora" if cfg.network_module == "networks.dylora" else "locon"
        preset = "sd-scripts"
    else:
        raise ConfigError(f"network_module '{cfg.network_module}' is not supported.")
    return NetSettings(algo, dim, conv_dim, preset, as_bool(args.get("use_tucker", args.get("use_cp", False))),
                       as_bool(args.get("dora_wd", False)), factor, as_bool(args.get("decompose_both", False)),
                       as_bool(args.get("full_matrix", False)), max(1, block))


def targeted(layer: Layer, ns: NetSettings) -> bool:
    if ns.preset == "sd-scripts":
        kinds = {"transformer"} | ({"resnet", "downsample", "upsample"} if ns.conv_dim else set())
        te, conv_on = "all", bool(ns.conv_dim)
    else:
        kinds, te, conv_on = _PRESET_KINDS[ns.preset]
        conv_on = conv_on and bool(ns.conv_dim)
    if layer.kind == "te":
        return te == "all" or (te == "attn" and layer.attention)
    if "attention" in kinds:
        hit = layer.kind == "transformer" and layer.attention
    else:
        hit = layer.kind in kinds
    if not hit:
        return False
    return layer.k == 1 or conv_on  # k x k convolutions need conv layers enabled (conv_dim)


def factorization(dimension: int, factor: int = -1) -> tuple[int, int]:
    """lycoris.functional.factorization: dimension = m * n with m <= n, m close to ``factor``."""
    if factor > 0 and dimension % factor == 0:
        m, n = factor, dimension // factor
        return (n, m) if m > n else (m, n)
    if factor < 0:
        factor = dimension
    m, n = 1, dimension
    length = m + n
    while m < n:
        new_m = m + 1
        while dimension % new_m != 0:
            new_m += 1
        new_n = dimension // new_m
        if new_m + new_n > length or new_m > factor:
            break
        m, n = new_m, new_n
    return (n, m) if m > n else (m, n)


class ZeroInit(tuple):
    """A tensor shape whose tensor starts at zero (LoRA's up weight): Prodigy keeps no copy of it (p0)."""


def lora_param_shapes(layer: Layer, ns: NetSettings) -> list:
    """Shapes of the trainable tensors lycoris creates for one layer (as in lycoris.modules.*); the shapes of
    zero-initialised tensors are ``ZeroInit``."""
    r = ns.dim if layer.k == 1 else ns.conv_dim
    o, i, k = layer.out, layer.inp, layer.k
    kk = k * k
    tucker = ns.use_tucker and k > 1
    algo = ns.algo
    shapes: list = []
    if algo == "loha":
        if tucker:
            shapes = [(r, r, k, k), (r, o), (r, i), (r, r, k, k), ZeroInit((r, o)), (r, i)]
        else:
            shapes = [(o, r), (r, i * kk), ZeroInit((o, r)), (r, i * kk)]
    elif algo == "lokr":
        shapes = _lokr_shapes(layer, ns, r)
    elif algo == "ia3":
        return [ZeroInit((1, o, 1, 1) if layer.conv else (o,))]
    elif algo == "full":
        return [ZeroInit((o, i, k, k) if layer.conv else (o, i))] + ([ZeroInit((o,))] if layer.bias else [])
    elif algo == "dylora":
        b = ns.block_size
        shapes = [ZeroInit((o, b))] * (r // b) + [(b, i * kk)] * (r // b)
    else:  # lora / locon, and an approximation for diag-oft, boft, glora
        if not layer.conv:
            shapes = [(r, i), ZeroInit((o, r))]
        elif tucker:
            shapes = [(r, i, 1, 1), (r, r, k, k), ZeroInit((o, r, 1, 1))]
        else:
            shapes = [(r, i, k, k), ZeroInit((o, r, 1, 1))]
    if ns.dora:
        shapes.append((o, 1, 1, 1) if layer.conv else (o, 1))
    return shapes


def _lokr_shapes(layer: Layer, ns: NetSettings, r: int) -> list:
    o, i, k = layer.out, layer.inp, layer.k
    in_m, in_n = factorization(i, ns.factor)
    out_l, out_k = factorization(o, ns.factor)
    shapes = []
    if ns.decompose_both and r < max(out_l, in_m) / 2 and not ns.full_matrix:
        shapes += [(out_l, r), (r, in_m)]
    else:
        shapes.append((out_l, in_m))
    if layer.conv:
        tucker = ns.use_tucker and k > 1
        if r >= max(out_k, in_n) / 2 or ns.full_matrix:
            shapes.append(ZeroInit((out_k, in_n, k, k)))
        elif tucker:
            shapes += [(r, r, k, k), (r, out_k), ZeroInit((r, in_n))]
        else:
            shapes += [(out_k, r), ZeroInit((r, in_n * k * k))]
    else:
        if r < max(out_k, in_n) / 2 and not ns.full_matrix:
            shapes += [(out_k, r), ZeroInit((r, in_n))]
        else:
            shapes.append(ZeroInit((out_k, in_n)))
    return shapes


def network_tensors(info: ModelInfo, cfg, train_unet: bool, train_te: bool) -> tuple[list, int, bool]:
    """(shapes of every trainable LoRA tensor, number of LoRA modules, conv layers trained)."""
    ns = net_settings(cfg)
    tensors, modules, conv = [], 0, False
    layers = list(info.unet_layers) if train_unet else []
    if train_te:
        for te in info.te_layers:
            layers += te
    for layer in layers:
        if targeted(layer, ns):
            tensors += lora_param_shapes(layer, ns)
            modules += 1
            conv = conv or (layer.k > 1 and layer.kind != "te")
    return tensors, modules, conv


# ------------------------------------------------------------------------------------------------ optimizer


def optimizer_key(name: str) -> str | None:
    """The table's spelling of an optimizer (case-insensitive; ``bitsandbytes.optim.AdamW8bit`` -> AdamW8bit)."""
    name = (name or "AdamW").strip()
    return _OPT_LOWER.get(name.lower()) or _OPT_LOWER.get(name.rsplit(".", 1)[-1].lower())


def optimizer_state_bytes(name: str, shapes: list, param_bytes: int, optimizer_args=(), *,
                          zero_init: bool = True) -> tuple[int, str]:
    """Bytes of optimizer state for trainable tensors of ``shapes`` (and a note when it is a guess).

    ``zero_init``: ``ZeroInit`` shapes really start at zero (a new network, not ``network_weights``)."""
    key = optimizer_key(name)
    note = ""
    if key is None:
        low = (name or "").lower()
        eight = "8bit" in low
        per, is8, small = ((2 + 2 * _BLOCK), True, 8) if eight else (8, False, 8)
        note = f"unknown optimizer {name}: assumed AdamW-like state"
    else:
        per, is8, small = OPTIMIZER_STATE[key]
    total = 0.0
    if key == "AdaFactor":
        beta1 = _adafactor_beta1(optimizer_args)
        for s in shapes:
            n = _numel(s)
            if len(s) >= 2:  # factored second moment: one value per row and per column
                vals = _numel(s[:-1]) + _numel(s[:-2] + s[-1:])
            else:
                vals = n
            if beta1:
                vals += n
            total += vals * param_bytes
        return int(total), note
    if key == "Prodigy":  # s and p0 (a slice of every slice_p-th value; p0 is 0-d for an all-zero tensor)
        slice_p = max(1, int(_opt_arg(optimizer_args, "slice_p", 1)))
        for s in shapes:
            n = _numel(s)
            sliced = math.ceil(n / slice_p)
            p0 = 0 if (zero_init and isinstance(s, ZeroInit)) else sliced
            total += (2 * n + sliced + p0) * param_bytes
        return int(total), note
    for s in shapes:
        n = _numel(s)
        if is8:
            if n < MIN_8BIT_SIZE:
                total += n * small * param_bytes / 4
            else:
                states = round(per)  # 2 for Adam, 1 for Lion/SGD
                total += states * (n + math.ceil(n / 256) * 4)
        else:
            total += n * per * param_bytes / 4
    return int(total), note


def _opt_arg(optimizer_args, name: str, default):
    for item in optimizer_args or ():
        k, _, v = str(item).partition("=")
        if k.strip() == name:
            try:
                return float(v)
            except ValueError:
                return default
    return default


def _adafactor_beta1(optimizer_args) -> bool:
    for item in optimizer_args or ():
        k, _, v = str(item).partition("=")
        if k.strip() == "beta1":
            return v.strip().lower() not in ("", "none", "null", "0", "0.0")
    return False


# ------------------------------------------------------------------------------------------------ activations


def _levels(spec, width: int, height: int) -> list[tuple[int, int]]:
    """(channels, tokens) per UNet level for a W x H image."""
    h, w = max(1, math.ceil(height / 8)), max(1, math.ceil(width / 8))
    out = []
    for lvl, c in enumerate(spec.block_out_channels):
        out.append((c, h * w))
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return out


def unet_activation_bytes(spec, width: int, height: int, batch: int, *, e: int, f: int, checkpointing: bool,
                          naive_attention: bool, context_tokens: int, conv_lora: bool) -> int:
    """Activation memory of one UNet forward+backward pass (see the module docstring)."""
    u = spec.unet
    lv = _levels(u, width, height)
    L = u.layers_per_block
    n_levels = len(lv)
    blocks = []  # (activation bytes per sample, input bytes per sample, checkpointed)

    def resnet(cin, c, n):
        act = (RESNET_NORM_ACTS * f + e) * (cin + c) * n + (e * cin * n if cin != c else 0)
        if conv_lora:
            act += e * (cin + c) * n
        blocks.append((act, e * cin * n, True))

    def transformer(lvl, depth):
        c, n = lv[lvl]
        heads = u.num_heads[lvl] if lvl < len(u.num_heads) else max(1, c // 64)
        if naive_attention:
            attn = heads * (n + context_tokens) * n * (f + e)
        else:
            attn = heads * n * 4 * 2  # logsumexp of both attentions (fp32)
        for _ in range(depth):
            blocks.append(((TRANSFORMER_NORM_ACTS * f + TRANSFORMER_HALF_ACTS * e) * c * n + attn, e * c * n, True))
        wf, wh = TRANSFORMER_WRAPPER_ACTS
        blocks.append(((wf * f + wh * e) * c * n, 0, False))

    def sampler(c, n):
        blocks.append(((2 if conv_lora else 1) * e * c * n, 0, False))

    skips = [u.block_out_channels[0]]
    prev = u.block_out_channels[0]
    for lvl, (c, n) in enumerate(lv):
        for _ in range(L):
            resnet(prev, c, n)
            prev = c
            if u.transformer_depth[lvl]:
                transformer(lvl, u.transformer_depth[lvl])
            skips.append(c)
        if lvl < n_levels - 1:
            sampler(c, lv[lvl + 1][1])
            skips.append(c)
    c, n = lv[-1]
    resnet(c, c, n)
    transformer(n_levels - 1, u.mid_transformer_depth)
    resnet(c, c, n)
    prev = c
    for lvl in reversed(range(n_levels)):
        c, n = lv[lvl]
        for _ in range(L + 1):
            resnet(prev + skips.pop(), c, n)
            prev = c
            if u.transformer_depth[lvl]:
                transformer(lvl, u.transformer_depth[lvl])
        if lvl > 0:
            sampler(c, lv[lvl - 1][1])
    c0, n0 = lv[0]
    blocks.append(((RESNET_NORM_ACTS * f + e) * c0 * n0, 0, False))  # conv_norm_out, SiLU, conv_out

    largest = max(a for a, _, _ in blocks)
    if checkpointing:
        total = sum(i if ck else a for a, i, ck in blocks) + largest * (1 + BACKWARD_WORKSPACE)
    else:
        total = sum(a for a, _, _ in blocks) + largest * BACKWARD_WORKSPACE
    return int(total * batch)


def te_activation_bytes(te_specs, tokens: int, batch: int, *, e: int, f: int, checkpointing: bool) -> int:
    total = 0
    for te in te_specs:
        per_layer = (TE_NORM_ACTS * f + TE_HALF_ACTS * e) * te.hidden_size * tokens
        per_layer += te.num_heads * tokens * 4  # logsumexp (SDPA)
        if checkpointing:
            total += e * te.hidden_size * tokens * te.num_layers + per_layer * (1 + BACKWARD_WORKSPACE)
        else:
            total += per_layer * (te.num_layers + BACKWARD_WORKSPACE)
    return int(total * batch)


def vae_encode_bytes(channels0: int, width: int, height: int, batch: int) -> int:
    return int(batch * width * height * channels0 * 4 * VAE_ENCODE_LIVE_TENSORS)


# ------------------------------------------------------------------------------------------------ estimate


def _precision(name: str) -> str:
    return {2: "bf16/fp16", 4: "fp32", 1: "fp8"}.get(name, str(name))


def _separate_vae_numel(path) -> int | None:
    """Parameters of a separate VAE .safetensors file (``vae`` setting), or None to use the checkpoint's."""
    if not path or Path(path).suffix.lower() != ".safetensors" or not Path(path).is_file():
        return None
    try:
        shapes = read_header_shapes(path)
    except ModelError:
        return None
    return sum(_numel(v[0]) for k, v in shapes.items() if not k.startswith(("model.", "cond_stage", "conditioner")))


def estimate(cfg, *, info: ModelInfo | None = None, attention: str | None = None) -> Estimate:
    """Peak GPU memory of training ``cfg`` (a TrainConfig). ``info`` skips reading the model file.

    ``attention``: "sdpa" (memory-efficient SDPA or xformers; what the trainer uses) or "naive" (quadratic
    attention matrices, for comparison). Raises ConfigError/ModelError with a sentence for bad input.
    """
    from .validate import parse_resolution

    if info is None:
        if not cfg.pretrained_model_name_or_path:
            raise ConfigError("Choose a base model (pretrained_model_name_or_path) to estimate GPU memory.")
        info = analyze_model(cfg.pretrained_model_name_or_path)
    try:
        width, height = parse_resolution(cfg.resolution)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    batch = max(1, int(cfg.train_batch_size or 1))
    attention = (attention or "sdpa").lower()
    if attention not in ("sdpa", "xformers", "naive"):
        raise ConfigError(f"attention must be sdpa, xformers or naive, not '{attention}'.")
    naive = attention == "naive"

    mp = cfg.mixed_precision if cfg.mixed_precision in ("fp16", "bf16") else "no"
    e = 2 if mp != "no" else 4  # compute / frozen-weight dtype bytes
    f = FP32_NORM if mp != "no" else 4
    notes = []
    if cfg.fp8_base and mp == "no":
        notes.append("fp8_base needs mixed_precision bf16 or fp16; estimated as if bf16 were set.")
        e = 2
        f = FP32_NORM
    cache_te = bool(cfg.cache_text_encoder_outputs or cfg.cache_text_encoder_outputs_to_disk)
    cache_lat = bool(cfg.cache_latents or cfg.cache_latents_to_disk)
    train_te = not cfg.network_train_unet_only and not cache_te
    train_unet = not cfg.network_train_text_encoder_only
    p = 2 if (cfg.full_bf16 or cfg.full_fp16) else 4

    # --- weights
    parts: list[Part] = []
    if cfg.fp8_base:  # trainer.models.fp8: Linear/Conv weights and biases in fp8, norms in the compute dtype
        unet_b = info.unet_linear_conv_numel + (info.unet_numel - info.unet_linear_conv_numel) * e
    else:
        unet_b = info.unet_numel * e
    parts.append(Part("unet_weights", f"UNet weights ({'fp8' if cfg.fp8_base else _precision(e)})", unet_b,
                      "weights", f"{info.unet_numel / 1e6:.0f} M parameters"))
    te_numel = sum(info.te_numel)
    if cache_te:
        te_b, te_note = 0, "outputs cached; encoders moved to the CPU"
    else:
        te_b = te_numel * (4 if train_te else e)
        te_note = f"{te_numel / 1e6:.0f} M parameters, {'trained (fp32)' if train_te else 'frozen'}"
    parts.append(Part("text_encoder_weights", "text encoder weights", te_b, "weights", te_note))
    vae_numel = _separate_vae_numel(cfg.vae) or info.vae_numel
    vae_b = 0 if cache_lat else vae_numel * 4
    parts.append(Part("vae_weights", "VAE weights (fp32)", vae_b, "weights",
                      "latents cached; VAE moved to the CPU" if cache_lat else f"{vae_numel / 1e6:.0f} M parameters"))

    # --- trainable parameters
    shapes, modules, conv_lora = network_tensors(info, cfg, train_unet, train_te)
    n_params = sum(_numel(s) for s in shapes)
    parts.append(Part("lora_weights", f"LoRA weights ({'fp32' if p == 4 else 'bf16/fp16'})", n_params * p, "training",
                      f"{n_params / 1e6:.2f} M parameters"))
    parts.append(Part("lora_grads", "LoRA gradients", n_params * p, "training"))
    opt_b, opt_note = optimizer_state_bytes(cfg.optimizer_type, shapes, p, cfg.optimizer_args,
                                            zero_init=not cfg.network_weights)
    parts.append(Part("optimizer_state", f"optimizer state ({optimizer_key(cfg.optimizer_type) or cfg.optimizer_type})",
                      opt_b, "training", opt_note))
    if opt_note:
        notes.append(opt_note)
    if mp != "no" and p == 4:
        parts.append(Part("autocast_copies", "autocast half copies of LoRA weights", n_params * 2, "training"))

    # --- activations (transient)
    chunks = max(1, math.ceil((cfg.max_token_length or 75) / 75))
    ctx_tokens = TOKENS_PER_CHUNK * chunks
    ckpt = bool(cfg.gradient_checkpointing)
    act_parts = [Part("unet_activations", f"UNet activations ({'checkpointed' if ckpt else 'all saved'}, "
                      f"{'naive' if naive else 'SDPA'} attention)",
                      unet_activation_bytes(info.spec, width, height, batch, e=e, f=f, checkpointing=ckpt,
                                            naive_attention=naive, context_tokens=ctx_tokens, conv_lora=conv_lora),
                      "activations")]
    if train_te:
        act_parts.append(Part("text_encoder_activations", "text encoder activations",
                              te_activation_bytes(info.spec.text_encoders, ctx_tokens, batch * 1, e=e, f=f,
                                                  checkpointing=ckpt), "activations",
                              f"{ctx_tokens} tokens per caption"))
    if cfg.fp8_base:
        copies = (info.ckpt_unit_max_numel + info.unet_unckpt_numel) if ckpt else info.unet_matrix_numel
        act_parts.append(Part("fp8_upcast_copies", "fp8 weights upcast for backward", copies * e, "activations",
                              "one block at a time" if ckpt else "all blocks: turn on gradient_checkpointing"))
    not_added = []
    act_total = sum(x.bytes for x in act_parts)
    if not cache_lat:
        vae_part = Part("vae_encode", "VAE encode (each step)", vae_encode_bytes(info.vae_channels0, width, height, batch),
                        "activations", "before the UNet runs")
        if vae_part.bytes > act_total:
            for x in act_parts:
                x.note = (x.note + "; " if x.note else "") + "the VAE encode before them is larger"
            not_added = act_parts
            act_parts = [vae_part]
        else:
            vae_part.note = "smaller than the training activations"
            not_added = [vae_part]
    parts += act_parts

    allocated = sum(x.bytes for x in parts)
    parts.append(Part("allocator", "allocator reserve", int(allocated * ALLOCATOR_FRAGMENTATION), "overhead",
                      f"{ALLOCATOR_FRAGMENTATION:.0%} of live tensors"))
    parts.append(Part("cuda_context", "CUDA context", CUDA_CONTEXT_BYTES, "overhead"))
    training_peak = sum(x.bytes for x in parts)

    caching_peak = None
    if cache_lat:
        vbatch = max(1, int(cfg.vae_batch_size or 1))
        te_during = te_numel * (4 if train_te else e)  # the encoders are still on the GPU while latents are cached
        live = unet_b + te_during + vae_numel * 4 + vae_encode_bytes(info.vae_channels0, width, height, vbatch)
        caching_peak = int(live * (1 + ALLOCATOR_FRAGMENTATION)) + CUDA_CONTEXT_BYTES
        if caching_peak > training_peak:
            notes.append(f"Caching latents (vae_batch_size {vbatch}) needs more memory than training itself.")
    peak = max(training_peak, caching_peak or 0)
    if naive:
        notes.append("naive attention: the trainer uses SDPA; shown for comparison only.")
    if modules == 0:
        notes.append("These network settings wrap no layer of this model.")
    return Estimate(info.family, str(cfg.pretrained_model_name_or_path), (width, height), batch, parts, n_params,
                    modules, peak, allocated, caching_peak, not_added, notes)


def estimate_text(cfg, **kw) -> str:
    """One short line for a status bar; errors become the sentence."""
    try:
        est = estimate(cfg, **kw)
    except (ConfigError, ModelError) as e:
        return str(e)
    d = est.dominant
    return f"{est.peak_gib:.1f} GiB (largest: {d.label}, {d.gib:.1f} GiB; calibration {est.calibration})"

