"""What network a config asks for (module, algorithm, ranks, preset), without torch: the trainer builds it
(network/build.py) and the VRAM estimate counts its parameters (vram/network.py) from the same answer."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..netargs import parse_network_args
from .presets import PRESETS

ALGOS = ("lora", "locon", "loha", "lokr", "ia3", "dylora", "full", "diag-oft", "boft", "glora")


@dataclass
class NetworkSpec:
    module: str
    algo: str
    dim: int
    alpha: float
    conv_dim: int
    conv_alpha: float
    preset: str
    args: dict = field(default_factory=dict)


def network_spec(cfg) -> NetworkSpec:
    try:
        args = parse_network_args(cfg.network_args)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    dim = cfg.network_dim or 4
    alpha = cfg.network_alpha if cfg.network_alpha is not None else 1.0
    try:
        conv_dim = int(float(args.get("conv_dim", 0) or 0))
        conv_alpha = float(args.get("conv_alpha", 1.0 if conv_dim else 0) or 0)
        for key in ("factor", "block_size", "unit"):
            int(float(args.get(key, 0)))
    except ValueError:
        raise ConfigError("network_args: conv_dim, conv_alpha, factor and block_size must be numbers.") from None
    if cfg.network_module == "lycoris.kohya":
        algo = args.get("algo", "lora").lower()
        if algo not in ALGOS:
            raise ConfigError(f"network_args algo='{algo}' is not known; use one of {', '.join(ALGOS)}.")
        preset = args.get("preset", "full")
        if preset not in PRESETS:
            raise ConfigError(f"network_args preset='{preset}' is not known; use one of {', '.join(PRESETS)}.")
        if "conv_dim" not in args:  # lycoris trains conv layers at network_dim unless told otherwise
            conv_dim, conv_alpha = dim, alpha
    elif cfg.network_module in ("networks.lora", "networks.dylora"):
        algo = "dylora" if cfg.network_module == "networks.dylora" else "locon"
        preset = "sd-scripts"
    else:
        raise ConfigError(f"network_module '{cfg.network_module}' is not supported.")
    return NetworkSpec(cfg.network_module, algo, dim, alpha, conv_dim, conv_alpha, preset, args)
