"""Zeroed and near-zero tensors of a LoRA file, grouped by module and block, and the one pattern that is
expected: text-encoder layers whose output training never reads get no gradient, so their zero-initialised
``lora_up`` stays exactly zero (the Russian guide: a normal LoRA trained with clip skip 2 shows exactly the
six tensors of the last text-encoder layer as zero; more means precision trouble).

Which layers training never reads:
- SD 1.x / 2.x with ``clip_skip`` k >= 2: the last k - 1 layers of the text encoder;
- SDXL: the last layer of the first text encoder (SDXL conditions on its penultimate layer; the second
  encoder's last layer feeds the pooled output, so it trains).
A file that does not record ``ss_clip_skip`` but whose zero tensors are exactly the last SD 1.x / 2.x layer's
is read as trained with clip skip 2.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_TE_LAYER = re.compile(r"^(lora_te\d?)_text_model_encoder_layers_(\d+)_")
_UNET_BLOCK = re.compile(r"^lora_unet_((?:down_blocks|up_blocks)_\d+_(?:attentions|resnets|downsamplers|upsamplers)_\d+"
                         r"|mid_block_(?:attentions|resnets)_\d+|(?:input_blocks|output_blocks)_\d+_\d+"
                         r"|middle_block_\d+)")
_TE_WORDS = {"lora_te": "text encoder", "lora_te1": "text encoder 1", "lora_te2": "text encoder 2"}


@dataclass
class ZeroFinding:
    """The zero (or near-zero) tensors of one module."""

    module: str
    block: str  # "text encoder layer 11", "UNet up_blocks_1_attentions_0", or the module itself
    tensors: list[str]  # tensor names inside the module (lora_up.weight ...)
    state: str  # "zero" or "near zero"
    expected: bool  # an untrained layer of the clip-skip pattern, not a problem


def block_of(module: str) -> str:
    m = _TE_LAYER.match(module)
    if m:
        return f"{_TE_WORDS.get(m.group(1), m.group(1))} layer {m.group(2)}"
    m = _UNET_BLOCK.match(module)
    return f"UNet {m.group(1)}" if m else module


def _last_layer(names, prefix: str) -> int | None:
    """The highest layer index of text encoder `prefix` among `names` (the model's module names)."""
    found = [int(m.group(2)) for n in names if (m := _TE_LAYER.match(n)) and m.group(1) == prefix]
    return max(found) if found else None


def _clip_skip(metadata: dict) -> int | None:
    try:
        return int(str(metadata.get("ss_clip_skip")))
    except (TypeError, ValueError):  # missing or "None"
        return None


def untrained_modules(family: str | None, model_names, file_modules, metadata: dict,
                      zero_modules: set[str]) -> tuple[set[str], str]:
    """The file's modules that training cannot have changed, and why ('' when none)."""
    def layer_modules(prefix: str, first: int, last: int) -> set[str]:
        return {n for n in file_modules if (m := _TE_LAYER.match(n)) and m.group(1) == prefix
                and first <= int(m.group(2)) <= last}

    if family == "sdxl":
        last = _last_layer(model_names, "lora_te1")
        mods = layer_modules("lora_te1", last, last) if last is not None else set()
        return mods, ("SDXL conditions on the first text encoder's penultimate layer, so its last layer gets no "
                      "training" if mods else "")
    last = _last_layer(model_names, "lora_te")
    if last is None:
        return set(), ""
    skip = _clip_skip(metadata)
    if skip is not None and skip >= 2:
        mods = layer_modules("lora_te", last - skip + 2, last)
        layers = f"layer {last}" if skip == 2 else f"layers {last - skip + 2}-{last}"
        return mods, (f"trained with clip skip {skip}: text encoder {layers} gets no training" if mods else "")
    mods = layer_modules("lora_te", last, last)
    if skip is None and mods and zero_modules == mods:
        return mods, (f"exactly text encoder layer {last} is untrained: the pattern of training with clip skip 2 "
                      "(the file does not record ss_clip_skip)")
    return set(), ""


def findings(zero: list[str], near_zero: list[str], expected_modules: set[str]) -> list[ZeroFinding]:
    """Tensor keys (``module.tensor``) -> one finding per module and state, in file order."""
    out: dict[tuple[str, str], ZeroFinding] = {}
    for state, keys in (("zero", zero), ("near zero", near_zero)):
        for key in keys:
            module, _, tensor = key.partition(".")
            f = out.setdefault((module, state), ZeroFinding(module, block_of(module), [], state,
                                                            module in expected_modules))
            f.tensors.append(tensor)
    return list(out.values())


def summary_lines(found: list[ZeroFinding], reason: str, verbose: bool, limit: int = 6) -> list[str]:
    """Report lines: the expected pattern in one line, the rest per block (every tensor with ``verbose``)."""
    lines = []
    expected = [f for f in found if f.expected]
    if expected:
        n = sum(len(f.tensors) for f in expected)
        lines.append(f"expected: {n} zero tensor(s) in {len(expected)} module(s), {reason}")
        if verbose:
            lines += [f"    {f.module}: {', '.join(f.tensors)}" for f in expected]
    rest = [f for f in found if not f.expected]
    for state in ("zero", "near zero"):
        of_state = [f for f in rest if f.state == state]
        if not of_state:
            continue
        blocks: dict[str, list[ZeroFinding]] = {}
        for f in of_state:
            blocks.setdefault(f.block, []).append(f)
        n = sum(len(f.tensors) for f in of_state)
        lines.append(f"{state} tensors: {n} in {len(of_state)} module(s) of {len(blocks)} block(s)")
        shown = list(blocks.items()) if verbose else list(blocks.items())[:limit]
        for block, fs in shown:
            count = sum(len(f.tensors) for f in fs)
            lines.append(f"  {block}: {count} tensor(s) in {len(fs)} module(s)")
            if verbose:
                lines += [f"    {f.module}: {', '.join(f.tensors)}" for f in fs]
        if len(shown) < len(blocks):
            lines.append(f"  ... {len(blocks) - len(shown)} more block(s); --verbose lists every tensor")
    return lines
