"""LoRA Desk: `python main.py` starts the desktop app; `python main.py <tool> ...` runs a headless tool."""
from __future__ import annotations

import importlib
import sys

# tool -> (module, function); each function takes the remaining arguments and returns an exit code
TOOLS = {
    "train": ("trainer.cli", "main_train"),
    "demo": ("trainer.demo", "main_demo"),
    "estimate": ("trainer.vram_cli", "main_estimate"),
    "resize": ("trainer.tools.cli", "main_resize"),
    "check": ("trainer.tools.cli", "main_check"),
    "merge": ("trainer.tools.cli", "main_merge"),
    "sample": ("trainer.tools.cli", "main_sample"),
    "tag": ("trainer.tagging.cli", "main_tag"),
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("--version", "-V"):
        from trainer.version import APP_VERSION

        print(f"LoRA Desk {APP_VERSION}")
        return 0
    if argv and not argv[0].startswith("-"):
        if argv[0] not in TOOLS:
            print(f"error: unknown tool '{argv[0]}'; tools: {', '.join(TOOLS)}", file=sys.stderr)
            return 1
        module, func = TOOLS[argv[0]]
        return getattr(importlib.import_module(module), func)(argv[1:])
    from app.launch import run_app  # the window appears before torch is imported

    return run_app(argv)


if __name__ == "__main__":
    import multiprocessing

    # the Windows bundle: data-loader workers start this executable again; without this they would open
    # another window (a no-op when not frozen)
    multiprocessing.freeze_support()
    sys.exit(main(sys.argv[1:]))
