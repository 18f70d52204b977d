"""Optimizer state bytes per trained tensor."""
from __future__ import annotations

import math

from .calibration import MIN_8BIT_SIZE, OPTIMIZER_STATE, _BLOCK, _OPT_LOWER
from .model import _numel
from .network import ZeroInit

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
