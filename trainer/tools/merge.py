"""Merge LoRA files into a base checkpoint, or several LoRA files into one LoRA.

Into a checkpoint (``merge_into_checkpoint``): the result is a single file in the base's own layout (SD 1.x,
2.x, SDXL; every key of the base is kept, EMA copies ``model_ema.*`` are dropped as they would no longer match).
Each changed weight is ``W + ratio * scale * up @ down`` for LoRA/LoCon -- what diffusers' ``load_lora_weights``
applies at that adapter weight -- and lycoris' own formula for LoHa, LoKr, Tucker and DoRA modules.

Memory (how a 6.5 GB SDXL file is not held twice): the base is read one tensor at a time (``safe_open`` on the
memory-mapped file), each tensor is changed if a LoRA targets it and written straight to the output
(``stream_io.write_safetensors``), then dropped. Only the LoRA files (tens of MB) and one base tensor are in
memory. A ``.ckpt`` base is loaded through the safe loader (memory-mapped when it is a zip-format file). A
``.ckpt`` output is the exception: ``torch.save`` needs the whole dict, so it holds one copy of the model.

LoRA into LoRA (``merge_loras``): ``concat`` (default) stacks the modules' ranks -- exact, rank = sum of ranks,
alpha = rank; with ``new_rank`` the summed change is reduced by SVD to that rank (as sd-scripts'
``svd_merge_lora.py``), alpha = new_rank.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import ModelError, UserError
from ..models.family import detect
from ..models.spec import FAMILY_NAMES
from ..network.lora_file import SAVE_DTYPES, load_lora, save_lora
from .lora_modules import FAMILY_WORDS, LoraModule, guess_family, lora_delta, merged_weight, parse_modules
from .resize import svd_low_rank
from .stream_io import CheckpointReader, check_not_input, write_safetensors
from .targets import target_map


@dataclass
class MergeRow:
    file: str
    ratio: float
    modules: int  # modules merged
    kinds: str  # e.g. "lora" or "loha"


@dataclass
class MergeResult:
    path: Path
    family: str
    rows: list[MergeRow]
    tensors_changed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _ratios(models, ratios) -> list[float]:
    if not models:
        raise UserError("Give at least one LoRA file to merge (--models).")
    if ratios is None or len(ratios) == 0:
        return [1.0] * len(models)
    if len(ratios) == 1 and len(models) > 1:
        return [float(ratios[0])] * len(models)
    if len(ratios) != len(models):
        raise UserError(f"{len(models)} LoRA files but {len(ratios)} ratios; give one ratio per file.")
    return [float(r) for r in ratios]


def _dtype(save_precision):
    if save_precision in (None, ""):
        return None
    if save_precision not in SAVE_DTYPES:
        raise UserError(f"save_precision '{save_precision}' is not one of fp16, bf16, fp32.")
    return SAVE_DTYPES[save_precision]


def _fits(m: LoraModule, shape: tuple) -> bool:
    if not m.plain:
        return True  # checked when merged (lycoris rebuilds the weight for the target's shape)
    up, down = m.tensors["lora_up.weight"], m.tensors["lora_down.weight"]
    n_in = 1
    for d in shape[1:]:
        n_in *= d
    return up.shape[0] == shape[0] and down[0].numel() == n_in


def plan_merge(tm: dict, family: str, base_name: str, loras: list[tuple[Path, dict, dict]], ratios: list[float]):
    """-> ({checkpoint key: [(module, ratio, rows)]}, rows). Raises ModelError for a LoRA that does not fit."""
    plan: dict[str, list] = {}
    rows = []
    for (path, sd, md), ratio in zip(loras, ratios):
        mods = parse_modules(sd, str(path))
        fam = guess_family(mods, md)
        if fam and fam != family:
            raise ModelError(f"{path.name} is {FAMILY_WORDS[fam]} LoRA, but {base_name} is {FAMILY_WORDS[family]} "
                             "checkpoint.")
        other = [m.name for m in mods.values() if m.kind == "other"]
        if other:
            raise ModelError(f"{path.name} has modules this app cannot merge (not LoRA, LoCon, LoHa or LoKr), "
                             f"e.g. {other[0]} ({', '.join(sorted(mods[other[0]].tensors))}).")
        unknown = [n for n in mods if n not in tm]
        if unknown:
            hint = " (is it for another model family?)" if len(unknown) > len(mods) // 2 else ""
            raise ModelError(f"{path.name} has {len(unknown)} of {len(mods)} modules with no place in {base_name}"
                             f"{hint}, e.g. {unknown[0]}.")
        for m in mods.values():
            t = tm[m.name]
            if not _fits(m, t.shape):
                up, down = m.tensors["lora_up.weight"], m.tensors["lora_down.weight"]
                raise ModelError(f"{path.name} does not fit {base_name}: module {m.name} changes a "
                                 f"{up.shape[0]}x{down[0].numel()} weight, the checkpoint's is "
                                 f"{'x'.join(map(str, t.shape))} (is it for another model?).")
            plan.setdefault(t.key, []).append((m, ratio, t.rows, path.name))
        kinds = sorted({m.kind for m in mods.values()})
        rows.append(MergeRow(path.name, ratio, len(mods), ", ".join(kinds)))
    return plan, rows


def _apply(weight: torch.Tensor, changes: list) -> torch.Tensor:
    w = weight.float().clone()
    for m, ratio, rows, fname in changes:
        part = w if rows is None else w[rows[0]:rows[1]]
        try:
            new = merged_weight(m, part, ratio)
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{fname}: module {m.name} does not fit its checkpoint weight ({e}).") from None
        if rows is None:
            w = new
        else:
            w[rows[0]:rows[1]] = new
    return w


def merge_into_checkpoint(sd_model, models: list, ratios: list | None, save_to, *, save_precision: str | None = None,
                          on_progress: Callable[[int, int], None] | None = None,
                          stop: threading.Event | None = None) -> MergeResult:
    t0 = time.monotonic()
    base = Path(sd_model)
    paths = [Path(m) for m in models]
    ratios = _ratios(paths, ratios)
    out = Path(save_to)
    check_not_input(out, [base, *paths], "merged checkpoint")
    if out.suffix.lower() not in (".safetensors", ".ckpt", ".pt"):
        raise UserError(f"Save the merged checkpoint as .safetensors (or .ckpt), not {out.name}.")
    dtype = _dtype(save_precision)
    reader = CheckpointReader(base)
    shapes = reader.shapes()
    spec = detect(shapes, where=str(base))
    tm = target_map(shapes, spec)
    loras = [(p, *load_lora(p)) for p in paths]
    plan, rows = plan_merge(tm, spec.family, base.name, loras, ratios)

    keys = [k for k in reader.keys() if not k.startswith("model_ema.")]
    notes = []
    if len(keys) < len(reader.keys()):
        notes.append(f"dropped {len(reader.keys()) - len(keys)} EMA tensors (model_ema.*)")

    def out_dtype(k):
        src = reader.dtype(k)
        return dtype if (dtype is not None and src is not None and src.is_floating_point) else src

    def produce(k):
        t = reader.get(k)
        if k in plan:
            t = _apply(t, plan[k]).to(out_dtype(k))
        return t

    metadata = dict(reader.metadata)
    metadata["lora_desk_merged"] = json.dumps([{"file": r.file, "ratio": r.ratio} for r in rows])
    try:
        if out.suffix.lower() == ".safetensors":
            entries = [(k, out_dtype(k), shapes[k]) for k in keys]
            size = write_safetensors(out, entries, produce, metadata, on_progress, stop)
        else:
            from ..models.diffusers_to_ldm import save_state_dict

            sd = {}
            for i, k in enumerate(keys):
                if stop is not None and stop.is_set():
                    raise UserError(f"Stopped; {out} was not written.")
                sd[k] = produce(k).to(out_dtype(k))
                if on_progress:
                    on_progress(i + 1, len(keys))
            try:
                save_state_dict(out, sd)
            except OSError as e:
                raise UserError(f"Could not write {out} ({e.strerror or e}); no file was left behind.") from None
            size = out.stat().st_size
    finally:
        reader.close()
    return MergeResult(out, spec.family, rows, len(plan), size, time.monotonic() - t0, notes)


# ----------------------------------------------------------------------------------------- LoRA + LoRA


def merge_loras(models: list, ratios: list | None, save_to, *, new_rank: int | None = None,
                save_precision: str | None = None, on_progress: Callable[[int, int], None] | None = None,
                stop: threading.Event | None = None) -> MergeResult:
    """Several LoRA files -> one: stacked ranks (``new_rank=None``) or SVD to ``new_rank``."""
    t0 = time.monotonic()
    paths = [Path(m) for m in models]
    ratios = _ratios(paths, ratios)
    out = Path(save_to)
    check_not_input(out, paths, "merged LoRA")
    if new_rank is not None and int(new_rank) < 1:
        raise UserError("new_rank must be a whole number of 1 or more.")
    _dtype(save_precision)
    loaded = []
    families = set()
    for p in paths:
        sd, md = load_lora(p)
        mods = parse_modules(sd, str(p))
        bad = [m.name for m in mods.values() if not m.plain]
        if bad:
            raise ModelError(f"{p.name} has modules that are not plain LoRA/LoCon (e.g. {bad[0]}, "
                             f"{mods[bad[0]].kind}); such files can be merged into a checkpoint, not into a LoRA.")
        fam = guess_family(mods, md)
        if fam:
            families.add(fam)
        loaded.append((p, mods, md))
    if len(families) > 1:
        raise ModelError("The LoRA files are for different model families (" +
                         ", ".join(FAMILY_NAMES[f] for f in sorted(families)) + "); they cannot be merged.")
    names = []
    for _, mods, _ in loaded:
        names += [n for n in mods if n not in names]
    result_sd: dict[str, torch.Tensor] = {}
    rows = [MergeRow(p.name, r, len(mods), "lora") for (p, mods, _), r in zip(loaded, ratios)]
    for i, name in enumerate(names):
        if stop is not None and stop.is_set():
            raise UserError(f"Stopped; {out} was not written.")
        parts = [(mods[name], r, p.name) for (p, mods, _), r in zip(loaded, ratios) if name in mods]
        downs, ups = [], []
        shape_up = None
        for m, r, fname in parts:
            d, u = m.tensors["lora_down.weight"].float(), m.tensors["lora_up.weight"].float()
            if shape_up is not None and (u.shape[0] != shape_up[0] or d.shape[1:] != downs[0].shape[1:]):
                raise ModelError(f"{fname}: module {name} has another shape than in the other files.")
            shape_up = u.shape
            downs.append(d)
            ups.append(u * (r * m.scale))
        down = torch.cat(downs, dim=0)
        up = torch.cat(ups, dim=1)
        if new_rank is None:
            rank = down.shape[0]
        else:
            out_size = up.shape[0]
            U, S, Vh = svd_low_rank(up.reshape(out_size, -1), down.reshape(down.shape[0], -1))
            rank = min(int(new_rank), S.shape[0])
            up2 = (U[:, :rank] * S[:rank])
            down2 = Vh[:rank]
            if down.ndim == 4:
                down2 = down2.reshape(rank, *down.shape[1:])
                up2 = up2.reshape(out_size, rank, 1, 1)
            up, down = up2.contiguous(), down2.contiguous()
        result_sd[f"{name}.lora_down.weight"] = down
        result_sd[f"{name}.lora_up.weight"] = up
        result_sd[f"{name}.alpha"] = torch.tensor(float(rank))  # scale 1: the ratios and scales are in lora_up
        if on_progress:
            on_progress(i + 1, len(names))
    md = dict(loaded[0][2])
    md.pop("sshs_model_hash", None)
    md.pop("sshs_legacy_hash", None)
    ranks = sorted({int(v.shape[0]) for k, v in result_sd.items() if k.endswith("lora_down.weight")})
    md["ss_network_dim"] = str(ranks[0]) if len(ranks) == 1 else "Dynamic"
    md["ss_network_alpha"] = md["ss_network_dim"]
    how = "concatenated" if new_rank is None else f"SVD to rank {new_rank}"
    md["ss_training_comment"] = f"merged ({how}) from " + ", ".join(f"{r.file}:{r.ratio}" for r in rows)
    md["lora_desk_merged"] = json.dumps([{"file": r.file, "ratio": r.ratio} for r in rows])
    precision = save_precision or {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(
        next(iter(loaded[0][1].values())).tensors["lora_down.weight"].dtype, "fp32")
    try:
        size = save_lora(out, result_sd, md, precision)
    except OSError as e:
        raise UserError(f"Could not write {out} ({e.strerror or e}); no file was left behind.") from None
    fam = families.pop() if families else ""
    return MergeResult(out, fam, rows, len(names), size, time.monotonic() - t0)


__all__ = ["merge_into_checkpoint", "merge_loras", "MergeResult", "MergeRow", "lora_delta"]
