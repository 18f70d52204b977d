"""base_weights: LoRA files merged into the frozen base model before training, as sd-scripts' train_network.py
does (each at its base_weights_multiplier, 1.0 when the list is shorter). They are part of the base the new
LoRA is trained on; they are neither trained nor saved with it."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from trainer import events as ev
from trainer.errors import ConfigError


def module_targets(base) -> dict[str, nn.Module]:
    """sd-scripts LoRA module name -> the base model's Linear/Conv2d layer (SDXL UNet in diffusers naming)."""
    from trainer.network.build import _named_te

    out: dict[str, nn.Module] = {}
    for path, mod in base.unet.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            out["lora_unet_" + path.replace(".", "_")] = mod
    prefixes = ["lora_te_"] if len(base.text_encoders) == 1 else ["lora_te1_", "lora_te2_"]
    for prefix, te in zip(prefixes, base.text_encoders):
        for path, mod in _named_te(te).named_modules():
            if isinstance(mod, (nn.Linear, nn.Conv2d)):
                out[prefix + path.replace(".", "_")] = mod
    return out


def merge_base_weights(base, files: list[str], multipliers: list, emit) -> None:
    """Merge every file into base's weights in place (float32 arithmetic, the layer's dtype kept)."""
    from trainer.network.lora_file import load_lora
    from trainer.tools.lora_modules import merged_weight, parse_modules

    targets = module_targets(base)
    for i, file in enumerate(files):
        ratio = float(multipliers[i]) if i < len(multipliers) else 1.0
        sd, _ = load_lora(file)
        if base.family == "sdxl":
            from trainer.models.lora_names import SdxlRenamer
            from trainer.network.naming import rename_modules

            sd = rename_modules(sd, SdxlRenamer(base.unet, to_original=False))
        mods = parse_modules(sd, str(file))
        missing = [n for n in mods if n not in targets]
        if missing:
            raise ConfigError(f"base_weights {Path(file).name} does not fit this {base.family.upper()} model: "
                              f"{len(missing)} of its modules have no layer here, for example {missing[0]}.")
        with torch.no_grad():
            for name, m in mods.items():
                layer = targets[name]
                try:
                    new = merged_weight(m, layer.weight.float(), ratio)
                except ValueError as e:
                    raise ConfigError(f"base_weights {Path(file).name}: module {name} has another shape than "
                                      f"the model's layer ({e}).") from None
                layer.weight.copy_(new.to(layer.weight.dtype))
        emit(ev.Log(f"Merged {Path(file).name} into the base model at {ratio:g} ({len(mods)} modules)"))
