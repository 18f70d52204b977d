"""Build the trained network on a UNet and its text encoders with lycoris-lora.

`networks.lora` (LoRA, LoCon when conv_dim is given) and `networks.dylora` are sd-scripts' own modules; we
give them the same targets and file keys through lycoris' LoCon/DyLoRA modules, so every network_module
shares one code path."""
from __future__ import annotations

import logging

import torch
from torch import nn

from ..errors import ConfigError
from ..netargs import as_bool
from .presets import PRESETS, TE_ALL, UNET_CONV_BLOCKS, UNET_TRANSFORMER, lycoris_preset
from .spec import NetworkSpec, network_spec



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
    re-apply its own (colliding) "full" preset over ours."""
    a = spec.args
    kw = {
        "multiplier": 1.0, "lora_dim": spec.dim, "alpha": spec.alpha,
        "conv_lora_dim": spec.conv_dim, "conv_alpha": spec.conv_alpha, "network_module": spec.algo,
        "dropout": cfg.network_dropout or 0.0,
        "rank_dropout": float(a.get("rank_dropout", 0) or 0),
        "module_dropout": float(a.get("module_dropout", 0) or 0),
        "use_tucker": as_bool(a.get("use_tucker", a.get("use_cp", False))),
        "train_norm": as_bool(a.get("train_norm", False)),
        "weight_decompose": as_bool(a.get("dora_wd", False)),
        "factor": int(float(a.get("factor", -1))),
        "block_size": int(float(a.get("block_size", a.get("unit", 4)))),
        "rescaled": as_bool(a.get("rescaled", False)),
        "full_matrix": as_bool(a.get("full_matrix", False)),
        "rs_lora": as_bool(a.get("rs_lora", False)),
        "decompose_both": as_bool(a.get("decompose_both", False)),
        "constraint": float(a.get("constraint", a.get("constrain", 0)) or 0),
        "warn_on_unmatched": False,
        # LoRA/LoCon as x -> down -> up (like sd-scripts), not by building the full delta weight every
        # forward: that costs a second full-size matmul per layer. DoRA needs the full weight.
        "bypass_mode": as_bool(a.get("bypass_mode", spec.algo in ("lora", "locon")
                                     and not as_bool(a.get("dora_wd", False)))),
    }
    return kw


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
    train_te = not cfg.network_train_unet_only
    train_unet = not cfg.network_train_text_encoder_only
    lk.LycorisNetworkKohya.apply_preset(_targets(spec))  # class-level state in lycoris: set it every time
    named = [_named_te(te) for te in text_encoders] if train_te else []
    te_arg = (named if len(named) > 1 else named[0]) if named else None
    net = lk.LycorisNetworkKohya(te_arg, unet, **_lycoris_kwargs(spec, cfg))
    if cfg.fp8_base and not _lycoris_kwargs(spec, cfg)["bypass_mode"]:
        raise ConfigError(f"fp8_base works with LoRA and LoCon (x -> down -> up); {spec.algo}"
                          f"{' with dora_wd' if as_bool(spec.args.get('dora_wd')) else ''} adds to the 8-bit "
                          "weights themselves. Turn fp8_base off or use algo=lora/locon.")
    net.apply_to(te_arg, unet, apply_text_encoder=bool(named), apply_unet=train_unet)
    if not net.loras:
        raise ConfigError(f"The network settings ({spec.module}, preset {spec.preset}) match no layer of "
                          "this model.")
    return LoraNetwork(net, spec, train_unet, bool(named))
