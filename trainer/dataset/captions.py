"""Caption files: reading, atomic writing, booru-tag lists and sd-scripts' per-step caption processing.

A caption file is UTF-8 text (a leading BOM is accepted and remembered); UTF-16 with a BOM (what Windows
Notepad saves as "Unicode") is read too and written back as UTF-16. Like sd-scripts, training uses the
*first line* of the file, stripped (:func:`training_caption`); an empty first line trains an empty caption.
Booru-style captions are comma-separated tags; the pure tag functions below (``add_tag`` ...
``move_to_front``) take a list of tags and return a new list, so the caption editor and the bulk
operations share them.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from trainer.errors import DatasetError
from trainer.fileio import new_file_mode

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}


def encode_caption(text: str, encoding: str) -> bytes:
    """The bytes of a caption in the encoding it was read in (UTF-16 gets its BOM back)."""
    if encoding in ("utf-16-le", "utf-16-be"):
        return (b"\xff\xfe" if encoding == "utf-16-le" else b"\xfe\xff") + text.encode(encoding)
    return text.encode(encoding)


class CaptionEncodingError(DatasetError):
    """A caption file that is not valid UTF-8. It is shown read-only and never rewritten."""

    def __init__(self, path: str | os.PathLike, detail: str = ""):
        self.path = Path(path)
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Caption file '{self.path}' is not valid UTF-8 text{extra}; save it as UTF-8 to use or edit it."
        )


@dataclass(frozen=True)
class CaptionFile:
    """The content of a caption file and how it was stored, so it can be written back the same way.

    ``text`` has the BOM removed and every line break turned into ``"\\n"``; ``newline`` is the style found
    in the file (``"\\n"`` when it has no line break), ``encoding`` is ``"utf-8-sig"`` when the file
    started with a UTF-8 BOM, ``"utf-16-le"``/``"utf-16-be"`` for UTF-16 (always with its BOM), else
    ``"utf-8"``.
    """

    path: Path
    text: str
    encoding: str
    newline: str

    @property
    def has_bom(self) -> bool:
        return self.encoding != "utf-8"

    @property
    def caption(self) -> str:
        """The caption used for training (first line, stripped), as sd-scripts reads it."""
        return training_caption(self.text)


def training_caption(text: str) -> str:
    """First line of a caption text, stripped: what sd-scripts trains on (without ``enable_wildcard``)."""
    return text.lstrip("\ufeff").split("\n", 1)[0].split("\r", 1)[0].strip()


def _newline_style(text: str) -> str:
    i = text.find("\r")
    if i < 0:
        return "\n"
    return "\r\n" if text[i : i + 2] == "\r\n" else "\r"


def read_caption(path: str | os.PathLike) -> CaptionFile:
    """Read a caption file. Raises :class:`CaptionEncodingError` (naming the file) when it is not UTF-8,
    and :class:`DatasetError` when it cannot be read at all."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DatasetError(f"Caption file '{path}' cannot be read ({e.strerror or e}).") from e
    return decode_caption(path, data)


def decode_caption(path: Path, data: bytes) -> CaptionFile:
    """:func:`read_caption` for bytes already read (``path`` only names the file in errors)."""
    utf16 = _UTF16_BOMS.get(data[:2]) if not data.startswith(b"\xff\xfe\x00\x00") else None
    if utf16:
        try:
            raw = data[2:].decode(utf16)
        except UnicodeDecodeError as e:
            raise CaptionEncodingError(path, f"damaged UTF-16 at byte {e.start + 2}") from None
        newline = _newline_style(raw)
        return CaptionFile(path=path, text=raw.replace("\r\n", "\n").replace("\r", "\n"), encoding=utf16,
                           newline=newline)
    encoding = "utf-8-sig" if data.startswith(_BOM) else "utf-8"
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CaptionEncodingError(path, f"byte 0x{data[e.start]:02x} on line {line}") from None
    newline = _newline_style(raw)
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    return CaptionFile(path=path, text=text, encoding=encoding, newline=newline)


def write_caption_atomic(
    path: str | os.PathLike, text: str, newline: str = "\n", encoding: str = "utf-8"
) -> None:
    """Replace (or create) a caption file so that it is either the old or the new content, never half.

    ``text`` uses ``"\\n"`` line breaks; they are written as ``newline``. ``encoding="utf-8-sig"`` writes a
    BOM. The data goes to a temporary file in the same folder, is flushed to disk (fsync) and then renamed
    over the target with ``os.replace``; on any failure the temporary file is removed and the original is
    untouched. The original's permission bits are kept. OS errors become a :class:`DatasetError`.
    """
    path = Path(path)
    if newline not in ("\n", "\r\n", "\r"):
        raise ValueError(f"newline must be '\\n', '\\r\\n' or '\\r', not {newline!r}")
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    data = encode_caption(normalised.replace("\n", newline), encoding)  # errors come before any file exists
    folder = path.parent
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise DatasetError(f"Caption file '{path}' cannot be saved ({e.strerror or e}).") from e
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        else:  # mkstemp creates 0600; a new caption gets the usual permissions
            os.chmod(tmp_name, new_file_mode())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as e:
        reason = e.strerror or e
        raise DatasetError(f"Caption file '{path}' cannot be saved ({reason}); it was not changed.") from e
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the OS allows it (POSIX); a no-op elsewhere."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------------------------
# tag lists


def split_tags(text: str, separator: str = ",") -> list[str]:
    """Split a booru caption into tags: split on ``separator``, strip each, drop empty ones."""
    return [t.strip() for t in text.split(separator) if t.strip()]


def join_tags(tags: list[str], separator: str = ", ") -> str:
    """Join tags into one caption line (``"a, b, c"``)."""
    return separator.join(tags)


def add_tag(tags: list[str], tag: str, *, position: str = "back", keep_tokens: int = 0) -> list[str]:
    """Add ``tag`` unless it is already there (then the list is returned unchanged).

    ``position="front"`` inserts it after the first ``keep_tokens`` tags (0 = the very front), so kept
    tokens such as a trigger word stay first; ``"back"`` appends.
    """
    tag = tag.strip()
    if not tag or tag in tags:
        return list(tags)
    if position == "back":
        return [*tags, tag]
    if position != "front":
        raise ValueError(f"position must be 'front' or 'back', not {position!r}")
    i = min(max(keep_tokens, 0), len(tags))
    return [*tags[:i], tag, *tags[i:]]


def remove_tag(tags: list[str], tag: str) -> list[str]:
    """Remove every occurrence of ``tag`` (exact match after stripping)."""
    tag = tag.strip()
    return [t for t in tags if t != tag]


def replace_tag(tags: list[str], old: str, new: str) -> list[str]:
    """Rename ``old`` to ``new`` in place. An empty ``new`` removes the tag; if ``new`` was already present
    the later copy is dropped (the first position wins)."""
    old, new = old.strip(), new.strip()
    if not new:
        return remove_tag(tags, old)
    return dedupe_tags([new if t == old else t for t in tags])


def dedupe_tags(tags: list[str]) -> list[str]:
    """Drop repeated tags, keeping the first occurrence."""
    seen: set[str] = set()
    out = []
    for t in tags:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def sort_tags(tags: list[str], *, keep_tokens: int = 0) -> list[str]:
    """Sort alphabetically (case-insensitive), leaving the first ``keep_tokens`` tags where they are."""
    k = min(max(keep_tokens, 0), len(tags))
    return [*tags[:k], *sorted(tags[k:], key=lambda t: (t.casefold(), t))]


def move_to_front(tags: list[str], tag: str) -> list[str]:
    """Put ``tag`` (e.g. the trigger word) first; it is added when missing; other copies are removed."""
    tag = tag.strip()
    if not tag:
        return list(tags)
    return [tag, *(t for t in tags if t != tag)]


def move_tag(tags: list[str], from_index: int, to_index: int) -> list[str]:
    """Move one tag to another position (drag and drop in the editor)."""
    out = list(tags)
    out.insert(to_index, out.pop(from_index))
    return out


# ---------------------------------------------------------------------------------------------------------
# per-step caption processing (sd-scripts BaseDataset.process_caption)


def process_caption(
    caption: str,
    *,
    shuffle_caption: bool = False,
    keep_tokens: int = 0,
    caption_dropout_rate: float = 0.0,
    caption_tag_dropout_rate: float = 0.0,
    keep_tokens_separator: str = "",
    caption_separator: str = ",",
    secondary_separator: str | None = None,
    caption_prefix: str | None = None,
    caption_suffix: str | None = None,
    caption_dropout_every_n_epochs: int = 0,
    epoch: int = 0,
    rng: random.Random | None = None,
    enable_wildcard: bool = False,
    token_warmup_min: int = 1,
    token_warmup_step: int = 0,
    step: int = 0,
) -> str:
    """The caption a training step sees, following sd-scripts. ``epoch`` counts from 1 as sd-scripts' does
    (caption_dropout_every_n_epochs drops epochs N, 2N, ...); ``token_warmup_step`` is already in steps.

    Order, with random numbers drawn from ``rng`` in the same order as sd-scripts draws them from
    ``random``:

    1. ``caption_prefix + " " + caption + " " + caption_suffix`` when given.
    2. Whole-caption dropout: if ``caption_dropout_rate > 0`` and ``rng.random() < rate`` (or the epoch is a
       multiple of ``caption_dropout_every_n_epochs``) the result is ``""``.
    3. Only the first line is kept; with ``enable_wildcard`` one line is picked at random instead and every
       ``{a|b|c}`` becomes one of its choices (``{{`` and ``}}`` stay literal braces).
    4. If shuffling, tag dropout or token warm-up is on, the caption is split on ``caption_separator`` into stripped
       tokens. With ``keep_tokens_separator`` present (e.g. ``"|||"``) the part before it is fixed, the part
       after is shuffled, and a second separator starts a fixed suffix (empty tokens dropped). Otherwise the
       first ``keep_tokens`` tokens are fixed and the rest shuffled (empty tokens are *kept* here, as in
       sd-scripts). Before ``token_warmup_step`` only the first
       ``floor(step * (len(flex) - token_warmup_min) / token_warmup_step) + token_warmup_min`` flexible tokens
       are kept. The flexible tokens are shuffled (``rng.shuffle``), then each is dropped when
       ``rng.random() < caption_tag_dropout_rate``; the tokens are joined with ``", "``.
       With neither option the caption text is returned unchanged.
    5. ``secondary_separator`` is replaced by ``caption_separator``.
    """
    r = rng if rng is not None else random
    if caption_prefix:
        caption = caption_prefix + " " + caption
    if caption_suffix:
        caption = caption + " " + caption_suffix

    drop = caption_dropout_rate > 0 and r.random() < caption_dropout_rate
    drop = drop or (caption_dropout_every_n_epochs > 0 and epoch % caption_dropout_every_n_epochs == 0)
    if drop:
        return ""

    caption = _expand_wildcards(caption, r) if enable_wildcard else caption.split("\n")[0]
    if shuffle_caption or caption_tag_dropout_rate > 0 or token_warmup_step > 0:
        fixed: list[str] = []
        suffix: list[str] = []
        if keep_tokens_separator and keep_tokens_separator in caption:
            fixed_part, flex_part = caption.split(keep_tokens_separator, 1)
            if keep_tokens_separator in flex_part:
                flex_part, suffix_part = flex_part.split(keep_tokens_separator, 1)
                suffix = [t.strip() for t in suffix_part.split(caption_separator) if t.strip()]
            fixed = [t.strip() for t in fixed_part.split(caption_separator) if t.strip()]
            flex = [t.strip() for t in flex_part.split(caption_separator) if t.strip()]
        else:
            tokens = [t.strip() for t in caption.strip().split(caption_separator)]
            flex = tokens[:]
            if keep_tokens > 0:
                fixed = tokens[:keep_tokens]
                flex = tokens[keep_tokens:]
        if token_warmup_step and step < token_warmup_step:
            flex = flex[: math.floor(step * ((len(flex) - token_warmup_min) / token_warmup_step)) + token_warmup_min]
        if shuffle_caption:
            r.shuffle(flex)
        if caption_tag_dropout_rate > 0:
            flex = [t for t in flex if r.random() >= caption_tag_dropout_rate]
        caption = ", ".join(fixed + flex + suffix)

    if secondary_separator:
        caption = caption.replace(secondary_separator, caption_separator)
    return caption


def _expand_wildcards(caption: str, r) -> str:
    """sd-scripts' enable_wildcard: a random line, then each {a|b} replaced by a random choice."""
    if "\n" in caption:
        caption = r.choice(caption.split("\n"))
    open_, close = "\u2985", "\u2986"  # stand-ins for escaped {{ and }}, longer when the text holds them
    while open_ in caption or close in caption:
        open_, close = open_ + "\u2985", close + "\u2986"
    caption = caption.replace("{{", open_).replace("}}", close)
    caption = re.sub(r"\{([^}]+)\}", lambda m: r.choice(m.group(1).split("|")), caption)
    return caption.replace(open_, "{").replace(close, "}")
