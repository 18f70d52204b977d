"""What a sample grid varies, read from text the way the guide's XYZ-plot testing writes it (no torch):

- weights: a list (``0.6 0.8 1.0`` or ``0.6, 0.8, 1.0``) and/or ranges: ``0.4-1.2 [5]`` (5 values from 0.4 to
  1.2, ends included), ``0.4-1.2 (+0.2)`` (a step), ``0-1`` (a step of 1);
- seeds: the same with whole numbers, and ``-1`` for a random seed (drawn when the grid runs; the seed used
  is what the grid's labels and each image's PNG text show);
- prompts: one per line of a prompt file; blank lines and ``#`` comments are skipped; ``--n`` starts the
  line's negative prompt, read by the parser of sd-scripts' sample prompt files (trainer/sampling/prompts.py);
  its other options (size, steps, ...) are refused: the grid has settings of its own for them.
"""
from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..sampling.prompts import read_prompt_line

MAX_VALUES = 200  # more columns than anyone can compare; a typo like 0-100 [1000] is refused
RANDOM_SEED = -1

_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
# a range has no space before its dash, so "1 -1" is two seeds, "1-4" a range
_RANGE = re.compile(rf"({_NUM})-\s*({_NUM})(?:\s*\[\s*(\d+)\s*\]|\s*\(\s*({_NUM})\s*\))?")
_SINGLE = re.compile(_NUM)
_SEP = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class PromptLine:
    prompt: str
    negative: str = ""


def _range(a: float, b: float, count: str | None, step: str | None, what: str, text: str) -> list[float]:
    if count is not None:
        n = int(count)
        if n < 1:
            raise UserError(f"{what}: '{text}' asks for {n} values; give at least 1.")
        if n > MAX_VALUES:
            raise UserError(f"{what}: '{text}' asks for {n} values; at most {MAX_VALUES}.")
        return [a] if n == 1 else [a + (b - a) * i / (n - 1) for i in range(n)]
    d = float(step) if step is not None else (1.0 if b >= a else -1.0)
    if d == 0 or (b - a) * d < 0:
        raise UserError(f"{what}: the step in '{text}' never gets from {a:g} to {b:g}.")
    n = math.floor((b - a) / d + 1e-9) + 1
    if n > MAX_VALUES:
        raise UserError(f"{what}: '{text}' gives {n} values; at most {MAX_VALUES}.")
    return [a + d * i for i in range(n)]


def parse_values(text: str, what: str = "weights", *, whole: bool = False) -> list[float] | list[int]:
    """Numbers and ranges (see the module docstring) in the order written. `what` names the field in errors."""
    if isinstance(text, (list, tuple)):
        text = " ".join(str(t) for t in text)
    out: list[float] = []
    pos, text = 0, str(text).strip()
    while pos < len(text):
        sep = _SEP.match(text, pos)
        if sep:
            pos = sep.end()
            continue
        m = _RANGE.match(text, pos)
        if m:
            out += _range(float(m.group(1)), float(m.group(2)), m.group(3), m.group(4), what, m.group(0))
            pos = m.end()
            continue
        m = _SINGLE.match(text, pos)
        end = _SEP.search(text, pos)
        word = text[pos:end.start() if end else len(text)]
        if not m or m.end() != pos + len(word):
            raise UserError(f"{what}: cannot read '{word}'; write numbers like 0.6 0.8 1.0 or a range like "
                            f"0.4-1.2 [5].")
        out.append(float(m.group(0)))
        pos = m.end()
    if not out:
        raise UserError(f"{what}: give at least one value.")
    if len(out) > MAX_VALUES:
        raise UserError(f"{what}: {len(out)} values; at most {MAX_VALUES}.")
    if whole:
        if any(v != int(v) for v in out):
            raise UserError(f"{what}: seeds are whole numbers, not '{text}'.")
        return [int(v) for v in out]
    return [round(v, 6) for v in out]


def parse_seeds(text) -> list[int]:
    seeds = parse_values(text, "seeds", whole=True)
    bad = [s for s in seeds if s < RANDOM_SEED or s >= 2 ** 32]
    if bad:
        raise UserError(f"seeds: {bad[0]} is not a seed; use 0 to {2 ** 32 - 1}, or -1 for a random one.")
    return seeds


def resolve_seeds(seeds: list[int]) -> list[int]:
    """-1 -> a random seed (each -1 its own), as A1111 does."""
    return [secrets.randbelow(2 ** 32) if s == RANDOM_SEED else int(s) for s in seeds]


def parse_prompt_line(line: str, where: str = "") -> PromptLine | None:
    """One prompt-file line -> PromptLine, read by the training's parser of sd-scripts' prompt lines; None for
    a blank line or a comment."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    # the space makes an option at the very start an option (sd-scripts would take it for the prompt)
    parsed, options = read_prompt_line(" " + line)
    other = next((name for name in options if name.lower() != "n"), None)
    if other is not None:
        raise UserError(f"{where}: --{other} is not used by the sample grid (size, steps, scale and seed are "
                        "the grid's own settings); only --n (negative prompt) is read.")
    prompt, negative = parsed["prompt"].strip(), parsed.get("negative_prompt", "").strip()
    if not prompt:
        raise UserError(f"{where}: the line has a negative prompt but no prompt.")
    return PromptLine(prompt, negative)


def read_prompt_file(path, negative: str = "") -> list[PromptLine]:
    """The prompts of a file; `negative` for the lines without their own --n."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"Prompt file not found: {p}") from None
    except UnicodeDecodeError:
        raise UserError(f"Prompt file {p} is not UTF-8 text.") from None
    except OSError as e:
        raise UserError(f"Prompt file {p} cannot be read ({e.strerror or e}).") from None
    out = [pl if pl.negative else PromptLine(pl.prompt, negative)
           for i, line in enumerate(text.splitlines(), 1) if (pl := parse_prompt_line(line, f"{p} line {i}"))]
    if not out:
        raise UserError(f"Prompt file {p} has no prompts (one per line; # starts a comment).")
    return out


def prompt_lines(texts, negative: str = "", where: str = "prompt") -> list[PromptLine]:
    """Prompts typed one per line (the Tools page) or given one per argument: each may carry its own --n."""
    out = []
    for i, t in enumerate(texts, 1):
        pl = parse_prompt_line(t, f"{where} {i}")
        if pl is not None:
            out.append(pl if pl.negative else PromptLine(pl.prompt, negative))
    return out
