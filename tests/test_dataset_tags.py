"""trainer.dataset.tags: ss_tag_frequency and bulk caption edits."""

import functools
import json
from collections import Counter, defaultdict

from trainer.dataset.captions import add_tag, dedupe_tags, remove_tag, replace_tag, sort_tags
from trainer.dataset.scan import ProblemKind, scan_dataset
from trainer.dataset.tags import (
    apply_bulk,
    entries_with_tag,
    overall_tag_frequency,
    preview_bulk,
    tag_frequency,
    tag_frequency_json,
)

CAPTIONS = {
    "3_maid/a": "Maid, smile, hat",
    "3_maid/b": "maid,  hat ,, apron",
    "3_maid/c": None,  # no caption: concept name "maid"
    "1_city/x": "city, night, neon lights",
    "1_city/y": "city, Night",
}


def _dataset(root):
    for key, text in CAPTIONS.items():
        folder, stem = key.split("/")
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{stem}.png").touch()
        if text is not None:
            (root / folder / f"{stem}.txt").write_text(text, encoding="utf-8")
    return scan_dataset(root)


def test_tag_frequency_matches_independent_count(tmp_path):
    scan = _dataset(tmp_path)
    expected = defaultdict(Counter)
    for key, text in CAPTIONS.items():
        folder = key.split("/")[0]
        text = text if text is not None else folder.split("_", 1)[1]
        for raw in text.split(","):
            if raw.strip():
                expected[folder][raw.strip().lower()] += 1
    freq = tag_frequency(scan)
    assert freq == {k: dict(v) for k, v in expected.items()}
    assert freq["3_maid"] == {"maid": 3, "smile": 1, "hat": 2, "apron": 1}
    assert freq["1_city"]["night"] == 2  # lower-cased like sd-scripts
    assert json.loads(tag_frequency_json(scan)) == freq
    overall = overall_tag_frequency(freq)
    assert list(overall.items())[:3] == [("maid", 3), ("city", 2), ("hat", 2)]
    assert [e.path.stem for e in entries_with_tag(scan.images, "HAT")] == ["a", "b"]


def test_bulk_preview_then_apply_and_undo(tmp_path):
    scan = _dataset(tmp_path)
    maid = scan.concepts[1]
    assert maid.folder_name == "3_maid"
    op = functools.partial(add_tag, tag="sks", position="front")
    preview = preview_bulk(maid.images, op)
    assert preview.examined == 3 and len(preview.changes) == 3
    assert preview.describe() == "3 of 3 caption files change (1 new)"
    assert (tmp_path / "3_maid" / "a.txt").read_text() == "Maid, smile, hat"  # preview writes nothing
    assert not (tmp_path / "3_maid" / "c.txt").exists()
    result = apply_bulk(preview)
    assert result.failed == [] and len(result.written) == 3
    assert (tmp_path / "3_maid" / "a.txt").read_text() == "sks, Maid, smile, hat"
    assert (tmp_path / "3_maid" / "b.txt").read_text() == "sks, maid, hat, apron"
    assert (tmp_path / "3_maid" / "c.txt").read_text() == "sks, maid\n"
    # second run: nothing to do
    assert preview_bulk(scan_dataset(tmp_path).concepts[1].images, op).changes == []
    undo = result.undo()
    assert undo.failed == []
    assert (tmp_path / "3_maid" / "a.txt").read_text() == "Maid, smile, hat"
    assert (tmp_path / "3_maid" / "b.txt").read_text() == "maid,  hat ,, apron"
    assert not (tmp_path / "3_maid" / "c.txt").exists()


def test_bulk_operations_keep_bom_newlines_and_other_lines(tmp_path):
    d = tmp_path / "1_x"
    d.mkdir()
    (d / "a.png").touch()
    (d / "a.txt").write_bytes(b"\xef\xbb\xbfb, a, b, c\r\nnotes line\r\n")
    scan = scan_dataset(tmp_path)
    for op in (dedupe_tags, functools.partial(sort_tags, keep_tokens=1)):
        apply_bulk(preview_bulk(scan.images, op))
    assert (d / "a.txt").read_bytes() == b"\xef\xbb\xbfb, a, c\r\nnotes line\r\n"
    apply_bulk(preview_bulk(scan.images, functools.partial(replace_tag, old="c", new="z")))
    apply_bulk(preview_bulk(scan.images, functools.partial(remove_tag, tag="a")))
    assert (d / "a.txt").read_bytes() == b"\xef\xbb\xbfb, z\r\nnotes line\r\n"


def test_bulk_skips_non_utf8_and_detects_concurrent_edits(tmp_path):
    d = tmp_path / "1_x"
    d.mkdir()
    for stem in ("a", "b", "c"):
        (d / f"{stem}.png").touch()
    (d / "a.txt").write_bytes("шляпа".encode("cp1251"))
    (d / "b.txt").write_text("hat")
    (d / "c.txt").write_text("cap")
    scan = scan_dataset(tmp_path)
    preview = preview_bulk(scan.images, functools.partial(add_tag, tag="new"))
    assert [p.path.name for p in preview.skipped] == ["a.txt"]
    assert preview.skipped[0].kind == ProblemKind.CAPTION_ENCODING and "a.txt" in preview.skipped[0].message
    assert "1 skipped" in preview.describe()
    (d / "c.txt").write_text("edited meanwhile")
    result = apply_bulk(preview)
    assert [c.path.name for c in result.written] == ["b.txt"]
    assert [p.path.name for p in result.failed] == ["c.txt"]
    assert "changed after the preview" in result.failed[0].message
    assert (d / "a.txt").read_bytes() == "шляпа".encode("cp1251")  # untouched
    assert (d / "c.txt").read_text() == "edited meanwhile"


def test_bulk_without_creating_missing(tmp_path):
    scan = _dataset(tmp_path)
    preview = preview_bulk(scan.concepts[1].images, functools.partial(add_tag, tag="x"), create_missing=False)
    assert preview.examined == 2 and all(c.old_text is not None for c in preview.changes)
