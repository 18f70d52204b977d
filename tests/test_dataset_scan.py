"""trainer.dataset.scan: concept folders, captions, problems and errors."""

import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from trainer.dataset.scan import ProblemKind, parse_concept_folder_name, samples_per_epoch, scan_dataset
from trainer.errors import DatasetError


def _img(path: Path, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (100, 150, 200)).save(path)
    return path


def _cap(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _kinds(scan):
    return sorted((p.kind, p.path.name) for p in scan.problems)


def test_parse_folder_names():
    assert parse_concept_folder_name("6_maid") == (6, "maid")
    assert parse_concept_folder_name("10_my_maid") == (10, "my_maid")  # underscores after the first stay
    assert parse_concept_folder_name("06_x y") == (6, "x y")
    for bad in ("maid", "0_maid", "6_", "_maid", "6maid", "x_6", "6 maid"):
        assert parse_concept_folder_name(bad) is None, bad


def test_samples_math_76x1_plus_16x6(tmp_path):
    for i in range(76):
        (tmp_path / "1_a").mkdir(exist_ok=True)
        (tmp_path / "1_a" / f"{i:03}.png").touch()  # the scan never opens images
    for i in range(16):
        (tmp_path / "6_b").mkdir(exist_ok=True)
        (tmp_path / "6_b" / f"{i:03}.jpg").touch()
    scan = scan_dataset(tmp_path)
    assert [(c.folder_name, c.name, c.repeats, len(c.images)) for c in scan.concepts] == [
        ("1_a", "a", 1, 76), ("6_b", "b", 6, 16)]
    assert samples_per_epoch(scan) == 172 == scan.samples_per_epoch
    assert scan.describe() == "1_a: 76 images x 1 = 76; 6_b: 16 images x 6 = 96; total 172 samples per epoch"


def test_captions_and_missing_caption(tmp_path):
    _img(tmp_path / "6_photo" / "a.png")
    _cap(tmp_path / "6_photo" / "a.txt", "sks, smile\nignored second line")
    _img(tmp_path / "6_photo" / "b.PNG")  # upper-case extension, no caption
    _img(tmp_path / "6_photo" / "C.jpg")
    _cap(tmp_path / "6_photo" / "c.TXT", "case, differs")  # stem and extension in another case
    scan = scan_dataset(tmp_path)
    (concept,) = scan.concepts
    by_name = {e.path.name: e for e in concept.images}
    assert [e.path.name for e in concept.images] == ["C.jpg", "a.png", "b.PNG"]  # sorted by name
    assert by_name["a.png"].caption == "sks, smile" and not by_name["a.png"].caption_missing
    assert by_name["b.PNG"].caption == "photo" and by_name["b.PNG"].caption_missing
    assert by_name["b.PNG"].caption_path is None
    assert by_name["C.jpg"].caption == "case, differs"
    assert by_name["a.png"].repeats == 6 and by_name["a.png"].concept is concept
    assert _kinds(scan) == [("missing_caption", "b.PNG"), ("multiline_caption", "a.txt")]
    missing = scan.problems_of(ProblemKind.MISSING_CAPTION)[0]
    assert "'photo'" in missing.message and "b.PNG" in missing.message
    repr(scan), repr(concept.images[0])  # no recursion through the concept back-reference


def test_orphans_bad_names_loose_nested_empty(tmp_path):
    _img(tmp_path / "3_cat" / "x.png")
    _cap(tmp_path / "3_cat" / "x.txt", "cat")
    _cap(tmp_path / "3_cat" / "lost.txt", "orphan")
    (tmp_path / "3_cat" / "x.npz").touch()  # latent cache files are not problems
    _img(tmp_path / "3_cat" / "sub" / "deep.png")
    _img(tmp_path / "cats" / "y.png")  # folder without <repeats>_
    _img(tmp_path / "loose.png")
    (tmp_path / "2_empty").mkdir()
    _img(tmp_path / ".hidden" / "z.png")
    _img(tmp_path / "3_cat" / "._x.png")  # macOS resource fork junk is hidden
    scan = scan_dataset(tmp_path)
    assert [c.folder_name for c in scan.concepts] == ["2_empty", "3_cat"]
    assert _kinds(scan) == [
        ("bad_folder_name", "cats"),
        ("empty_concept", "2_empty"),
        ("loose_image", "loose.png"),
        ("nested_folder", "sub"),
        ("orphan_caption", "lost.txt"),
    ]
    bad = scan.problems_of(ProblemKind.BAD_FOLDER_NAME)[0]
    assert "cats" in bad.message and "<repeats>_<name>" in bad.message


def test_caption_bom_and_not_utf8(tmp_path):
    _img(tmp_path / "1_x" / "bom.png")
    (tmp_path / "1_x" / "bom.txt").write_bytes(b"\xef\xbb\xbfsks, hat")
    _img(tmp_path / "1_x" / "cp.png")
    (tmp_path / "1_x" / "cp.txt").write_bytes("девушка, шляпа".encode("cp1251"))
    _img(tmp_path / "1_x" / "empty.png")
    _cap(tmp_path / "1_x" / "empty.txt", "")
    scan = scan_dataset(tmp_path)
    by_name = {e.path.name: e for e in scan.images}
    assert by_name["bom.png"].caption == "sks, hat"
    cp = by_name["cp.png"]
    assert cp.caption_unreadable and cp.caption == "x" and not cp.caption_missing
    (enc,) = scan.problems_of(ProblemKind.CAPTION_ENCODING)
    assert enc.path.name == "cp.txt" and "cp.txt" in enc.message and "UTF-8" in enc.message
    assert by_name["empty.png"].caption == ""
    assert [p.path.name for p in scan.problems_of(ProblemKind.EMPTY_CAPTION)] == ["empty.txt"]


def test_face_crop_caption_fallback(tmp_path):
    # sd-scripts: name_cx_cy_w_h.png without its own caption uses name.txt
    _img(tmp_path / "1_x" / "img_10_20_30_40.png")
    _cap(tmp_path / "1_x" / "img.txt", "from base")
    scan = scan_dataset(tmp_path)
    assert scan.images[0].caption == "from base"
    assert scan.problems == []


def test_spaces_and_cyrillic(tmp_path):
    root = tmp_path / "мой датасет"
    _img(root / "5_рыжая кошка" / "фото 1.png")
    _cap(root / "5_рыжая кошка" / "фото 1.txt", "кошка, рыжая")
    _img(root / "5_рыжая кошка" / "фото 2.webp")
    scan = scan_dataset(str(root))
    (c,) = scan.concepts
    assert (c.name, c.repeats) == ("рыжая кошка", 5)
    assert [e.caption for e in c.images] == ["кошка, рыжая", "рыжая кошка"]


def test_caption_extension_option(tmp_path):
    _img(tmp_path / "1_x" / "a.png")
    _cap(tmp_path / "1_x" / "a.caption", "from caption")
    _cap(tmp_path / "1_x" / "a.txt", "from txt")
    assert scan_dataset(tmp_path, caption_extension=".caption").images[0].caption == "from caption"
    assert scan_dataset(tmp_path, caption_extension="caption").images[0].caption == "from caption"
    assert scan_dataset(tmp_path).images[0].caption == "from txt"


def test_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "nope")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        scan_dataset(f)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no concept folders.*it is empty") as e:
        scan_dataset(empty)
    assert "empty" in str(e.value)
    flat = tmp_path / "flat"
    _img(flat / "a.png")
    _img(flat / "b.png")
    (flat / "raw").mkdir()
    with pytest.raises(DatasetError, match=r"2 image\(s\) directly inside and folder\(s\) 'raw'"):
        scan_dataset(flat)
    no_images = tmp_path / "noimg"
    _cap(no_images / "1_a" / "a.txt", "x")
    with pytest.raises(DatasetError, match="no images in its concept folders.*'1_a'"):
        scan_dataset(no_images)


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)  # creating 20,000 inodes is slow on some disks; links keep the test fast
    except OSError:
        shutil.copyfile(src, dst)


def test_scan_10000_files_fast(tmp_path):
    n_concepts, per = 4, 2500
    src_img, src_cap = tmp_path / "img.src", tmp_path / "cap.src"
    src_img.touch()
    src_cap.write_bytes(b"tag one, tag two, tag three")
    for c in range(n_concepts):
        d = tmp_path / f"{c + 1}_concept{c}"
        d.mkdir()
        for i in range(per):
            _link_or_copy(src_img, d / f"img_{i:05}.png")
            _link_or_copy(src_cap, d / f"img_{i:05}.txt")
    t = time.perf_counter()
    scan = scan_dataset(tmp_path)
    dt = time.perf_counter() - t
    print(f"\nscan of 10,000 images + 10,000 captions: {dt:.3f} s")
    assert len(scan.images) == 10_000 and scan.problems == []
    assert scan.samples_per_epoch == per * (1 + 2 + 3 + 4)
    assert dt < 5.0
