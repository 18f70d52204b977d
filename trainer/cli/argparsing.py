"""Command-line parsing errors as short sentences: every command (train, estimate and the tools) answers a
mistyped option with the "Did you mean" sentence a mistyped TOML key gets, and a pointer to ``--help``,
instead of argparse's usage dump (some 40 lines for train). Exit code 1, as for any other bad input."""
from __future__ import annotations

import argparse
import difflib
import sys


def did_you_mean(word: str, choices) -> str:
    """' Did you mean 'x'?' for the closest of `choices`, or ''; the one suggestion used for TOML keys and options."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


class FriendlyParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one or two lines on stderr and exit code 1."""

    def error(self, message: str):
        print(f"error: {self.sentence(message)}", file=sys.stderr)
        print(f"(python {self.prog} --help lists the options)", file=sys.stderr)
        raise SystemExit(1)

    def option_names(self) -> list[str]:
        return [s for a in self._actions for s in a.option_strings if s.startswith("--")]

    def sentence(self, message: str) -> str:
        """argparse's message -> our sentence; unknown options get the closest known one."""
        prefix = "unrecognized arguments: "
        if not message.startswith(prefix):
            return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
        unknown = [w for w in message[len(prefix):].split() if w.startswith("-") and not _is_number(w)]
        if not unknown:
            extra = message[len(prefix):].split()
            hint = ""
            if len(extra) == 1 and extra[0].lower().endswith(".toml") and "--config_file" in self.option_names():
                hint = f" Did you mean '--config_file {extra[0]}'?"
            return f"Unexpected argument(s): {' '.join(extra)}.{hint}"
        names = self.option_names()
        out = []
        for w in unknown:
            opt = w.split("=", 1)[0]
            out.append(f"Unknown option '{opt}'.{did_you_mean(opt, names)}")
        return " ".join(out)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True
