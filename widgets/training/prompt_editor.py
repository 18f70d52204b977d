"""An editor for the sample prompt file (sample_prompts): the text on the left as sd-scripts reads it, on the
right what each prompt will render with (size, seed, steps, CFG scale, sampler), or the sentence saying what
is wrong. Saving writes the file atomically; a new file is asked for a name first."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QDialog, QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QToolButton, QVBoxLayout)

from app.i18n import tr

TEMPLATE = ("# One prompt a line. --n negative prompt, --w/--h size, --d seed, --l CFG scale, --s steps,\n"
            "# --ss sampler. Lines starting with # are skipped.\n"
            "masterpiece, best quality, 1girl, smiling --n lowres, bad anatomy --w 512 --h 512 --d 1 --l 7 --s 28\n")


class PromptFileEditor(QDialog):
    saved = Signal(str)  # the path written

    def __init__(self, path: str = "", sampler: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr("Sample prompts"))
        self.resize(1180, 520)
        self.path, self.default_sampler = path, sampler
        lay = QVBoxLayout(self)
        self.file_label = QLabel()
        self.file_label.setObjectName("hint")
        lay.addWidget(self.file_label)
        split = QSplitter()
        self.text = QPlainTextEdit()
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)  # one prompt a line, as in the file
        self.table = QTableWidget(0, 8)
        self.table.setHorizontalHeaderLabels(["#", tr("prompt"), tr("negative"), tr("size"), tr("seed"), tr("steps"),
                                              "CFG", tr("sampler")])
        self.table.verticalHeader().hide()
        split.addWidget(self.text)
        split.addWidget(self.table)
        split.setSizes([500, 680])
        lay.addWidget(split, 1)
        self.message = QLabel()
        self.message.setObjectName("fieldMessage")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        buttons = QHBoxLayout()
        self.save_btn = QPushButton(tr("Save"))
        self.save_btn.clicked.connect(self.save)
        save_as = QPushButton(tr("Save as…"))
        save_as.clicked.connect(lambda: self.save(ask=True))
        close = QPushButton(tr("Close"))
        close.clicked.connect(self.close)
        buttons.addStretch(1)
        for b in (self.save_btn, save_as, close):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.preview)
        self.text.textChanged.connect(self._timer.start)
        p = Path(path) if path else None
        self.text.setPlainText(p.read_text(encoding="utf-8-sig") if p and p.is_file() else TEMPLATE)
        self._show_path()
        self.preview()

    def _show_path(self) -> None:
        self.file_label.setText(self.path or tr("New prompt file (not saved yet)"))

    def suffix(self) -> str:
        return Path(self.path).suffix if self.path else ".txt"

    def preview(self) -> list:
        from trainer.errors import ConfigError
        from trainer.sampling.prompts import parse_prompts

        try:
            prompts = parse_prompts(self.text.toPlainText(), self.suffix(), Path(self.path).name or "prompts.txt")
        except ConfigError as e:
            self.message.setText(str(e))
            self.message.show()
            self.table.setRowCount(0)
            return []
        self.message.hide()
        self.table.setRowCount(len(prompts))
        for r, p in enumerate(prompts):
            w, h = p.size()
            cells = (p.index, p.prompt, p.negative, f"{w}x{h}", tr("random") if p.seed is None else p.seed, p.steps,
                     f"{p.scale:g}", p.sampler or self.default_sampler)
            for c, value in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(str(value)))
        self.table.resizeColumnsToContents()
        return prompts

    def save(self, ask: bool = False) -> bool:
        from trainer.fileio import write_atomic

        if ask or not self.path:
            path, _ = QFileDialog.getSaveFileName(self, tr("Save prompt file"), self.path or "prompts.txt",
                                                  "Prompt files (*.txt *.toml *.json)")
            if not path:
                return False
            self.path = path
            self._show_path()
        write_atomic(self.path, self.text.toPlainText().encode("utf-8"))
        self.saved.emit(self.path)
        self.preview()
        return True


def add_edit_button(row, layout) -> None:
    """An 'Edit…' button beside the sample_prompts field: opens the editor on the field's file."""
    btn = QToolButton()
    btn.setText(tr("Edit…"))
    btn.setToolTip(tr("Write or change the prompt file and see how each prompt will be rendered"))

    def open_editor():
        sampler = row.form.rows["sample_sampler"].value() if "sample_sampler" in row.form.rows else ""
        row.prompt_editor = PromptFileEditor(row.editor.text(), sampler or "", row.form)

        def chosen(path):
            if row.editor.text() != path:
                row.editor.setText(path)
                row.form._edited(row.name)

        row.prompt_editor.saved.connect(chosen)
        row.prompt_editor.show()

    btn.clicked.connect(open_editor)
    layout.addWidget(btn)
    row.edit_button = btn
