"""``python main.py resize|check|merge|sample ...``: argument parsing, a progress line with ETA, exit codes.

Exit codes: 0 done (check: healthy), 1 bad input or problems found (one sentence on stderr, no traceback),
130 interrupted.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time

from trainer.cli.argparsing import FriendlyParser
from ..errors import UserError

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Progress:
    """``on_progress(done, total)`` printing one updating line with percentage and ETA to stderr."""

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.last = 0.0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        el = now - self.t0
        eta = el / done * (total - done) if done else 0.0
        pct = 100.0 * done / total if total else 100.0
        line = f"{self.label}: {done}/{total} ({pct:3.0f}%) {el:5.1f}s elapsed, ETA {eta:5.1f}s"
        end = "\n" if (done >= total or not self.tty) else ""
        print(("\r" if self.tty else "") + line, end=end, file=self.stream, flush=True)


def _run(fn, argv) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return fn(argv)
    except SystemExit as e:
        return int(e.code or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; nothing was saved", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------------------------------- resize


def _resize(argv) -> int:
    ap = FriendlyParser(prog="main.py resize", description="Reduce a LoRA's rank by SVD (sd-scripts resize_lora.py).")
    ap.add_argument("--model", required=True, help="LoRA file to resize")
    ap.add_argument("--save_to", required=True, help="output .safetensors")
    ap.add_argument("--new_rank", type=int, default=4, help="rank (the maximum rank with a dynamic method)")
    ap.add_argument("--dynamic_method", choices=["sv_ratio", "sv_fro", "sv_cumulative"], default=None)
    ap.add_argument("--dynamic_param", type=float, default=None)
    ap.add_argument("--save_precision", choices=["fp16", "bf16", "fp32", "float"], default=None,
                    help="default: the input's precision")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--verbose", action="store_true", help="print every module")
    a = ap.parse_args(argv)
    from .resize import resize_lora

    r = resize_lora(a.model, a.save_to, a.new_rank, dynamic_method=a.dynamic_method, dynamic_param=a.dynamic_param,
                    save_precision=None if a.save_precision == "float" else a.save_precision, device=a.device,
                    on_progress=Progress("resizing"))
    if a.verbose:
        for row in r.rows:
            print(f"{row.module:<80} rank {row.old_rank:>3} -> {row.new_rank:<3} kept {100 * row.fro_kept:6.2f} %")
    ranks = sorted({row.new_rank for row in r.rows})
    print(f"resized {len(r.rows)} modules to rank {ranks[0] if len(ranks) == 1 else f'{ranks[0]}..{ranks[-1]}'}; "
          f"norm kept: average {100 * r.average_fro_kept:.2f} %, lowest {100 * r.min_fro_kept:.2f} %")
    if r.skipped:
        print(f"copied unchanged (cannot be resized): {len(r.skipped)} modules, e.g. {r.skipped[0]}")
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"saved {r.path}")
    return 0


def main_resize(argv: list[str]) -> int:
    return _run(_resize, argv)


# ---------------------------------------------------------------------------------------------- check


def _check(argv) -> int:
    ap = FriendlyParser(prog="main.py check", description="Check a LoRA file: norms, zero/NaN tensors, names, metadata.")
    ap.add_argument("file", nargs="+", help="LoRA file(s)")
    ap.add_argument("--eps", type=float, default=1e-8, help="tensors whose largest value is below this are near zero")
    ap.add_argument("--sd_model", default=None, help="check names against this base checkpoint "
                                                     "(default: the real model of the file's family)")
    ap.add_argument("--verbose", action="store_true", help="print every module's norms")
    a = ap.parse_args(argv)
    from .check import check_lora, format_report

    bad = 0
    for f in a.file:
        r = check_lora(f, eps=a.eps, sd_model=a.sd_model)
        print(format_report(r, verbose=a.verbose))
        bad += not r.healthy
    return 1 if bad else 0


def main_check(argv: list[str]) -> int:
    return _run(_check, argv)


# ---------------------------------------------------------------------------------------------- merge


def _merge(argv) -> int:
    ap = FriendlyParser(prog="main.py merge", description="Merge LoRA files into a checkpoint, or into one LoRA.")
    ap.add_argument("--sd_model", default=None, help="base checkpoint; without it the LoRA files are merged "
                                                     "into one LoRA")
    ap.add_argument("--models", nargs="+", required=True, help="LoRA files")
    ap.add_argument("--ratios", nargs="+", type=float, default=None, help="one weight per file (default 1.0)")
    ap.add_argument("--save_to", required=True)
    ap.add_argument("--save_precision", choices=["fp16", "bf16", "fp32", "float"], default=None,
                    help="default: as the input")
    ap.add_argument("--concat", action="store_true", help="LoRA + LoRA: stack the ranks (exact; the default)")
    ap.add_argument("--new_rank", type=int, default=None, help="LoRA + LoRA: reduce the sum to this rank by SVD")
    a = ap.parse_args(argv)
    from .merge import merge_into_checkpoint, merge_loras

    prec = "fp32" if a.save_precision == "float" else a.save_precision
    if a.sd_model:
        if a.new_rank is not None or a.concat:
            raise UserError("--new_rank and --concat are for merging LoRA files into one LoRA (without --sd_model).")
        r = merge_into_checkpoint(a.sd_model, a.models, a.ratios, a.save_to, save_precision=prec,
                                  on_progress=Progress("merging"))
    else:
        if a.concat and a.new_rank is not None:
            raise UserError("Give either --concat or --new_rank, not both.")
        r = merge_loras(a.models, a.ratios, a.save_to, new_rank=a.new_rank, save_precision=prec,
                        on_progress=Progress("merging"))
    for row in r.rows:
        print(f"{row.file}: {row.modules} modules ({row.kinds}) at {row.ratio}")
    for n in r.notes:
        print(f"note: {n}")
    print(f"saved {r.path} ({r.bytes / 1e6:.1f} MB, {r.tensors_changed} tensors changed, {r.seconds:.1f} s)")
    return 0


def main_merge(argv: list[str]) -> int:
    return _run(_merge, argv)


# ---------------------------------------------------------------------------------------------- sample


def _sample(argv) -> int:
    ap = FriendlyParser(prog="main.py sample", description="Images for every prompt x LoRA file x weight x seed, as "
                        "one grid.")
    ap.add_argument("--sd_model", required=True)
    ap.add_argument("--vae", default=None)
    ap.add_argument("--loras", nargs="*", default=[], help="LoRA files (rows); none: the base model only")
    ap.add_argument("--weights", nargs="+", default=["1.0"],
                    help="LoRA weights (columns): numbers (0.6 0.8 1.0) and/or ranges: 0.4-1.2 [5] (5 values), "
                         "0.4-1.2 (+0.2) (a step)")
    ap.add_argument("--seeds", nargs="+", default=["1"], help="seeds, ranges as for --weights; -1: a random seed "
                                                               "(the one drawn is in the labels and PNG text)")
    ap.add_argument("--prompt", nargs="+", default=None,
                    help="one or more prompts (one group of rows each); ' --n ' starts a prompt's own negative")
    ap.add_argument("--prompt_file", default=None,
                    help="prompts, one per line (# comments; --n negative, as in sd-scripts' sample prompts)")
    ap.add_argument("--negative", default="", help="negative prompt for the prompts without their own --n")
    ap.add_argument("--fixed_lora", default=None, help="a second LoRA applied to every image at --fixed_weight")
    ap.add_argument("--fixed_weight", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=28)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--sampler", default="euler_a")
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--clip_skip", type=int, default=None, help="default: from the LoRA's metadata")
    ap.add_argument("--max_token_length", type=int, choices=[75, 150, 225], default=None,
                    help="default: from the LoRA's metadata")
    ap.add_argument("--v_parameterization", action="store_true")
    ap.add_argument("--device", default="auto", help="auto (a CUDA GPU when present), cuda or cpu")
    ap.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default=None,
                    help="default fp32 on the CPU, fp16 on a GPU")
    ap.add_argument("--out", required=True, help="grid image (.png); single images go to a folder beside it")
    a = ap.parse_args(argv)
    from .sample import SampleSettings, sample_grid
    from .sample_axes import parse_seeds, parse_values, prompt_lines, read_prompt_file

    if not a.prompt and not a.prompt_file:
        raise UserError("Give --prompt or --prompt_file.")
    prompts = prompt_lines(a.prompt or [], a.negative, "--prompt")
    if a.prompt_file:
        prompts += read_prompt_file(a.prompt_file, a.negative)
    s = SampleSettings(prompts=prompts, weights=parse_values(a.weights), seeds=parse_seeds(a.seeds), steps=a.steps,
                       cfg=a.cfg, sampler=a.sampler, width=a.width, height=a.height, clip_skip=a.clip_skip,
                       max_token_length=a.max_token_length, device=a.device, precision=a.precision,
                       fixed_lora=a.fixed_lora, fixed_weight=a.fixed_weight)
    stop = threading.Event()
    r = sample_grid(a.sd_model, a.loras, s, a.out, vae=a.vae, v_parameterization=a.v_parameterization or None,
                    on_progress=Progress("sampling"), stop=stop)
    print(f"{len(r.images)} images in {r.seconds:.1f} s; grid {r.grid_path} ({r.rows} rows x {r.columns} columns); "
          f"single images in {r.image_dir}; seeds {' '.join(map(str, r.seeds))}")
    return 0


def main_sample(argv: list[str]) -> int:
    return _run(_sample, argv)
