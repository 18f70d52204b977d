"""Panels for the Tools page: check, resize, merge and sample grid, each running its ``trainer.tools`` function in
a worker thread (``widgets.worker.run_task``) with a progress bar and a Stop button.

No torch at module level: the trainer functions are imported inside the worker calls.

    panels = ToolsPanels()            # a QTabWidget with the four panels
    panels.set_lora_files([...])      # offer a training run's saved files in every LoRA field
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton,
                               QScrollArea, QSpinBox, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout,
                               QWidget)

from app.i18n import tr

from .worker import run_task

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


class ToolPanel(QWidget):
    """Form on top, Run/Stop with a progress bar, a result area below."""


    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = QFormLayout()
        self.run_btn, self.stop_btn = QPushButton(tr("Run")), QPushButton(tr("Stop"))
        self.stop_btn.setEnabled(False)
        self.run_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.run_btn)
        row.addWidget(self.stop_btn)
        row.addWidget(self.progress, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.result_area = QVBoxLayout()
        lay.addLayout(self.result_area, 1)
        self.task = None
        self._stop = threading.Event()

    # subclasses: job() -> (callable taking on_progress, stop), show(result)
    def job(self):
        raise NotImplementedError

    def show_result(self, result):
        raise NotImplementedError

    def start(self):
        try:
            fn = self.job()
        except ValueError as e:
            self.status.setText(str(e))
            return
        self._stop = threading.Event()
        stop = self._stop
        self.run_btn.setEnabled(False)
        self.stop_btn.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(tr("Working…"))

        def call(on_progress=None, cancel=None):
            return fn(on_progress, stop)

        self.task = run_task(call, on_done=self._done, on_error=self._failed, on_progress=self._progress, owner=self)

    def stop(self):
        self._stop.set()

    def _progress(self, done, total):
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _finish(self):
        self.run_btn.setEnabled(True)
        self.stop_btn.setEnabled(False)
        self.task = None

    def _done(self, result):
        self._finish()
        self.status.setText(tr("Done."))
        self.show_result(result)

    def _failed(self, msg):
        self._finish()
        self.status.setText(msg)

    @staticmethod
    def fill_table(table: QTableWidget, headers, rows):
        table.clear()
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                table.setItem(i, j, QTableWidgetItem("" if v is None else str(v)))
        table.resizeColumnsToContents()


def _need(value: str, what: str) -> str:
    if not value:
        raise ValueError(tr("Choose {what} first.").format(what=what))
    return value


class CheckPanel(ToolPanel):

    def __init__(self, parent=None):
        super().__init__(parent)
        self.file = FileField(LORA_FILTER)
        self.base = FileField(MODEL_FILTER)
        self.eps = QLineEdit("1e-8")
        self.form.addRow(tr("LoRA file"), self.file)
        self.form.addRow(tr("Base model (optional)"), self.base)
        self.form.addRow(tr("Near-zero below"), self.eps)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.table = QTableWidget()
        self.result_area.addWidget(self.report, 1)
        self.result_area.addWidget(self.table, 2)

    def job(self):
        path, base = _need(self.file.path(), tr("a LoRA file")), self.base.path() or None
        eps = float(self.eps.text() or "1e-8")

        def run(on_progress, stop):
            from trainer.tools.check import check_lora

            return check_lora(path, eps=eps, sd_model=base, on_progress=on_progress, stop=stop)

        return run

    def show_result(self, r):
        from trainer.tools.check import format_report

        self.report.setPlainText(format_report(r))
        self.status.setText(tr("Healthy.") if r.healthy else tr("{n} problem(s) found.").format(n=len(r.problems)))
        self.fill_table(self.table, [tr("module"), tr("kind"), tr("rank"), tr("alpha"), "|up|", "|down|",
                                     tr("|change|")], r.table())


class ResizePanel(ToolPanel):

    def __init__(self, parent=None):
        super().__init__(parent)
        self.file, self.out = FileField(LORA_FILTER), FileField(LORA_FILTER, save=True)
        self.rank = QSpinBox()
        self.rank.setRange(1, 1024)
        self.rank.setValue(32)
        self.method = QComboBox()
        self.method.addItems(["fixed", "sv_fro", "sv_ratio", "sv_cumulative"])
        self.param = QDoubleSpinBox()
        self.param.setDecimals(3)
        self.param.setRange(0.0, 1000.0)
        self.param.setValue(0.9)
        self.precision = QComboBox()
        self.precision.addItems(["as input", "fp16", "bf16", "fp32"])
        for label, w in [(tr("LoRA file"), self.file), (tr("Save to"), self.out), (tr("Rank (maximum)"), self.rank),
                         (tr("Dynamic method"), self.method), (tr("Dynamic parameter"), self.param),
                         (tr("Save precision"), self.precision)]:
            self.form.addRow(label, w)
        self.table = QTableWidget()
        self.result_area.addWidget(self.table, 1)

    def job(self):
        src = _need(self.file.path(), tr("a LoRA file"))
        out = self.out.path() or str(Path(src).with_name(Path(src).stem + f"-r{self.rank.value()}.safetensors"))
        method = None if self.method.currentText() == "fixed" else self.method.currentText()
        param = self.param.value() if method else None
        prec = None if self.precision.currentIndex() == 0 else self.precision.currentText()
        rank = self.rank.value()

        def run(on_progress, stop):
            from trainer.tools.resize import resize_lora

            return resize_lora(src, out, rank, dynamic_method=method, dynamic_param=param, save_precision=prec,
                               on_progress=on_progress, stop=stop)

        return run

    def show_result(self, r):
        self.status.setText(tr("Saved {path}; norm kept: average {avg:.2f} %, lowest {low:.2f} %.").format(
            path=r.path, avg=100 * r.average_fro_kept, low=100 * r.min_fro_kept) + "".join("\n" + w for w in r.warnings))
        self.fill_table(self.table, [tr("module"), tr("old rank"), tr("new rank"), tr("norm kept %")], r.table())


class MergePanel(ToolPanel):

    def __init__(self, parent=None):
        super().__init__(parent)
        self.base = FileField(MODEL_FILTER)
        self.loras = FileList()
        self.ratios = QLineEdit("1.0")
        self.out = FileField(MODEL_FILTER, save=True)
        self.precision = QComboBox()
        self.precision.addItems(["as input", "fp16", "bf16", "fp32"])
        self.form.addRow(tr("Base model (empty: merge into one LoRA)"), self.base)
        self.form.addRow(tr("LoRA files"), self.loras)
        self.form.addRow(tr("Ratios (one per file)"), self.ratios)
        self.form.addRow(tr("Save to"), self.out)
        self.form.addRow(tr("Save precision"), self.precision)

    def job(self):
        loras = self.loras.paths()
        if not loras:
            raise ValueError(tr("Add at least one LoRA file."))
        ratios = [float(x) for x in self.ratios.text().replace(",", " ").split()]
        out = _need(self.out.path(), tr("where to save"))
        base = self.base.path() or None
        prec = None if self.precision.currentIndex() == 0 else self.precision.currentText()

        def run(on_progress, stop):
            from trainer.tools.merge import merge_into_checkpoint, merge_loras

            if base:
                return merge_into_checkpoint(base, loras, ratios, out, save_precision=prec, on_progress=on_progress,
                                             stop=stop)
            return merge_loras(loras, ratios, out, save_precision=prec, on_progress=on_progress, stop=stop)

        return run

    def show_result(self, r):
        self.status.setText(tr("Saved {path} ({mb:.1f} MB, {n} tensors changed).").format(
            path=r.path, mb=r.bytes / 1e6, n=r.tensors_changed))


class _GridSignal(QObject):
    image = Signal(object, object)  # SampleImage, PIL grid copy


def pil_to_pixmap(im) -> QPixmap:
    im = im.convert("RGB")
    data = im.tobytes("raw", "RGB")
    qim = QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qim)


class GridView(QLabel):
    """Shows the grid as it fills; a click on a cell opens that image large."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.cells: dict[tuple[int, int], object] = {}
        self.geometry_info = None  # (left, top, cell w, cell h)

    def mousePressEvent(self, ev):
        if not self.geometry_info:
            return
        left, top, w, h = self.geometry_info
        x, y = ev.position().x() - left, ev.position().y() - top
        if x < 0 or y < 0:
            return
        item = self.cells.get((int(y // h), int(x // w)))
        if item is None:
            return
        dlg = QDialog(self)
        dlg.setWindowTitle(Path(item.path).name)
        lab = QLabel()
        lab.setPixmap(pil_to_pixmap(item.image).scaled(max(512, item.image.width), max(512, item.image.height),
                                                       Qt.AspectRatioMode.KeepAspectRatio))
        text = QLabel(item.parameters)
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(dlg)
        lay.addWidget(lab)
        lay.addWidget(text)
        dlg.show()


class SamplePanel(ToolPanel):

    def __init__(self, parent=None):
        super().__init__(parent)
        self.base = FileField(MODEL_FILTER)
        self.loras = FileList()
        self.prompt, self.negative = QLineEdit(), QLineEdit()
        self.weights, self.seeds = QLineEdit("0.6 0.8 1.0"), QLineEdit("1")
        self.steps = QSpinBox()
        self.steps.setRange(1, 200)
        self.steps.setValue(28)
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(1.0, 30.0)
        self.cfg.setValue(7.0)
        self.sampler = QComboBox()
        from_names = ["euler_a", "euler", "dpmsolver++", "dpm++_2m_karras", "ddim", "heun", "lms", "unipc"]
        self.sampler.addItems(from_names)
        self.width_, self.height_ = QSpinBox(), QSpinBox()
        for s, v in ((self.width_, 512), (self.height_, 512)):
            s.setRange(64, 2048)
            s.setSingleStep(64)
            s.setValue(v)
        self.out = FileField("PNG (*.png)", save=True)
        for label, w in [(tr("Base model"), self.base), (tr("LoRA files (rows)"), self.loras),
                         (tr("Prompt"), self.prompt), (tr("Negative prompt"), self.negative),
                         (tr("Weights (columns)"), self.weights), (tr("Seeds"), self.seeds), (tr("Steps"), self.steps),
                         (tr("CFG scale"), self.cfg), (tr("Sampler"), self.sampler), (tr("Width"), self.width_),
                         (tr("Height"), self.height_), (tr("Save grid to"), self.out)]:
            self.form.addRow(label, w)
        self.view = GridView()
        scroll = QScrollArea()
        scroll.setWidget(self.view)
        scroll.setWidgetResizable(True)
        self.result_area.addWidget(scroll, 1)
        self.signal = _GridSignal()
        self.signal.image.connect(self._image)

    def job(self):
        base = _need(self.base.path(), tr("a base model"))
        out = _need(self.out.path(), tr("where to save the grid"))
        prompt = _need(self.prompt.text().strip(), tr("a prompt"))
        from_text = lambda t, f: [f(x) for x in t.replace(",", " ").split()]  # noqa: E731
        kw = dict(prompt=prompt, negative=self.negative.text(), weights=from_text(self.weights.text(), float),
                  seeds=from_text(self.seeds.text(), int), steps=self.steps.value(), cfg=self.cfg.value(),
                  sampler=self.sampler.currentText(), width=self.width_.value(), height=self.height_.value())
        loras = self.loras.paths()
        self.view.cells.clear()
        self._shape = (max(1, len(loras)), len(kw["seeds"]) * (len(kw["weights"]) if loras else 1))
        signal = self.signal

        def run(on_progress, stop):
            from trainer.tools.sample import SampleSettings, sample_grid

            s = SampleSettings(device="auto", **kw)
            return sample_grid(base, loras, s, out, on_progress=on_progress, stop=stop,
                               on_image=lambda item, grid: signal.image.emit(item, grid.copy()))

        return run

    def _image(self, item, grid):
        self.view.cells[(item.row, item.column)] = item
        self.view.setPixmap(pil_to_pixmap(grid))
        rows, cols = self._shape
        w, h = item.image.size
        self.view.geometry_info = (grid.width - w * cols, grid.height - h * rows, w, h)

    def show_result(self, r):
        if r.grid is not None:
            self.view.setPixmap(pil_to_pixmap(r.grid))
            w, h = r.images[0].image.size if r.images else (1, 1)
            left = r.grid.width - w * r.columns
            top = r.grid.height - h * r.rows
            self.view.geometry_info = (left, top, w, h)
        self.status.setText(tr("{n} images in {s:.0f} s; grid saved to {path}. Click a cell to view it large.").format(
            n=len(r.images), s=r.seconds, path=r.grid_path) + (" " + tr("(stopped)") if r.stopped else ""))


class ToolsPanels(QTabWidget):
    """The four panels as tabs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.check, self.resize_panel, self.merge, self.sample = CheckPanel(), ResizePanel(), MergePanel(), SamplePanel()
        for p, title in ((self.check, tr("Check")), (self.resize_panel, tr("Resize")), (self.merge, tr("Merge")),
                         (self.sample, tr("Sample grid"))):
            self.addTab(p, title)

    def set_lora_files(self, paths) -> None:
        """Offer a training run's saved files: the last one in the single-file fields, all in the lists."""
        paths = [str(p) for p in paths]
        if not paths:
            return
        self.check.file.set_path(paths[-1])
        self.resize_panel.file.set_path(paths[-1])
        self.sample.loras.set_paths(paths)


def show_error(parent, msg: str) -> None:
    QMessageBox.warning(parent, tr("LoRA tools"), msg)
