"""Tagging a list of images: the scores of the model become caption changes to preview and then write.

``tag_images`` never writes: it returns a :class:`TagPlan` whose ``preview`` is a
:class:`trainer.dataset.tags.BulkPreview`, so writing (atomically, each file checked against the text the
preview read) and undoing go the way of every bulk caption edit. Only the first line of a caption file (the
trained caption) changes; other lines, a BOM and the line-break style are kept.
"""
from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainer.dataset.caption_pairs import pair_captions
from trainer.dataset.captions import CaptionEncodingError, join_tags, read_caption, training_caption
from trainer.dataset.images import ImageReadError
from trainer.dataset.scan import Problem, ProblemKind, parse_concept_folder_name
# the bulk editor's edit of a caption's first line (the trained caption), shared so both edit the same way
from trainer.dataset.tags import BulkPreview, CaptionChange, apply_to_first_line
from trainer.errors import DatasetError, UserError

from .model import WDTagger
from .preprocess import prepare_image
from .select import TagOptions, merge_tags, select_tags

DEFAULT_BATCH = 4  # for models with a free batch dimension


@dataclass(frozen=True)
class Target:
    """An image and the caption file that belongs to it (which may not exist yet)."""

    image: Path
    caption: Path


@dataclass
class TagOutcome:
    """One image: the tags the model gave and the caption's first line before and after."""

    target: Target
    tags: list[str]
    before: str | None  # None: no caption file
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass
class TagPlan:
    outcomes: list[TagOutcome] = field(default_factory=list)
    preview: BulkPreview = field(default_factory=lambda: BulkPreview(changes=[], examined=0))
    problems: list[Problem] = field(default_factory=list)  # unreadable images or captions, left alone
    total: int = 0
    stopped: bool = False
    provider: str = ""

    @property
    def done(self) -> int:
        return len(self.outcomes) + len(self.problems)


def _targets_in(folder: Path, caption_extension: str) -> list[Target]:
    """Images of one folder with the caption files the training reads for them (the scan's pairing); an
    image without one gets a new file of its own stem."""
    try:
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if not e.name.startswith(".") and e.is_file())
    except OSError as e:
        raise UserError(f"Image folder '{folder}' cannot be read ({e.strerror or e}).") from None
    pairs = pair_captions(names, caption_extension).captions
    return [Target(folder / image, folder / (caption or Path(image).stem + caption_extension))
            for image, caption in pairs.items()]


def find_targets(folder: str | os.PathLike, caption_extension: str = ".txt",
                 recursive: bool = False) -> list[Target]:
    """The images of ``folder``, and those of its ``<repeats>_<name>`` concept folders (a training folder), or
    with ``recursive`` of every sub-folder; hidden files and folders are skipped. A UserError when the folder
    is missing or holds no image."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"Image folder '{root}' does not exist." if not root.exists()
                        else f"'{root}' is a file, not an image folder.")
    if not caption_extension.startswith("."):
        caption_extension = "." + caption_extension
    folders = [root]
    if recursive:
        folders += sorted(Path(d) / n for d, subs, _ in os.walk(root)
                          for n in subs if not n.startswith(".") and not any(
                              p.startswith(".") for p in Path(d).relative_to(root).parts))
    else:
        try:
            folders += sorted(p for p in root.iterdir() if p.is_dir() and parse_concept_folder_name(p.name))
        except OSError as e:
            raise UserError(f"Image folder '{root}' cannot be read ({e.strerror or e}).") from None
    targets = [t for f in folders for t in _targets_in(f, caption_extension)]
    if not targets:
        where = " or its sub-folders" if recursive else " or its concept folders (like 6_maid)"
        raise UserError(f"Image folder '{root}'{where} holds no images (png, jpg, jpeg, webp, bmp).")
    return targets


def _outcome(target: Target, tags: list[str], opts: TagOptions) -> tuple[TagOutcome, CaptionChange | None]:
    """The new caption of one image, made by the bulk editor's first-line edit (raises CaptionEncodingError /
    DatasetError for an unreadable caption)."""
    merge = functools.partial(merge_tags, new=tags, opts=opts)
    if not target.caption.exists():
        after = join_tags(merge([]))
        change = CaptionChange(target.caption, None, after + "\n") if after else None
        return TagOutcome(target, tags, None, after), change
    cf = read_caption(target.caption)
    new_text = apply_to_first_line(cf.text, merge)
    outcome = TagOutcome(target, tags, cf.caption, training_caption(new_text))
    if not outcome.changed:
        return outcome, None
    return outcome, CaptionChange(target.caption, cf.text, new_text, cf.newline, cf.encoding)


def tag_images(targets: list[Target], tagger: WDTagger, opts: TagOptions, *, batch_size: int = DEFAULT_BATCH,
               on_progress: Callable[[int, int], None] | None = None,
               cancel: threading.Event | None = None) -> TagPlan:
    """Score every image and work out its new caption. ``cancel`` (set from another thread) stops after the
    current batch: the plan then holds the images done so far and ``stopped``."""
    batch_size = tagger.fixed_batch or max(1, batch_size)
    plan = TagPlan(total=len(targets), provider=tagger.provider)
    changes: list[CaptionChange] = []
    seen: set[Path] = set()
    i = 0
    while i < len(targets):
        if cancel is not None and cancel.is_set():
            plan.stopped = True
            break
        batch, arrays = [], []
        while i < len(targets) and len(batch) < batch_size:
            t = targets[i]
            i += 1
            try:
                arrays.append(prepare_image(t.image, tagger.width, tagger.height))
                batch.append(t)
            except ImageReadError as e:
                plan.problems.append(Problem(t.image, ProblemKind.UNREADABLE_IMAGE, str(e)))
        if batch:
            probs = tagger.predict(np.stack(arrays))
            for t, p in zip(batch, probs):
                tags = select_tags(p, tagger.table, opts)
                try:
                    outcome, change = _outcome(t, tags, opts)
                except (CaptionEncodingError, DatasetError) as e:
                    plan.problems.append(Problem(t.caption, ProblemKind.CAPTION_ENCODING, str(e)))
                    continue
                plan.outcomes.append(outcome)
                if change is not None and change.path not in seen:  # two images sharing one caption: once
                    seen.add(change.path)
                    changes.append(change)
        if on_progress is not None:
            on_progress(plan.done, plan.total)
    plan.preview = BulkPreview(changes=changes, examined=len(plan.outcomes),
                               skipped=[p for p in plan.problems if p.kind == ProblemKind.CAPTION_ENCODING])
    return plan


def load_and_tag(model: str | os.PathLike, tags: str | os.PathLike, targets: list[Target], opts: TagOptions,
                 *, batch_size: int = DEFAULT_BATCH, on_progress=None, cancel=None) -> TagPlan:
    """Load the tagger and tag (one call for a background thread: loading is slow too)."""
    tagger = WDTagger(model, tags)
    return tag_images(targets, tagger, opts, batch_size=batch_size, on_progress=on_progress, cancel=cancel)
