"""The concept folders of the dataset (``6_maid``: repeats, images, samples per epoch, own options), with an
"All" row on top; choosing one shows only its images, double-clicking one edits its options. A concept's own
options are grey lines under it, wrapped between options to the list's width (again when it is resized), so
none is cut off however narrow the column or long the Russian wording."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem

from app.i18n import tr

from widgets.dataset.concept_options import dataset_config_buttons  # noqa: F401  (the Dataset page's buttons under this list)

CONCEPT_ROLE = Qt.ItemDataRole.UserRole + 1
PARTS_ROLE = Qt.ItemDataRole.UserRole + 2  # a concept row's option pieces, wrapped into its grey lines
INDENT = "   "
SEP = " · "


class ConceptList(QTreeWidget):
    conceptChosen = Signal(object)  # Concept or None (all)
    optionsChanged = Signal(object)  # Concept whose repeats or options were edited

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels([tr("Concept"), tr("Rep."), tr("Images"), tr("Samples")])
        self.headerItem().setToolTip(1, tr("Repeats: how often each image is seen per epoch"))
        self.headerItem().setToolTip(0, tr("The concept's own caption and flip options; double-click to edit"))
        self.itemDoubleClicked.connect(self._edit)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        h = self.header()
        h.setStretchLastSection(False)
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in (1, 2, 3):
            h.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.currentItemChanged.connect(self._changed)
        self._concepts = []
        self._several = False  # concepts of several [[datasets]]: each line names its dataset
        self._used_counts: dict = {}  # id(concept) -> its samples after reg balancing
        self._used_total = 0
        # the list (or its scroll bar) changed width: the stretched first column follows, the lines wrap again
        self._wrap_timer = QTimer(self)
        self._wrap_timer.setSingleShot(True)
        self._wrap_timer.setInterval(0)
        self._wrap_timer.timeout.connect(self._rewrap)
        h.sectionResized.connect(lambda i, _old, _new: i == 0 and self._wrap_timer.start())

    def set_scan(self, scan) -> None:
        self.blockSignals(True)
        self.clear()
        self._concepts = list(scan.concepts) if scan is not None else []
        self._several = len({c.dataset for c in self._concepts}) > 1
        self._count_used()
        if scan is not None:
            all_item = QTreeWidgetItem([tr("All"), "", str(len(scan.images)), str(self._used_total)])
            f = all_item.font(0)
            f.setBold(True)
            for col in range(4):
                all_item.setFont(col, f)
            self.addTopLevelItem(all_item)
            for n, c in enumerate(scan.concepts):  # keyed by place: two datasets may train the same folder
                it = QTreeWidgetItem([c.folder_name, "", "", ""])
                it.setData(0, CONCEPT_ROLE, n)
                for col in (1, 2, 3):
                    it.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.addTopLevelItem(it)
                self._fill(it, c)  # in the tree first: only then can its options line be expanded
            self.setCurrentItem(all_item)
        self.blockSignals(False)

    def concept(self):
        return self._concept_of(self.currentItem())

    def choose(self, folder_name: str | None) -> None:
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            c = self._concept_of(it)
            if (c.folder_name if c is not None else None) == folder_name:
                self.setCurrentItem(it)
                return

    def _fill(self, it, c) -> None:
        from widgets.dataset.concept_options import options_parts

        used = self._used(c)  # a reg folder's samples balanced to its dataset's training images
        for col, text in enumerate([c.folder_name, f"×{c.repeats}", str(len(c.images)), str(used)]):
            it.setText(col, text)
        tip = tr("{name}: {n} images × {r} repeats = {s} samples per epoch").format(
            name=c.folder_name, n=len(c.images), r=c.repeats, s=c.samples)
        if used != c.samples:
            tip += " " + tr("(regularization images: {s} used, balanced to the training images of their "
                            "dataset)").format(s=used)
        it.setToolTip(0, tip)
        parts = options_parts(c)
        if self._several:  # several [[datasets]]: which one, first
            parts.insert(0, tr("dataset {n}").format(n=c.dataset + 1))
        it.setData(0, PARTS_ROLE, parts)
        self._wrap(it)

    def _wrap(self, it) -> None:
        """The concept's options as grey lines under it, as many as the list's width needs."""
        parts = it.data(0, PARTS_ROLE) or []
        lines = wrap_parts(parts, self.fontMetrics(), self._line_width())
        if [it.child(i).text(0) for i in range(it.childCount())] == [INDENT + line for line in lines]:
            return
        it.takeChildren()
        for line in lines:
            sub = QTreeWidgetItem([INDENT + line])
            sub.setData(0, CONCEPT_ROLE, it.data(0, CONCEPT_ROLE))
            sub.setForeground(0, QColor("#6b6f76"))
            sub.setToolTip(0, SEP.join(parts))
            it.addChild(sub)  # in the tree first: only then can it span the columns and be expanded
            sub.setFirstColumnSpanned(True)
        it.setExpanded(bool(lines))

    def _line_width(self) -> int:
        """Room for one grey line: the list's width less the child indent, the prefix and the cell margins."""
        indent = self.indentation() + self.fontMetrics().horizontalAdvance(INDENT)
        return self.viewport().width() - indent - 12

    def _rewrap(self) -> None:
        for i in range(self.topLevelItemCount()):
            self._wrap(self.topLevelItem(i))

    def _count_used(self) -> None:
        """Each concept's samples after reg balancing, counted once per scan or edit (not once per row)."""
        from trainer.dataset.reg import concept_samples

        used = concept_samples(self._concepts)
        self._used_counts = {id(c): n for c, n in zip(self._concepts, used)}
        self._used_total = sum(used)  # the "All" row

    def _used(self, c) -> int:
        return self._used_counts.get(id(c), c.samples)

    def _edit(self, it, _col=0) -> None:
        from widgets.dataset.concept_options import edit_concept_options

        c = self._concept_of(it)
        if c is not None and edit_concept_options(c, self):
            self._count_used()
            for i in range(1, self.topLevelItemCount()):  # new repeats change what the reg folders balance to
                row = self.topLevelItem(i)
                self._fill(row, self._concept_of(row))
            self.topLevelItem(0).setText(3, str(self._used_total))  # "All"
            self.optionsChanged.emit(c)

    def _concept_of(self, it):
        key = it.data(0, CONCEPT_ROLE) if it is not None else None
        return self._concepts[key] if isinstance(key, int) and 0 <= key < len(self._concepts) else None

    def _changed(self, *_):
        self.conceptChosen.emit(self.concept())


def wrap_parts(parts: list[str], metrics, width: int) -> list[str]:
    """``parts`` joined with " · " into lines no wider than ``width`` pixels, broken only between parts;
    a part wider than a line on its own is elided."""
    lines: list[str] = []
    for part in parts:
        joined = lines[-1] + SEP + part if lines else part
        if lines and metrics.horizontalAdvance(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(metrics.elidedText(part, Qt.TextElideMode.ElideRight, max(width, 40)))
    return lines
