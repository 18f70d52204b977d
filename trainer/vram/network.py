"""The trained network's tensors per targeted layer, as lycoris builds them."""
from __future__ import annotations

from dataclasses import dataclass

from trainer.config.netargs import as_bool
from .model import Layer, ModelInfo

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
    """network_module / network_dim / network_args -> NetSettings (the trainer's own network_spec)."""
    from ..network.spec import network_spec

    spec = network_spec(cfg)
    a = spec.args
    return NetSettings(spec.algo, spec.dim, spec.conv_dim, spec.preset,
                       as_bool(a.get("use_tucker", a.get("use_cp", False))), as_bool(a.get("dora_wd", False)),
                       int(float(a.get("factor", -1))), as_bool(a.get("decompose_both", False)),
                       as_bool(a.get("full_matrix", False)),
                       max(1, int(float(a.get("block_size", a.get("unit", 4))))))


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
