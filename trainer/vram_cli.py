"""`python main.py estimate --config_file FILE.toml [--json] [--attention sdpa|naive] [--<kohya_name> VALUE ...]`:
the GPU memory estimate of a training config, printed as a breakdown ending with ``peak: <number> GiB`` (or
one JSON object with --json). Bad input gives one line on stderr and exit code 1. No torch is imported."""
from __future__ import annotations

import json
import sys

from .errors import UserError


def build_estimate_parser():
    from .cli import build_parser

    p = build_parser(prog="main.py estimate")
    p.description = ("Estimate the peak GPU memory of training with a kohya-style TOML config (options given "
                     "here override the file). Reads only the checkpoint's safetensors header.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text breakdown")
    p.add_argument("--attention", choices=("sdpa", "xformers", "naive"), default=None,
                   help="attention kernel to assume: sdpa (default; what the trainer uses) or naive (quadratic)")
    p.add_argument("--gpu", action="store_true", help="also show the NVIDIA GPUs' total and free memory (NVML)")
    return p


def main_estimate(argv: list[str]) -> int:
    from .cli import options_over
    from .config import TrainConfig
    from .config_io import load_toml
    from .vram import estimate

    parser = build_estimate_parser()
    args = parser.parse_args(argv)
    try:
        cfg = options_over(args, load_toml(args.config_file) if args.config_file else TrainConfig())
        est = estimate(cfg, attention=args.attention)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    gpus = None
    if args.gpu:
        from .gpu_info import gpu_summary, query_gpus

        gpus = query_gpus()
    if args.json:
        out = est.to_dict()
        if args.gpu:
            out["gpus"] = None if gpus is None else [g.to_dict() for g in gpus]
        print(json.dumps(out, indent=2))
        return 0
    text = est.format()
    if args.gpu:
        head, _, last = text.rpartition("\n")
        text = head + "\n" + gpu_summary(gpus, need_bytes=est.peak_bytes) + "\n" + last
    print(text)
    return 0
