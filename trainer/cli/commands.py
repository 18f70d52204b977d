"""The headless commands of ``python main.py <command> ...``: where each lives and what it does in one line
(main.py dispatches on it; the window's ``--help`` lists it). No torch, no Qt."""
from __future__ import annotations

# command -> (module, function, one-line summary); each function takes the remaining arguments, returns an exit code
COMMANDS = {
    "train": ("trainer.cli.train", "main_train", "train a LoRA from a kohya-style TOML config (options override it)"),
    "demo": ("trainer.cli.train", "main_demo", "train the bundled tiny demo (no download) to see a run end to end"),
    "estimate": ("trainer.cli.estimate", "main_estimate", "peak GPU memory of a config and what takes most of it"),
    "check": ("trainer.tools.cli", "main_check", "health of a LoRA file: zeroed tensors, NaN, names, metadata"),
    "resize": ("trainer.tools.cli", "main_resize", "reduce a LoRA's rank by SVD (fixed or dynamic)"),
    "merge": ("trainer.tools.cli", "main_merge", "merge LoRA files into a checkpoint, or into one LoRA"),
    "sample": ("trainer.tools.cli", "main_sample", "image grid of LoRA files x weights x seeds x prompts"),
    "tag": ("trainer.tagging.cli", "main_tag", "caption images with a local WD14-style ONNX tagger"),
}


def commands_help() -> str:
    """The listing under the window's --help."""
    width = max(map(len, COMMANDS))
    lines = ["commands (python main.py <command> --help for each one's options):"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, _, summary) in COMMANDS.items()]
    return "\n".join(lines)
