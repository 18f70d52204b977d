"""How a thumbnail is painted in the Dataset page's grid: the picture centred over its elided file name and
its concept folder (two concepts may both hold a 00.png), an orange mark when the caption is missing or
unreadable."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from widgets.dataset.thumbnails import ENTRY_ROLE, THUMB_SIZE


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a thumbnail centred over its elided file name; a missing caption gets an orange mark."""

    def __init__(self, size: int = THUMB_SIZE, parent=None):
        super().__init__(parent)
        self.size = size

    def sizeHint(self, option, index):
        return QSize(self.size + 16, self.size + 46)  # the file name and, below it, the concept

    def paint(self, painter: QPainter, option, index):
        painter.save()
        r = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(r.adjusted(2, 2, -2, -2), option.palette.highlight())
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            x = r.x() + (r.width() - pm.width()) // 2
            y = r.y() + 6 + (self.size - pm.height()) // 2
            painter.drawPixmap(x, y, pm)
        e = index.data(ENTRY_ROLE)
        text_rect = QRect(r.x() + 4, r.y() + self.size + 8, r.width() - 8, 20)
        name = index.data(Qt.ItemDataRole.DisplayRole) or ""
        fm = option.fontMetrics
        painter.setPen(option.palette.highlightedText().color() if selected else option.palette.text().color())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(name, Qt.TextElideMode.ElideMiddle, text_rect.width()))
        if e is not None:  # two concepts may both have a 00.png: the concept says which is which
            concept_rect = text_rect.translated(0, 17)
            if not selected:
                painter.setPen(option.palette.placeholderText().color())
            painter.drawText(concept_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
                             fm.elidedText(e.concept.folder_name, Qt.TextElideMode.ElideMiddle, concept_rect.width()))
        if e is not None and (e.caption_missing or e.caption_unreadable):
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#e67e22"))
            painter.drawEllipse(QRect(r.right() - 20, r.y() + 6, 14, 14))
            painter.setPen(QColor("white"))
            painter.drawText(QRect(r.right() - 20, r.y() + 6, 14, 14), Qt.AlignmentFlag.AlignCenter, "!")
        painter.restore()
