"""CLIP tokenizers from the files shipped in ``resources/tokenizers/clip`` (offline, no model hub).

SD 1.x uses OpenAI CLIP's padding (``<|endoftext|>``, id 49407). SD 2.x and SDXL's second tokenizer pad
with ``!`` (id 0), as OpenCLIP does and as sd-scripts sets it. All have ``model_max_length`` 77.

Trap (transformers 5): ``CLIPTokenizer(vocab_file=..., merges_file=...)`` silently ignores both files and
builds a 3-token vocabulary; load with ``from_pretrained(folder)`` (or pass ``vocab=``/``merges=``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from trainer.errors import ModelError
from trainer.resources import resource_path

MAX_LENGTH = 77
CLIP_PAD = "<|endoftext|>"
OPEN_CLIP_PAD = "!"

# family -> pad token of each text encoder's tokenizer, in text-encoder order
PAD_TOKENS = {"sd1": (CLIP_PAD,), "sd2": (OPEN_CLIP_PAD,), "sdxl": (CLIP_PAD, OPEN_CLIP_PAD)}


def tokenizer_dir() -> Path:
    return resource_path("tokenizers", "clip")


def _load(folder: Path, pad_token: str):
    from transformers import CLIPTokenizer

    if not (folder / "vocab.json").is_file() or not (folder / "merges.txt").is_file():
        raise ModelError(f"The tokenizer folder {folder} lacks vocab.json or merges.txt; reinstall the app.")
    return CLIPTokenizer.from_pretrained(
        str(folder), local_files_only=True, model_max_length=MAX_LENGTH, pad_token=pad_token
    )


@lru_cache(maxsize=4)
def _cached(folder: str, pad_token: str):
    return _load(Path(folder), pad_token)


def load_tokenizer(pad_token: str = CLIP_PAD, folder: Path | None = None):
    """The CLIPTokenizer for these files and padding, parsed once per process and shared: callers only
    tokenize with it (a deep copy held the interpreter lock ~0.2 s and stalled the window)."""
    return _cached(str(folder or tokenizer_dir()), pad_token)


def load_tokenizers(family: str) -> list:
    """The tokenizers of a model family, one per text encoder: [tok] for sd1/sd2, [tok1, tok2] for sdxl."""
    try:
        pads = PAD_TOKENS[family]
    except KeyError:
        raise ModelError(f"Unknown model family {family!r}; expected one of {', '.join(PAD_TOKENS)}.") from None
    return [load_tokenizer(pad) for pad in pads]
