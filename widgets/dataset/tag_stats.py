"""Tag frequency per concept and overall: the very table the trainer stores as ``ss_tag_frequency``
(:func:`trainer.dataset.tags.tag_frequency`). Click a tag to show only the images that have it."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from app.i18n import tr

from widgets.dataset.sort_arrow import point_sort_arrow_down_for_descending

ALL = "__all__"


class TagTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, int]] = []
        self.images = 0

    def set_counts(self, counts: dict[str, int], images: int) -> None:
        self.beginResetModel()
        self.rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        self.images = images
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):
        return 3

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return (tr("Tag"), tr("Images"), tr("Share"))[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        tag, n = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return tag
            if col == 1:
                return n
            return f"{100 * n / self.images:.0f}%" if self.images else ""
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return (tag, n, n)[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class TagStats(QWidget):
    tagClicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scan = None
        self.freq: dict[str, dict[str, int]] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(QLabel(tr("Concept:")))
        self.scope = QComboBox()
        self.scope.currentIndexChanged.connect(self._show)
        row.addWidget(self.scope, 1)
        self.search = QLineEdit()
        self.search.setPlaceholderText(tr("Find tag…"))
        self.search.setClearButtonEnabled(True)
        row.addWidget(self.search, 1)
        lay.addLayout(row)
        self.model = TagTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        point_sort_arrow_down_for_descending(self.table.horizontalHeader())
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setToolTip(tr("Click a tag to show only the images that have it"))
        self.table.clicked.connect(self._clicked)
        lay.addWidget(self.table, 1)
        self.summary = QLabel()
        self.summary.setObjectName("hint")
        lay.addWidget(self.summary)

    def set_scan(self, scan, freq: dict | None = None) -> None:
        """Show a scan's tags; ``freq`` (its :func:`tag_frequency`) when already computed off the GUI thread."""
        from trainer.dataset.tags import tag_frequency

        self.scan = scan
        if freq is None:
            freq = tag_frequency(scan) if scan is not None else {}
        self.freq = freq
        current = self.scope.currentData()
        self.scope.blockSignals(True)
        self.scope.clear()
        self.scope.addItem(tr("All concepts"), ALL)
        if scan is not None:
            for c in scan.concepts:
                self.scope.addItem(f"{c.folder_name} ({len(c.images)})", c.folder_name)
        i = self.scope.findData(current) if current is not None else 0
        self.scope.setCurrentIndex(max(0, i))
        self.scope.blockSignals(False)
        self._show()

    def refresh(self) -> None:
        self.set_scan(self.scan)

    def set_concept(self, folder_name: str | None) -> None:
        i = self.scope.findData(folder_name or ALL)
        if i >= 0:
            self.scope.setCurrentIndex(i)

    def counts(self) -> dict[str, int]:
        """The table shown now: tag -> number of images."""
        return dict(self.model.rows)

    def _show(self) -> None:
        from trainer.dataset.tags import overall_tag_frequency

        key = self.scope.currentData()
        if self.scan is None:
            self.model.set_counts({}, 0)
            self.summary.setText("")
            return
        if key in (None, ALL):
            counts = overall_tag_frequency(self.freq)
            images = len(self.scan.images)
        else:
            counts = self.freq.get(key, {})
            images = next((len(c.images) for c in self.scan.concepts if c.folder_name == key), 0)
        self.model.set_counts(counts, images)
        self.summary.setText(tr("{tags} different tags in {images} images (as written to ss_tag_frequency)")
                             .format(tags=len(counts), images=images))

    def _clicked(self, index) -> None:
        src = self.proxy.mapToSource(index)
        self.tagClicked.emit(self.model.rows[src.row()][0])
