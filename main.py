"""LoRA Desk: `python main.py` starts the desktop app; `python main.py <tool> ...` runs a headless tool."""
from __future__ import annotations

import sys

TOOLS = ("train", "demo")


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("--version", "-V"):
        from trainer.metadata import APP_VERSION

        print(f"LoRA Desk {APP_VERSION}")
        return 0
    if argv and argv[0] == "train":
        from trainer.cli import main_train

        return main_train(argv[1:])
    if argv and argv[0] == "demo":
        from trainer.demo import main_demo

        return main_demo(argv[1:])
    if argv and not argv[0].startswith("-"):
        print(f"error: unknown tool '{argv[0]}'; tools: {', '.join(TOOLS)}", file=sys.stderr)
        return 1
    from trainer.demo import main_demo  # the desktop window arrives with the app issue; until then: the demo

    return main_demo(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
