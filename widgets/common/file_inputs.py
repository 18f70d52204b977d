"""File inputs of the Tools page: a path field and a file list, both taking files dropped from a file manager
(or from the Training page's list of saved files)."""
from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QListWidget, QPushButton, QVBoxLayout, QWidget

from app.i18n import tr

LORA_FILTER = "LoRA (*.safetensors)"
MODEL_FILTER = "Checkpoints (*.safetensors *.ckpt)"


def dropped_paths(event) -> list[str]:
    """Local files of a drag from a file manager (or from the Training page's saved list)."""
    mime = event.mimeData()
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


class _DropTarget:
    """Accept drags that carry local files; `take_dropped(paths)` does the rest."""

    def dragEnterEvent(self, event):  # noqa: N802 - Qt's name
        if dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802 - Qt's name
        paths = dropped_paths(event)
        if paths:
            self.take_dropped(paths)
            event.acceptProposedAction()


class FileField(_DropTarget, QWidget):
    """A path line edit with a Browse button; accepts a dropped file."""

    def __init__(self, filter_: str, save: bool = False, parent=None):
        super().__init__(parent)
        self.filter, self.save = filter_, save
        self.edit = QLineEdit()
        self.edit.setAcceptDrops(False)  # the field takes the drop as a path, not as "file://..." text
        self.setAcceptDrops(True)
        btn = QPushButton(tr("Browse…"))
        btn.clicked.connect(self._browse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(btn)

    def _browse(self):
        fn = QFileDialog.getSaveFileName if self.save else QFileDialog.getOpenFileName
        path, _ = fn(self, "", self.edit.text(), self.filter)
        if path:
            self.edit.setText(path)

    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, p) -> None:
        self.edit.setText(str(p))

    def take_dropped(self, paths: list[str]) -> None:
        self.set_path(paths[0])


class FileList(_DropTarget, QWidget):
    """Several files (rows of a sample grid, LoRAs to merge): Add / Remove, in order; files can be dropped."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.list = QListWidget()
        add, rm = QPushButton(tr("Add…")), QPushButton(tr("Remove"))
        add.clicked.connect(self._add)
        rm.clicked.connect(lambda: [self.list.takeItem(self.list.row(i)) for i in self.list.selectedItems()])
        btns = QVBoxLayout()
        btns.addWidget(add)
        btns.addWidget(rm)
        btns.addStretch(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list, 1)
        lay.addLayout(btns)

    def _add(self):
        paths, _ = QFileDialog.getOpenFileNames(self, "", "", LORA_FILTER)
        self.set_paths(self.paths() + paths)

    def paths(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def set_paths(self, paths) -> None:
        self.list.clear()
        self.list.addItems([str(p) for p in paths])

    def take_dropped(self, paths: list[str]) -> None:
        self.set_paths(self.paths() + [p for p in paths if p not in self.paths()])
