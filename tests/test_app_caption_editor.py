"""The caption editor and bulk edits through the widgets, checked on disk."""
import os

import pytest

from app_fixtures import app_env, entry_named, page, wait_loaded  # noqa: F401


def _select(qtbot, page, concept, name):
    e = entry_named(page, concept, name)
    assert page.select_path(e.path)
    qtbot.waitUntil(lambda: page.editor.entry is e)
    return e


def test_edit_caption_through_widget_writes_file_and_undo_restores(qtbot, page):
    e = _select(qtbot, page, "2_redcircle", "img1.png")
    path = e.caption_path
    before = path.read_bytes()
    assert page.editor.tags() == ["redcircle", "simple background", "tag1"]
    assert [c.text for c in page.editor.chips.chips] == ["redcircle", "simple background", "tag1"]

    # add through the field (Enter), as a user does
    page.editor.add_edit.setText("smile")
    qtbot.keyClick(page.editor.add_edit, "\r")
    assert path.read_text(encoding="utf-8") == "redcircle, simple background, tag1, smile\n"
    assert e.caption == "redcircle, simple background, tag1, smile"
    assert not page.editor.is_dirty()

    # remove a chip with its ✕ button
    chip = page.editor.chips.chips[1]
    from PySide6.QtWidgets import QToolButton

    qtbot.mouseClick(chip.findChild(QToolButton), __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton)
    assert path.read_text(encoding="utf-8") == "redcircle, tag1, smile\n"

    # raw text typing is unsaved until Ctrl+S / Save
    page.editor.raw.setPlainText("a sentence, in natural language\n")
    assert page.editor.is_dirty() and page.editor.unsaved.isVisibleTo(page)
    assert path.read_text(encoding="utf-8") == "redcircle, tag1, smile\n"
    qtbot.mouseClick(page.editor.save_btn, __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton)
    assert path.read_text(encoding="utf-8") == "a sentence, in natural language\n"
    assert not page.editor.is_dirty()

    stack = page.store.undo_stack
    assert stack.count() == 3
    stack.undo()
    assert path.read_text(encoding="utf-8") == "redcircle, tag1, smile\n"
    assert page.editor.text() == "redcircle, tag1, smile\n"
    stack.undo()
    stack.undo()
    assert path.read_bytes() == before
    assert page.editor.tags() == ["redcircle", "simple background", "tag1"]
    stack.redo()
    assert path.read_text(encoding="utf-8") == "redcircle, simple background, tag1, smile\n"


def test_rename_move_and_keep_encoding_and_newlines(qtbot, page):
    e = _select(qtbot, page, "1_bluesquare", "img0.png")
    path = e.caption_path
    path.write_bytes(b"\xef\xbb\xbfbluesquare, simple background, tag0\r\nsecond line\r\n")
    page.editor.revert()
    page.editor.rename_tag_at(2, "square")
    page.editor.move_tag(2, 0)
    assert path.read_bytes() == b"\xef\xbb\xbfsquare, bluesquare, simple background\r\nsecond line\r\n"


def test_non_utf8_caption_is_read_only(qtbot, page):
    e = entry_named(page, "1_bluesquare", "img1.png")
    e.caption_path.write_bytes(b"caf\xe9, tag\n")
    page.reload()
    wait_loaded(qtbot, page)
    e = _select(qtbot, page, "1_bluesquare", "img1.png")
    assert page.editor.readonly and page.editor.raw.isReadOnly()
    assert page.editor.warning.isVisibleTo(page)
    assert not page.editor.add_tag("x")
    assert e.caption_path.read_bytes() == b"caf\xe9, tag\n"


def test_crash_during_save_leaves_original_intact(qtbot, page, monkeypatch):
    e = _select(qtbot, page, "2_redcircle", "img0.png")
    path = e.caption_path
    before = path.read_bytes()
    real_replace = os.replace

    def crash(src, dst):  # the temp file is written and fsynced; the process "crashes" before the rename
        assert os.path.exists(src) and open(src, "rb").read().startswith(b"changed")
        raise RuntimeError("simulated crash during save")

    page.editor.raw.setPlainText("changed caption\n")
    monkeypatch.setattr(os, "replace", crash)
    assert not page.editor.save()
    monkeypatch.setattr(os, "replace", real_replace)
    assert path.read_bytes() == before
    assert page.editor.is_dirty() and page.editor.text() == "changed caption\n"  # nothing lost
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert page.store.undo_stack.count() == 0
    assert page.editor.save()  # works again once the disk is fine
    assert path.read_text(encoding="utf-8") == "changed caption\n"


def test_full_disk_gives_message_and_keeps_text(qtbot, page, monkeypatch):
    import errno

    e = _select(qtbot, page, "2_redcircle", "img2.png")
    before = e.caption_path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    msgs = []
    page.store.failed.connect(msgs.append)
    page.editor.raw.setPlainText("new\n")
    monkeypatch.setattr(os, "fsync", full)
    assert not page.editor.save()
    monkeypatch.undo()
    assert msgs and "No space left" in msgs[0]
    assert page.editor.text() == "new\n" and page.editor.is_dirty()
    assert e.caption_path.read_bytes() == before


def test_file_changed_on_disk_reload_or_keep_mine(qtbot, page):
    e = _select(qtbot, page, "2_redcircle", "img1.png")
    path = e.caption_path
    # no unsaved edits: reloaded quietly
    path.write_text("outside edit\n", encoding="utf-8")
    page.editor.check_disk()
    assert page.editor.text() == "outside edit\n"
    # with unsaved edits: asks
    page.editor.raw.setPlainText("mine\n")
    path.write_text("outside again, longer\n", encoding="utf-8")
    assert not page.editor.save()
    assert page.editor.conflict.isVisibleTo(page)
    assert path.read_text(encoding="utf-8") == "outside again, longer\n"
    page.editor.keep_mine()
    assert path.read_text(encoding="utf-8") == "mine\n"
    page.store.undo_stack.undo()  # undo brings the other program's version back
    assert path.read_text(encoding="utf-8") == "outside again, longer\n"
    # reload choice
    page.editor.raw.setPlainText("mine 2\n")
    path.write_text("third outside edit\n", encoding="utf-8")
    qtbot.waitUntil(lambda: page.editor.conflict.isVisibleTo(page), timeout=5000)  # the file watcher saw it
    page.editor.reload_btn.click()
    assert page.editor.text() == "third outside edit\n" and not page.editor.is_dirty()


def test_missing_caption_is_created_and_undo_deletes_it(qtbot, page):
    e = entry_named(page, "1_bluesquare", "img0.png")
    e.caption_path.unlink()
    page.reload()
    wait_loaded(qtbot, page)
    e = _select(qtbot, page, "1_bluesquare", "img0.png")
    assert e.caption_missing and page.editor.warning.isVisibleTo(page)
    assert page.editor.tags() == ["bluesquare"]
    page.editor.add_tag("new tag")
    txt = e.path.with_suffix(".txt")
    assert txt.read_text(encoding="utf-8") == "bluesquare, new tag\n"
    page.store.undo_stack.undo()
    assert not txt.exists()


def test_bulk_replace_over_a_concept_changes_exactly_the_expected_files(qtbot, page):
    root = page.scan.root
    snapshot = {p: p.read_bytes() for p in root.rglob("*.txt")}
    page.concepts.choose("2_redcircle")
    dlg = page.open_bulk_dialog(show=False)
    titles = [t for t, _ in dlg.scopes]
    scope = titles.index("Concept 2_redcircle")
    dlg.set_operation("replace", "simple background", "white background", scope=scope)
    preview = dlg.preview()
    assert len(preview.changes) == 3 and "3 of 3" in dlg.preview_label.text()
    dlg.apply()
    expected = {root / "2_redcircle" / f"img{i}.txt" for i in range(3)}
    for p, old in snapshot.items():
        now = p.read_bytes()
        if p in expected:
            assert now == old.replace(b"simple background", b"white background")
        else:
            assert now == old
    assert page.store.undo_stack.count() == 1  # one step
    page.store.undo_stack.undo()
    assert {p: p.read_bytes() for p in root.rglob("*.txt")} == snapshot
    page.store.undo_stack.redo()
    assert all(b"white background" in p.read_bytes() for p in expected)


def test_bulk_add_front_respects_keep_tokens(qtbot, page):
    page.set_config({"keep_tokens": 1})
    dlg = page.open_bulk_dialog(show=False)
    whole = [t for t, _ in dlg.scopes].index("Whole dataset")
    dlg.set_operation("add_front", "masterpiece", scope=whole)
    dlg.apply()
    for p in page.scan.root.rglob("*.txt"):
        tags = p.read_text(encoding="utf-8").strip().split(", ")
        assert tags[1] == "masterpiece"
