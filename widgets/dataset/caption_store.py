"""All caption writes of the dataset page go through one :class:`CaptionStore`: each is an undoable step on one
``QUndoStack`` (a single caption edit, or a whole bulk operation), written atomically by the dataset layer.

Undo and redo write the file back (so what the editor shows is what is on disk); a write that fails (read-only
file, full disk, a crash while saving) leaves the file as it was, adds no step and is reported through
``failed``, so the editor keeps the user's text. ``changed`` tells the page which caption files changed.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.i18n import tr


def _write(path: Path, text: str | None, newline: str, encoding: str) -> None:
    """Write ``text`` atomically; ``None`` deletes the file (a caption the edit created)."""
    from trainer.dataset.captions import write_caption_atomic

    if text is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    write_caption_atomic(path, text, newline, encoding)


class CaptionEditCommand(QUndoCommand):
    """One caption file from ``old`` to ``new`` text (``old`` None: the file did not exist)."""

    def __init__(self, store: CaptionStore, path: Path, old: str | None, new: str, newline: str,
                 encoding: str, label: str):
        super().__init__(label)
        self.store, self.path, self.old, self.new = store, path, old, new
        self.newline, self.encoding = newline, encoding
        self._first = True  # the store wrote the file before pushing: the first redo does nothing

    def redo(self):
        if self._first:
            self._first = False
            return
        self.store._apply(self.path, self.new, self.newline, self.encoding)

    def undo(self):
        self.store._apply(self.path, self.old, self.newline, self.encoding)


class BulkCommand(QUndoCommand):
    """A bulk edit (:func:`trainer.dataset.tags.apply_bulk`) as one step."""

    def __init__(self, store: CaptionStore, result, label: str):
        super().__init__(label)
        self.store, self.result = store, result
        self._first = True

    def redo(self):
        if self._first:
            self._first = False
            return
        from trainer.dataset.tags import BulkPreview, apply_bulk

        # the files now hold the old texts: apply the same changes again
        self.result = apply_bulk(BulkPreview(changes=list(self.result.written), examined=len(self.result.written)))
        self.store._report(self.result, [c.path for c in self.result.written])

    def undo(self):
        back = self.result.undo()
        self.store._report(back, [c.path for c in back.written])


class CaptionStore(QObject):
    changed = Signal(list)  # [Path] of caption files whose text changed (written, restored or deleted)
    failed = Signal(str)  # a sentence for the user

    def __init__(self, parent=None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)

    def write(self, path: Path, old: str | None, new: str, *, newline: str = "\n", encoding: str = "utf-8",
              label: str | None = None) -> bool:
        """Save one caption (``old``: the text on disk before, None when there was no file) as an undoable
        step. Returns False (and emits ``failed``) when the file could not be written; it is then unchanged."""
        path = Path(path)
        if old == new:
            return True
        try:
            _write(path, new, newline, encoding)
        except Exception as e:  # DatasetError from the atomic write, or anything a crash mid-save raises
            self.failed.emit(tr("Could not save {name}: {error}").format(name=path.name, error=e))
            return False
        self.undo_stack.push(CaptionEditCommand(self, path, old, new, newline, encoding,
                                                label or tr("Edit caption of {name}").format(name=path.stem)))
        self.changed.emit([path])
        return True

    def apply_bulk(self, preview, label: str):
        """Apply a previewed bulk edit as one undoable step; returns the BulkResult."""
        from trainer.dataset.tags import apply_bulk

        result = apply_bulk(preview)
        if result.written:
            self.undo_stack.push(BulkCommand(self, result, label))
        self._report(result, [c.path for c in result.written])
        return result

    # ------------------------------------------------------------------ used by the commands
    def _apply(self, path: Path, text: str | None, newline: str, encoding: str) -> None:
        try:
            _write(path, text, newline, encoding)
        except Exception as e:
            self.failed.emit(tr("Could not save {name}: {error}").format(name=path.name, error=e))
            return
        self.changed.emit([path])

    def _report(self, result, paths: list[Path]) -> None:
        if result.failed:
            first = result.failed[0].message
            more = len(result.failed) - 1
            msg = first if not more else tr("{first} (and {n} more)").format(first=first, n=more)
            self.failed.emit(msg)
        if paths:
            self.changed.emit(paths)
