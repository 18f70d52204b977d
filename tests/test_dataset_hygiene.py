"""trainer.dataset.hygiene: duplicates, near-duplicates, small/unreadable images, orphan removal."""

import shutil
import threading

import numpy as np
import pytest
import send2trash
from PIL import Image, ImageDraw

from trainer.dataset.hygiene import (
    BACKUP_DIR_NAME,
    check_dataset,
    delete_orphans,
    find_orphan_captions,
    group_near_duplicates,
    is_small,
)
from trainer.dataset.scan import ProblemKind, scan_dataset


def _picture(seed, size=(256, 256)):
    """A structured picture (shapes on a gradient) so perceptual hashes are meaningful."""
    rng = np.random.default_rng(seed)
    w, h = size
    grad = np.linspace(0, 255, w, dtype=np.uint8)
    arr = np.stack([np.tile(grad, (h, 1)), np.tile(grad[::-1], (h, 1)), np.full((h, w), 90, np.uint8)], -1)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        x1, y1 = x0 + rng.integers(w // 8, w // 2), y0 + rng.integers(h // 8, h // 2)
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.rectangle([int(x0), int(y0), int(x1), int(y1)], fill=colour)
    return img


@pytest.fixture
def dataset(tmp_path):
    c = tmp_path / "2_thing"
    c.mkdir()
    original = _picture(1, (640, 640))
    original.save(c / "a.png")
    original.resize((320, 320), Image.LANCZOS).save(c / "a_small_copy.jpg", quality=90)  # near duplicate
    shutil.copy(c / "a.png", c / "a_exact.png")  # exact duplicate
    _picture(2, (600, 600)).save(c / "b.png")
    _picture(3, (700, 500)).save(c / "c.png")
    (c / "broken.png").write_bytes(b"")
    (c / "text.png").write_text("not an image")
    (c / "orphan.txt").write_text("lost")
    (tmp_path / "badname").mkdir()
    (tmp_path / "badname" / "z.png").touch()
    return tmp_path


def test_check_dataset(dataset):
    scan = scan_dataset(dataset)
    progress = []
    report = check_dataset(scan, resolution=512, min_bucket_reso=256,
                           on_progress=lambda done, total: progress.append((done, total)))
    names = lambda paths: [p.name for p in paths]  # noqa: E731
    assert progress[-1] == (7, 7) and len(progress) == 7 and not report.cancelled
    assert names(report.orphan_captions) == ["orphan.txt"]
    assert names(report.bad_folders) == ["badname"]
    assert sorted(p.path.name for p in report.unreadable) == ["broken.png", "text.png"]
    assert [names(g) for g in report.exact_duplicates] == [["a.png", "a_exact.png"]]
    assert [names(g) for g in report.near_duplicates] == [["a.png", "a_exact.png", "a_small_copy.jpg"]]
    assert [(p.name, s) for p, s in report.small_images] == [("a_small_copy.jpg", (320, 320))]
    assert report.sizes[dataset / "2_thing" / "c.png"] == (700, 500)
    kinds = sorted({p.kind for p in report.problems()})
    assert kinds == sorted([
        ProblemKind.ORPHAN_CAPTION, ProblemKind.BAD_FOLDER_NAME, ProblemKind.UNREADABLE_IMAGE,
        ProblemKind.DUPLICATE_IMAGE, ProblemKind.NEAR_DUPLICATE, ProblemKind.SMALL_IMAGE,
    ])
    small = [p for p in report.problems() if p.kind == ProblemKind.SMALL_IMAGE][0]
    assert "320x320" in small.message and "512x512" in small.message


def test_distinct_pictures_are_not_near_duplicates(dataset):
    report = check_dataset(scan_dataset(dataset), resolution=512)
    flat = {p.name for g in report.near_duplicates for p in g}
    assert "b.png" not in flat and "c.png" not in flat


def test_cancel(dataset):
    cancel = threading.Event()
    seen = []

    def on_progress(done, total):
        seen.append(done)
        cancel.set()

    report = check_dataset(scan_dataset(dataset), on_progress=on_progress, cancel=cancel, workers=1)
    assert report.cancelled and report.checked == 1 and seen == [1]


def test_is_small():
    assert is_small((320, 320), 512)
    assert not is_small((512, 512), 512)
    assert is_small((600, 400), (512, 512))  # area 240,000 < 262,144
    assert is_small((2000, 200), 512, min_bucket_reso=256)  # a side below min_bucket_reso
    assert not is_small((2000, 300), 512, min_bucket_reso=256)


def test_group_near_duplicates_transitive():
    from pathlib import Path

    hashes = {Path("a"): 0b0, Path("b"): 0b111, Path("c"): 0b111111, Path("d"): (1 << 64) - 1}
    assert group_near_duplicates(hashes, threshold=3) == [[Path("a"), Path("b"), Path("c")]]
    assert group_near_duplicates(hashes, threshold=2) == []


def test_delete_orphans_to_trash(dataset, monkeypatch):
    scan = scan_dataset(dataset)
    trashed = []
    monkeypatch.setattr(send2trash, "send2trash", lambda p: trashed.append(p))  # keep the real trash clean
    result = delete_orphans(find_orphan_captions(scan), root=scan.root)
    assert [p.name for p in result.trashed] == ["orphan.txt"] and trashed and result.backed_up == []


def test_delete_orphans_falls_back_to_backup_folder(dataset, monkeypatch):
    def no_trash(path):
        raise OSError("no trash here")

    monkeypatch.setattr(send2trash, "send2trash", no_trash)
    scan = scan_dataset(dataset)
    orphan = dataset / "2_thing" / "orphan.txt"
    result = delete_orphans([orphan], root=dataset)
    target = dataset / BACKUP_DIR_NAME / "2_thing" / "orphan.txt"
    assert result.backed_up == [(orphan, target)] and not orphan.exists() and target.read_text() == "lost"
    # a second orphan with the same name does not overwrite the first backup
    orphan.write_text("again")
    result = delete_orphans([orphan], root=dataset, use_trash=False)
    assert result.backed_up[0][1].name == "orphan (2).txt" and target.read_text() == "lost"
    # the backup folder is hidden from the next scan
    assert scan_dataset(dataset).problems_of(ProblemKind.ORPHAN_CAPTION) == []
    assert scan.root == dataset
