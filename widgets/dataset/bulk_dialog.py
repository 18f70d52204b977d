"""Bulk caption edits over the selected images, a concept or the whole dataset: add a tag (front or back,
after the ``keep_tokens`` kept tags), remove, replace/rename, dedupe, sort, trigger word to front. The dialog
shows how many files change before anything is written; applying is one undoable step."""
from __future__ import annotations

import functools

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout)

from app.i18n import tr

OPS = ("add_back", "add_front", "remove", "replace", "dedupe", "sort", "front")


def op_titles() -> dict[str, str]:
    return {"add_back": tr("Add tag at the end"), "add_front": tr("Add tag at the front (after kept tokens)"),
            "remove": tr("Remove tag"), "replace": tr("Replace / rename tag"), "dedupe": tr("Remove repeated tags"),
            "sort": tr("Sort tags alphabetically (kept tokens stay)"), "front": tr("Move trigger word to the front")}


def make_operation(kind: str, tag: str = "", new: str = "", keep_tokens: int = 0):
    """A tag-list function for :func:`trainer.dataset.tags.preview_bulk`."""
    from trainer.dataset import captions as c

    if kind == "add_back":
        return functools.partial(c.add_tag, tag=tag, position="back", keep_tokens=keep_tokens)
    if kind == "add_front":
        return functools.partial(c.add_tag, tag=tag, position="front", keep_tokens=keep_tokens)
    if kind == "remove":
        return functools.partial(c.remove_tag, tag=tag)
    if kind == "replace":
        return functools.partial(c.replace_tag, old=tag, new=new)
    if kind == "dedupe":
        return c.dedupe_tags
    if kind == "sort":
        return functools.partial(c.sort_tags, keep_tokens=keep_tokens)
    if kind == "front":
        return functools.partial(c.move_to_front, tag=tag)
    raise ValueError(f"unknown bulk operation {kind!r}")


class BulkDialog(QDialog):
    """``scopes``: list of (title, entries); ``store``: the CaptionStore that applies the edit."""

    applied = Signal(object)  # BulkResult

    def __init__(self, store, scopes: list, keep_tokens: int = 0, caption_extension: str = ".txt",
                 completion=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr("Bulk edit captions"))
        self.store, self.scopes = store, scopes
        self.keep_tokens, self.caption_extension = keep_tokens, caption_extension
        self.preview_result = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.scope = QComboBox()
        for title, entries in scopes:
            self.scope.addItem(f"{title} ({len(entries)})")
        self.op = QComboBox()
        for k, t in op_titles().items():
            self.op.addItem(t, k)
        self.tag = QLineEdit()
        self.new = QLineEdit()
        if completion is not None:
            self.tag.setCompleter(completion)
        form.addRow(tr("Apply to"), self.scope)
        form.addRow(tr("Operation"), self.op)
        self.tag_label = QLabel(tr("Tag"))
        self.new_label = QLabel(tr("New tag"))
        form.addRow(self.tag_label, self.tag)
        form.addRow(self.new_label, self.new)
        lay.addLayout(form)
        self.preview_label = QLabel(tr("Press Preview to see how many files change."))
        self.preview_label.setWordWrap(True)
        lay.addWidget(self.preview_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.preview_btn = QPushButton(tr("Preview"))
        self.apply_btn = QPushButton(tr("Apply"))
        self.apply_btn.setEnabled(False)
        self.buttons.addButton(self.preview_btn, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.apply_btn, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.rejected.connect(self.reject)
        self.preview_btn.clicked.connect(self.preview)
        self.apply_btn.clicked.connect(self.apply)
        lay.addWidget(self.buttons)
        for w in (self.scope, self.op):
            w.currentIndexChanged.connect(self._changed)
        for w in (self.tag, self.new):
            w.textChanged.connect(self._changed)
        self._changed()
        self.resize(460, 240)

    def set_operation(self, kind: str, tag: str = "", new: str = "", scope: int = 0) -> None:
        self.scope.setCurrentIndex(scope)
        self.op.setCurrentIndex(self.op.findData(kind))
        self.tag.setText(tag)
        self.new.setText(new)

    def _changed(self, *_):
        kind = self.op.currentData()
        needs_tag = kind not in ("dedupe", "sort")
        self.tag.setEnabled(needs_tag)
        self.tag_label.setEnabled(needs_tag)
        self.new.setEnabled(kind == "replace")
        self.new_label.setEnabled(kind == "replace")
        self.preview_result = None
        self.apply_btn.setEnabled(False)
        self.preview_label.setText(tr("Press Preview to see how many files change."))

    def preview(self):
        from trainer.dataset.tags import preview_bulk

        kind = self.op.currentData()
        if kind not in ("dedupe", "sort") and not self.tag.text().strip():
            self.preview_label.setText(tr("Enter a tag first."))
            return None
        op = make_operation(kind, self.tag.text().strip(), self.new.text().strip(), self.keep_tokens)
        entries = self.scopes[self.scope.currentIndex()][1]
        self.preview_result = preview_bulk(entries, op, caption_extension=self.caption_extension)
        p = self.preview_result
        created = sum(1 for c in p.changes if c.old_text is None)
        text = tr("{n} of {m} caption files change").format(n=len(p.changes), m=p.examined)
        if created:
            text += " " + tr("({n} new)").format(n=created)
        if p.skipped:
            text += "; " + tr("{n} skipped (not UTF-8 or unreadable)").format(n=len(p.skipped))
        if p.changes:
            first = p.changes[0]
            text += "\n" + tr("For example {name}:").format(name=first.path.name) + \
                f"\n  {(first.old_text or '').splitlines()[0] if first.old_text else '—'}\n→ " + \
                first.new_text.splitlines()[0]
        self.preview_label.setText(text)
        self.apply_btn.setEnabled(bool(p.changes))
        return p

    def apply(self):
        if self.preview_result is None:
            self.preview()
        if self.preview_result is None or not self.preview_result.changes:
            return None
        label = f"{self.op.currentText()}: {self.tag.text().strip()}".rstrip(": ")
        result = self.store.apply_bulk(self.preview_result, label)
        self.applied.emit(result)
        self.accept()
        return result
