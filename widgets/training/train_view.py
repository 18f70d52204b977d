"""The live training view: step/total, epoch, it/s, ETA, progress bar, GPU memory in use, loss (raw and
moving average) and learning rate per group as live plots, the log, and the saved files (size, step).

Events arrive as Qt signals on the GUI thread (app/train_worker.py; Step and Log events a few times a second,
in batches) and only append to buffers. One redraw of the plots, labels and log follows, at most every
REFRESH_MS (a redraw costs ~10 ms of the GUI thread on a slow CPU, the plots most of it), and only while the
view can be seen: a hidden tab or a minimised window draws nothing and catches up once shown. Whatever the
window does competes with the trainer for the interpreter lock. The end of a run is drawn at once.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QTimer, QUrl, Qt, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton,
                               QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.i18n import tr

from widgets.training.formatting import fmt_duration, fmt_size  # noqa: F401 - also read from here
from widgets.training.live_plots import LR_PENS, LivePlots
from widgets.training.paint_gate import AfterFirstPaint

REFRESH_MS = 1000  # plots, labels, progress bar and log redraw at most once a second
GPU_POLL_MS = 1000
PATH_ROLE = Qt.ItemDataRole.UserRole


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
        self.plots = LivePlots()
        self.loss_plot, self.lr_plot = self.plots.loss_plot, self.plots.lr_plot
        self.loss_curve, self.avg_curve = self.plots.loss_curve, self.plots.avg_curve
        split.addWidget(self.plots)
        from widgets.training.sample_strip import SampleStrip
        from widgets.training.watch_plots import WatchPlots

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
        self._timer = QTimer(self)  # single shot, started when there is something new to draw
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._redraw_if_seen)
        self._last_refresh = float("-inf")
        self._log_lines: list[str] = []
        self._watched_window = None  # the top-level window whose minimising stops the redraws
        self._live = False  # a run is on: the GPU memory is polled while the view is seen
        self._gpu_timer = QTimer(self)
        self._gpu_timer.setInterval(GPU_POLL_MS)
        self._gpu_timer.timeout.connect(self.poll_gpu)
        self.refresh_count = 0  # redraws done (tests check the rate)
        self._start_gate = None
        self._ended = True
        self.reset()

    @property
    def steps(self):
        """The steps received (``.n``: how many)."""
        return self.plots.steps

    @property
    def lr_curves(self) -> dict:
        return self.plots.lr_curves

    # ------------------------------------------------------------------ state
    def reset(self, output_dir: str = "", groups=LR_PENS) -> None:
        self.output_dir = output_dir
        self.plots.clear(groups)
        self.last_step = None
        self.total_steps = 0
        self.epochs = 0
        self.saved: list = []
        self.files.clear()
        self.grid_btn.setEnabled(False)
        self.sample_strip.clear()
        self.watch_plots.reset()
        self.log.clear()
        self._log_lines = []
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
        self.plots.begin(groups or {})
        self.status.setText(tr("Starting: loading the model…"))
        self._ended = False
        self._live = True
        self._visibility_changed()

    def after_first_paint(self, callback, timeout_ms: int = 800) -> None:
        """Call back once the view has been drawn. Training starts only then: the first paints of the view
        take ~50 ms of the GUI thread and, racing a worker thread that loads the model for the interpreter
        lock, stretched to 0.3-0.6 s of frozen window."""
        if self._start_gate is not None:  # the last run's; deleted here, not from its own slot (see traps.md)
            self._start_gate.deleteLater()
        self._start_gate = AfterFirstPaint([self, self.loss_plot.viewport(), self.lr_plot.viewport()], callback,
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
        self._live = False
        self._gpu_timer.stop()
        self._timer.stop()
        if self.seen():
            self.refresh()
            self.poll_gpu()

    # ------------------------------------------------------------------ events (GUI thread, queued)
    def on_progress(self, batch) -> None:
        """A train_worker.Progress: the Step and Log events since the last one."""
        for e in batch.steps:
            self.plots.add(e)
            self.watch_plots.on_event(e)  # d*lr of adaptive optimizers
        if batch.steps:
            self.last_step = batch.steps[-1]
            self._dirty = True
        for e in batch.logs:
            self._log(e)
        self._request()

    def on_event(self, e) -> None:
        kind = type(e).__name__
        self.watch_plots.on_event(e)
        if kind == "Sample":
            self.sample_strip.add(e)
        elif kind == "Validation":  # drawn with the next redraw, beside the training loss
            self._dirty = True
            self._request()
        elif kind == "Step":
            self.plots.add(e)
            self.last_step = e
            self._dirty = True
            self._request()
        elif kind == "Started":
            self.total_steps, self.epochs = e.total_steps, e.epochs
            self.plots.set_total(e.total_steps)
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
            self._log(e)
        elif kind == "Finished":
            self._ended = True
            self._refresh_if_seen()
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
            self._refresh_if_seen()
            self.status.setText(tr("Failed: {message}").format(message=e.message))
            self.append_log("✖ " + e.message + (("\n" + e.advice) if e.advice else ""))
        elif kind == "SaveFailed":  # the final file went to the rescue folder: offer another one
            from widgets.training.save_retry import offer_save_retry

            size = fmt_size(len(e.data))
            self.save_retry = offer_save_retry(
                self, e, lambda path: self.append_log(tr("Saved {path} ({size})").format(path=path, size=size)))

    def _log(self, e) -> None:
        self.append_log(("⚠ " if e.level == "warning" else "✖ " if e.level == "error" else "") + e.message)

    def append_log(self, text: str) -> None:
        """Queued for the next redraw: many lines are appended in one go."""
        self._log_lines.append(text)
        self._request()

    # ------------------------------------------------------------------ drawing
    def seen(self) -> bool:
        """The view is on screen: shown, its tab current, its window not minimised."""
        return self.isVisible() and not self.window().isMinimized()

    def _request(self) -> None:
        """Redraw once REFRESH_MS have passed since the last redraw (at once if they have). Nothing while unseen."""
        if self._timer.isActive() or not self.seen() or not (self._dirty or self._log_lines):
            return
        wait_s = self._last_refresh + REFRESH_MS / 1000 - time.monotonic()
        self._timer.start(int(max(0.0, wait_s) * 1000))

    def _redraw_if_seen(self) -> None:
        if self.seen():
            self.refresh()

    def _refresh_if_seen(self) -> None:
        self._timer.stop()
        self._redraw_if_seen()

    def refresh(self) -> None:
        """Redraw what is new now: the log, plots and labels."""
        self._last_refresh = time.monotonic()
        if self._log_lines:
            lines, self._log_lines = self._log_lines, []
            self.log.appendPlainText("\n".join(lines))
        if not self._dirty:
            return
        self._dirty = False
        self.refresh_count += 1
        self.plots.redraw()
        self.watch_plots.refresh()
        self._draw_labels()

    def _set_progress(self, percent: int) -> None:
        """QProgressBar.setValue repaints at once (~1-6 ms); with updates off it joins the labels' next paint."""
        if percent == self.progress.value():
            return
        self.progress.setUpdatesEnabled(False)
        self.progress.setValue(percent)
        self.progress.setUpdatesEnabled(True)  # schedules an ordinary update

    def _draw_labels(self) -> None:
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
                self._set_progress(int(100 * e.step / e.total_steps))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self._watched_window:  # minimising is a state change of the top-level window only
            if self._watched_window is not None:
                self._watched_window.removeEventFilter(self)
            self._watched_window = window
            window.installEventFilter(self)
        self._visibility_changed()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._visibility_changed()

    def eventFilter(self, obj, event) -> bool:
        if obj is self._watched_window and event.type() == QEvent.Type.WindowStateChange:
            self._visibility_changed()
        return False

    def _visibility_changed(self) -> None:
        """Shown again: catch up in one redraw; hidden or minimised: no timers at all."""
        if not self.seen():
            self._gpu_timer.stop()
            self._timer.stop()
            return
        if self._live and not self._gpu_timer.isActive():
            self._gpu_timer.start()
            self.poll_gpu()
        self._request()

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
