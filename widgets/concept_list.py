"""The concept folders of the dataset (``6_maid``: repeats, images, samples per epoch), with an "All" row on
top; choosing one shows only its images."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem

from app.i18n import tr

CONCEPT_ROLE = Qt.ItemDataRole.UserRole + 1


class ConceptList(QTreeWidget):
    conceptChosen = Signal(object)  # Concept or None (all)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels([tr("Concept"), tr("Rep."), tr("Images"), tr("Samples")])
        self.headerItem().setToolTip(1, tr("Repeats: how often each image is seen per epoch"))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        h = self.header()
        h.setStretchLastSection(False)
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in (1, 2, 3):
            h.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.currentItemChanged.connect(self._changed)
        self._concepts = []

    def set_scan(self, scan) -> None:
        self.blockSignals(True)
        self.clear()
        self._concepts = list(scan.concepts) if scan is not None else []
        if scan is not None:
            all_item = QTreeWidgetItem([tr("All"), "", str(len(scan.images)), str(scan.samples_per_epoch)])
            f = all_item.font(0)
            f.setBold(True)
            for col in range(4):
                all_item.setFont(col, f)
            self.addTopLevelItem(all_item)
            for c in scan.concepts:
                it = QTreeWidgetItem([c.folder_name, f"×{c.repeats}", str(len(c.images)), str(c.samples)])
                it.setToolTip(0, tr("{name}: {n} images × {r} repeats = {s} samples per epoch").format(
                    name=c.folder_name, n=len(c.images), r=c.repeats, s=c.samples))
                it.setData(0, CONCEPT_ROLE, c.folder_name)
                for col in (1, 2, 3):
                    it.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.addTopLevelItem(it)
            self.setCurrentItem(all_item)
        self.blockSignals(False)

    def concept(self):
        it = self.currentItem()
        key = it.data(0, CONCEPT_ROLE) if it is not None else None
        return next((c for c in self._concepts if c.folder_name == key), None)

    def choose(self, folder_name: str | None) -> None:
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            if it.data(0, CONCEPT_ROLE) == folder_name:
                self.setCurrentItem(it)
                return

    def _changed(self, *_):
        self.conceptChosen.emit(self.concept())
