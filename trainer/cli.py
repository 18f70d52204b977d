"""`python main.py train --config_file FILE.toml [--<kohya_name> VALUE ...]`: headless training with a
progress bar. Bad input gives one line and exit code 1, never a traceback."""
from __future__ import annotations

import argparse
import sys
import threading

from .config import FIELDS, TrainConfig
from .config_io import _base_types, apply_overrides, load_toml
from .errors import UserError


def build_parser(prog: str = "main.py train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train a LoRA from a kohya-style TOML config; "
                                "options given here override the file.")
    p.add_argument("--config_file", help="kohya-ss style TOML config (flat or sectioned)")
    p.add_argument("--preset", help="apply a preset (built-in or user) over the config file; its keys win")
    for name, f in FIELDS.items():
        allowed, _ = _base_types(name)
        help_text = f.metadata.get("help", "").replace("%", "%%")
        if list in allowed:
            p.add_argument(f"--{name}", nargs="*", default=None, help=help_text)
        elif bool in allowed:
            p.add_argument(f"--{name}", nargs="?", const="true", default=None, help=help_text)
        else:
            p.add_argument(f"--{name}", default=None, help=help_text)
    return p


def config_from_args(argv: list[str]) -> TrainConfig:
    args = build_parser().parse_args(argv)
    cfg = load_toml(args.config_file) if args.config_file else TrainConfig()
    if args.preset:
        from .presets import apply_preset

        cfg = apply_preset(cfg, args.preset)
    overrides = {k: v for k, v in vars(args).items() if k not in ("config_file", "preset") and v is not None}
    return apply_overrides(cfg, overrides)


class ConsoleReporter:
    """Trainer events -> tqdm bar (it/s, ETA) and log lines."""

    def __init__(self, stream=sys.stderr):
        self.bar = None
        self.stream = stream

    def __call__(self, e) -> None:
        from tqdm import tqdm

        from . import events as ev

        if isinstance(e, ev.Started):
            self.write(e.plan_text)
            self.bar = tqdm(total=e.total_steps, initial=e.start_step, unit="step", file=self.stream,
                            dynamic_ncols=True, desc="training")
        elif isinstance(e, ev.Step):
            if self.bar is not None:
                self.bar.update(e.step - self.bar.n)
                self.bar.set_postfix(epoch=e.epoch, loss=f"{e.loss:.4f}", avg=f"{e.avg_loss:.4f}", refresh=False)
        elif isinstance(e, ev.Log):
            self.write(("warning: " if e.level == "warning" else "") + e.message)
        elif isinstance(e, ev.Saved):
            self.write(f"saved {e.path} (epoch {e.epoch}, step {e.step})")
        elif isinstance(e, ev.Finished):
            self.close()
            self.write(("stopped early; " if e.stopped else "") + f"done: {e.path}")
        elif isinstance(e, ev.Failed):
            self.close()

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def main_train(argv: list[str]) -> int:
    try:
        cfg = config_from_args(argv)
        from .demo import ensure_demo_model
        from .trainer import Trainer

        ensure_demo_model(cfg.pretrained_model_name_or_path)

        stop = threading.Event()
        trainer = Trainer(cfg, ConsoleReporter(), stop)
        try:
            trainer.run()
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
