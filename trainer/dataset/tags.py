"""Tag statistics and bulk caption edits.

Tag frequency follows sd-scripts' ``set_tag_frequency`` exactly, which is what it stores (as JSON) in the
``ss_tag_frequency`` metadata of a LoRA file: ``{"6_maid": {"tag": count, ...}, ...}`` keyed by the concept
*folder* name; each image's training caption (the concept name when the caption file is missing) is split on
``","``, each tag stripped and **lower-cased**, empty tags skipped; counts are per image, not x repeats.

Bulk edits work in two steps so the GUI can show a preview and ask first::

    preview = preview_bulk(entries, functools.partial(captions.add_tag, tag="maid", position="front"))
    print(preview.describe())            # "12 of 40 caption files change (3 new)"
    result = apply_bulk(preview)         # atomic write per file; result.undo() restores the old texts
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from trainer.errors import DatasetError

from .captions import CaptionEncodingError, join_tags, read_caption, split_tags, write_caption_atomic
from .scan import DatasetScan, ImageEntry, Problem, ProblemKind

TagOperation = Callable[[list[str]], list[str]]


def caption_tag_counts(captions: Iterable[str]) -> dict[str, int]:
    """sd-scripts' counting for one folder: tags split on ",", stripped, lower-cased, empty skipped."""
    freq: dict[str, int] = {}
    for caption in captions:
        for tag in caption.split(","):
            tag = tag.strip()
            if tag:
                tag = tag.lower()
                freq[tag] = freq.get(tag, 0) + 1
    return freq


def tag_frequency(scan: DatasetScan) -> dict[str, dict[str, int]]:
    """``{"<repeats>_<name>": {"tag": count}}`` exactly as sd-scripts' ``ss_tag_frequency``."""
    return {c.folder_name: caption_tag_counts(img.caption for img in c.images) for c in scan.concepts}


def tag_frequency_json(scan: DatasetScan) -> str:
    """The ``ss_tag_frequency`` metadata value (``json.dumps`` with its defaults, as sd-scripts writes it)."""
    return json.dumps(tag_frequency(scan))


def overall_tag_frequency(freq: dict[str, dict[str, int]]) -> dict[str, int]:
    """All concepts together, most frequent first (ties by tag)."""
    total: Counter[str] = Counter()
    for per_dir in freq.values():
        total.update(per_dir)
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def entries_with_tag(entries: Iterable[ImageEntry], tag: str) -> list[ImageEntry]:
    """Images whose training caption contains ``tag`` (compared as the frequency table counts it)."""
    wanted = tag.strip().lower()
    return [e for e in entries if wanted in {t.lower() for t in split_tags(e.caption)}]


# ---------------------------------------------------------------------------------------------------------
# bulk edits


@dataclass(frozen=True)
class CaptionChange:
    """One file to write. ``old_text`` is None when the caption file does not exist yet (it is created)."""

    path: Path
    old_text: str | None
    new_text: str
    newline: str = "\n"
    encoding: str = "utf-8"


@dataclass
class BulkPreview:
    """What :func:`apply_bulk` would do: ``changes`` (only files whose text changes), how many files were
    looked at, and the files that are skipped (not UTF-8 or unreadable), as problems."""

    changes: list[CaptionChange]
    examined: int
    skipped: list[Problem] = field(default_factory=list)

    def describe(self) -> str:
        created = sum(1 for c in self.changes if c.old_text is None)
        text = f"{len(self.changes)} of {self.examined} caption files change"
        if created:
            text += f" ({created} new)"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped (not UTF-8 or unreadable)"
        return text


@dataclass
class BulkResult:
    """Files written, and files that could not be written or had changed on disk since the preview."""

    written: list[CaptionChange] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)

    def undo(self) -> BulkResult:
        """Put back the texts from before :func:`apply_bulk` (files it created are deleted)."""
        undo = BulkResult()
        for c in reversed(self.written):
            try:
                if c.old_text is None:
                    os.unlink(c.path)
                else:
                    write_caption_atomic(c.path, c.old_text, c.newline, c.encoding)
                back = CaptionChange(c.path, c.new_text, c.old_text or "", c.newline, c.encoding)
                undo.written.append(back)
            except (OSError, DatasetError) as e:
                undo.failed.append(Problem(c.path, ProblemKind.CAPTION_WRITE, f"Caption file '{c.path}' "
                                           f"could not be restored ({e})."))
        return undo


def apply_to_first_line(text: str, operation: TagOperation) -> str:
    """``operation`` on the tags of the caption's first line (the one training reads); the rest is kept."""
    first, sep, rest = text.partition("\n")
    new_first = join_tags(operation(split_tags(first)))
    return new_first + sep + rest


def preview_bulk(
    entries: Iterable[ImageEntry],
    operation: TagOperation,
    *,
    caption_extension: str = ".txt",
    create_missing: bool = True,
) -> BulkPreview:
    """Compute the edits of ``operation`` (a function from a tag list to a tag list, e.g.
    ``functools.partial(add_tag, tag="x")``) over the images' caption files without writing anything.

    The operation applies to the first line (the trained caption); other lines, the BOM and the line-break
    style are kept. Images without a caption file start from their training caption (the concept name) and,
    with ``create_missing``, get a new file. Several images sharing one caption file change it once.
    """
    changes: list[CaptionChange] = []
    skipped: list[Problem] = []
    seen: set[Path] = set()
    examined = 0
    for entry in entries:
        path = entry.caption_path
        if path is None:
            if not create_missing:
                continue
            path = entry.default_caption_path(caption_extension)
        if path in seen:
            continue
        seen.add(path)
        examined += 1
        if entry.caption_path is None and not path.exists():
            new_first = join_tags(operation(split_tags(entry.caption)))
            changes.append(CaptionChange(path, None, new_first + "\n"))
            continue
        try:
            cf = read_caption(path)
        except CaptionEncodingError as e:
            skipped.append(Problem(path, ProblemKind.CAPTION_ENCODING, str(e)))
            continue
        except DatasetError as e:
            skipped.append(Problem(path, ProblemKind.CAPTION_ENCODING, str(e)))
            continue
        new_text = apply_to_first_line(cf.text, operation)
        if new_text != cf.text:
            changes.append(CaptionChange(path, cf.text, new_text, cf.newline, cf.encoding))
    return BulkPreview(changes=changes, examined=examined, skipped=skipped)


def apply_bulk(preview: BulkPreview) -> BulkResult:
    """Write every change atomically. A file whose content differs from the preview's ``old_text`` (edited
    meanwhile) or that cannot be written is left alone and reported in ``failed``."""
    result = BulkResult()
    for c in preview.changes:
        try:
            if c.old_text is None:
                if c.path.exists():
                    raise DatasetError(
                        f"Caption file '{c.path}' appeared after the preview; it was not changed."
                    )
            else:
                current = read_caption(c.path).text
                if current != c.old_text:
                    raise DatasetError(
                        f"Caption file '{c.path}' changed after the preview; it was not changed."
                    )
            write_caption_atomic(c.path, c.new_text, c.newline, c.encoding)
            result.written.append(c)
        except DatasetError as e:
            result.failed.append(Problem(c.path, ProblemKind.CAPTION_WRITE, str(e)))
    return result
