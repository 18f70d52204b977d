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
``svd_merge_lora.py``), alpha = new_rank. LoHa, LoKr and Tucker modules have no factors to stack: with
``new_rank`` their full weight change (lycoris' formula, for the layer's shape in the family's architecture)
is summed and reduced by SVD into a LoRA/LoCon module.
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
from trainer.network.modelspec import family_of, is_v_pred, merged_modelspec, title_of
from ..network.lora_file import SAVE_DTYPES, load_lora, save_lora
from .lora_modules import (FAMILY_WORDS, LoraModule, guess_family, lora_delta, merged_weight, module_delta,
                           parse_modules)
from .resize import lora_factors, svd_low_rank
from .stream_io import CheckpointReader, check_not_input, write_safetensors
from .targets import real_model_shapes, real_model_spec, target_map


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


def _refuse_unknown_kinds(mods: dict[str, LoraModule], name: str) -> None:
    """Modules that are not LoRA, LoCon, LoHa or LoKr cannot be merged: one sentence naming one and its
    tensors."""
    other = [m.name for m in mods.values() if m.kind == "other"]
    if other:
        raise ModelError(f"{name} has modules this app cannot merge (not LoRA, LoCon, LoHa or LoKr), "
                         f"e.g. {other[0]} ({', '.join(sorted(mods[other[0]].tensors))}).")


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
        _refuse_unknown_kinds(mods, path.name)
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
    metadata.update(merged_modelspec(spec.family, is_v_pred(reader.metadata), out.stem,  # as merge_lora.py
                                     [base.stem] + [title_of(p, md) for p, _, md in loras], time.time(),
                                     lora=False))
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


def _layer_shapes(family: str | None, shapes_from) -> dict:
    """LoRA module name -> shape of the weight it changes: from ``shapes_from`` (a checkpoint of the architecture)
    or the real SD 1.x / 2.x / SDXL model."""
    if shapes_from is not None:
        reader = CheckpointReader(Path(shapes_from))
        try:
            shapes = reader.shapes()
        finally:
            reader.close()
        tm = target_map(shapes, detect(shapes, where=str(shapes_from)))
    elif family is None:
        raise ModelError("Cannot tell which model family the LoHa/LoKr files are for (no ss_base_model_version, "
                         "no telling module names), so their layers' shapes are unknown.")
    else:
        tm = target_map(real_model_shapes(family), real_model_spec(family))
    return {name: t.shape for name, t in tm.items()}


def _stacked(name: str, parts: list, new_rank: int | None) -> tuple:
    """(down, up, rank) of plain LoRA/LoCon ``parts`` [(module, ratio, file)]: ranks stacked, or SVD to
    ``new_rank`` through the stacked factors (never the full weight)."""
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
        return down, up, down.shape[0]
    U, S, Vh = svd_low_rank(up.reshape(up.shape[0], -1), down.reshape(down.shape[0], -1))
    rank = min(int(new_rank), S.shape[0])
    return *lora_factors(U, S, Vh, rank, tuple(down.shape[1:])), rank


def _svd_of_deltas(name: str, parts: list, shape: tuple | None, new_rank: int) -> tuple:
    """(down, up, rank) of the summed full weight change of ``parts`` [(module, ratio, file)], by SVD."""
    if shape is None:
        raise ModelError(f"{parts[0][2]}: module {name} has no layer in the model family's architecture.")
    delta = 0
    for m, r, fname in parts:
        try:
            delta = delta + r * module_delta(m, shape)
        except RuntimeError:  # lycoris rebuilds the weight for that shape: the factors do not fit it
            raise ModelError(f"{fname}: module {name} does not fit its layer ({'x'.join(map(str, shape))}) in the "
                             "model family's architecture (is the file for another model?).") from None
    U, S, Vh = torch.linalg.svd(delta.reshape(shape[0], -1), full_matrices=False)
    rank = min(int(new_rank), S.shape[0])
    return *lora_factors(U, S, Vh, rank, tuple(shape[1:])), rank


def merge_loras(models: list, ratios: list | None, save_to, *, new_rank: int | None = None,
                save_precision: str | None = None, on_progress: Callable[[int, int], None] | None = None,
                stop: threading.Event | None = None, shapes_from=None) -> MergeResult:
    """Several LoRA files -> one: stacked ranks (``new_rank=None``) or SVD to ``new_rank`` (needed for LoHa,
    LoKr and Tucker modules; ``shapes_from``: a checkpoint whose architecture gives their layers' shapes,
    default the real model of the files' family)."""
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
        _refuse_unknown_kinds(mods, p.name)
        lyco = [m.name for m in mods.values() if not m.plain]
        if lyco and new_rank is None:
            raise UserError(f"{p.name} has {mods[lyco[0]].kind} modules (e.g. {lyco[0]}), whose ranks cannot be "
                            "stacked: give a new rank to merge the files by SVD into a LoRA of that rank.")
        fam = guess_family(mods, md)
        if fam:
            families.add(fam)
        loaded.append((p, mods, md))
    if len(families) > 1:
        raise ModelError("The LoRA files are for different model families (" +
                         ", ".join(FAMILY_NAMES[f] for f in sorted(families)) + "); they cannot be merged.")
    lyco = any(not m.plain for _, mods, _ in loaded for m in mods.values())
    layer_shapes = _layer_shapes(next(iter(families), None), shapes_from) if lyco else {}
    names = []
    for _, mods, _ in loaded:
        names += [n for n in mods if n not in names]
    result_sd: dict[str, torch.Tensor] = {}
    rows = [MergeRow(p.name, r, len(mods), ", ".join(sorted({m.kind for m in mods.values()})))
            for (p, mods, _), r in zip(loaded, ratios)]
    for i, name in enumerate(names):
        if stop is not None and stop.is_set():
            raise UserError(f"Stopped; {out} was not written.")
        parts = [(mods[name], r, p.name) for (p, mods, _), r in zip(loaded, ratios) if name in mods]
        if all(m.plain for m, _, _ in parts):
            down, up, rank = _stacked(name, parts, new_rank)
        else:
            down, up, rank = _svd_of_deltas(name, parts, layer_shapes.get(name), new_rank)
        result_sd[f"{name}.lora_down.weight"] = down
        result_sd[f"{name}.lora_up.weight"] = up
        result_sd[f"{name}.alpha"] = torch.tensor(int(rank))  # int64 as svd_merge_lora.py; scale 1
        if on_progress:
            on_progress(i + 1, len(names))
    how = "concatenated" if new_rank is None else f"SVD to rank {new_rank}"
    md = merged_lora_metadata(loaded, result_sd, families, out, rows, how)
    first = next(t for t in next(iter(loaded[0][1].values())).tensors.values() if t.ndim > 1)
    precision = save_precision or {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(first.dtype, "fp32")
    try:
        size = save_lora(out, result_sd, md, precision)
    except OSError as e:
        raise UserError(f"Could not write {out} ({e.strerror or e}); no file was left behind.") from None
    fam = families.pop() if families else ""
    return MergeResult(out, fam, rows, len(names), size, time.monotonic() - t0)


def merged_lora_metadata(loaded: list, result_sd: dict, families: set, out: Path, rows: list, how: str) -> dict:
    """What describes the merged file, as sd-scripts' merge scripts write it: the minimum ss_* keys a loader
    needs (module, rank, alpha, base model) and modelspec with the inputs in merged_from. Keys about the
    first file's training run (ss_epoch, its network_args, dataset, optimizer, ...) are not carried over."""
    first = loaded[0][2]
    md = {k: first[k] for k in ("ss_v2", "ss_base_model_version") if k in first}
    md["ss_network_module"] = "networks.lora"
    ranks = sorted({int(v.shape[0]) for k, v in result_sd.items() if k.endswith("lora_down.weight")})
    md["ss_network_dim"] = str(ranks[0]) if len(ranks) == 1 else "Dynamic"
    md["ss_network_alpha"] = md["ss_network_dim"]
    conv = sorted({int(v.shape[0]) for k, v in result_sd.items()
                   if k.endswith("lora_down.weight") and v.ndim == 4 and v.shape[2] > 1})
    if conv:  # 3x3 convolutions make it a LoCon: a loader needs conv_dim to build it
        md["ss_network_args"] = json.dumps({"conv_dim": str(conv[0]) if len(conv) == 1 else "Dynamic",
                                            "conv_alpha": str(conv[0]) if len(conv) == 1 else "Dynamic"})
    md["ss_training_comment"] = f"merged ({how}) from " + ", ".join(f"{r.file}:{r.ratio}" for r in rows)
    md["lora_desk_merged"] = json.dumps([{"file": r.file, "ratio": r.ratio} for r in rows])
    family = next(iter(families), None) or family_of(first.get("ss_base_model_version", "sd_v1"))
    md.update(merged_modelspec(family, is_v_pred(first), out.stem, [title_of(p, m) for p, _, m in loaded],
                               time.time(), lora=True))
    return md


__all__ = ["merge_into_checkpoint", "merge_loras", "MergeResult", "MergeRow", "lora_delta"]
