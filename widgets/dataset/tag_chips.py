"""Tags shown as chips: click ✕ to remove, double-click to rename, drag to reorder, right-click for more.

The widget only shows a list and reports what the user asked for (signals with indexes); the caption editor
turns requests into caption edits.
"""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QMenu, QToolButton, QWidget

from app.i18n import tr

from widgets.common.flow_layout import FlowLayout

_MIME = "application/x-lora-desk-tag-index"


class TagChip(QFrame):
    removeRequested = Signal(int)
    renameRequested = Signal(int, str)
    frontRequested = Signal(int)

    def __init__(self, index: int, text: str, kept: bool, parent=None):
        super().__init__(parent)
        self.index, self.text = index, text
        self.setObjectName("tagChip")
        self.setProperty("kept", kept)
        self.setToolTip(tr("Kept in place when shuffling (keep_tokens)") if kept else
                        tr("Drag to reorder, double-click to rename"))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 2, 2, 2)
        lay.setSpacing(2)
        self.label = QLabel(text)
        lay.addWidget(self.label)
        self.edit = None
        btn = QToolButton()
        btn.setText("✕")
        btn.setAutoRaise(True)
        btn.setToolTip(tr("Remove tag"))
        btn.setCursor(Qt.CursorShape.PointingHandCursor)
        btn.clicked.connect(lambda: self.removeRequested.emit(self.index))
        lay.addWidget(btn)
        self._press: QPoint | None = None

    def mouseDoubleClickEvent(self, e):
        self.start_rename()

    def start_rename(self):
        if self.edit is not None:
            return
        self.edit = QLineEdit(self.text)
        self.edit.setMinimumWidth(max(80, self.label.width() + 30))
        self.layout().replaceWidget(self.label, self.edit)
        self.label.hide()
        self.edit.selectAll()
        self.edit.setFocus()
        self.edit.editingFinished.connect(self._finish_rename)

    def _finish_rename(self):
        if self.edit is None:
            return
        new = self.edit.text().strip()
        self.edit.deleteLater()
        self.edit = None
        if new != self.text:
            self.renameRequested.emit(self.index, new)
        else:
            self.label.show()

    def contextMenuEvent(self, e):
        m = QMenu(self)
        m.addAction(tr("Move to front"), lambda: self.frontRequested.emit(self.index))
        m.addAction(tr("Rename…"), self.start_rename)
        m.addAction(tr("Remove"), lambda: self.removeRequested.emit(self.index))
        m.exec(e.globalPos())

    def mousePressEvent(self, e):
        if e.button() == Qt.MouseButton.LeftButton:
            self._press = e.position().toPoint()

    def mouseMoveEvent(self, e):
        if self._press is None or (e.position().toPoint() - self._press).manhattanLength() < 8:
            return
        self._press = None
        drag = QDrag(self)
        mime = QMimeData()
        mime.setData(_MIME, str(self.index).encode())
        drag.setMimeData(mime)
        drag.setPixmap(self.grab())
        drag.exec(Qt.DropAction.MoveAction)


class TagChips(QWidget):
    """``set_tags(tags, keep_tokens)``; emits ``removeRequested(i)``, ``renameRequested(i, text)``,
    ``moveRequested(from, to)``, ``frontRequested(i)``."""

    removeRequested = Signal(int)
    renameRequested = Signal(int, str)
    moveRequested = Signal(int, int)
    frontRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.flow = FlowLayout(self)
        self.chips: list[TagChip] = []
        self.empty = QLabel(tr("No tags"))
        self.empty.setObjectName("hint")
        self.flow.addWidget(self.empty)

    def set_tags(self, tags: list[str], keep_tokens: int = 0, enabled: bool = True) -> None:
        for c in self.chips:
            self.flow.removeWidget(c)
            c.hide()
            c.setParent(None)
            c.deleteLater()
        self.chips = []
        self.empty.setVisible(not tags)
        for i, t in enumerate(tags):
            chip = TagChip(i, t, i < keep_tokens, self)
            chip.setEnabled(enabled)
            chip.removeRequested.connect(self.removeRequested)
            chip.renameRequested.connect(self.renameRequested)
            chip.frontRequested.connect(self.frontRequested)
            self.flow.addWidget(chip)
            self.chips.append(chip)
        self.updateGeometry()

    def tags(self) -> list[str]:
        return [c.text for c in self.chips]

    def dragEnterEvent(self, e):
        if e.mimeData().hasFormat(_MIME):
            e.acceptProposedAction()

    def dragMoveEvent(self, e):
        if e.mimeData().hasFormat(_MIME):
            e.acceptProposedAction()

    def drop_index(self, pos: QPoint) -> int:
        """Index a chip dropped at ``pos`` goes to (before the chip under/after the point)."""
        for i, c in enumerate(self.chips):
            g = c.geometry()
            if pos.y() < g.top():
                return i
            if g.top() <= pos.y() <= g.bottom() and pos.x() < g.center().x():
                return i
        return len(self.chips)

    def dropEvent(self, e):
        if not e.mimeData().hasFormat(_MIME):
            return
        src = int(bytes(e.mimeData().data(_MIME)).decode())
        dst = self.drop_index(e.position().toPoint())
        if dst > src:
            dst -= 1
        if dst != src:
            self.moveRequested.emit(src, dst)
        e.acceptProposedAction()
