"""The dialog shown when the final LoRA could not be written where asked (trainer.events.SaveFailed).

The trainer has already written it to the rescue folder (when it could); the dialog says why the save
failed and where the file is, and offers to write the weights, kept in memory in the event, to another
folder. A failed retry says why and lets the user choose again; nothing is lost until the dialog is closed.
Non-blocking (open(), not exec()), so the training view keeps drawing."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.i18n import tr


def reason_words(reason: str) -> str:
    """trainer.run.save_guard's few words for an OSError, in the interface language."""
    words = {"the disk is full": tr("the disk is full"),
             "the disk quota is used up": tr("the disk quota is used up"),
             "no permission to write there": tr("no permission to write there"),
             "the disk is read-only": tr("the disk is read-only"),
             "the folder is gone": tr("the folder is gone"),
             "a file is in the way of the folder": tr("a file is in the way of the folder"),
             "the file is larger than the system allows": tr("the file is larger than the system allows")}
    return words.get(reason, reason)


class SaveRetryDialog(QDialog):
    def __init__(self, failure, parent: QWidget | None = None, on_saved=None):
        super().__init__(parent)
        self.failure = failure  # not self.event: that would hide QWidget.event()
        self.on_saved = on_saved or (lambda path: None)
        self.saved_to: str | None = None
        self.setWindowTitle(tr("The LoRA could not be saved"))
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setMinimumWidth(620)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # paths can be copied
        self.choose_btn = QPushButton(tr("Save to another folder…"))
        self.close_btn = QPushButton(tr("Close"))
        self.choose_btn.clicked.connect(self.choose_folder)
        self.close_btn.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.choose_btn)
        buttons.addWidget(self.close_btn)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addLayout(buttons)
        self.setText(self._text())
        self.choose_btn.setDefault(True)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt spelling, like QMessageBox)
        self.label.setText(text)

    def text(self) -> str:
        return self.label.text()

    def _text(self) -> str:
        e = self.failure
        text = tr("{path} could not be saved: {reason}.").format(path=e.path, reason=reason_words(e.reason))
        if e.fallback:
            return text + "\n" + tr("The LoRA was written to {path} instead.").format(path=e.fallback)
        return text + "\n" + tr("The rescue folder could not be written either; the LoRA is kept in memory "
                                "until this window is closed.")

    def choose_folder(self) -> None:
        start = str(Path(self.failure.fallback or self.failure.path).parent)
        folder = QFileDialog.getExistingDirectory(self, tr("Save the LoRA to…"), start)
        if folder:
            self.save_to(folder)

    def save_to(self, folder: str) -> bool:
        """Write the kept weights into `folder` under the intended file name; True when it worked."""
        from trainer.fileio import write_atomic
        from trainer.run.save_guard import os_reason

        target = Path(folder) / Path(self.failure.path).name
        try:
            write_atomic(target, self.failure.data)
        except OSError as err:
            self.setText(self._text() + "\n\n" + tr("{path} could not be saved either: {reason}.").format(
                path=target, reason=reason_words(os_reason(err))))
            return False
        self.saved_to = str(target)
        self.setText(tr("Saved {path}.").format(path=target))
        self.choose_btn.setEnabled(False)
        self.on_saved(str(target))
        return True


def offer_save_retry(parent: QWidget, event, on_saved=None) -> SaveRetryDialog:
    dialog = SaveRetryDialog(event, parent, on_saved)
    dialog.open()
    return dialog
