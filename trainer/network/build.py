"""Build the trained network on a UNet and its text encoders with lycoris-lora.

`networks.lora` (LoRA, LoCon when conv_dim is given) and `networks.dylora` are sd-scripts' own modules; we
give them the same targets and file keys through lycoris' LoCon/DyLoRA modules, so every network_module
shares one code path."""
from __future__ import annotations

import logging

import torch
from torch import nn

from ..errors import ConfigError
from trainer.config.netargs import as_bool, use_tucker
from .lean import use_lean_forward
from .presets import PRESETS, TE_ALL, UNET_CONV_BLOCKS, UNET_TRANSFORMER, lycoris_preset
from .spec import NetworkSpec, bypass_mode, fp8_problem, network_spec, unsupported



class _TextModelName(nn.Module):
    """Gives a flattened transformers-5 CLIPTextModel the `text_model.` prefix sd-scripts' key names have."""

    def __init__(self, te: nn.Module):
        super().__init__()
        self.text_model = te


def _named_te(te: nn.Module) -> nn.Module:
    return te if hasattr(te, "text_model") else _TextModelName(te)


def _targets(spec: NetworkSpec) -> dict:
    if spec.preset == "sd-scripts":
        unet = UNET_TRANSFORMER + (UNET_CONV_BLOCKS if spec.conv_dim else [])
        return lycoris_preset(unet, [], TE_ALL, bool(spec.conv_dim))
    unet, names, te, conv = PRESETS[spec.preset]
    return lycoris_preset(unet, names, te, conv and bool(spec.conv_dim))


def _lycoris_kwargs(spec: NetworkSpec, cfg) -> dict:
    """Keyword arguments of LycorisNetworkKohya. We construct it directly: lycoris' create_network would
    re-apply its own (colliding) "full" preset over ours. Every network_arg the builder accepts is passed
    here (spec.unsupported lists the ones refused instead)."""
    a = spec.args
    dropout = float(a["dropout"]) if "dropout" in a else (cfg.network_dropout or 0.0)
    kw = {
        "multiplier": 1.0, "lora_dim": spec.dim, "alpha": spec.alpha,
        "conv_lora_dim": spec.conv_dim, "conv_alpha": spec.conv_alpha, "network_module": spec.algo,
        "dropout": dropout,  # network_args dropout= is LyCORIS' name for network_dropout
        "rank_dropout": float(a.get("rank_dropout", 0) or 0),
        "module_dropout": float(a.get("module_dropout", 0) or 0),
        "use_tucker": use_tucker(a),
        "train_norm": as_bool(a.get("train_norm", False)),
        "weight_decompose": as_bool(a.get("dora_wd", False)),
        "factor": int(float(a.get("factor", -1))),
        "block_size": int(float(a.get("block_size", a.get("unit", 4)))),
        "rescaled": as_bool(a.get("rescaled", False)),
        "full_matrix": as_bool(a.get("full_matrix", False)),
        "rs_lora": as_bool(a.get("rs_lora", False)),
        "decompose_both": as_bool(a.get("decompose_both", False)),
        "constraint": float(a.get("constraint", a.get("constrain", 0)) or 0),
        "use_scalar": as_bool(a.get("use_scalar", False)),
        "rank_dropout_scale": as_bool(a.get("rank_dropout_scale", False)),
        "wd_on_out": as_bool(a.get("wd_on_output", True)),  # LyCORIS' default: DoRA norms per output
        "warn_on_unmatched": False,
        # LoRA/LoCon as x -> down -> up (like sd-scripts), not by building the full delta weight every
        # forward: that costs a second full-size matmul per layer. DoRA needs the full weight.
        "bypass_mode": bypass_mode(spec),
    }
    return kw


def _sd_scripts_alpha(spec: NetworkSpec, module) -> int | float:
    """The `.alpha` value of one module as sd-scripts' networks/lora.py stores it: torch.tensor(alpha) keeps
    the config's type (a TOML int -> int64, a float -> float32); conv_alpha is always a float; 0 means the
    module's rank (an int). network_spec always sets both alphas (never None)."""
    org = module.org_module[0]
    conv3 = isinstance(org, nn.Conv2d) and tuple(org.kernel_size) != (1, 1)
    alpha = spec.conv_alpha if conv3 else spec.alpha
    return module.lora_dim if alpha == 0 else alpha


def _alphas_as_sd_scripts(net, spec: NetworkSpec) -> None:
    """LyCORIS' LoCon module stores alpha * (dim / dim), always a float; networks.lora files keep the int
    (LyCORIS' own algorithms and DyLoRA already store what sd-scripts + LyCORIS store). Set on the live
    modules, not when saving: full_bf16 casts the network's float buffers, and 257.0 in bf16 is 256."""
    if spec.module != "networks.lora" or as_bool(spec.args.get("rs_lora", False)):
        return
    for m in net.loras:
        if isinstance(getattr(m, "alpha", None), torch.Tensor) and hasattr(m, "lora_dim"):  # not train_norm's
            m.alpha = torch.tensor(_sd_scripts_alpha(spec, m), device=m.alpha.device)


class LoraNetwork:
    """The lycoris network plus what the trainer needs: parameter groups, kohya state dict, max-norm."""

    def __init__(self, net, spec: NetworkSpec, train_unet: bool, train_te: bool):
        self.net = net
        self.spec = spec
        self.train_unet = train_unet
        self.train_te = train_te

    @property
    def unet_modules(self) -> list:
        return list(self.net.unet_loras)

    @property
    def te_modules(self) -> list:
        return list(self.net.text_encoder_loras)

    def module_names(self) -> list[str]:
        return [m.lora_name for m in self.net.loras]

    def param_groups(self, learning_rate: float, unet_lr: float | None, text_encoder_lr: float | None) -> list[dict]:
        """One group per part, like sd-scripts: the UNet first, then the text encoder(s)."""
        groups = []
        if self.net.unet_loras:
            params = [p for m in self.net.unet_loras for p in m.parameters() if p.requires_grad]
            groups.append({"params": params, "lr": unet_lr if unet_lr is not None else learning_rate,
                           "name": "unet"})
        if self.net.text_encoder_loras:
            params = [p for m in self.net.text_encoder_loras for p in m.parameters() if p.requires_grad]
            lr = text_encoder_lr if text_encoder_lr is not None else learning_rate
            groups.append({"params": params, "lr": lr, "name": "textencoder"})
        return [g for g in groups if g["params"]]

    def parameters(self):
        return [p for m in self.net.loras for p in m.parameters() if p.requires_grad]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.net.state_dict().items()}

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
        result = self.net.load_state_dict(sd, strict=False)
        return list(result.missing_keys), list(result.unexpected_keys)

    def apply_max_norm(self, max_norm: float, device) -> tuple[int, float, float]:
        """sd-scripts' scale_weight_norms: (keys scaled, average key norm, max key norm)."""
        return self.net.apply_max_norm_regularization(max_norm, device)

    def max_norm_report(self, max_norm: float, device) -> dict:
        """apply_max_norm, as the Step event's extra values."""
        scaled, mean_norm, top = self.apply_max_norm(max_norm, device)
        return {"keys_scaled": int(scaled), "average_key_norm": float(mean_norm), "max_key_norm": float(top)}

    def set_multiplier(self, multiplier: float) -> None:
        self.net.multiplier = multiplier
        for m in self.net.loras:
            m.multiplier = multiplier

    def train(self, mode: bool = True) -> None:
        self.net.train(mode)

    def to(self, *args, **kwargs) -> "LoraNetwork":
        self.net.to(*args, **kwargs)
        return self


def build_network(cfg, unet: nn.Module, text_encoders: list[nn.Module]) -> LoraNetwork:
    """Create the network of `cfg` and hook it into unet/text encoders (their forward now includes it)."""
    import lycoris.kohya as lk
    from lycoris.logging import logger as lyco_logger

    lyco_logger.setLevel(logging.WARNING)  # lycoris prints dozens of INFO lines per network
    spec = network_spec(cfg)
    refused = unsupported(spec) + [p for p in [fp8_problem(cfg, spec)] if p]  # validate() says the same
    if refused:
        raise ConfigError(" ".join(refused))
    train_te = not cfg.network_train_unet_only
    train_unet = not cfg.network_train_text_encoder_only
    lk.LycorisNetworkKohya.apply_preset(_targets(spec))  # class-level state in lycoris: set it every time
    named = [_named_te(te) for te in text_encoders] if train_te else []
    te_arg = (named if len(named) > 1 else named[0]) if named else None
    net = lk.LycorisNetworkKohya(te_arg, unet, **_lycoris_kwargs(spec, cfg))
    net.apply_to(te_arg, unet, apply_text_encoder=bool(named), apply_unet=train_unet)
    _alphas_as_sd_scripts(net, spec)
    use_lean_forward(net)
    if not net.loras:
        raise ConfigError(f"The network settings ({spec.module}, preset {spec.preset}) match no layer of "
                          "this model.")
    return LoraNetwork(net, spec, train_unet, bool(named))
