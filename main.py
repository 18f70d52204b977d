"""LoRA Desk: `python main.py` starts the desktop app; `python main.py <tool> ...` runs a headless tool."""
from __future__ import annotations

import importlib
import sys

from trainer.cli.commands import COMMANDS as TOOLS  # name -> (module, function, one-line summary)


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("--version", "-V"):
        from trainer.version import APP_VERSION

        print(f"LoRA Desk {APP_VERSION}")
        return 0
    if argv and not argv[0].startswith("-"):
        if argv[0] not in TOOLS:
            from trainer.cli.argparsing import did_you_mean

            print(f"error: Unknown command '{argv[0]}'.{did_you_mean(argv[0], TOOLS)} Commands: {', '.join(TOOLS)} "
                  "(python main.py --help says what each does).", file=sys.stderr)
            return 1
        module, func, _ = TOOLS[argv[0]]
        return getattr(importlib.import_module(module), func)(argv[1:])
    from app.launch import run_app  # the window appears before torch is imported

    return run_app(argv)


if __name__ == "__main__":
    import multiprocessing

    # the Windows bundle: data-loader workers start this executable again; without this they would open
    # another window (a no-op when not frozen)
    multiprocessing.freeze_support()
    sys.exit(main(sys.argv[1:]))
