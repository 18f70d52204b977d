"""The caption editor of one image: its tags as chips (add with completion from the dataset's tags, remove,
rename, drag to reorder) and the whole caption file as raw text (natural-language captions too).

* Tag actions save at once; raw-text typing is marked unsaved (●) until saved (Ctrl+S, the Save button, or
  leaving the image). Every save is one undoable step of the shared :class:`CaptionStore` and is written
  atomically, keeping the file's encoding (BOM) and line breaks. A failed save keeps the text and says why.
* A caption that is not UTF-8 is shown read-only with a warning and never rewritten.
* A file changed by another program is noticed (file watcher, and a check before every save): without unsaved
  edits it is reloaded; with them a bar offers "Reload" or "Keep mine".
* Tags act on the first line only (the trained caption); further lines are kept as they are.

Keeping in step with the file on disk lives in :mod:`widgets.dataset.caption_disk_sync`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCompleter, QFrame, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QScrollArea, QToolButton, QVBoxLayout, QWidget)

from app.i18n import tr

from widgets.dataset.caption_disk_sync import CaptionDiskSync, file_stamp
from widgets.dataset.caption_store import CaptionStore
from widgets.dataset.tag_chips import TagChips


class CaptionEditor(CaptionDiskSync, QWidget):
    dirtyChanged = Signal(bool)
    message = Signal(str)

    def __init__(self, store: CaptionStore, parent=None):
        super().__init__(parent)
        self.store = store
        self.entry = None
        self.path: Path | None = None
        self.disk_text: str | None = None  # text on disk as last read or written (None: no file yet)
        self.newline, self.encoding = "\n", "utf-8"
        self.readonly = False
        self.keep_tokens = 0
        self.caption_extension = ".txt"
        self._stamp = None
        self._loading = False
        self._dirty = False
        self._committing = False
        self.watcher = QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._on_file_event)
        self.watcher.directoryChanged.connect(self._on_file_event)
        store.changed.connect(self._on_store_changed)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.title = QLabel(tr("No image selected"))
        self.title.setObjectName("sectionTitle")
        self.unsaved = QLabel("● " + tr("unsaved"))
        self.unsaved.setObjectName("unsaved")
        self.unsaved.hide()
        head.addWidget(self.title, 1)
        head.addWidget(self.unsaved)
        lay.addLayout(head)

        self.warning = QLabel()
        self.warning.setObjectName("warning")
        self.warning.setWordWrap(True)
        self.warning.hide()
        lay.addWidget(self.warning)

        self.conflict = QFrame()
        self.conflict.setObjectName("conflictBar")
        cl = QHBoxLayout(self.conflict)
        cl.setContentsMargins(6, 4, 6, 4)
        self.conflict_label = QLabel(tr("This caption was changed on disk by another program."))
        self.conflict_label.setWordWrap(True)
        cl.addWidget(self.conflict_label, 1)
        self.reload_btn = QPushButton(tr("Reload"))
        self.keep_btn = QPushButton(tr("Keep mine"))
        self.reload_btn.clicked.connect(self.reload_from_disk)
        self.keep_btn.clicked.connect(self.keep_mine)
        cl.addWidget(self.reload_btn)
        cl.addWidget(self.keep_btn)
        self.conflict.hide()
        lay.addWidget(self.conflict)

        tags_title = QLabel(tr("Tags"))
        tags_title.setObjectName("subTitle")
        lay.addWidget(tags_title)
        self.chips = TagChips()
        self.chips.removeRequested.connect(self.remove_tag_at)
        self.chips.renameRequested.connect(self.rename_tag_at)
        self.chips.moveRequested.connect(self.move_tag)
        self.chips.frontRequested.connect(self.tag_to_front)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.chips)
        scroll.setMinimumHeight(90)
        scroll.setFrameShape(QFrame.Shape.StyledPanel)
        lay.addWidget(scroll, 2)

        add_row = QHBoxLayout()
        self.add_edit = QLineEdit()
        self.add_edit.setPlaceholderText(tr("Add a tag (Enter)…"))
        self.completion = QStringListModel(self)
        comp = QCompleter(self.completion, self)
        comp.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        comp.setFilterMode(Qt.MatchFlag.MatchContains)
        comp.setMaxVisibleItems(12)
        self.add_edit.setCompleter(comp)
        self.add_edit.returnPressed.connect(lambda: self._add_from_field("back"))
        self.front_btn = QToolButton()
        self.front_btn.setText(tr("Add at front"))
        self.front_btn.setToolTip(tr("Insert after the kept tokens (keep_tokens)"))
        self.front_btn.clicked.connect(lambda: self._add_from_field("front"))
        add_row.addWidget(self.add_edit, 1)
        add_row.addWidget(self.front_btn)
        lay.addLayout(add_row)

        raw_title = QLabel(tr("Caption text"))
        raw_title.setObjectName("subTitle")
        lay.addWidget(raw_title)
        self.raw = QPlainTextEdit()
        self.raw.setPlaceholderText(tr("Comma-separated tags or a sentence"))
        self.raw.setTabChangesFocus(True)
        self.raw.textChanged.connect(self._on_raw_changed)
        lay.addWidget(self.raw, 1)

        btns = QHBoxLayout()
        self.info = QLabel()
        self.info.setObjectName("hint")
        btns.addWidget(self.info, 1)
        self.revert_btn = QPushButton(tr("Revert"))
        self.revert_btn.clicked.connect(self.revert)
        self.save_btn = QPushButton(tr("Save"))
        self.save_btn.setToolTip(tr("Save the caption file (Ctrl+S)"))
        self.save_btn.clicked.connect(self.save)
        btns.addWidget(self.revert_btn)
        btns.addWidget(self.save_btn)
        lay.addLayout(btns)
        self._chip_timer = QTimer(self)
        self._chip_timer.setSingleShot(True)
        self._chip_timer.setInterval(250)
        self._chip_timer.timeout.connect(self._refresh_chips)
        self._set_enabled(False)

    # ------------------------------------------------------------------ loading
    def set_completion_tags(self, tags: list[str]) -> None:
        self.completion.setStringList(tags)

    def set_entry(self, entry, caption_extension: str = ".txt") -> bool:
        """Show ``entry``'s caption; unsaved typing of the previous image is saved first. Returns False when
        that save failed (the previous image then stays)."""
        if self.entry is not None and self.is_dirty() and not self.save():
            return False
        self.caption_extension = caption_extension
        self.entry = entry
        self.conflict.hide()
        if entry is None:
            self._unwatch()
            self.path = None
            self.title.setText(tr("No image selected"))
            self._set_text("")
            self._set_enabled(False)
            return True
        self.path = entry.default_caption_path(caption_extension)
        self.title.setText(f"{entry.concept.folder_name} / {entry.path.name}")
        self._load()
        self._watch()
        return True

    def _load(self) -> None:
        from trainer.dataset.captions import CaptionEncodingError, read_caption
        from trainer.errors import DatasetError

        self.readonly = False
        self.warning.hide()
        self.newline, self.encoding = "\n", "utf-8"
        self._stamp = file_stamp(self.path)
        if not self.path.exists():
            self.disk_text = None
            text = self.entry.caption if self.entry is not None else ""
            self.warning.setText(tr("No caption file: this image trains on the concept name '{name}'. "
                                    "Editing creates {file}.").format(name=self.entry.concept.name,
                                                                     file=self.path.name))
            self.warning.show()
        else:
            try:
                cf = read_caption(self.path)
                self.disk_text, text = cf.text, cf.text
                self.newline, self.encoding = cf.newline, cf.encoding
            except CaptionEncodingError:
                self.readonly = True
                self.disk_text = None
                text = self.path.read_bytes().decode("utf-8", errors="replace")
                self.warning.setText(tr("This caption file is not UTF-8 text. It is shown read-only and is "
                                        "never re-encoded; save it as UTF-8 in a text editor to edit it here."))
                self.warning.show()
            except DatasetError as e:
                self.readonly = True
                self.disk_text = None
                text = ""
                self.warning.setText(str(e))
                self.warning.show()
        self._set_text(text)
        self._set_enabled(True)
        self._update_info()

    def _set_text(self, text: str) -> None:
        self._loading = True
        self.raw.setPlainText(text)
        self._loading = False
        self._refresh_chips()
        self._set_dirty(False)

    def _set_enabled(self, on: bool) -> None:
        editable = on and not self.readonly
        self.raw.setReadOnly(not editable)
        self.raw.setEnabled(on)
        self.add_edit.setEnabled(editable)
        self.front_btn.setEnabled(editable)
        self.chips.setEnabled(editable)
        self.save_btn.setEnabled(editable)
        self.revert_btn.setEnabled(editable)

    # ------------------------------------------------------------------ state
    def text(self) -> str:
        return self.raw.toPlainText()

    def tags(self) -> list[str]:
        from trainer.dataset.captions import split_tags

        return split_tags(self.text().split("\n", 1)[0])

    def is_dirty(self) -> bool:
        return self._dirty

    def _baseline(self) -> str:
        if self.disk_text is not None:
            return self.disk_text
        return self.entry.caption if self.entry is not None else ""

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.unsaved.setVisible(dirty)
            self.dirtyChanged.emit(dirty)

    def _on_raw_changed(self) -> None:
        if self._loading:
            return
        self._set_dirty(self.text() != self._baseline())
        self._chip_timer.start()

    def _refresh_chips(self) -> None:
        self.chips.set_tags(self.tags(), self.keep_tokens, enabled=not self.readonly and self.entry is not None)
        self._update_info()

    def _update_info(self) -> None:
        n = len(self.tags())
        self.info.setText(tr("{n} tags").format(n=n) if self.entry is not None else "")

    # ------------------------------------------------------------------ tag actions (saved at once)
    def _edit_tags(self, op, label: str) -> bool:
        if self.readonly or self.entry is None:
            return False
        from trainer.dataset.captions import join_tags, split_tags

        text = self.text()
        first, sep, rest = text.partition("\n")
        new_first = join_tags(op(split_tags(first)))
        new_text = new_first + (sep + rest if sep else "\n" if self.disk_text is None or
                                self.disk_text.endswith("\n") else "")
        return self._commit(new_text, label)

    def add_tag(self, tag: str, position: str = "back") -> bool:
        from trainer.dataset.captions import add_tag

        tag = tag.strip()
        if not tag:
            return False
        return self._edit_tags(lambda t: add_tag(t, tag, position=position, keep_tokens=self.keep_tokens),
                               tr("Add tag '{tag}'").format(tag=tag))

    def remove_tag_at(self, index: int) -> bool:
        tags = self.tags()
        if not 0 <= index < len(tags):
            return False
        tag = tags[index]
        return self._edit_tags(lambda t: t[:index] + t[index + 1:], tr("Remove tag '{tag}'").format(tag=tag))

    def rename_tag_at(self, index: int, new: str) -> bool:
        from trainer.dataset.captions import dedupe_tags

        tags = self.tags()
        if not 0 <= index < len(tags):
            return False
        old = tags[index]
        new = new.strip()

        def op(t):
            t = list(t)
            if new:
                t[index] = new
            else:
                del t[index]
            return dedupe_tags(t)

        return self._edit_tags(op, tr("Rename tag '{old}' to '{new}'").format(old=old, new=new))

    def move_tag(self, src: int, dst: int) -> bool:
        from trainer.dataset.captions import move_tag

        tags = self.tags()
        if not (0 <= src < len(tags) and 0 <= dst < len(tags)) or src == dst:
            return False
        return self._edit_tags(lambda t: move_tag(t, src, dst), tr("Move tag '{tag}'").format(tag=tags[src]))

    def tag_to_front(self, index: int) -> bool:
        from trainer.dataset.captions import move_to_front

        tags = self.tags()
        if not 0 <= index < len(tags):
            return False
        return self._edit_tags(lambda t: move_to_front(t, tags[index]),
                               tr("Move tag '{tag}' to front").format(tag=tags[index]))

    def _add_from_field(self, position: str) -> None:
        text = self.add_edit.text()
        added = False
        for tag in text.split(","):  # "a, b" adds two tags
            if tag.strip():
                added = self.add_tag(tag, position) or added
        if added or not text.strip():
            self.add_edit.clear()

    # ------------------------------------------------------------------ saving
    def save(self) -> bool:
        """Save the raw text (if changed). False when it could not be saved (the text stays)."""
        if self.entry is None or self.readonly:
            return True
        if not self.is_dirty():
            return True
        return self._commit(self.text(), tr("Edit caption of {name}").format(name=self.entry.path.name))

    def _commit(self, new_text: str, label: str) -> bool:
        if self._changed_on_disk():
            self._set_text_keep_dirty(new_text)
            self._show_conflict()
            return False
        self._committing = True
        try:
            ok = self.store.write(self.path, self.disk_text, new_text, newline=self.newline,
                                  encoding=self.encoding, label=label)
        finally:
            self._committing = False
        if not ok:
            self._set_text_keep_dirty(new_text)
            return False
        self.disk_text = new_text
        self._stamp = file_stamp(self.path)
        self.warning.hide()
        self._watch()
        if self.text() != new_text:
            self._set_text(new_text)
        else:
            self._set_dirty(False)
            self._refresh_chips()
        return True

    def _set_text_keep_dirty(self, text: str) -> None:
        if self.text() != text:
            self._loading = True
            self.raw.setPlainText(text)
            self._loading = False
            self._refresh_chips()
        self._set_dirty(text != self._baseline())

    def revert(self) -> None:
        if self.entry is not None:
            self._load()
