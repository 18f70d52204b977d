"""`python main.py train --config_file FILE.toml [--<kohya_name> VALUE ...]`: headless training with a
progress bar. Bad input gives one line and exit code 1, never a traceback. Ctrl+C stops like the GUI's Stop
button (see TRAIN_EPILOG)."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

from trainer.cli.argparsing import FriendlyParser
from trainer.config.fields import FIELDS, TrainConfig
from trainer.config.compat import ACCEPTED_ONLY, ALIASES, split
from trainer.config.files import _base_types, apply_overrides, load_toml
from trainer.errors import UserError


TRAIN_EPILOG = ("Ctrl+C stops training after the current step and saves a usable LoRA file (exit code 0, as "
                "for a finished run); pressed before the first step, it ends without writing a file (exit "
                "code 130). A second Ctrl+C quits at once without saving (exit code 130). Bad input: exit "
                "code 1. A final file that cannot be written to output_dir (disk full, folder gone) is written "
                "to the rescue folder instead, its path printed, and the exit code is 1.")
STOP_MESSAGE = "Stopping after this step and saving... (Ctrl+C again to quit at once)"


def build_parser(prog: str = "main.py train", epilog: str | None = None) -> argparse.ArgumentParser:
    p = FriendlyParser(prog=prog, description="Train a LoRA from a kohya-style TOML config; "
                       "options given here override the file.", epilog=epilog)
    p.add_argument("--config_file", help="kohya-ss style TOML config (flat or sectioned)")
    p.add_argument("--preset", help="apply a preset (built-in or user) over the config file; its keys win")
    p.add_argument("--output_config", action="store_true", help="write the options given here (those away from "
                   "the defaults) to --config_file, a new file, and stop without training (as sd-scripts)")
    for name, f in FIELDS.items():
        allowed, _ = _base_types(name)
        help_text = f.metadata.get("help", "").replace("%", "%%")
        if list in allowed:
            p.add_argument(f"--{name}", nargs="*", default=None, help=help_text)
        elif bool in allowed:
            p.add_argument(f"--{name}", nargs="?", const="true", default=None, help=help_text)
        else:
            p.add_argument(f"--{name}", default=None, help=help_text)
    old = p.add_argument_group("older sd-scripts names", "mapped to the current option, as sd-scripts does")
    for name, (target, value) in ALIASES.items():
        old.add_argument(f"--{name}", nargs="*", default=None, metavar="VALUE",
                         help=f"same as --{target}" + (f" {value}" if value is not None else ""))
    inert = p.add_argument_group("sd-scripts options accepted without effect",
                                 "a config or command line may hold them; a run that sets one logs why it "
                                 "changes nothing here")
    for name in sorted(set(ACCEPTED_ONLY) - {"config_file", "output_config"}):  # those two are ours, above
        inert.add_argument(f"--{name}", nargs="*", default=None, metavar="VALUE",
                           help=ACCEPTED_ONLY[name].replace("%", "%%"))
    return p


def _cli_value(words: list[str]):
    """nargs='*' text of an alias or accepted-only option -> a config value (a bare flag is true)."""
    if not words:
        return True
    return words[0] if len(words) == 1 else list(words)


def config_from_args(argv: list[str], args=None) -> TrainConfig:
    """The config the command line asks for; ``args``: argv already parsed by build_parser()."""
    args = args if args is not None else build_parser(epilog=TRAIN_EPILOG).parse_args(argv)
    return options_over(args, load_toml(args.config_file) if args.config_file else TrainConfig())


def options_over(args, cfg: TrainConfig) -> TrainConfig:
    """The parsed command line's preset and options over `cfg` (kohya names, aliases, accepted-only names)."""
    if args.preset:
        from trainer.config.presets import apply_preset

        cfg = apply_preset(cfg, args.preset)
    given = {k: v for k, v in vars(args).items() if (k in FIELDS or k in ALIASES or k in ACCEPTED_ONLY)
             and k not in ("config_file", "output_config") and v is not None}
    overrides = {k: v for k, v in given.items() if k in FIELDS}
    compat = {k: _cli_value(v) for k, v in given.items() if k not in FIELDS}
    if compat:
        known, accepted = split({k: str(v).lower() in ("true", "1", "yes") if k in ALIASES and ALIASES[k][1]
                                 else v for k, v in compat.items()})
        overrides.update({k: str(v) for k, v in known.items()})
        cfg = cfg.replace()
        cfg.accepted_only = {**cfg.accepted_only, **accepted}
    return apply_overrides(cfg, overrides)


def output_config(args) -> Path | None:
    """sd-scripts' --output_config: the options given on the command line (those that differ from the
    defaults) are written to --config_file, a new file, instead of training. None when the flag is absent.
    ``args``: the parsed command line."""
    from trainer.config.files import save_toml
    from trainer.errors import ConfigError

    if not args.output_config:
        return None
    if not args.config_file:
        raise ConfigError("output_config needs --config_file: the new file to write the options to.")
    path = Path(args.config_file if args.config_file.endswith(".toml") else args.config_file + ".toml")
    if path.exists():
        raise ConfigError(f"{path} already exists; output_config writes a new file and never replaces one.")
    cfg = options_over(args, TrainConfig())
    save_toml(cfg, path, only_changed=True)
    return path


class ConsoleReporter:
    """Trainer events -> tqdm bar (it/s, ETA) and log lines."""

    def __init__(self, stream=None):
        self.bar = None
        self.stream = stream if stream is not None else sys.stderr  # the one of now, not of import time
        self.save_failed = None  # the SaveFailed event, when the final file went to the rescue folder

    def __call__(self, e) -> None:
        from tqdm import tqdm

        from trainer import events as ev

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
        elif isinstance(e, ev.Sample):
            self.write(f"sample {e.path}")
        elif isinstance(e, ev.Saved):
            self.write(f"saved {e.path} (epoch {e.epoch}, step {e.step})")
        elif isinstance(e, ev.Finished):
            self.close()
            if e.path:  # "" when stopped before the first step (the trainer's log line says so)
                self.write(("stopped early; " if e.stopped else "") + f"done: {e.path}")
        elif isinstance(e, ev.Failed):
            self.close()
        elif isinstance(e, ev.SaveFailed):  # the trainer's log line says where the file went
            self.save_failed = e

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _say(stream, text: str) -> None:
    """Write from a signal handler: straight to the file descriptor, since the handler may interrupt a
    write to the same buffered stream (a second write into it would raise 'reentrant call')."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests): the stream itself
        stream.write(text)
        stream.flush()
        return
    with contextlib.suppress(OSError):
        os.write(fd, text.encode("utf-8", "replace"))


def stop_handler(stop: threading.Event, stream=None):
    """The SIGINT handler: the first Ctrl+C sets `stop` (the trainer ends after the current step with a
    saved file, or without one before the first step) and says so; the next raises KeyboardInterrupt."""

    def handler(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        _say(stream if stream is not None else sys.stderr, "\n" + STOP_MESSAGE + "\n")

    return handler


@contextlib.contextmanager
def stop_on_ctrl_c(stop: threading.Event, stream=None):
    """Within the block, Ctrl+C sets `stop` instead of raising KeyboardInterrupt (see stop_handler); the
    previous SIGINT handler comes back afterwards. Only in the main thread (Python delivers signals there
    and signal.signal works nowhere else), only in a single process (under `accelerate launch` or torchrun
    the launcher owns Ctrl+C and the processes could stop at different steps, so there it stays
    KeyboardInterrupt) and only where SIGINT is not ignored."""
    if threading.current_thread() is not threading.main_thread() or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # started with Ctrl+C ignored (nohup, a background job): leave it so
        yield
        return
    signal.signal(signal.SIGINT, stop_handler(stop, stream))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def main_train(argv: list[str]) -> int:
    """Exit codes: 0 trained (also when stopped early with a saved file), 1 bad input, 130 interrupted with
    nothing saved (Ctrl+C before the first step, or a second Ctrl+C)."""
    try:
        args = build_parser(epilog=TRAIN_EPILOG).parse_args(argv)  # once: the parser has every field
        written = output_config(args)
        if written is not None:
            print(f"wrote {written}", file=sys.stderr)
            return 0
        cfg = config_from_args(argv, args)
        from trainer.cli.demo import ensure_demo_model
        from trainer.run.trainer import Trainer

        ensure_demo_model(cfg.pretrained_model_name_or_path)

        stop = threading.Event()
        reporter = ConsoleReporter()
        trainer = Trainer(cfg, reporter, stop)
        try:
            with stop_on_ctrl_c(stop):
                path = trainer.run()
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        if not path and stop.is_set():  # stopped before the first step: no file was written
            return 130
        if reporter.save_failed is not None:  # saved, but not where asked: a script must notice
            return 1
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def main_demo(argv: list[str]) -> int:
    """`python main.py demo`: train the tiny demo model (made on first use) on examples/demo_dataset."""
    from trainer.cli.demo import DEMO_CONFIG

    print("LoRA Desk demo: training a tiny random-weight model on examples/demo_dataset.", file=sys.stderr)
    return main_train(["--config_file", str(DEMO_CONFIG), *argv])
