"""The live training view: step/total, epoch, it/s, ETA, progress bar, GPU memory in use, loss (raw and
moving average) and learning rate per group as live plots, the log, and the saved files (size, step).

Events arrive as Qt signals on the GUI thread (app/train_worker.py) and only append to buffers; a QTimer
redraws the plots and labels at most 10 times a second, so a fast trainer never floods the window.
"""
from __future__ import annotations

import html
import math
import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QTimer, QUrl, Qt, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QGraphicsItem, QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar,
                               QPushButton, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.i18n import tr

REFRESH_MS = 100  # plots and labels redraw at most 10 times a second
GPU_POLL_MS = 1000
MAX_DRAWN = 3000  # points per curve drawn
LR_PENS = {"unet": "#1f77b4", "textencoder": "#d62728"}
LOSS_PEN, AVG_PEN = "#9ab7d8", "#d35400"
PATH_ROLE = Qt.ItemDataRole.UserRole
AXIS_WIDTH = 64  # px, room for labels such as "0.00015"


def fmt_duration(seconds: float) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def titled_legend(title: str, entries) -> str:
    """A plot title that names its curves in their colours: cheaper to draw than a pyqtgraph legend, whose
    first layout repaints the whole view a second time."""
    keys = " ".join(f'<span style="color:{color}">━ {html.escape(name)}</span>' for color, name in entries)
    return f"{html.escape(title)}&nbsp;&nbsp;&nbsp;{keys}"


class _Buffer:
    """Growing float64 arrays without reallocating on every point."""

    def __init__(self):
        self.data = np.empty(1024)
        self.n = 0

    def append(self, v: float) -> None:
        if self.n == len(self.data):
            self.data = np.resize(self.data, 2 * len(self.data))
        self.data[self.n] = v
        self.n += 1

    def view(self) -> np.ndarray:
        return self.data[: self.n]


class _AfterFirstPaint(QObject):
    """Calls back once the watched widgets have painted and the window has been quiet (no paint) for
    ``quiet_ms`` - the first paint's layout changes cause a second, smaller one -, or after ``timeout_ms``
    (a hidden window never paints)."""

    def __init__(self, widgets, callback, quiet_ms: int, timeout_ms: int, parent):
        super().__init__(parent)
        self.widgets = list(widgets)
        self.unpainted = list(widgets[1:])  # widgets[0] is the view; its children follow
        self.callback = callback
        self.quiet = QTimer(self)
        self.quiet.setSingleShot(True)
        self.quiet.setInterval(quiet_ms)
        self.quiet.timeout.connect(self._fire)
        self.limit = QTimer(self)
        self.limit.setSingleShot(True)
        self.limit.timeout.connect(self._fire)
        self.limit.start(timeout_ms)
        for w in self.widgets:
            w.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.unpainted = [w for w in self.unpainted if w is not obj]
            if not self.unpainted:
                self.quiet.start()  # restarted by every later paint
        return False

    def _fire(self) -> None:
        if self.callback is None:
            return
        cb, self.callback = self.callback, None
        self.quiet.stop()
        self.limit.stop()
        for w in self.widgets:
            w.removeEventFilter(self)
        cb()


class TrainView(QWidget):
    send_to_tools = Signal(str)
    sample_saved = Signal(list)  # every saved file of the run, oldest first: an epoch x weight grid
    open_folder_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        top = QGridLayout()
        self.status = QLabel(tr("Not started. Press Start to train with these settings."))
        self.status.setObjectName("sectionTitle")
        self.step_label = QLabel()
        self.epoch_label = QLabel()
        self.speed_label = QLabel()
        self.eta_label = QLabel()
        self.gpu_label = QLabel()
        for w in (self.step_label, self.epoch_label, self.speed_label, self.eta_label, self.gpu_label):
            w.setObjectName("totals")
        top.addWidget(self.status, 0, 0, 1, 5)
        for i, w in enumerate((self.step_label, self.epoch_label, self.speed_label, self.eta_label, self.gpu_label)):
            top.addWidget(w, 1, i)
        self.norm_label = QLabel()
        self.norm_label.setObjectName("hint")
        self.norm_label.hide()  # shown with scale_weight_norms only
        top.addWidget(self.norm_label, 2, 0, 1, 5)
        outer.addLayout(top)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("%p %")
        outer.addWidget(self.progress)

        split = QSplitter(Qt.Orientation.Vertical)
        plots = QSplitter(Qt.Orientation.Horizontal)
        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.loss_plot.setLabel("bottom", tr("step"))
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen(LOSS_PEN, width=1))
        self.avg_curve = self.loss_plot.plot(pen=pg.mkPen(AVG_PEN, width=2))
        self.loss_plot.setTitle(titled_legend(tr("Loss"), [(LOSS_PEN, tr("loss")), (AVG_PEN, tr("moving average"))]))
        self.lr_plot = pg.PlotWidget(background="w")
        self.lr_plot.showGrid(x=True, y=True, alpha=0.25)
        self.lr_plot.setLabel("bottom", tr("step"))
        for p in (self.loss_plot, self.lr_plot):
            # ranges are set by refresh(), only when the data leaves them: a change of range repaints the axes,
            # the costliest part of a redraw
            p.disableAutoRange()
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            # a fixed axis width: fitted to its labels it would change after the first paint and paint again
            p.getAxis("left").setWidth(AXIS_WIDTH)
            p.getAxis("bottom").setHeight(40)
            for ax in ("left", "bottom"):  # repaints blit the axes unless their range changed
                p.getAxis(ax).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.lr_plot)
        split.addWidget(plots)
        from .sample_strip import SampleStrip
        from .watch_plots import WatchPlots

        self.sample_strip, self.watch_plots = SampleStrip(), WatchPlots(self)  # samples; validation, d*lr
        split.addWidget(self.sample_strip)

        bottom = QSplitter(Qt.Orientation.Horizontal)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText(tr("Training messages appear here."))
        files = QWidget()
        fl = QVBoxLayout(files)
        fl.setContentsMargins(0, 0, 0, 0)
        title = QLabel(tr("Saved files"))
        title.setObjectName("subTitle")
        self.files = QTreeWidget()
        self.files.setHeaderLabels([tr("File"), tr("Step"), tr("Epoch"), tr("Size")])
        self.files.setRootIsDecorated(False)
        self.files.setColumnWidth(0, 260)
        self.files.itemSelectionChanged.connect(self._selection_changed)
        buttons = QHBoxLayout()
        self.open_folder_btn = QPushButton(tr("Open output folder"))
        self.open_folder_btn.clicked.connect(self.open_folder)
        self.send_btn = QPushButton(tr("Send to Tools"))
        self.send_btn.setToolTip(tr("Check, resize, merge or sample the selected file on the Tools page"))
        self.send_btn.setEnabled(False)
        self.send_btn.clicked.connect(self._send)
        self.grid_btn = QPushButton(tr("Sample grid of all saved files"))
        self.grid_btn.setToolTip(tr("Compare the saved epochs side by side on the Tools page (rows: files, "
                                    "columns: weights) to pick the best one"))
        self.grid_btn.setEnabled(False)
        self.grid_btn.clicked.connect(lambda: self.sample_saved.emit([s.path for s in self.saved]))
        buttons.addWidget(self.open_folder_btn)
        buttons.addWidget(self.send_btn)
        buttons.addWidget(self.grid_btn)
        buttons.addStretch(1)
        fl.addWidget(title)
        fl.addWidget(self.files, 1)
        fl.addLayout(buttons)
        bottom.addWidget(self.log)
        bottom.addWidget(files)
        bottom.setSizes([600, 500])
        split.addWidget(bottom)
        split.setSizes([520, 190, 260])
        outer.addWidget(split, 1)

        self.output_dir = ""
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._gpu_timer = QTimer(self)
        self._gpu_timer.setInterval(GPU_POLL_MS)
        self._gpu_timer.timeout.connect(self.poll_gpu)
        self.refresh_count = 0  # redraws done (tests check the rate)
        self.lr_curves: dict[str, object] = {}
        self._lr_title_text = ""
        self._start_gate = None
        self._ended = True
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self, output_dir: str = "", groups=LR_PENS) -> None:
        self.output_dir = output_dir
        self.steps = _Buffer()
        self.losses = _Buffer()
        self.avgs = _Buffer()
        self.lrs: dict[str, _Buffer] = {}
        if list(self.lr_curves) != list(groups):
            self.lr_plot.clear()  # made again only when the groups change
            self.lr_curves = {}
        for curve in self.lr_curves.values():
            curve.setData([], [])
        for name in groups:
            self._lr_curve(name)
        self._lr_title()
        self.loss_curve.setData([], [])
        self._loss_range = self._lr_range = None
        self.avg_curve.setData([], [])
        self.last_step = None
        self.total_steps = 0
        self.epochs = 0
        self.saved: list = []
        self.files.clear()
        self.grid_btn.setEnabled(False)
        self.sample_strip.clear()
        self.watch_plots.reset()
        self.log.clear()
        self.progress.setValue(0)
        self._dirty = False
        for w in (self.step_label, self.epoch_label, self.speed_label, self.eta_label, self.norm_label):
            w.setText("")
        self.norm_label.hide()
        self.poll_gpu()

    def begin(self, output_dir: str, groups: dict | None = None) -> None:
        """A run starts. ``groups`` (name -> initial lr) lets the curves and ranges be made now,
        while the model loads, so the first step's redraw is as cheap as the others."""
        self.reset(output_dir, groups or {})
        peak = max((lr for lr in (groups or {}).values() if lr), default=0.0)
        if peak > 0:
            self._lr_range = (0.0, peak * 1.15)
            self.lr_plot.setYRange(*self._lr_range, padding=0)
        self._loss_range = (0.0, 0.5)
        self.loss_plot.setYRange(*self._loss_range, padding=0)
        self.status.setText(tr("Starting: loading the model…"))
        self._ended = False
        self._timer.start()
        self._gpu_timer.start()

    def after_first_paint(self, callback, timeout_ms: int = 800) -> None:
        """Call back once the view has been drawn. Training starts only then: the first paints of the view
        take ~50 ms of the GUI thread and, racing a worker thread that loads the model for the interpreter
        lock, stretched to 0.3-0.6 s of frozen window."""
        if self._start_gate is not None:  # the last run's; deleted here, not from its own slot (see traps.md)
            self._start_gate.deleteLater()
        self._start_gate = _AfterFirstPaint([self, self.loss_plot.viewport(), self.lr_plot.viewport()], callback,
                                            80, timeout_ms, self)

    def paint_plots_in_turns(self) -> None:
        """Before the view is first shown for a run: the two plots are drawn one per event-loop turn (~25 ms
        each) instead of in the same turn as the rest of the view (~80-110 ms together on a slow CPU)."""
        waiting = [self.loss_plot, self.lr_plot]
        for p in waiting:
            p.setUpdatesEnabled(False)

        def next_plot():
            if waiting:
                waiting.pop(0).setUpdatesEnabled(True)  # repaints it on the next turn
                QTimer.singleShot(0, next_plot)

        QTimer.singleShot(0, next_plot)

    def end(self) -> None:
        if not self._ended:  # stopped before the trainer began
            self.status.setText(tr("Stopped before training began; nothing was saved."))
        self.refresh()
        self._timer.stop()
        self._gpu_timer.stop()
        self.poll_gpu()

    # ------------------------------------------------------------------ events (GUI thread, queued)
    def on_event(self, e) -> None:
        kind = type(e).__name__
        self.watch_plots.on_event(e)
        if kind == "Sample":
            self.sample_strip.add(e)
        elif kind == "Step":
            self.steps.append(e.step)
            self.losses.append(e.loss)
            self.avgs.append(e.avg_loss)
            for name, lr in e.lrs.items():
                self._lr_curve(name)
                self.lrs[name].append(lr)
            self.last_step = e
            self._dirty = True
        elif kind == "Started":
            self.total_steps, self.epochs = e.total_steps, e.epochs
            for p in (self.loss_plot, self.lr_plot):
                p.setXRange(0, max(1, e.total_steps), padding=0.02)
            self.status.setText(tr("Training…"))
            self.append_log(e.plan_text)
            self.step_label.setText(tr("step {step} / {total}").format(step=e.start_step, total=e.total_steps))
        elif kind == "Saved":
            self.saved.append(e)
            name = Path(e.path).name + (" " + tr("(final)") if e.final else "")
            item = QTreeWidgetItem([name, str(e.step), str(e.epoch), fmt_size(e.size_bytes)])
            item.setData(0, PATH_ROLE, e.path)
            item.setToolTip(0, e.path)
            self.files.addTopLevelItem(item)
            self.files.setCurrentItem(item)
            self.grid_btn.setEnabled(True)
            self.append_log(tr("Saved {path} ({size})").format(path=e.path, size=fmt_size(e.size_bytes)))
        elif kind == "Log":
            self.append_log(("⚠ " if e.level == "warning" else "✖ " if e.level == "error" else "") + e.message)
        elif kind == "Finished":
            self._ended = True
            self.refresh()
            if not e.path:  # stopped while the model loaded or images were cached: no file written
                self.status.setText(tr("Stopped before training began; nothing was saved."))
            elif e.stopped:
                self.status.setText(tr("Stopped at step {step}; the file is saved.").format(step=e.steps))
            else:
                self.status.setText(tr("Finished: {steps} steps.").format(steps=e.steps))
                self.progress.setValue(100)
            if e.path:
                self.append_log(tr("Finished: {path}").format(path=e.path))
        elif kind == "Failed":
            self._ended = True
            self.refresh()
            self.status.setText(tr("Failed: {message}").format(message=e.message))
            self.append_log("✖ " + e.message + (("\n" + e.advice) if e.advice else ""))

    def _lr_curve(self, name: str) -> None:
        if name not in self.lrs:
            self.lrs[name] = _Buffer()
        if name not in self.lr_curves:
            self.lr_curves[name] = self.lr_plot.plot(pen=pg.mkPen(LR_PENS.get(name, "#333"), width=2))
            self._lr_title()

    def _lr_title(self) -> None:
        names = {"unet": tr("UNet"), "textencoder": tr("text encoder")}
        title = titled_legend(tr("Learning rate"), [(LR_PENS.get(n, "#333"), names.get(n, n)) for n in self.lr_curves])
        if title != self._lr_title_text:
            self._lr_title_text = title
            self.lr_plot.setTitle(title)

    def append_log(self, text: str) -> None:
        self.log.appendPlainText(text)

    def refresh(self) -> None:
        """Redraw plots and labels from the buffers (timer, at most 10 per second)."""
        if not self._dirty:
            return
        self._dirty = False
        self.refresh_count += 1
        x = self.steps.view()
        k = max(1, len(x) // MAX_DRAWN)  # long runs are thinned for drawing; the buffers keep every step
        losses, avgs = self.losses.view(), self.avgs.view()
        self.loss_curve.setData(x[::k], losses[::k])
        self.avg_curve.setData(x[::k], avgs[::k])
        self._fit_y(self.loss_plot, "_loss_range", losses, floor=None)
        peak = 0.0
        for name, buf in self.lrs.items():
            values = buf.view()
            self.lr_curves[name].setData(x[: buf.n][::k], values[::k])
            if buf.n:
                peak = max(peak, float(np.nanmax(values)))
        if peak > 0:
            self._fit_y(self.lr_plot, "_lr_range", np.array([0.0, peak]), floor=0.0)
        e = self.last_step
        if e is not None:
            self.step_label.setText(tr("step {step} / {total}").format(step=e.step, total=e.total_steps))
            self.epoch_label.setText(tr("epoch {epoch} / {epochs}").format(epoch=e.epoch, epochs=self.epochs or "?"))
            self.speed_label.setText(tr("{rate:.2f} it/s").format(rate=e.it_per_s))
            self.eta_label.setText(tr("ETA {eta}").format(eta=fmt_duration(e.eta_s)))
            if "keys_scaled" in e.extra:  # scale_weight_norms: how many weights were held back, as sd-scripts logs
                self.norm_label.setText(tr("scale_weight_norms: {n} keys scaled, average key norm {avg:.3f}").format(
                    n=e.extra["keys_scaled"], avg=e.extra.get("average_key_norm", 0.0)))
                self.norm_label.show()
            if e.total_steps:
                self.progress.setValue(int(100 * e.step / e.total_steps))

    def _fit_y(self, plot, attr: str, values: np.ndarray, floor) -> None:
        """Grow (or, when far too wide, shrink) the y range to hold the data; unchanged otherwise."""
        finite = values[np.isfinite(values)]
        if not len(finite):
            return
        lo, hi = float(finite.min()), float(finite.max())
        if floor is not None:
            lo = floor
        cur = getattr(self, attr, None)
        span = max(hi - lo, abs(hi) * 1e-3, 1e-12)
        if cur is not None and cur[0] <= lo and cur[1] >= hi and (cur[1] - cur[0]) < 4 * span:
            return
        new = (lo - (0 if floor is not None else 0.1 * span), hi + 0.15 * span)
        setattr(self, attr, new)
        plot.setYRange(*new, padding=0)

    def poll_gpu(self) -> None:
        from trainer.gpu_info import query_gpus

        gpus = query_gpus()
        if not gpus:
            self.gpu_label.setText(tr("GPU memory: no GPU"))
        else:
            g = gpus[0]
            self.gpu_label.setText(tr("GPU memory: {used:.1f} / {total:.1f} GiB").format(
                used=g.used_bytes / 1024 ** 3, total=g.total_gib))

    # ------------------------------------------------------------------ files
    def selected_file(self) -> str | None:
        item = self.files.currentItem()
        return item.data(0, PATH_ROLE) if item is not None else None

    def _selection_changed(self) -> None:
        self.send_btn.setEnabled(self.selected_file() is not None)

    def _send(self) -> None:
        path = self.selected_file()
        if path:
            self.send_to_tools.emit(path)

    def open_folder(self) -> None:
        folder = self.output_dir
        if self.saved:
            folder = str(Path(self.saved[-1].path).parent)
        if folder and os.path.isdir(folder):
            self.open_folder_requested.emit(folder)
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))
