"""Reduce a LoRA's rank by SVD, as sd-scripts' ``networks/resize_lora.py`` does.

For each LoRA/LoCon module (linear and conv): the unscaled product ``up @ down`` is decomposed, the first
``new_rank`` singular directions kept (``lora_up = U * S``, ``lora_down = Vh``), and alpha rescaled to
``old_alpha / old_rank * new_rank`` so that the module's scale alpha/rank -- and so its effect -- is unchanged.
Dynamic methods pick the rank per module, as sd-scripts does (with ``new_rank`` as the cap):
- ``sv_ratio``: keep singular values larger than ``S[0] / param``;
- ``sv_cumulative``: keep until the sum of kept singular values reaches ``param`` of the total;
- ``sv_fro``: keep until the Frobenius norm of the kept part reaches ``param`` of the total.
Like sd-scripts the dynamic rank is "index found + 1" (one more than the smallest rank meeting the target).
Unlike sd-scripts the SVD is taken of the small r x r core (QR of up and down first), which gives the same
singular values in a fraction of the time; ranks are also capped at the module's own rank.

LoHa/LoKr, Tucker (``lora_mid``) and other modules are copied unchanged and listed as not resized.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import UserError
from ..network.lora_file import load_lora, save_lora
from .lora_modules import parse_modules

METHODS = (None, "sv_ratio", "sv_cumulative", "sv_fro")
MIN_SV = 1e-6


@dataclass
class ResizeRow:
    module: str
    old_rank: int
    new_rank: int
    old_alpha: float
    new_alpha: float
    fro_kept: float  # fraction of the Frobenius norm of the weight change kept (1.0 = all)
    sum_kept: float  # fraction of the sum of singular values kept
    note: str = ""


@dataclass
class ResizeResult:
    path: Path
    rows: list[ResizeRow]
    skipped: list[str] = field(default_factory=list)  # modules copied unchanged (LoHa, LoKr, Tucker ...)
    warnings: list[str] = field(default_factory=list)

    @property
    def average_fro_kept(self) -> float:
        return sum(r.fro_kept for r in self.rows) / len(self.rows) if self.rows else 1.0

    @property
    def min_fro_kept(self) -> float:
        return min((r.fro_kept for r in self.rows), default=1.0)

    def table(self) -> list[tuple]:
        """(module, old rank, new rank, kept norm %) rows for a GUI table."""
        return [(r.module, r.old_rank, r.new_rank, round(100 * r.fro_kept, 2)) for r in self.rows]


def _dynamic_index(S: torch.Tensor, full_len: int, method: str, param: float) -> int:
    """sd-scripts' index_sv_* functions on singular values ``S`` padded with zeros to ``full_len``."""
    if method == "sv_ratio":
        idx = int(torch.sum(S > S[0] / param).item())
    elif method == "sv_cumulative":
        cum = torch.cumsum(S, 0) / float(S.sum())
        idx = int(torch.searchsorted(cum, torch.tensor(param, dtype=cum.dtype))) + 1
    else:
        sq = S.pow(2)
        cum = torch.cumsum(sq, 0) / float(sq.sum())
        idx = int(torch.searchsorted(cum, torch.tensor(param ** 2, dtype=cum.dtype))) + 1
    return max(1, min(idx, full_len - 1))


def svd_low_rank(up: torch.Tensor, down: torch.Tensor):
    """SVD of ``up @ down`` ([out, r] @ [r, in]) via the r x r core: returns (U [out, r], S [r], Vh [r, in])."""
    qu, ru = torch.linalg.qr(up)
    qd, rd = torch.linalg.qr(down.t())
    u, s, vh = torch.linalg.svd(ru @ rd.t())
    return qu @ u, s, vh @ qd.t()


def lora_factors(U: torch.Tensor, S: torch.Tensor, Vh: torch.Tensor, rank: int, in_shape: tuple):
    """(down, up) of rank ``rank`` from the SVD of a [out, in...] weight change flattened to 2-D: a conv layer
    (``in_shape`` = (in, k, k)) gets a k x k down and a 1 x 1 up, as LoCon stores them."""
    up, down = U[:, :rank] * S[:rank], Vh[:rank]
    if len(in_shape) == 3:
        down = down.reshape(rank, *in_shape)
        up = up.reshape(up.shape[0], rank, 1, 1)
    return down.contiguous(), up.contiguous()


def choose_rank(S: torch.Tensor, full_len: int, max_rank: int, method: str | None, param: float | None) -> int:
    if method is None:
        rank = max_rank
    else:
        rank = _dynamic_index(S, full_len, method, param) + 1
    if float(S[0]) <= MIN_SV:  # a zero module keeps rank 1
        return 1
    return max(1, min(rank, max_rank, len(S)))


def resize_module(down: torch.Tensor, up: torch.Tensor, alpha: float | None, max_rank: int, method: str | None,
                  param: float | None, device="cpu"):
    """-> (new down, new up, new alpha, fro kept, sum kept) for one LoRA/LoCon module."""
    old_rank = down.shape[0]
    alpha = float(alpha) if alpha is not None else float(old_rank)
    scale = alpha / old_rank
    out_size = up.shape[0]
    d2 = down.reshape(old_rank, -1).to(device, torch.float32)
    u2 = up.reshape(out_size, -1).to(device, torch.float32)
    U, S, Vh = svd_low_rank(u2, d2)
    rank = choose_rank(S, min(out_size, d2.shape[1]), max_rank, method, param)
    sq = S.pow(2)
    total_sq, total = float(sq.sum()), float(S.sum())
    fro = math.sqrt(float(sq[:rank].sum()) / total_sq) if total_sq > 0 else 1.0
    sm = float(S[:rank].sum()) / total if total > 0 else 1.0
    new_down, new_up = lora_factors(U, S, Vh, rank, tuple(down.shape[1:]))
    return new_down.cpu(), new_up.cpu(), scale * rank, fro, sm


def _precision_of(sd: dict) -> str:
    for v in sd.values():
        if v.is_floating_point() and v.ndim > 0:
            return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(v.dtype, "fp32")
    return "fp32"


def resize_lora(model, save_to, new_rank: int, *, dynamic_method: str | None = None, dynamic_param: float | None = None,
                save_precision: str | None = None, device: str = "cpu",
                on_progress: Callable[[int, int], None] | None = None,
                stop: threading.Event | None = None) -> ResizeResult:
    """Resize ``model`` to ``new_rank`` (the cap in dynamic mode) and save it to ``save_to``."""
    if dynamic_method not in METHODS:
        raise UserError(f"Unknown dynamic_method '{dynamic_method}'; use sv_ratio, sv_cumulative or sv_fro.")
    if new_rank is None or int(new_rank) < 1:
        raise UserError("new_rank must be a whole number of 1 or more.")
    new_rank = int(new_rank)
    if dynamic_method and dynamic_param is None:
        raise UserError(f"dynamic_method {dynamic_method} needs dynamic_param.")
    if dynamic_method in ("sv_cumulative", "sv_fro") and not 0 < dynamic_param <= 1:
        raise UserError(f"dynamic_param for {dynamic_method} is a fraction between 0 and 1, not {dynamic_param}.")
    if dynamic_method == "sv_ratio" and dynamic_param < 1:
        raise UserError(f"dynamic_param for sv_ratio is a ratio of 1 or more, not {dynamic_param}.")
    src, dst = Path(model), Path(save_to)
    if dst.exists() and dst.resolve() == src.resolve():
        raise UserError(f"The resized LoRA would overwrite its input {src}; choose another save_to.")
    if device != "cpu" and not torch.cuda.is_available():
        raise UserError(f"device '{device}' is not available on this machine; use cpu.")
    sd, metadata = load_lora(src)
    save_precision = save_precision or _precision_of(sd)
    mods = parse_modules(sd, str(src))
    out: dict[str, torch.Tensor] = {}
    rows, skipped, warnings = [], [], []
    total = len(mods)
    for i, m in enumerate(mods.values()):
        if stop is not None and stop.is_set():
            raise UserError("Resize stopped; nothing was saved.")
        if m.kind != "lora" or "lora_mid.weight" in m.tensors:
            skipped.append(f"{m.name} ({m.kind if m.kind != 'lora' else 'Tucker LoCon'})")
            out.update({f"{m.name}.{k}": v for k, v in m.tensors.items()})
        else:
            t = m.tensors
            down, up, alpha, fro, sm = resize_module(t["lora_down.weight"], t["lora_up.weight"], m.alpha, new_rank,
                                                     dynamic_method, dynamic_param, device)
            out[f"{m.name}.lora_down.weight"] = down
            out[f"{m.name}.lora_up.weight"] = up
            out[f"{m.name}.alpha"] = torch.tensor(alpha)
            for k, v in t.items():  # dora_scale and anything else carried over
                if k not in ("lora_down.weight", "lora_up.weight", "alpha"):
                    out[f"{m.name}.{k}"] = v
            rows.append(ResizeRow(m.name, m.rank, down.shape[0], m.alpha if m.alpha is not None else m.rank, alpha,
                                  fro, sm))
        if on_progress:
            on_progress(i + 1, total)
    if not rows:
        raise UserError(f"{src} has no LoRA/LoCon modules that can be resized (LoHa/LoKr cannot).")
    old_dims = sorted({r.old_rank for r in rows})
    old_dim = metadata.get("ss_network_dim") or str(max(old_dims))
    comment = metadata.get("ss_training_comment", "")
    if dynamic_method:
        metadata["ss_training_comment"] = (f"Dynamic resize with {dynamic_method}: {dynamic_param} from {old_dim}; "
                                           f"{comment}")
        metadata["ss_network_dim"] = "Dynamic"
        metadata["ss_network_alpha"] = "Dynamic"
    else:
        metadata["ss_training_comment"] = f"dimension is resized from {old_dim} to {new_rank}; {comment}"
        metadata["ss_network_dim"] = str(new_rank)
        alphas = sorted({round(r.new_alpha, 6) for r in rows})
        metadata["ss_network_alpha"] = str(alphas[0]) if len(alphas) == 1 else str(max(alphas))
    metadata["ss_resize_new_rank"] = str(new_rank)
    metadata["ss_resize_dynamic_method"] = str(dynamic_method or "")
    metadata["ss_resize_dynamic_param"] = "" if dynamic_param is None else str(dynamic_param)
    metadata.pop("sshs_model_hash", None)
    metadata.pop("sshs_legacy_hash", None)
    if dynamic_method == "sv_fro" and dynamic_param < 0.9:
        warnings.append(f"sv_fro {dynamic_param} keeps less than 90 % of each module's norm; the guide advises 0.9 "
                        "or more.")
    if not dynamic_method and new_rank < 32 and max(old_dims) >= 64:
        warnings.append(f"Resizing from rank {max(old_dims)} to {new_rank}: the guide advises keeping rank 32 or "
                        "more when starting from large ranks.")
    result = ResizeResult(dst, rows, skipped, warnings)
    if result.min_fro_kept < 0.5:
        warnings.append(f"Some modules keep only {100 * result.min_fro_kept:.0f} % of their norm; check the images.")
    try:
        save_lora(dst, out, metadata, save_precision)
    except OSError as e:
        raise UserError(f"Could not write {dst} ({e.strerror or e}); nothing was saved.") from None
    return result
