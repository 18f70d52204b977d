"""Health check of a LoRA file: norms per module, zero / near-zero / NaN tensors (fp16 underflow), names that
AUTOMATIC1111/ComfyUI would not map, modules present and missing for the model family, and a metadata summary.

Names are checked against the module names of the real base architecture of the file's family (built on the
meta device; nothing is downloaded), or against a given base checkpoint (``sd_model``), using the same map as
``merge``. The file is read as stored: names are not normalised first, so a file written with transformers-5
flat text-encoder names (``lora_te_encoder_layers_...``) is reported.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .lora_modules import _DIFF_UNET, _ORIG_UNET, guess_family, lora_delta, parse_modules
from .targets import real_model_shapes, real_model_spec, target_map
from .zeros import ZeroFinding, findings, summary_lines, untrained_modules

GROUP_WORDS = {"unet-attn": "UNet attention", "unet-conv": "UNet conv (LoCon)", "te": "text encoder"}


@dataclass
class ModuleRow:
    name: str
    kind: str
    rank: int | None
    alpha: float | None
    up_norm: float  # Frobenius norm of lora_up (or of the first factor of LoHa/LoKr)
    down_norm: float
    delta_norm: float | None  # norm of the weight change at weight 1 (plain LoRA/LoCon only)


@dataclass
class CheckResult:
    path: Path
    family: str | None
    family_source: str  # "metadata", "names", "checkpoint" or "guess"
    modules: list[ModuleRow]
    zero: list[str] = field(default_factory=list)  # tensors that are all zero (expected ones too)
    near_zero: list[str] = field(default_factory=list)  # tensors whose largest value is below eps
    findings: list[ZeroFinding] = field(default_factory=list)  # zero / near-zero tensors grouped by module
    expected_reason: str = ""  # why the expected findings are expected (the clip-skip pattern)
    nonfinite: list[str] = field(default_factory=list)  # tensors with NaN or inf
    unknown_names: list[str] = field(default_factory=list)  # modules with no place in the model
    foreign_names: list[str] = field(default_factory=list)  # the other UNet spelling / flat text-encoder names
    mixed_spelling: bool = False
    missing: dict = field(default_factory=dict)  # group -> module names of that group the file lacks
    present: dict = field(default_factory=dict)  # group -> count
    metadata: dict = field(default_factory=dict)  # summary (human-readable keys)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = []
        for state, words in (("zero", "are all zero (listed above): those modules do nothing"),
                             ("near zero", "are near zero (listed above): those modules do almost nothing")):
            bad = [f for f in self.findings if f.state == state and not f.expected]
            if bad:
                out.append(f"{sum(len(f.tensors) for f in bad)} tensor(s) in {len(bad)} module(s) {words}; "
                           "with fp16 this is often underflow: save in bf16 or fp32, or resize the file")
        if self.nonfinite:
            out.append(f"{len(self.nonfinite)} tensor(s) hold NaN or inf (e.g. {self.nonfinite[0]})")
        if self.unknown_names:
            out.append(f"{len(self.unknown_names)} module name(s) match no layer of the model, so AUTOMATIC1111 "
                       f"and ComfyUI ignore them (e.g. {self.unknown_names[0]})")
        if self.foreign_names:
            out.append(f"{len(self.foreign_names)} module name(s) are not spelt as sd-scripts writes them "
                       f"(e.g. {self.foreign_names[0]})")
        if self.mixed_spelling:
            out.append("the file mixes input_blocks and down_blocks UNet names; diffusers drops the input_blocks ones")
        return out

    @property
    def healthy(self) -> bool:
        return not self.problems

    def findings_table(self) -> list[tuple]:
        """(block, module, tensors, state, expected) rows: every zero / near-zero finding, for a GUI table."""
        return [(f.block, f.module, ", ".join(f.tensors), f.state, f.expected) for f in self.findings]

    def table(self) -> list[tuple]:
        """(module, kind, rank, alpha, |up|, |down|, |change|) rows for a GUI table."""
        return [(m.name, m.kind, m.rank, m.alpha, round(m.up_norm, 6), round(m.down_norm, 6),
                 None if m.delta_norm is None else round(m.delta_norm, 6)) for m in self.modules]


_SUMMARY = [
    ("ss_output_name", "name"), ("ss_base_model_version", "base model version"), ("ss_sd_model_name", "base model"),
    ("ss_network_module", "network"), ("ss_network_dim", "dim"), ("ss_network_alpha", "alpha"),
    ("ss_network_args", "network args"), ("ss_epoch", "epoch"), ("ss_num_epochs", "epochs"), ("ss_steps", "steps"),
    ("ss_max_train_steps", "max steps"), ("ss_learning_rate", "learning rate"), ("ss_clip_skip", "clip skip"),
    ("ss_resolution", "resolution"), ("ss_num_train_images", "training images"), ("ss_mixed_precision", "precision"),
]


def summarize_metadata(md: dict) -> dict:
    out = {label: md[k] for k, label in _SUMMARY if md.get(k) not in (None, "", "None")}
    if "resolution" not in out and md.get("ss_datasets"):  # a dataset_config run records it per dataset
        try:
            out["resolution"] = ", ".join(str(tuple(d["resolution"])) for d in json.loads(md["ss_datasets"]))
        except (ValueError, KeyError, TypeError):
            pass
    freq = md.get("ss_tag_frequency")
    if freq:
        try:
            counts: dict[str, int] = {}
            for tags in json.loads(freq).values():
                for tag, n in tags.items():
                    counts[tag.strip()] = counts.get(tag.strip(), 0) + int(n)
            top = sorted(counts.items(), key=lambda kv: -kv[1])[:10]
            out["top tags"] = ", ".join(f"{t} ({n})" for t, n in top)
        except (ValueError, AttributeError, TypeError):
            out["top tags"] = "(unreadable ss_tag_frequency)"
    if md.get("ss_dataset_dirs"):
        try:
            dirs = json.loads(md["ss_dataset_dirs"])
            out["dataset folders"] = ", ".join(f"{d} ({v.get('img_count', '?')} images x {v.get('n_repeats', '?')})"
                                               for d, v in dirs.items())
        except (ValueError, AttributeError, TypeError):
            pass
    return out


def _family_by_shape(mods) -> str | None:
    """SD 1.x vs 2.x from the text features width (cross attention k input: 768 vs 1024)."""
    for m in mods.values():
        if m.name.endswith("attn2_to_k") and "lora_down.weight" in m.tensors:
            return {768: "sd1", 1024: "sd2", 2048: "sdxl"}.get(m.tensors["lora_down.weight"].shape[1])
    return None


def _read(path: Path) -> tuple[dict, dict]:
    from ..network.lora_file import read_lora

    return read_lora(path)  # names as the file has them: misnamed keys are what check reports


def _norm(t: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(t.float()))


def check_lora(path, *, eps: float = 1e-8, sd_model=None, on_progress: Callable[[int, int], None] | None = None,
               stop: threading.Event | None = None) -> CheckResult:
    p = Path(path)
    sd, md = _read(p)
    mods = parse_modules(sd, str(p))
    # ---------------------------------------------------------------- family and the names it has
    if sd_model is not None:
        from ..models.checkpoint_io import read_shapes
        from ..models.family import detect, shapes_of

        shapes = shapes_of(read_shapes(sd_model))
        spec = detect(shapes, where=str(sd_model))
        family, source = spec.family, "checkpoint"
    else:
        family = guess_family(mods, md)
        source = "metadata" if md.get("ss_base_model_version") else "names"
        if family is None:
            family, source = _family_by_shape(mods), "names"
        if family is None:
            family, source = "sd1", "guess"
        shapes, spec = real_model_shapes(family), real_model_spec(family)
    tm = target_map(shapes, spec)
    res = CheckResult(p, family, source, [], metadata=summarize_metadata(md))
    # ---------------------------------------------------------------- tensors
    total = len(mods)
    for i, m in enumerate(mods.values()):
        if stop is not None and stop.is_set():
            break
        finite = True
        for suffix, t in m.tensors.items():
            key = f"{m.name}.{suffix}"
            if not t.is_floating_point() or t.numel() == 0:
                continue
            if not bool(torch.isfinite(t).all()):
                res.nonfinite.append(key)
                finite = False
                continue
            if suffix == "alpha":
                continue
            biggest = float(t.abs().max())
            if biggest == 0.0:
                res.zero.append(key)
            elif biggest < eps:
                res.near_zero.append(key)
        t = m.tensors
        first = {"lora": "lora_up.weight", "loha": "hada_w1_a", "lokr": "lokr_w1"}.get(m.kind)
        second = {"lora": "lora_down.weight", "loha": "hada_w1_b", "lokr": "lokr_w2"}.get(m.kind)
        up = t.get(first) if first else None
        down = t.get(second) if second else None
        if m.kind == "lokr" and up is None:
            up = t.get("lokr_w1_a")
        if m.kind == "lokr" and down is None:
            down = t.get("lokr_w2_a")
        delta = None
        if m.plain and finite:
            delta = _norm(lora_delta(m))
        res.modules.append(ModuleRow(m.name, m.kind, m.rank, m.alpha, _norm(up) if up is not None else 0.0,
                                     _norm(down) if down is not None else 0.0, delta))
        if on_progress:
            on_progress(i + 1, total)
    # ---------------------------------------------------------------- zero tensors, and which are expected
    names = list(mods)
    zero_modules = {k.partition(".")[0] for k in res.zero + res.near_zero}
    expected, res.expected_reason = untrained_modules(family, tm.keys(), names, md, zero_modules)
    res.findings = findings(res.zero, res.near_zero, expected)
    if not any(f.expected for f in res.findings):
        res.expected_reason = ""
    # ---------------------------------------------------------------- names
    res.mixed_spelling = bool(any(_ORIG_UNET.match(n) for n in names) and any(_DIFF_UNET.match(n) for n in names))
    for n in names:
        tgt = tm.get(n)
        if tgt is None:
            flat = n.replace("_encoder_layers_", "_text_model_encoder_layers_", 1)
            if n.startswith("lora_te") and "_text_model_" not in n and flat in tm:
                res.foreign_names.append(n)
            else:
                res.unknown_names.append(n)
        elif not tgt.native:
            res.foreign_names.append(n)
    # ---------------------------------------------------------------- present / missing per group
    present_groups = {}
    for n in names:
        tgt = tm.get(n)
        if tgt is not None and tgt.group in GROUP_WORDS:
            present_groups.setdefault(tgt.group, set()).add(tgt.key + str(tgt.rows))
    for group, keys in present_groups.items():
        expected = {n: t for n, t in tm.items() if t.group == group and t.native}
        res.present[group] = len(keys)
        res.missing[group] = sorted(n for n, t in expected.items() if t.key + str(t.rows) not in keys)
    if not any(n.startswith("lora_te") for n in names):
        res.notes.append("no text encoder modules (UNet only)")
    if not any(n.startswith("lora_unet") for n in names):
        res.notes.append("no UNet modules (text encoder only)")
    no_alpha = [m.name for m in mods.values() if m.kind != "other" and m.alpha is None]
    if no_alpha:
        res.notes.append(f"{len(no_alpha)} module(s) have no alpha (read as alpha = rank, scale 1)")
    other = [m.name for m in mods.values() if m.kind == "other"]
    if other:
        res.notes.append(f"{len(other)} module(s) of another kind (IA3, full, OFT ...), e.g. {other[0]}")
    return res


def format_report(r: CheckResult, verbose: bool = False) -> str:
    from ..models.spec import FAMILY_NAMES

    lines = [f"{r.path.name}: {len(r.modules)} modules, family {FAMILY_NAMES.get(r.family, r.family)} "
             f"(from {r.family_source})"]
    for k, v in r.metadata.items():
        lines.append(f"  {k}: {v}")
    kinds = {}
    for m in r.modules:
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
    lines.append("  kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    deltas = [m.delta_norm for m in r.modules if m.delta_norm is not None]
    if deltas:
        lines.append(f"  weight change norm per module: min {min(deltas):.4g}, mean {sum(deltas) / len(deltas):.4g}, "
                     f"max {max(deltas):.4g}")
    for g, n in r.present.items():
        miss = r.missing.get(g, [])
        lines.append(f"  {GROUP_WORDS[g]}: {n} present, {len(miss)} missing" +
                     (f" (e.g. {miss[0]})" if miss else ""))
    if verbose:
        lines.append(f"  {'module':<72} {'kind':<5} {'rank':>4} {'alpha':>7} {'|up|':>10} {'|down|':>10} {'|change|':>10}")
        for m in r.modules:
            d = "" if m.delta_norm is None else f"{m.delta_norm:10.4g}"
            a = "" if m.alpha is None else f"{m.alpha:7.3g}"
            lines.append(f"  {m.name:<72} {m.kind:<5} {m.rank or '':>4} {a:>7} {m.up_norm:10.4g} {m.down_norm:10.4g} {d}")
    lines += [f"  {line}" for line in summary_lines(r.findings, r.expected_reason, verbose)]
    for n in r.notes:
        lines.append(f"  note: {n}")
    for pr in r.problems:
        lines.append(f"  PROBLEM: {pr}")
    lines.append("  healthy" if r.healthy else f"  {len(r.problems)} problem(s) found")
    return "\n".join(lines)
