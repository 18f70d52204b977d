"""Dataset hygiene: orphan captions, duplicates, near-duplicates, small and unreadable images.

:func:`check_dataset` decodes every image once (in a few threads; Pillow decodes without holding the GIL),
so it takes a while on 10,000 images: it reports progress through ``on_progress(done, total)`` (called on the
calling thread) and stops early when the ``cancel`` event is set (the report then has ``cancelled=True`` and
covers the images done so far).

Definitions:

* **unreadable**: :func:`images.open_image_rgb` fails (empty, truncated, damaged, not an image).
* **exact duplicate**: same file content (BLAKE2b of the bytes).
* **near duplicate**: 64-bit perceptual hashes (``imagehash.phash`` of the upright RGB image) at Hamming
  distance <= ``near_duplicate_threshold`` (default 6 of 64), grouped transitively. Groups made only of
  byte-identical files are left to the exact-duplicate list.
* **small**: pixel area below the training resolution's area (bucketing would enlarge it, so it trains
  blurry), or a side shorter than ``min_bucket_reso``. Sizes are after EXIF rotation.
* **orphan caption** and **bad folder name** come from the scan.

Orphans are never deleted for good: :func:`delete_orphans` moves them to the system trash (send2trash) or,
when that is impossible or not wanted, into ``<root>/.lora_desk_backup/`` keeping their relative path.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .buckets import Size
from .images import ImageReadError, open_image_rgb
from .scan import DatasetScan, ImageEntry, Problem, ProblemKind

BACKUP_DIR_NAME = ".lora_desk_backup"
DEFAULT_NEAR_DUPLICATE_THRESHOLD = 6


@dataclass
class ImageFacts:
    """What one full read of an image tells: size (upright), content digest, perceptual hash, or the error."""

    path: Path
    size: Size | None = None
    digest: str | None = None
    phash: int | None = None
    error: ImageReadError | None = None


@dataclass
class HygieneReport:
    orphan_captions: list[Path] = field(default_factory=list)
    bad_folders: list[Path] = field(default_factory=list)
    unreadable: list[Problem] = field(default_factory=list)
    exact_duplicates: list[list[Path]] = field(default_factory=list)
    near_duplicates: list[list[Path]] = field(default_factory=list)
    small_images: list[tuple[Path, Size]] = field(default_factory=list)
    sizes: dict[Path, Size] = field(default_factory=dict)  # of every readable image; reuse for buckets
    checked: int = 0
    total: int = 0
    cancelled: bool = False
    resolution: Size = (512, 512)
    min_bucket_reso: int = 256

    def problems(self) -> list[Problem]:
        """Everything as :class:`Problem` rows for one list in the GUI."""
        out = [
            Problem(p, ProblemKind.ORPHAN_CAPTION,
                    f"Caption file '{p.name}' has no image with the same name.")
            for p in self.orphan_captions
        ]
        out += [
            Problem(p, ProblemKind.BAD_FOLDER_NAME,
                    f"Folder '{p.name}' is not named '<repeats>_<name>' and is not used for training.")
            for p in self.bad_folders
        ]
        out += self.unreadable
        for group in self.exact_duplicates:
            first = group[0]
            out += [Problem(p, ProblemKind.DUPLICATE_IMAGE, f"Image '{p}' is an exact copy of '{first}'.")
                    for p in group[1:]]
        for group in self.near_duplicates:
            first = group[0]
            out += [Problem(p, ProblemKind.NEAR_DUPLICATE, f"Image '{p}' looks almost the same as '{first}'.")
                    for p in group[1:]]
        w, h = self.resolution
        for p, (iw, ih) in self.small_images:
            out.append(Problem(p, ProblemKind.SMALL_IMAGE,
                               f"Image '{p.name}' ({iw}x{ih}) is smaller than the training resolution "
                               f"{w}x{h} and will be enlarged, which makes it blurry."))
        return out


def find_orphan_captions(scan: DatasetScan) -> list[Path]:
    """Caption files without an image, from the scan."""
    return [p.path for p in scan.problems_of(ProblemKind.ORPHAN_CAPTION)]


def is_small(size: Size, resolution: Size | int, min_bucket_reso: int = 0) -> bool:
    """True when the image's area is below the resolution's area or a side is below ``min_bucket_reso``."""
    if isinstance(resolution, int):
        resolution = (resolution, resolution)
    w, h = size
    return w * h < resolution[0] * resolution[1] or min(w, h) < min_bucket_reso


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def perceptual_hash(image) -> int:
    """64-bit pHash of a PIL image as an int (``imagehash.phash``, hash_size 8)."""
    import imagehash

    bits = imagehash.phash(image).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def read_image_facts(path: Path, *, want_phash: bool = True) -> ImageFacts:
    """Digest, full decode and pHash of one file; an unreadable file yields ``error`` instead."""
    facts = ImageFacts(path)
    try:
        facts.digest = file_digest(path)
        img = open_image_rgb(path)
    except ImageReadError as e:
        facts.error = e
        return facts
    except OSError as e:
        facts.error = ImageReadError(path, f"the file cannot be read ({e.strerror or e})")
        return facts
    except Exception as e:  # one strange file must not stop a check of 10,000
        facts.error = ImageReadError(path, f"the image cannot be decoded ({e or type(e).__name__})")
        return facts
    facts.size = img.size
    if want_phash:
        facts.phash = perceptual_hash(img)
    return facts


def group_exact_duplicates(digests: dict[Path, str]) -> list[list[Path]]:
    """Groups (of 2+) of paths with the same digest, each sorted, groups sorted by their first path."""
    by_digest: dict[str, list[Path]] = {}
    for p, d in digests.items():
        by_digest.setdefault(d, []).append(p)
    return sorted((sorted(g) for g in by_digest.values() if len(g) > 1), key=lambda g: g[0])


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    as_bytes = x.view(np.uint8).reshape(-1, 8)
    return np.unpackbits(as_bytes, axis=1).sum(axis=1)


def group_near_duplicates(
    hashes: dict[Path, int], threshold: int = DEFAULT_NEAR_DUPLICATE_THRESHOLD
) -> list[list[Path]]:
    """Groups (of 2+) of images whose pHashes are within ``threshold`` bits, joined transitively."""
    paths = list(hashes)
    n = len(paths)
    if n < 2:
        return []
    values = np.array([hashes[p] for p in paths], dtype=np.uint64)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n - 1):
        close = np.nonzero(_popcount(values[i + 1 :] ^ values[i]) <= threshold)[0]
        for j in close:
            a, b = find(i), find(i + 1 + int(j))
            if a != b:
                parent[b] = a
    groups: dict[int, list[Path]] = {}
    for i, p in enumerate(paths):
        groups.setdefault(find(i), []).append(p)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def check_dataset(
    scan: DatasetScan,
    *,
    resolution: Size | int = (512, 512),
    min_bucket_reso: int = 256,
    near_duplicate_threshold: int = DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    find_near_duplicates: bool = True,
    entries: Iterable[ImageEntry] | None = None,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> HygieneReport:
    """Run every hygiene check over ``entries`` (default: all images of the scan); see the module doc."""
    if isinstance(resolution, int):
        resolution = (resolution, resolution)
    items = list(entries) if entries is not None else scan.images
    report = HygieneReport(
        orphan_captions=find_orphan_captions(scan),
        bad_folders=[p.path for p in scan.problems_of(ProblemKind.BAD_FOLDER_NAME)],
        total=len(items),
        resolution=tuple(resolution),
        min_bucket_reso=min_bucket_reso,
    )
    facts: dict[Path, ImageFacts] = {}
    workers = workers or min(8, os.cpu_count() or 1)
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        pending = [pool.submit(read_image_facts, e.path, want_phash=find_near_duplicates) for e in items]
        try:
            for fut in cf.as_completed(pending):
                f = fut.result()
                facts[f.path] = f
                report.checked += 1
                if on_progress is not None:
                    on_progress(report.checked, report.total)
                if cancel is not None and cancel.is_set():
                    report.cancelled = True
                    break
        finally:
            for fut in pending:
                fut.cancel()
    ordered = [facts[e.path] for e in items if e.path in facts]  # scan order, independent of thread timing
    digests = {}
    hashes = {}
    for f in ordered:
        if f.error is not None:
            report.unreadable.append(Problem(f.path, ProblemKind.UNREADABLE_IMAGE, str(f.error)))
            continue
        report.sizes[f.path] = f.size
        if f.digest is not None:
            digests[f.path] = f.digest
        if f.phash is not None:
            hashes[f.path] = f.phash
        if is_small(f.size, resolution, min_bucket_reso):
            report.small_images.append((f.path, f.size))
    report.exact_duplicates = group_exact_duplicates(digests)
    if find_near_duplicates:
        groups = group_near_duplicates(hashes, near_duplicate_threshold)
        report.near_duplicates = [g for g in groups if len({digests[p] for p in g}) > 1]
    return report


# ---------------------------------------------------------------------------------------------------------
# removing orphans


@dataclass
class DeleteResult:
    trashed: list[Path] = field(default_factory=list)
    backed_up: list[tuple[Path, Path]] = field(default_factory=list)  # (original, where it went)
    failed: list[Problem] = field(default_factory=list)


def _backup_target(path: Path, root: Path) -> Path:
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        rel = Path(path.name)
    target = root / BACKUP_DIR_NAME / rel
    n = 2
    while target.exists():
        target = target.with_name(f"{Path(rel.name).stem} ({n}){Path(rel.name).suffix}")
        n += 1
    return target


def delete_orphans(
    paths: Iterable[str | os.PathLike], *, root: str | os.PathLike, use_trash: bool = True
) -> DeleteResult:
    """Remove files (orphan captions) safely: to the system trash, or else into ``<root>/.lora_desk_backup/``.

    Nothing is deleted for good. A file that can go neither way is reported in ``failed``.
    """
    root = Path(root)
    result = DeleteResult()
    for p in map(Path, paths):
        if use_trash:
            try:
                from send2trash import send2trash

                send2trash(os.fspath(p))
                result.trashed.append(p)
                continue
            except Exception:  # no trash on this system (headless Linux, network drive): fall back
                pass
        try:
            target = _backup_target(p, root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(os.fspath(p), os.fspath(target))
            result.backed_up.append((p, target))
        except OSError as e:
            result.failed.append(Problem(p, ProblemKind.ORPHAN_CAPTION,
                                         f"File '{p}' could not be moved to the trash or to the backup "
                                         f"folder ({e.strerror or e})."))
    return result
