"""Aspect-ratio bucket preview: for the chosen ``resolution``, ``enable_bucket``, ``min/max_bucket_reso``,
``bucket_reso_steps`` and ``bucket_no_upscale``, every image's bucket, resized size and crop, and the images per
bucket. It calls the trainer's own code (:class:`trainer.dataset.buckets.Bucketer`,
:func:`trainer.dataset.plan.assign_buckets`) in a pool thread, so it agrees exactly with training.

A dataset config is bucketed as the trainer buckets it (trainer.dataset.groups): each [[datasets]] at its own
resolution and bucket keys, the fields above standing in only for keys a dataset does not set; with several
datasets each row names its dataset."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (QCheckBox, QGridLayout, QHeaderView, QLabel, QLineEdit, QSpinBox, QSplitter,
                               QStyledItemDelegate, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.i18n import tr

from widgets.common.worker import run_task

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
DATASET_ROLE = Qt.ItemDataRole.UserRole + 2  # the bucket row's [[datasets]] index


def _bucket_datasets(scan, cfgs: list, sizes: dict):
    """Pool thread: the scan's [[datasets]] bucketed each at its own settings -> (groups, merged report)."""
    from trainer.dataset.groups import bucket_groups, split_groups

    groups = split_groups(scan, cfgs)
    return groups, bucket_groups(groups, sizes)


class _BarDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option, index):
        frac = index.data(Qt.ItemDataRole.UserRole) or 0.0
        r = option.rect.adjusted(4, 5, -4, -5)
        painter.save()
        painter.fillRect(QRect(r.x(), r.y(), int(r.width() * frac), r.height()), QColor("#5b8def"))
        painter.restore()


BUCKET_FIELDS = ("resolution", "enable_bucket", "bucket_no_upscale", "min_bucket_reso", "max_bucket_reso",
                 "bucket_reso_steps")


class BucketPreview(QWidget):
    settingsChanged = Signal(dict)  # the bucket fields of TrainConfig (kohya names)
    reportReady = Signal(object)  # BucketReport
    imageActivated = Signal(object)

    def __init__(self, values=None, parent=None):
        super().__init__(parent)
        self.scan = None
        self.report = None
        self.groups = None  # the [[datasets]] with their reports, when a dataset config is shown
        self.dataset_cfgs = lambda: None  # the page's: the run's settings per [[datasets]], None for a folder
        self.sizes: dict[Path, tuple[int, int]] = {}
        self.task = None
        self._pending = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        grid = QGridLayout()
        self.resolution = QLineEdit()
        self.resolution.setToolTip(tr("Training resolution: one number or width,height"))
        self.enable_bucket = QCheckBox("enable_bucket")
        self.min_reso = QSpinBox()
        self.max_reso = QSpinBox()
        self.steps = QSpinBox()
        for sb, lo, hi in ((self.min_reso, 64, 4096), (self.max_reso, 64, 8192), (self.steps, 8, 256)):
            sb.setRange(lo, hi)
            sb.setSingleStep(8 if sb is self.steps else 64)
        self.no_upscale = QCheckBox("bucket_no_upscale")
        grid.addWidget(QLabel("resolution"), 0, 0)
        grid.addWidget(self.resolution, 0, 1)
        grid.addWidget(self.enable_bucket, 0, 2)
        grid.addWidget(self.no_upscale, 0, 3)
        grid.addWidget(QLabel("min_bucket_reso"), 1, 0)
        grid.addWidget(self.min_reso, 1, 1)
        grid.addWidget(QLabel("max_bucket_reso"), 1, 2)
        grid.addWidget(self.max_reso, 1, 3)
        grid.addWidget(QLabel("bucket_reso_steps"), 2, 0)
        grid.addWidget(self.steps, 2, 1)
        lay.addLayout(grid)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("hint")
        lay.addWidget(self.status)
        split = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels([tr("Bucket"), tr("Images"), tr("× repeats"), ""])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        # the bucket column fits "dataset 2 · 64×128  (0.50)"; the bar takes what is left
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setItemDelegateForColumn(3, _BarDelegate(self.table))
        self.table.itemSelectionChanged.connect(self._bucket_selected)
        split.addWidget(self.table)
        self.images = QTableWidget(0, 4)
        self.images.setHorizontalHeaderLabels([tr("Image"), tr("Size"), tr("Resized to"), tr("Crop (l, t, r, b)")])
        self.images.verticalHeader().hide()
        self.images.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.images.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.images.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):  # the numbers and their headers (longer in Russian) are never cut off
            self.images.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.images.verticalHeader().setDefaultSectionSize(22)
        self.images.itemClicked.connect(self._image_clicked)
        split.addWidget(self.images)
        lay.addWidget(split, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.compute)
        for w in (self.resolution,):
            w.textChanged.connect(self._changed)
        for w in (self.enable_bucket, self.no_upscale):
            w.toggled.connect(self._changed)
        for w in (self.min_reso, self.max_reso, self.steps):
            w.valueChanged.connect(self._changed)
        if values is not None:
            self.set_settings(values)

    # ------------------------------------------------------------------ settings <-> TrainConfig fields
    def set_settings(self, values) -> None:
        """Show the bucket fields of ``values`` (a TrainConfig or a dict of some of its fields); no defaults of
        its own: the page passes the shared config's values. No ``settingsChanged`` for this."""
        if not isinstance(values, dict):
            values = {k: getattr(values, k) for k in BUCKET_FIELDS}
        widgets = [self.resolution, self.enable_bucket, self.no_upscale, self.min_reso, self.max_reso, self.steps]
        for w in widgets:
            w.blockSignals(True)
        # the text the user is typing ("768, ") is left alone when it already says the same
        if "resolution" in values and self.resolution.text().strip() != str(values["resolution"]):
            self.resolution.setText(str(values["resolution"]))
        for key, box in (("enable_bucket", self.enable_bucket), ("bucket_no_upscale", self.no_upscale)):
            if key in values:
                box.setChecked(bool(values[key]))
        for key, spin in (("min_bucket_reso", self.min_reso), ("max_bucket_reso", self.max_reso),
                          ("bucket_reso_steps", self.steps)):
            if key in values:
                spin.setValue(int(values[key]))
        for w in widgets:
            w.blockSignals(False)
        if self.scan is not None:  # the images are sorted again for the new settings
            self._timer.start()

    def settings(self) -> dict:
        return {"resolution": self.resolution.text().strip(), "enable_bucket": self.enable_bucket.isChecked(),
                "bucket_no_upscale": self.no_upscale.isChecked(), "min_bucket_reso": self.min_reso.value(),
                "max_bucket_reso": self.max_reso.value(), "bucket_reso_steps": self.steps.value()}

    def bucketer(self):
        """The trainer's Bucketer for these settings; raises ValueError/ConfigError with a sentence."""
        from types import SimpleNamespace

        from trainer.dataset.groups import bucketer_of

        return bucketer_of(SimpleNamespace(**self.settings()))

    def _changed(self, *_):
        self.settingsChanged.emit(self.settings())
        self._timer.start()

    # ------------------------------------------------------------------ computing
    def set_scan(self, scan) -> None:
        self.scan = scan
        self.sizes = {}
        self.report = None
        self.groups = None
        self.table.setRowCount(0)
        self.images.setRowCount(0)
        if self.isVisible():  # otherwise when the tab is first shown: header reads compete with loading
            self.compute()

    def showEvent(self, e):
        super().showEvent(e)
        if self.scan is not None and self.report is None and self.task is None:
            self.compute()

    def set_sizes(self, sizes: dict) -> None:
        """Image sizes already known (from the hygiene check): no need to read headers again."""
        self.sizes.update(sizes)

    def compute(self) -> None:
        from trainer.dataset.groups import bucketer_of
        from trainer.dataset.plan import assign_buckets

        if self.scan is None:
            return
        cfgs = self.dataset_cfgs()
        try:
            bucketer = self.bucketer()
            for c in cfgs or ():
                bucketer_of(c)  # a dataset's own resolution may be wrong too
        except Exception as e:  # ConfigError / ValueError: a sentence for the user
            self.status.setText(str(e))
            self.status.setStyleSheet("color: #c0392b")
            return
        self.status.setStyleSheet("")
        if self.task is not None:
            self._pending = True
            return
        self.status.setText(tr("Sorting images into buckets…"))
        scan = self.scan
        if cfgs:
            self.task = run_task(_bucket_datasets, scan, cfgs, dict(self.sizes), owner=self,
                                 on_error=self._failed, on_done=lambda r, s=scan: self._done(s, r[1], r[0]))
            return
        self.task = run_task(assign_buckets, scan, bucketer, sizes=dict(self.sizes), owner=self,
                             on_done=lambda r, s=scan: self._done(s, r), on_error=self._failed)

    def is_running(self) -> bool:
        return self.task is not None

    def _failed(self, msg):
        self.task = None
        self.status.setText(msg)

    def _done(self, scan, report, groups=None) -> None:
        self.task = None
        if self._pending:
            self._pending = False
            self.compute()
            return
        if scan is not self.scan:
            return
        self.report = report
        self.groups = groups
        for p, a in report.assignments.items():
            self.sizes[p] = a.image_size
        self._fill()
        self.reportReady.emit(report)

    def _rows(self) -> list:
        """(dataset index or None, bucket, images, items) per table row: each dataset's buckets in turn."""
        groups = self.groups if self.groups and len(self.groups) > 1 else None
        reports = [(g.index, g.report) for g in groups] if groups else [(None, self.report)]
        rows = []
        for index, r in reports:
            images: dict = {}
            for a in r.assignments.values():
                images[a.bucket] = images.get(a.bucket, 0) + 1
            rows += [(index, b, images.get(b, 0), items) for b, items in r.counts.items()]
        return rows

    def _fill(self) -> None:
        r = self.report
        rows = self._rows()
        top = max((row[3] for row in rows), default=1)
        self.table.setRowCount(len(rows))
        for i, (index, b, images, items) in enumerate(rows):
            text = f"{b[0]}×{b[1]}  ({b[0] / b[1]:.2f})"
            if index is not None:
                text = tr("dataset {n}").format(n=index + 1) + " · " + text
            cell = QTableWidgetItem(text)
            cell.setData(Qt.ItemDataRole.UserRole, b)
            cell.setData(DATASET_ROLE, index)
            self.table.setItem(i, 0, cell)
            n = QTableWidgetItem(str(images))
            n.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(i, 1, n)
            it = QTableWidgetItem(str(items))
            it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(i, 2, it)
            bar = QTableWidgetItem()
            bar.setData(Qt.ItemDataRole.UserRole, items / top)
            self.table.setItem(i, 3, bar)
        up = len(r.upscaled())
        text = tr("{n} images in {b} bucket(s); mean aspect-ratio error {e:.3f}").format(
            n=len(r.assignments), b=len(rows), e=r.mean_ar_error)
        if up:
            text += "; " + tr("{n} enlarged to fill their bucket").format(n=up)
        left_out = [p for p in r.problems if p.kind != "large_image"]  # large images are trained
        if left_out:
            text += "; " + tr("{n} left out (unreadable or too small)").format(n=len(left_out))
        self.status.setToolTip("")
        if self.groups is not None:
            text += "\n" + self._datasets_note()
            self.status.setToolTip(tr("The fields above count only where a dataset of the config sets "
                                      "nothing."))
        self.status.setText(text)
        if rows:
            self.table.selectRow(0)

    def _datasets_note(self) -> str:
        """Which settings each dataset of the config buckets at (the fields above fill in only the keys a
        dataset leaves out: the label's tooltip says so)."""
        each = "; ".join(tr("dataset {n}: {res}, batch {b}").format(
            n=g.index + 1, res=g.cfg.resolution, b=g.batch_size) for g in self.groups)
        return tr("As the dataset config sets it: {each}.").format(each=each)

    def _bucket_selected(self) -> None:
        from trainer.dataset.buckets import crop_for

        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or self.report is None:
            self.images.setRowCount(0)
            return
        cell = self.table.item(rows[0].row(), 0)
        b, index = cell.data(Qt.ItemDataRole.UserRole), cell.data(DATASET_ROLE)
        report = self.report if index is None else next(g.report for g in self.groups if g.index == index)
        items = [(p, a) for p, a in report.assignments.items() if a.bucket == tuple(b)][:200]
        self.images.setRowCount(len(items))
        for i, (p, a) in enumerate(items):
            name = QTableWidgetItem(f"{p.parent.name}/{p.name}")
            name.setData(PATH_ROLE, str(p))
            self.images.setItem(i, 0, name)
            self.images.setItem(i, 1, QTableWidgetItem(f"{a.image_size[0]}×{a.image_size[1]}"))
            self.images.setItem(i, 2, QTableWidgetItem(f"{a.resized[0]}×{a.resized[1]}" +
                                                       (" ↑" if a.upscaled else "")))
            self.images.setItem(i, 3, QTableWidgetItem("%d, %d, %d, %d" % crop_for(a)))

    def _image_clicked(self, item) -> None:
        p = self.images.item(item.row(), 0).data(PATH_ROLE)
        if p:
            self.imageActivated.emit(Path(p))
