"""A LoRA file as a list of modules, the weight change each makes, and where it lands in a checkpoint.

Module kinds (by tensor names, as sd-scripts, lycoris and AUTOMATIC1111 tell them apart):
- ``lora``: ``lora_down.weight`` / ``lora_up.weight`` (+ ``lora_mid.weight`` for Tucker LoCon, ``dora_scale``)
- ``loha``: ``hada_w1_a/b``, ``hada_w2_a/b`` (+ ``hada_t1/t2``)
- ``lokr``: ``lokr_w1`` or ``lokr_w1_a/b``, ``lokr_w2`` or ``lokr_w2_a/b`` (+ ``lokr_t2``)
- anything else (IA3, full ``diff``, OFT, GLoRA ...) is ``other``: carried or reported, never merged.

The weight change of a plain LoRA module is computed here (``scale * up @ down``, scale = alpha / rank).
Every other kind (and DoRA) is rebuilt as lycoris' own module on a stand-in layer holding the target weight,
so the merged weight is exactly what lycoris (and so AUTOMATIC1111/ComfyUI) computes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from ..errors import ModelError

_SUFFIXES = {
    "lora": ("lora_down.weight", "lora_up.weight", "lora_mid.weight"),
    "loha": ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2"),
    "lokr": ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t1", "lokr_t2"),
}
_COMMON = ("alpha", "dora_scale")


@dataclass
class LoraModule:
    name: str  # e.g. lora_unet_down_blocks_0_attentions_0_proj_in
    kind: str  # lora | loha | lokr | other
    tensors: dict = field(default_factory=dict)  # suffix -> tensor (alpha and dora_scale included)

    @property
    def alpha(self) -> float | None:
        a = self.tensors.get("alpha")
        return float(a.float().item()) if a is not None else None

    @property
    def rank(self) -> int | None:
        t = self.tensors
        if self.kind == "lora":
            return int(t["lora_down.weight"].shape[0])
        if self.kind == "loha":
            return int(t["hada_w1_b"].shape[0])
        if self.kind == "lokr":
            if "lokr_w1_b" in t:
                return int(t["lokr_w1_b"].shape[0])
            if "lokr_w2_b" in t:
                return int(t["lokr_w2_b"].shape[0])
        return None

    @property
    def scale(self) -> float:
        """alpha / rank (1 when the file has no alpha, as sd-scripts and lycoris read it)."""
        r, a = self.rank, self.alpha
        return a / r if (r and a is not None and a != 0) else 1.0

    @property
    def plain(self) -> bool:
        """A LoRA/LoCon module without Tucker core or DoRA: the weight change is ``scale * up @ down``."""
        return self.kind == "lora" and "lora_mid.weight" not in self.tensors and "dora_scale" not in self.tensors

    def keys(self) -> list[str]:
        return [f"{self.name}.{s}" for s in self.tensors]


def parse_modules(state_dict: dict, where: str = "The LoRA file") -> dict[str, LoraModule]:
    """Group a LoRA state dict by module. Raises ModelError for an incomplete module."""
    mods: dict[str, LoraModule] = {}
    for key, value in state_dict.items():
        name, _, suffix = key.partition(".")
        mods.setdefault(name, LoraModule(name, "other")).tensors[suffix] = value
    for m in mods.values():
        sfx = set(m.tensors)
        for kind, names in _SUFFIXES.items():
            if sfx & set(names):
                m.kind = kind
                break
        t = m.tensors
        if m.kind == "lora" and not {"lora_down.weight", "lora_up.weight"} <= sfx:
            raise ModelError(f"{where} has an incomplete LoRA module {m.name} (lora_down and lora_up are both needed).")
        if m.kind == "loha" and not {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"} <= sfx:
            raise ModelError(f"{where} has an incomplete LoHa module {m.name}.")
        if m.kind == "lokr" and not (("lokr_w1" in sfx or {"lokr_w1_a", "lokr_w1_b"} <= sfx)
                                     and ("lokr_w2" in sfx or {"lokr_w2_a", "lokr_w2_b"} <= sfx)):
            raise ModelError(f"{where} has an incomplete LoKr module {m.name}.")
        if m.kind == "lora":
            d, u = t["lora_down.weight"], t["lora_up.weight"]
            if d.shape[0] != u.shape[1]:
                raise ModelError(f"{where} has a LoRA module {m.name} whose lora_down rank {d.shape[0]} differs "
                                 f"from its lora_up rank {u.shape[1]}.")
    return mods


def lora_delta(m: LoraModule, dtype=torch.float32) -> torch.Tensor:
    """``scale * up @ down`` of a plain LoRA/LoCon module, shaped [out, in] or [out, in, k, k]."""
    down = m.tensors["lora_down.weight"].to(dtype)
    up = m.tensors["lora_up.weight"].to(dtype)
    w = up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)
    if down.ndim == 4:
        w = w.reshape(up.shape[0], *down.shape[1:])
    return w * m.scale


def _stand_in(weight: torch.Tensor):
    """An nn.Linear / nn.Conv2d holding ``weight`` (lycoris modules are built around a layer)."""
    from torch import nn

    if weight.ndim == 2:
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")
    elif weight.ndim == 4:
        k = tuple(weight.shape[2:])
        layer = nn.Conv2d(weight.shape[1], weight.shape[0], k, padding=(k[0] // 2, k[1] // 2), bias=False,
                          device="meta")
    else:
        raise ModelError(f"A LoRA cannot change a {weight.ndim}-dimensional weight.")
    layer.weight = nn.Parameter(weight, requires_grad=False)
    return layer


def _lycoris_module(m: LoraModule, layer):
    from lycoris.modules.locon import LoConModule
    from lycoris.modules.loha import LohaModule
    from lycoris.modules.lokr import LokrModule

    t = {k: v.float() for k, v in m.tensors.items()}
    alpha = t.get("alpha")
    alpha = float(alpha.item()) if alpha is not None else (m.rank or 1)
    dora = t.get("dora_scale")
    if m.kind == "lora":
        return LoConModule.make_module_from_state_dict(m.name, layer, t["lora_up.weight"], t["lora_down.weight"],
                                                       t.get("lora_mid.weight"), alpha, dora)
    if m.kind == "loha":
        return LohaModule.make_module_from_state_dict(m.name, layer, t["hada_w1_a"], t["hada_w1_b"], t["hada_w2_a"],
                                                      t["hada_w2_b"], t.get("hada_t1"), t.get("hada_t2"), alpha, dora)
    if m.kind == "lokr":
        return LokrModule.make_module_from_state_dict(
            m.name, layer, t.get("lokr_w1"), t.get("lokr_w1_a"), t.get("lokr_w1_b"), t.get("lokr_w2"),
            t.get("lokr_w2_a"), t.get("lokr_w2_b"), t.get("lokr_t1"), t.get("lokr_t2"), alpha, dora)
    raise ModelError(f"The LoRA module {m.name} has a kind this app cannot merge ({', '.join(sorted(m.tensors))}).")


def _lycoris_diff(lm, shape) -> torch.Tensor:
    """The weight change at multiplier 1, exactly as the module's own forward builds it (lycoris 4.1's
    ``get_diff_weight`` applies alpha/rank twice for LoHa/LoKr, so it is not used)."""
    from lycoris.modules.locon import LoConModule

    lm.eval()  # no rank dropout
    if isinstance(lm, LoConModule):
        return lm.make_weight().reshape(shape) * lm.scale
    return lm.get_weight(shape).reshape(shape) * lm.scalar


def merged_weight(m: LoraModule, weight: torch.Tensor, ratio: float) -> torch.Tensor:
    """``weight`` (float32) changed by module ``m`` at ``ratio``, computed as diffusers (LoRA) and lycoris'
    forward (LoHa, LoKr, Tucker, DoRA) apply it."""
    if m.plain:
        d = lora_delta(m)
        if d.numel() != weight.numel():
            raise ValueError(f"shape {tuple(d.shape)} vs {tuple(weight.shape)}")
        return weight + ratio * d.reshape(weight.shape)
    with torch.no_grad():
        lm = _lycoris_module(m, _stand_in(weight))
        diff = _lycoris_diff(lm, weight.shape).to(weight.dtype)
        if lm.wd:
            out = lm.apply_weight_decompose(weight + diff, ratio)
        else:
            out = weight + diff * ratio
    return out.reshape(weight.shape).to(weight.dtype)


def module_delta(m: LoraModule, shape: tuple) -> torch.Tensor:
    """Weight change at ratio 1 (no DoRA) of any mergeable module, for a target weight of ``shape``."""
    if m.plain:
        return lora_delta(m).reshape(shape)
    if "dora_scale" in m.tensors:
        raise ModelError(f"The LoRA module {m.name} uses DoRA, whose change depends on the base weight.")
    with torch.no_grad():
        lm = _lycoris_module(m, _stand_in(torch.zeros(shape)))
        return _lycoris_diff(lm, shape).float()


# ---------------------------------------------------------------------------------------------- file family

_ORIG_UNET = re.compile(r"^lora_unet_(input_blocks|output_blocks|middle_block)_")
_DIFF_UNET = re.compile(r"^lora_unet_(down_blocks|up_blocks|mid_block)_")


def guess_family(names, metadata: dict | None = None) -> str | None:
    """'sdxl', 'sd2', 'sd1' or None (unknown) from module names and ``ss_*`` metadata."""
    md = metadata or {}
    version = md.get("ss_base_model_version", "")
    if version.startswith("sdxl"):
        return "sdxl"
    if version.startswith("sd_v2") or md.get("ss_v2") == "True":
        return "sd2"
    if version.startswith("sd_v1"):
        return "sd1"
    names = list(names)
    if any(n.startswith(("lora_te1_", "lora_te2_")) for n in names):
        return "sdxl"
    return None


FAMILY_WORDS = {"sd1": "an SD 1.x", "sd2": "an SD 2.x", "sdxl": "an SDXL"}
