"""Dataset page: concepts and totals, thumbnails (10,000 images without blocking), tag statistics, hygiene,
bucket preview."""
import os
import time
from collections import Counter
from pathlib import Path

from PIL import Image

from app_fixtures import app_env, entry_named, page, wait_loaded  # noqa: F401


def test_concepts_totals_and_filter(qtbot, page):
    assert [c.folder_name for c in page.scan.concepts] == ["1_bluesquare", "2_redcircle"]
    assert page.concepts.topLevelItemCount() == 3
    # 2 x 1 + 3 x 2 = 8 samples; batch 3 -> 3 steps
    page.batch.setValue(3)
    assert "8 samples per epoch" in page.totals.text() and "3 steps per epoch" in page.totals.text()
    page.concepts.choose("2_redcircle")
    assert page.model.rowCount() == 3
    page.concepts.choose(None)
    page.filter_by_tag("tag1")
    assert sorted(e.path.name for e in page.model.shown()) == ["img1.png", "img1.png"]
    page.model.set_filter("bluesquare")
    assert page.model.rowCount() == 2


def test_tag_statistics_match_an_independent_count(qtbot, page):
    expected_all = Counter()
    expected = {}
    for folder in sorted(p for p in page.scan.root.iterdir() if p.is_dir()):
        c = Counter()
        for txt in folder.glob("*.txt"):
            for t in txt.read_text(encoding="utf-8").splitlines()[0].split(","):
                if t.strip():
                    c[t.strip().lower()] += 1
        expected[folder.name] = dict(c)
        expected_all.update(c)
    assert page.tag_stats.counts() == dict(expected_all)
    for name, counts in expected.items():
        page.tag_stats.set_concept(name)
        assert page.tag_stats.counts() == counts
    # clicking a tag filters the grid
    page.tag_stats.set_concept(None)
    row = next(i for i, (t, _) in enumerate(page.tag_stats.model.rows) if t == "redcircle")
    idx = page.tag_stats.proxy.mapFromSource(page.tag_stats.model.index(row, 0))
    page.tag_stats.table.clicked.emit(idx)
    assert page.model.rowCount() == 3 and page.filter.text() == "tag:redcircle"
    # statistics follow edits
    page.select_path(entry_named(page, "2_redcircle", "img0.png").path)
    page.editor.add_tag("brand new")
    qtbot.waitUntil(lambda: page.tag_stats.counts().get("brand new") == 1, timeout=3000)


def test_hygiene_finds_problems_in_a_worker_and_links_to_images(qtbot, page):
    root = page.scan.root
    (root / "2_redcircle" / "broken.png").write_bytes(b"")  # zero bytes
    (root / "2_redcircle" / "trunc.png").write_bytes((root / "2_redcircle" / "img0.png").read_bytes()[:60])
    (root / "2_redcircle" / "copy.png").write_bytes((root / "2_redcircle" / "img0.png").read_bytes())
    (root / "2_redcircle" / "lonely.txt").write_text("orphan\n", encoding="utf-8")
    (root / "notes").mkdir()
    page.reload()
    wait_loaded(qtbot, page)
    # corrupt images get a placeholder, not an exception
    broken = entry_named(page, "2_redcircle", "broken.png")
    page.select_path(broken.path)
    qtbot.waitUntil(lambda: page.model.is_broken(broken.path), timeout=5000)
    page.hygiene.set_training_size((64, 64), 32)
    page.hygiene.run_check()
    assert page.hygiene.is_running() or page.hygiene.report is not None
    qtbot.waitUntil(lambda: page.hygiene.report is not None, timeout=20000)
    f = page.hygiene.findings()
    names = {k: sorted(Path(p).name for p, _ in v) for k, v in f.items()}
    assert names["unreadable"] == ["broken.png", "trunc.png"]
    assert names["duplicate"] == ["copy.png", "img0.png"]
    assert names["orphan_caption"] == ["lonely.txt"]
    assert names["missing_caption"] == ["broken.png", "copy.png", "trunc.png"]
    assert names["folders"] == ["notes"]
    assert page.hygiene.progress.value() == page.hygiene.progress.maximum()
    # a finding selects its image in the grid
    top = next(page.hygiene.tree.topLevelItem(i) for i in range(page.hygiene.tree.topLevelItemCount())
               if page.hygiene.tree.topLevelItem(i).data(0, 256) == "duplicate")
    page.hygiene.tree.itemClicked.emit(top.child(0), 0)
    assert page.editor.entry.path.name == "copy.png"
    # orphans go to the backup folder (no trash here) and the dataset is rescanned
    page.hygiene.use_trash.setChecked(False)
    page.hygiene.delete_orphans(confirm=False)
    assert not (root / "2_redcircle" / "lonely.txt").exists()
    assert (root / ".lora_desk_backup" / "2_redcircle" / "lonely.txt").exists()


def test_hygiene_cancel(qtbot, page, monkeypatch):
    import threading

    from trainer.dataset import hygiene

    started, release = threading.Event(), threading.Event()
    real = hygiene.read_image_facts

    def gated(*a, **kw):  # the first images wait until Cancel was pressed: the check cannot finish first
        started.set()
        release.wait(10)
        return real(*a, **kw)

    monkeypatch.setattr(hygiene, "read_image_facts", gated)
    page.hygiene.run_check()
    assert started.wait(10)
    page.hygiene.cancel()
    release.set()
    qtbot.waitUntil(lambda: not page.hygiene.is_running(), timeout=10000)
    report = page.hygiene.report
    assert report is not None and report.cancelled
    assert page.hygiene.progress.format().startswith("cancelled at")
    assert page.hygiene.run_btn.isEnabled() and not page.hygiene.cancel_btn.isEnabled()


def test_bucket_preview_agrees_with_trainer(qtbot, page):
    from trainer.dataset.buckets import Bucketer, crop_for

    root = page.scan.root
    for i, size in enumerate([(96, 64), (64, 128), (200, 100)]):
        Image.new("RGB", size, (10, 20, 30)).save(root / "1_bluesquare" / f"odd{i}.png")
    page.reload()
    wait_loaded(qtbot, page)
    page.buckets.set_settings({"resolution": "128,128", "enable_bucket": True, "min_bucket_reso": 64,
                               "max_bucket_reso": 256, "bucket_reso_steps": 64})
    page.buckets.compute()
    qtbot.waitUntil(lambda: not page.buckets.is_running(), timeout=5000)
    report = page.buckets.report
    b = Bucketer((128, 128), min_bucket_reso=64, max_bucket_reso=256, bucket_reso_steps=64)
    expected = Counter()
    for e in page.scan.images:
        with Image.open(e.path) as im:
            a = b.assign(*im.size)
        expected[a.bucket] += e.repeats
        assert report.assignments[e.path] == a
    assert report.counts == dict(expected) and len(expected) > 1
    shown = {tuple(page.buckets.table.item(r, 0).data(0x0100)): int(page.buckets.table.item(r, 2).text())
             for r in range(page.buckets.table.rowCount())}
    assert shown == dict(expected)
    # the image preview shows the same bucket and crop
    e = entry_named(page, "1_bluesquare", "odd2.png")
    page.select_path(e.path)
    a = b.assign(200, 100)
    qtbot.waitUntil(lambda: "bucket" in page.preview.facts.text(), timeout=5000)
    assert f"bucket {a.bucket[0]}×{a.bucket[1]}" in page.preview.facts.text()
    assert "crop %d,%d–%d,%d" % crop_for(a) in page.preview.facts.text()
    # a contradictory setting is a sentence, not an exception
    page.buckets.set_settings({"resolution": "64,64", "min_bucket_reso": 128, "max_bucket_reso": 256})
    page.buckets.compute()
    assert "min_bucket_reso" in page.buckets.status.text()


def _make_big_dataset(root: Path, n: int) -> Path:
    folder = root / "1_many"
    folder.mkdir(parents=True)
    blobs = []
    for i in range(8):
        im = Image.new("RGB", (24 + i, 16), (30 * i, 100, 200))
        import io

        buf = io.BytesIO()
        im.save(buf, "PNG")
        blobs.append(buf.getvalue())
    for i in range(n):
        (folder / f"{i:05d}.png").write_bytes(blobs[i % 8])
        (folder / f"{i:05d}.txt").write_bytes(b"many, tag%d, simple background\n" % (i % 50))
    return root


def test_10000_images_fill_without_blocking_the_event_loop(qtbot, app_env, tmp_path):
    from PySide6.QtCore import QTimer

    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    import trainer.dataset  # noqa: F401  (imported once per process, numpy holds the GIL while it loads:
    # a start-up cost measured by bench/startup.py, not part of filling the model)

    data = _make_big_dataset(tmp_path / "big", 10_000)
    p = DatasetPage(CaptionStore(), tmp_path / "cache")
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    qtbot.wait(50)
    gaps = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append((now - last[0], now))
        last[0] = now

    marks = {}

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    last[0] = time.perf_counter()
    t0 = time.perf_counter()
    p.open_dataset(data)
    qtbot.waitUntil(lambda: p.model.rowCount() == 10_000, timeout=30000)
    marks["filled"] = time.perf_counter() - t0
    # the visible thumbnails are made (off the GUI thread) and the view scrolls
    qtbot.waitUntil(lambda: p.model.has_thumbnail(p.model.entry(0).path), timeout=20000)
    last_index = p.model.index(9999)

    def bottom_shown():
        p.view.scrollTo(last_index)  # the layout is batched: scroll again until the end is reached
        return p.model.has_thumbnail(p.model.entry(9999).path)

    marks["top thumbnails"] = time.perf_counter() - t0
    qtbot.waitUntil(bottom_shown, timeout=20000)
    marks["bottom thumbnails"] = time.perf_counter() - t0
    p.filter.setText("tag7")
    qtbot.waitUntil(lambda: p.model.rowCount() == 200, timeout=5000)
    qtbot.wait(100)
    timer.stop()
    p.shutdown()
    assert len(gaps) > 20
    longest = max(g for g, _ in gaps)
    worst = sorted(gaps, reverse=True)[:5]
    where = ", ".join(f"{g * 1000:.0f} ms ending at {t - t0:.2f} s" for g, t in worst)
    assert longest < 0.100, f"event loop blocked for {longest * 1000:.0f} ms ({where}; {marks})"
    # thumbnails are cached on disk
    assert any((tmp_path / "cache" / "thumbnails").rglob("*.png"))
