"""`python main.py estimate --config_file FILE.toml [--json] [--attention sdpa|naive] [--<kohya_name> VALUE ...]`:
the GPU memory estimate of a training config, printed as a breakdown ending with ``peak: <number> GiB`` (or
one JSON object with --json). The training folder is checked as training would read it. Bad input gives one
line on stderr and exit code 1. No torch is imported (except to make the demo's tiny model when the config
names it and it is missing, as train does)."""
from __future__ import annotations

import json
import sys

from trainer.errors import UserError


def build_estimate_parser():
    from trainer.cli.train import build_parser

    p = build_parser(prog="main.py estimate")
    p.description = ("Estimate the peak GPU memory of training with a kohya-style TOML config (options given "
                     "here override the file). Reads only the checkpoint's safetensors header.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text breakdown")
    p.add_argument("--attention", choices=("sdpa", "xformers", "naive"), default=None,
                   help="attention kernel to assume: sdpa (default; what the trainer uses) or naive (quadratic)")
    p.add_argument("--gpu", action="store_true", help="also show the NVIDIA GPUs' total and free memory (NVML)")
    return p


def _check_dataset(cfg):
    """The training folder as training would read it: a DatasetScan, or None when no folder is set. Raises
    DatasetError (one sentence naming the folder) when it cannot be trained on."""
    if not cfg.train_data_dir:
        return None
    from trainer.dataset.scan import scan_dataset

    return scan_dataset(cfg.train_data_dir, cfg.caption_extension)


def _dataset_lines(scan) -> list[str]:
    if scan is None:
        return ["dataset: not checked (no train_data_dir given)"]
    lines = [f"dataset: {scan.root}: {scan.describe()}"]
    if scan.problems:
        lines.append(f"dataset: {len(scan.problems)} problem(s), e.g. {scan.problems[0].message}")
    return lines


def main_estimate(argv: list[str]) -> int:
    from trainer.cli.train import options_over
    from trainer.config.fields import TrainConfig
    from trainer.config.files import load_toml
    from trainer.vram import estimate

    parser = build_estimate_parser()
    args = parser.parse_args(argv)
    try:
        cfg = options_over(args, load_toml(args.config_file) if args.config_file else TrainConfig())
        scan = _check_dataset(cfg)
        from trainer.cli.demo import ensure_demo_model

        ensure_demo_model(cfg.pretrained_model_name_or_path)  # the demo's config works before the first demo run
        est = estimate(cfg, attention=args.attention)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    gpus = None
    if args.gpu:
        from trainer.gpu_info import gpu_summary, query_gpus

        gpus = query_gpus()
    if args.json:
        out = est.to_dict()
        out["dataset"] = None if scan is None else {
            "folder": str(scan.root), "images": len(scan.images), "samples_per_epoch": scan.samples_per_epoch,
            "problems": [p.message for p in scan.problems]}
        if args.gpu:
            out["gpus"] = None if gpus is None else [g.to_dict() for g in gpus]
        print(json.dumps(out, indent=2))
        return 0
    head, _, last = est.format().rpartition("\n")  # the last line stays "peak: ..."
    extra_lines = _dataset_lines(scan)
    if args.gpu:
        extra_lines.append(gpu_summary(gpus, need_bytes=est.peak_bytes))
    print("\n".join([head, *extra_lines, last]))
    return 0
