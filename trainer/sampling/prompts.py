"""sd-scripts' sample prompt files: .txt (one prompt a line with --n/--w/--h/--d/--l/--s/--ss, '#' comments),
.toml ([prompt] defaults with [[prompt.subset]] entries) and .json (a list of strings or of dicts).

The keys and defaults are sd-scripts' (library/train_util.py line_to_prompt_dict, sample_image_inference):
width/height 512, sample_steps 30, scale 7.5, seed none (a fresh one each time), sampler sample_sampler.
No torch here: the form and validate() read prompt files too."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from trainer.config.fields import SAMPLE_SAMPLERS as SAMPLER_CHOICES  # sd-scripts' --sample_sampler choices
from ..errors import ConfigError


@dataclass
class SamplePrompt:
    index: int               # position in the file: names the image ({index:02d})
    prompt: str
    negative: str = ""
    width: int = 512
    height: int = 512
    seed: int | None = None  # None: a fresh seed every time (no seed in the file name)
    steps: int = 30
    scale: float = 7.5
    sampler: str = ""        # "" = the run's sample_sampler

    def size(self) -> tuple[int, int]:
        """Rounded down to a multiple of 8, at least 64, as sd-scripts does."""
        return max(64, self.width - self.width % 8), max(64, self.height - self.height % 8)


_OPTIONS = [  # (regex after " --", key, converter) in sd-scripts' order
    (r"w (\d+)", "width", int), (r"h (\d+)", "height", int), (r"d (\d+)", "seed", int),
    (r"s (\d+)", "sample_steps", lambda v: max(1, min(1000, int(v)))), (r"l ([\d\.]+)", "scale", float),
    (r"n (.+)", "negative_prompt", str), (r"ss (.+)", "sample_sampler", str),
]


def read_prompt_line(line: str) -> tuple[dict, list[str]]:
    """One prompt line -> (sd-scripts' prompt dict, the option names written after " --", in order, known or
    not). sd-scripts ignores unknown options; the sample grid refuses every option but --n with this list."""
    parts = line.split(" --")
    out: dict = {"prompt": parts[0]}
    for part in parts:
        for pattern, key, conv in _OPTIONS:
            m = re.match(pattern, part, re.IGNORECASE)
            if m:
                try:
                    out[key] = conv(m.group(1))
                except ValueError:
                    pass
                break
    return out, [part.split(" ", 1)[0] for part in parts[1:]]


def line_to_prompt_dict(line: str) -> dict:
    """One prompt line -> sd-scripts' prompt dict (unknown options are ignored, as there)."""
    return read_prompt_line(line)[0]


def _from_dict(index: int, d: dict, where: str) -> SamplePrompt:
    def num(key, conv, default):
        value = d.get(key, default)
        if value is None:
            return None
        try:
            return conv(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: '{key}' of prompt {index + 1} must be a number, not {value!r}.") from None

    prompt = d.get("prompt")
    if not isinstance(prompt, str):
        raise ConfigError(f"{where}: prompt {index + 1} has no 'prompt' text.")
    sampler = str(d.get("sample_sampler") or "").strip().lower()
    if sampler and sampler not in SAMPLER_CHOICES:
        raise ConfigError(f"{where}: prompt {index + 1} asks for sampler '{sampler}'; use one of "
                          f"{', '.join(SAMPLER_CHOICES)}.")
    return SamplePrompt(index, prompt.strip(), str(d.get("negative_prompt") or "").strip(),
                        num("width", int, 512), num("height", int, 512), num("seed", int, None),
                        max(1, min(1000, num("sample_steps", int, 30))), num("scale", float, 7.5), sampler)


def load_prompts(path: str | Path) -> list[SamplePrompt]:
    """Read a prompt file; ConfigError (one sentence naming the file) when it cannot be used."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"sample_prompts: {p} does not exist.")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"sample_prompts: {p} cannot be read as UTF-8 text ({e}).") from None
    return parse_prompts(text, p.suffix, str(p))


def parse_prompts(text: str, suffix: str, where: str) -> list[SamplePrompt]:
    """The prompts of a file's text; ``suffix`` (.txt/.toml/.json) says its form, ``where`` names it in errors."""
    suffix = suffix.lower()
    if suffix == ".txt":
        entries: list = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    elif suffix == ".toml":
        import toml

        try:
            data = toml.loads(text)
            defaults = dict(data["prompt"])
            subsets = defaults.pop("subset")
            entries = [{**defaults, **s} for s in subsets]
        except (toml.TomlDecodeError, KeyError, TypeError) as e:
            raise ConfigError(f"sample_prompts: {where} is not a prompt file ([prompt] with [[prompt.subset]] "
                              f"entries): {str(e)[:120]}.") from None
    elif suffix == ".json":
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"sample_prompts: {where} is not valid JSON ({e}).") from None
        if not isinstance(entries, list):
            raise ConfigError(f"sample_prompts: {where} must hold a list of prompts.")
    else:
        raise ConfigError(f"sample_prompts: {Path(where).name} must be a .txt, .toml or .json file.")
    prompts = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = line_to_prompt_dict(entry.strip())
        if not isinstance(entry, dict):
            raise ConfigError(f"sample_prompts: entry {i + 1} of {where} is neither a prompt line nor a table.")
        prompts.append(_from_dict(i, entry, where))
    if not prompts:
        raise ConfigError(f"sample_prompts: {where} holds no prompt.")
    return prompts
