"""What network a config asks for (module, algorithm, ranks, preset), without torch: the trainer builds it
(network/build.py) and the VRAM estimate counts its parameters (vram/network.py) from the same answer."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from trainer.config.netargs import UNSUPPORTED, as_bool, parse_network_args, use_tucker, value_problem
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
    for key, value in args.items():
        problem = value_problem(key, value)
        if problem:
            raise ConfigError(problem)
    if any(k in args for k in ("use_tucker", "use_cp", "use_conv_cp", "disable_conv_cp")):
        args["use_tucker"] = str(use_tucker(args))  # one answer for the builder and the VRAM estimate
    dim = cfg.network_dim or 4
    alpha = cfg.network_alpha if cfg.network_alpha is not None else 1.0
    conv_dim = int(float(args.get("conv_dim", 0) or 0))
    conv_alpha = float(args.get("conv_alpha", 1.0 if conv_dim else 0) or 0)
    if cfg.network_module == "lycoris.kohya":
        algo = args.get("algo", "lora").lower()
        if algo not in ALGOS:
            raise ConfigError(f"network_args algo='{algo}' is not known; use one of {', '.join(ALGOS)}.")
        preset = args.get("preset", "full")
        if preset not in PRESETS:
            raise ConfigError(f"network_args preset='{preset}' is not known; use one of {', '.join(PRESETS)}.")
        if "conv_dim" not in args:  # lycoris trains conv layers at network_dim unless told otherwise
            conv_dim = dim
        if "conv_alpha" not in args:  # and with network_alpha (its create_network), not sd-scripts' 1.0
            conv_alpha = float(alpha)
    elif cfg.network_module in ("networks.lora", "networks.dylora"):
        algo = "dylora" if cfg.network_module == "networks.dylora" else "locon"
        preset = "sd-scripts"
    else:
        raise ConfigError(f"network_module '{cfg.network_module}' is not supported.")
    return NetworkSpec(cfg.network_module, algo, dim, alpha, conv_dim, conv_alpha, preset, args)


def unsupported(spec: NetworkSpec) -> list[str]:
    """Sentences for network_args this trainer would otherwise accept and ignore (LoRA+, block weights,
    preset= without LyCORIS): they are refused instead."""
    out = [f"network_args {key}: {UNSUPPORTED[key]} by this trainer; remove it." for key in spec.args
           if key in UNSUPPORTED]
    if "preset" in spec.args and spec.module != "lycoris.kohya":
        out.append(f"network_args preset={spec.args['preset']} is a LyCORIS option that {spec.module} "
                   "does not support; set network_module to lycoris.kohya or remove preset.")
    return out


def bypass_mode(spec: NetworkSpec) -> bool:
    """LoRA/LoCon run as x -> down -> up (like sd-scripts) unless bypass_mode says otherwise; the other
    algorithms and DoRA build the full delta weight."""
    dora = as_bool(spec.args.get("dora_wd", False))
    return as_bool(spec.args.get("bypass_mode", spec.algo in ("lora", "locon") and not dora))


def fp8_problem(cfg, spec: NetworkSpec) -> str | None:
    """Why fp8_base cannot be used with this network (a sentence), or None."""
    if not (cfg.fp8_base or cfg.fp8_base_unet) or bypass_mode(spec):
        return None
    dora = " with dora_wd" if as_bool(spec.args.get("dora_wd")) else ""
    return (f"fp8_base works with LoRA and LoCon (x -> down -> up); {spec.algo}{dora} adds to the 8-bit "
            "weights themselves. Turn fp8_base off or use algo=lora/locon.")
