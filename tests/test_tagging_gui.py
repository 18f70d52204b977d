"""The Auto-tag dialog on the Dataset page: runs off the GUI thread, shows a preview, applies as one undo
step, stops, remembers its files."""
import pytest
from PySide6.QtCore import Qt

from app_fixtures import app_env, page, wait_loaded  # noqa: F401
from tagging_fixtures import make_tagger, solid


@pytest.fixture
def tagger_files(tmp_path):
    return make_tagger(tmp_path / "tagger")


def _dialog(page, model, tags):
    from widgets.dataset.tagger_dialog import open_tagger_dialog

    dlg = open_tagger_dialog(page, show=False)
    dlg.model.set_path(model)
    dlg.tags.set_path(tags)
    dlg.scope.setCurrentIndex([t for t, _ in page.bulk_scopes()].index("Whole dataset"))
    return dlg


def _cell(dlg, row, col):
    return dlg.table.model().index(row, col).data()


def _captions(page):
    return {p: p.read_bytes() for p in sorted(page.root.rglob("*.txt"))}


def test_tag_preview_apply_and_one_undo_restores_every_caption(qtbot, page, tagger_files):
    before = _captions(page)
    dlg = _dialog(page, *tagger_files)
    qtbot.addWidget(dlg)
    dlg.trigger.setText("sks")
    dlg.exclude.setText("solo")
    assert dlg.start()
    assert dlg.is_running() and not dlg.run_btn.isEnabled()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=20000)
    assert _captions(page) == before  # the preview writes nothing
    # 5 images: the trigger and the constant tags are added to every caption
    assert dlg.table.model().rowCount() == 5 and dlg.apply_btn.isEnabled()
    row = next(r for r in range(5) if _cell(dlg, r, 0) == "2_redcircle/img0.png")
    assert _cell(dlg, row, 1) == "redcircle, simple background, tag0"
    assert _cell(dlg, row, 2) == \
        "sks, redcircle, simple background, tag0, long hair, smile, ^_^"
    assert "5 of 5 caption files change" in dlg.info.text() and "CPU" in dlg.info.text()
    assert dlg.progress.value() == 5

    stack = page.store.undo_stack
    count = stack.count()
    with qtbot.waitSignal(dlg.applied):
        dlg.apply()
    assert stack.count() == count + 1
    cap = page.root / "2_redcircle" / "img0.txt"
    assert cap.read_text(encoding="utf-8") == \
        "sks, redcircle, simple background, tag0, long hair, smile, ^_^\n"
    e = next(e for e in page.scan.images if e.caption_path == cap)
    assert e.caption.startswith("sks, redcircle")  # the page follows the files
    stack.undo()
    assert _captions(page) == before
    stack.redo()
    assert cap.read_text(encoding="utf-8").startswith("sks, ")


def test_replace_creates_missing_captions_and_undo_deletes_them(qtbot, page, tagger_files):
    solid(page.root / "1_bluesquare" / "new.png", (0, 0, 255))
    page.reload()
    wait_loaded(qtbot, page)
    dlg = _dialog(page, *tagger_files)
    qtbot.addWidget(dlg)
    dlg.mode.setCurrentIndex(dlg.mode.findData("replace"))
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=20000)
    assert "(1 new)" in dlg.info.text()
    n = dlg.table.model().rowCount()
    rows = {_cell(dlg, r, 0): (_cell(dlg, r, 1), _cell(dlg, r, 2)) for r in range(n)}
    assert rows["1_bluesquare/new.png"] == ("(no caption file)", "blue theme, long hair, smile, ^_^, solo")
    dlg.apply()
    new = page.root / "1_bluesquare" / "new.txt"
    assert new.read_text(encoding="utf-8") == "blue theme, long hair, smile, ^_^, solo\n"
    assert (page.root / "2_redcircle" / "img1.txt").read_text(encoding="utf-8") == \
        "long hair, smile, ^_^, solo\n"
    page.store.undo_stack.undo()
    assert not new.exists()
    assert (page.root / "2_redcircle" / "img1.txt").read_text(encoding="utf-8") == \
        "redcircle, simple background, tag1\n"


def test_stop_a_run_and_a_bad_model_is_one_sentence(qtbot, page, tagger_files, tmp_path, monkeypatch):
    import threading

    import trainer.tagging.run as run

    started, gate = threading.Event(), threading.Event()
    real = run.prepare_image

    def gated(*a, **kw):  # the first image waits until the test has pressed Stop
        started.set()
        gate.wait(10)
        return real(*a, **kw)

    monkeypatch.setattr(run, "prepare_image", gated)
    dlg = _dialog(page, *tagger_files)
    qtbot.addWidget(dlg)
    dlg.start()
    assert started.wait(10)
    qtbot.mouseClick(dlg.stop_btn, Qt.MouseButton.LeftButton)
    gate.set()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=20000)
    # the batch under way (4 images) is finished, the fifth image is not tagged
    assert dlg.plan.stopped and len(dlg.plan.outcomes) == 4 and dlg.table.model().rowCount() == 4
    assert dlg.info.text().startswith("Stopped after 4 of 5 images.")
    assert dlg.run_btn.isEnabled() and not dlg.stop_btn.isEnabled() and dlg.apply_btn.isEnabled()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    dlg.model.set_path(bad)
    assert dlg.plan is None and not dlg.apply_btn.isEnabled()  # options changed: the preview is gone
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=20000)
    assert dlg.info.text().startswith(f"Tagger model '{bad}' cannot be loaded by onnxruntime")
    assert dlg.table.model().rowCount() == 0 and not dlg.apply_btn.isEnabled()


def test_files_and_options_are_remembered(qtbot, page, tagger_files):
    model, tags = tagger_files
    dlg = _dialog(page, model, tags)
    qtbot.addWidget(dlg)
    dlg.threshold.setValue(0.5)
    dlg.exclude.setText("watermark")
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=20000)
    from widgets.dataset.tagger_dialog import open_tagger_dialog

    again = open_tagger_dialog(page, show=False)
    qtbot.addWidget(again)
    assert (again.model.path(), again.tags.path()) == (str(model), str(tags))
    assert again.threshold.value() == 0.5 and again.exclude.text() == "watermark"
    # the tag list beside a newly chosen model is filled in
    again.model.set_path("")
    again.tags.set_path("")
    again.model.set_path(model)
    assert again.tags.path() == str(tags)


def test_the_dataset_page_button_opens_the_dialog_or_says_why_not(qtbot, page, app_env):
    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage
    from widgets.dataset.tagger_dialog import TaggerDialog

    qtbot.mouseClick(page.tag_btn, Qt.MouseButton.LeftButton)
    dlg = page.findChild(TaggerDialog)
    assert dlg is not None and dlg.isVisible() and dlg.scope.count() >= 2
    dlg.reject()
    empty = DatasetPage(CaptionStore(), app_env / "cache2")
    qtbot.addWidget(empty)
    with qtbot.waitSignal(empty.status) as said:
        qtbot.mouseClick(empty.tag_btn, Qt.MouseButton.LeftButton)
    assert said.args == ["Open a training folder first (Ctrl+O)."]
    assert empty.findChild(TaggerDialog) is None
