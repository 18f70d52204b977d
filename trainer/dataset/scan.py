"""Scanning a training folder laid out the kohya-ss DreamBooth way.

::

    train_data_dir/
        6_maid/            <- concept folder "<repeats>_<name>": every image is seen 6 times an epoch
            001.png
            001.txt        <- caption (same stem, ``caption_extension``)
        1_background/
            ...

The scan lists files with ``os.scandir`` and reads the small caption files; it never opens an image, so
10,000 images take well under a second. Image problems (unreadable files, sizes) are found later
(:mod:`trainer.dataset.hygiene`, :mod:`trainer.dataset.plan`).

Rules (sd-scripts' where it has one):

* a concept folder name matches ``^(\\d+)_(.+)$`` with repeats >= 1; the caption used for images without a
  caption file is the part after the first ``_`` (``6_my_maid`` -> ``my_maid``). Other folders are reported
  as ``bad_folder_name`` (sd-scripts skips them with only a log line).
* files and folders whose name starts with ``.`` are ignored (sd-scripts' glob skips them too; this also hides
  macOS ``._*`` files and our ``.lora_desk_backup`` folder).
* concept folders are not searched recursively; sub-folders are reported (``nested_folder``).
* image extensions are matched in any letter case (sd-scripts on Linux misses e.g. ``.Jpg``).
* a caption belongs to the image with the same stem; the caption extension is matched in any case and, when
  no exact stem matches, a stem differing only in letter case is accepted (what Windows would do anyway).
  Like sd-scripts, an image named ``name_x_y_w_h.png`` (face-crop naming, >= 5 ``_`` parts) without its own
  caption uses ``name.txt``.
* only the first line of a caption file is the training caption (see :func:`captions.training_caption`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from trainer.errors import DatasetError

from .caption_pairs import pair_captions
from .captions import CaptionEncodingError, decode_caption
from .images import is_image_file
from .reg import concept_samples

CONCEPT_FOLDER_RE = re.compile(r"^(\d+)_(.+)$", re.DOTALL)


class ProblemKind:
    """The ``kind`` strings of :class:`Problem` (plain strings so they serialise and compare easily)."""

    BAD_FOLDER_NAME = "bad_folder_name"  # folder in the training folder not named <repeats>_<name>
    LOOSE_IMAGE = "loose_image"  # image directly in the training folder, not in a concept folder
    NESTED_FOLDER = "nested_folder"  # sub-folder inside a concept folder (not searched)
    EMPTY_CONCEPT = "empty_concept"  # concept folder without images
    MISSING_CAPTION = "missing_caption"  # image without caption file: the concept name is used
    ORPHAN_CAPTION = "orphan_caption"  # caption file without image
    CAPTION_ENCODING = "caption_encoding"  # caption file not UTF-8 (or unreadable)
    CAPTION_WRITE = "caption_write"  # a caption edit that could not be saved (or restored)
    EMPTY_CAPTION = "empty_caption"  # caption file whose first line is empty (sd-scripts refuses these)
    MULTILINE_CAPTION = "multiline_caption"  # caption with more than one line: only the first is trained
    UNREADABLE_IMAGE = "unreadable_image"  # found by a full decode (hygiene) or while reading sizes
    SMALL_IMAGE = "small_image"  # hygiene: smaller than the training resolution
    DUPLICATE_IMAGE = "duplicate_image"  # hygiene: byte-identical copy
    NEAR_DUPLICATE = "near_duplicate"  # hygiene: perceptual-hash neighbour
    LARGE_IMAGE = "large_image"  # bucket report: above Pillow's size warning; trained, but slowly


@dataclass(frozen=True)
class Problem:
    """One thing worth showing the user about one file or folder; ``message`` is a full sentence."""

    path: Path
    kind: str
    message: str


@dataclass(eq=False)
class ImageEntry:
    """One image of a concept. ``caption`` is the training caption: the first line of the caption file, or
    the concept name when ``caption_missing`` (no file) or ``caption_unreadable`` (file not UTF-8, reported
    as ``caption_encoding``). ``caption_path`` is None when no caption file exists."""

    path: Path
    caption_path: Path | None
    caption: str
    caption_missing: bool
    concept: Concept = field(repr=False)
    caption_unreadable: bool = False  # caption file exists but is not UTF-8: shown read-only

    @property
    def repeats(self) -> int:
        return self.concept.repeats

    def default_caption_path(self, caption_extension: str = ".txt") -> Path:
        """Where a caption for this image is (or would be created): same stem, caption extension."""
        return self.caption_path or self.path.with_name(self.path.stem + caption_extension)


@dataclass(eq=False)
class Concept:
    """A ``<repeats>_<name>`` folder. ``folder_name`` (e.g. ``6_maid``) keys sd-scripts' metadata."""

    path: Path
    name: str
    repeats: int
    images: list[ImageEntry] = field(default_factory=list, repr=False)
    # per-folder options from a dataset config (trainer.dataset.subsets); empty: the run's settings apply
    options: dict = field(default_factory=dict, repr=False)
    is_reg: bool = False  # a regularization folder (reg_data_dir or is_reg = true)
    dataset: int = 0  # which [[datasets]] of a dataset config it belongs to (its resolution and batch size)

    @property
    def folder_name(self) -> str:
        return self.path.name

    @property
    def samples(self) -> int:
        """Images x repeats: how many samples this concept adds to an epoch."""
        return len(self.images) * self.repeats


@dataclass(eq=False)
class DatasetScan:
    """Result of :func:`scan_dataset`: the concepts (sorted by folder name) and everything worth reporting."""

    root: Path
    concepts: list[Concept]
    problems: list[Problem]
    caption_extension: str = ".txt"

    @property
    def images(self) -> list[ImageEntry]:
        """All images of all concepts, in concept then file-name order."""
        return [img for c in self.concepts for img in c.images]

    @property
    def samples_per_epoch(self) -> int:
        return samples_per_epoch(self)

    def problems_of(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    def describe(self) -> str:
        """``"1_a: 76 images x 1 = 76; 6_b: 16 images x 6 = 96; total 172 samples per epoch"``."""
        used = concept_samples(self.concepts)  # balanced once for both the parts and the total
        parts = [f"{c.folder_name}: {len(c.images)} images x {c.repeats} = {c.samples}"
                 + (f" ({n} used, balanced to the training images)" if n != c.samples else "")
                 for c, n in zip(self.concepts, used)]
        parts.append(f"total {sum(used)} samples per epoch")
        return "; ".join(parts)


def samples_per_epoch(scan: DatasetScan) -> int:
    """Sum over concepts of images x repeats (76 x 1 + 16 x 6 = 172), regularization images balanced to the
    training images of their dataset as the trainer takes them (trainer.dataset.reg)."""
    return sum(concept_samples(scan.concepts))


#: More repeats than this is a typo (a date, a stray digit), not a plan: an epoch would never end.
MAX_REPEATS = 10_000


def parse_concept_folder_name(name: str) -> tuple[int, str] | None:
    """``"6_maid"`` -> ``(6, "maid")``; None when the name is not ``<repeats>_<name>`` with repeats >= 1."""
    m = CONCEPT_FOLDER_RE.match(name)
    if not m:
        return None
    repeats = int(m.group(1))
    if repeats < 1:
        return None
    return repeats, m.group(2)


def _check_repeats(path: str, repeats: int) -> None:
    if repeats > MAX_REPEATS:
        raise DatasetError(f"Concept folder '{path}' asks for {repeats} repeats; at most {MAX_REPEATS} are "
                           "allowed. Rename the folder (for example to 10_name).")


def _list(folder: Path, problems: list[Problem] | None = None) -> tuple[list[os.DirEntry], list[os.DirEntry]]:
    """(files, folders) of a folder, hidden entries left out, sorted by name. An entry that cannot be
    followed (a symlink loop, a link to nothing, no permission) is left out and, for images and folders,
    reported in ``problems``."""
    files, dirs = [], []
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir()
                if e.is_symlink():
                    os.stat(e.path)  # a loop or a dangling link raises here
            except OSError as err:
                if problems is not None and (is_image_file(e.name) or not os.path.splitext(e.name)[1]):
                    problems.append(Problem(Path(e.path), ProblemKind.UNREADABLE_IMAGE,
                                            f"'{e.path}' is left out: {_link_reason(err)}."))
                continue
            (dirs if is_dir else files).append(e)
    files.sort(key=lambda e: e.name)
    dirs.sort(key=lambda e: e.name)
    return files, dirs


def _link_reason(err: OSError) -> str:
    import errno

    if err.errno == errno.ELOOP:
        return "it is a symbolic link that points back to itself (a loop)"
    if err.errno == errno.ENOENT:
        return "it is a symbolic link to something that does not exist"
    return f"it cannot be accessed ({err.strerror or err})"


def _scan_concept(concept: Concept, caption_ext: str, problems: list[Problem]) -> None:
    try:
        files, dirs = _list(concept.path, problems)
    except OSError as e:
        problems.append(
            Problem(concept.path, ProblemKind.EMPTY_CONCEPT,
                    f"Concept folder '{concept.path}' cannot be read ({e}).")
        )
        return
    for d in dirs:
        problems.append(
            Problem(
                Path(d.path),
                ProblemKind.NESTED_FOLDER,
                f"Folder '{d.path}' inside concept '{concept.folder_name}' is not searched; "
                f"move its images up or make it a concept folder of its own.",
            )
        )
    by_name = {f.name: f for f in files}
    pairs = pair_captions(by_name, caption_ext)
    for image_name, cap_name in pairs.captions.items():
        f, cap = by_name[image_name], (by_name[cap_name] if cap_name else None)
        image_path = Path(f.path)
        if cap is None:
            concept.images.append(ImageEntry(image_path, None, concept.name, True, concept))
            problems.append(
                Problem(
                    image_path,
                    ProblemKind.MISSING_CAPTION,
                    f"Image '{f.name}' in '{concept.folder_name}' has no caption file; "
                    f"the concept name '{concept.name}' is used as its caption.",
                )
            )
            continue
        cap_path = Path(cap.path)
        error = None
        try:
            with open(cap.path, "rb") as fh:  # plain str path: pathlib parsing dominated the scan time
                cf = decode_caption(cap_path, fh.read())
        except CaptionEncodingError as e:
            error = str(e)
        except OSError as e:
            error = f"Caption file '{cap_path}' cannot be read ({e.strerror or e})."
        if error is not None:
            concept.images.append(ImageEntry(image_path, cap_path, concept.name, False, concept, True))
            problems.append(Problem(cap_path, ProblemKind.CAPTION_ENCODING, error))
            continue
        caption = cf.caption
        concept.images.append(ImageEntry(image_path, cap_path, caption, False, concept))
        if not caption:
            problems.append(
                Problem(cap_path, ProblemKind.EMPTY_CAPTION,
                        f"Caption file '{cap.name}' in '{concept.folder_name}' is empty; "
                        f"its image is trained with an empty caption.")
            )
        elif cf.text.strip().count("\n"):
            problems.append(
                Problem(cap_path, ProblemKind.MULTILINE_CAPTION,
                        f"Caption file '{cap.name}' in '{concept.folder_name}' has several lines; "
                        f"only the first line is used for training.")
            )
    for f in (by_name[name] for name in pairs.orphans):
        problems.append(
            Problem(
                Path(f.path),
                ProblemKind.ORPHAN_CAPTION,
                f"Caption file '{f.name}' in '{concept.folder_name}' has no image with the same name.",
            )
        )
    if not concept.images:
        problems.append(
            Problem(concept.path, ProblemKind.EMPTY_CONCEPT,
                    f"Concept folder '{concept.folder_name}' holds no images.")
        )


def scan_dataset(train_data_dir: str | os.PathLike, caption_extension: str = ".txt") -> DatasetScan:
    """Scan a training folder (see the module docstring for the rules).

    Raises :class:`DatasetError` when the folder does not exist, is not a folder, holds no concept folders
    or no images at all. Everything else is reported in ``DatasetScan.problems``.
    """
    root = Path(train_data_dir)
    if not caption_extension.startswith("."):
        caption_extension = "." + caption_extension
    if not root.exists():
        raise DatasetError(f"Training folder '{root}' does not exist.")
    if not root.is_dir():
        raise DatasetError(f"Training folder '{root}' is a file, not a folder.")
    problems: list[Problem] = []
    try:
        files, dirs = _list(root, problems)
    except OSError as e:
        raise DatasetError(f"Training folder '{root}' cannot be read ({e.strerror or e}).") from e

    concepts: list[Concept] = []
    bad_names: list[str] = []
    for d in dirs:
        parsed = parse_concept_folder_name(d.name)
        if parsed is None:
            bad_names.append(d.name)
            problems.append(
                Problem(
                    Path(d.path),
                    ProblemKind.BAD_FOLDER_NAME,
                    f"Folder '{d.name}' is not named '<repeats>_<name>' (like '10_{d.name}') and is not used "
                    f"for training.",
                )
            )
            continue
        _check_repeats(d.path, parsed[0])
        concepts.append(Concept(Path(d.path), parsed[1], parsed[0]))
    loose = [f for f in files if is_image_file(f.name)]
    for f in loose:
        problems.append(
            Problem(
                Path(f.path),
                ProblemKind.LOOSE_IMAGE,
                f"Image '{f.name}' lies directly in the training folder and is not used; "
                f"put it into a concept folder such as '10_name'.",
            )
        )

    if not concepts:
        found = []
        if loose:
            found.append(f"{len(loose)} image(s) directly inside")
        if bad_names:
            shown = ", ".join(f"'{n}'" for n in bad_names[:3]) + (" ..." if len(bad_names) > 3 else "")
            found.append(f"folder(s) {shown} not named '<repeats>_<name>'")
        what = "; it holds " + " and ".join(found) if found else "; it is empty"
        raise DatasetError(
            f"Training folder '{root}' has no concept folders named like '10_name'{what}."
        )

    for c in concepts:
        _scan_concept(c, caption_extension, problems)
    if not any(c.images for c in concepts):
        names = ", ".join(f"'{c.folder_name}'" for c in concepts[:3]) + (" ..." if len(concepts) > 3 else "")
        raise DatasetError(
            f"Training folder '{root}' has no images in its concept folders ({names}); "
            f"images must end in .png, .jpg, .jpeg, .webp or .bmp."
        )
    return DatasetScan(root=root, concepts=concepts, problems=problems, caption_extension=caption_extension)
