"""The learning-rate preview: the curve of the chosen scheduler over every step of the current settings, per
parameter group, with epoch boundaries and save points marked.

The curve comes from the core's real scheduler objects (``trainer.optim.preview.lr_curve``), which import
torch, so :func:`schedule_preview` runs in a pool thread; the steps come from the dataset scan and the same
steps math as the trainer (``trainer.dataset.plan``). Nothing here imports torch at module level.
"""
from __future__ import annotations

import threading

import shiboken6
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.core_text import tr_core
from app.i18n import tr
from app.numbers import localize

from widgets.common.worker import run_task

GROUP_PENS = {"unet": "#1f77b4", "textencoder": "#d62728"}
MAX_POINTS = 4000  # the curve is thinned to this many points for drawing

_scan_cache: dict = {}
_scan_lock = threading.Lock()


def _dataset_facts(cfg) -> tuple[dict | None, list]:
    """(items per bucket, the folders for the guide's hints) of the training folders, from one scan cached
    per folder and bucket settings; (None, []) without a folder."""
    from pathlib import Path

    from trainer.config.plan import dataset_bucket_counts, dataset_scan

    from widgets.common.guidance_hints import concept_tuples

    folder = Path(cfg.dataset_config or cfg.train_data_dir)  # a dataset config lists its folders itself
    if not (cfg.dataset_config or cfg.train_data_dir) or not folder.exists():
        return None, []
    try:
        subdirs = [p.stat().st_mtime for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
        stamp = max([folder.stat().st_mtime] + subdirs)
    except OSError:
        stamp = 0
    key = (str(folder), cfg.caption_extension, cfg.resolution, cfg.enable_bucket, cfg.min_bucket_reso,
           cfg.max_bucket_reso, cfg.bucket_reso_steps, cfg.bucket_no_upscale, stamp, cfg.reg_data_dir,
           cfg.dataset_config)
    with _scan_lock:
        if key in _scan_cache:
            return _scan_cache[key]
    scan = dataset_scan(cfg)
    # the trainer's count (regularization images balanced too) and the folders, from the same scan
    facts = (dataset_bucket_counts(cfg, scan), concept_tuples(scan.concepts) if scan is not None else [])
    with _scan_lock:
        if len(_scan_cache) > 16:
            _scan_cache.clear()
        _scan_cache[key] = facts
    return facts


def _optimizer_note(plan, cfg) -> str:
    """Why the curve differs from the settings (AdaFactor's own schedule, adaptive optimizers), translated."""
    if plan.scheduler_from_optimizer:
        return tr("AdaFactor (relative_step) sets its own learning rate from the gradients; the curve shows the "
                  "starting value only.")
    if plan.optimizer_adaptive:
        return tr("{name} finds the step size itself: the curve is the factor the scheduler applies to it "
                  "(learning_rate, usually 1.0, for every part).").format(name=cfg.optimizer_type)
    return ""


def schedule_preview(cfg, curve: bool = True) -> dict:
    """{steps, curves {group: [lr]}, epoch_steps, save_steps, note, curve, ...}; runs in a pool thread. The
    groups, scheduler and step marks are the run plan's (trainer.config.plan), the ones the trainer runs by. With
    ``curve`` it imports torch (the real schedulers draw the curve); without, only the step plan is made."""
    from trainer.config.plan import _with_dataset_config, resolve

    if curve:
        from trainer.imports import ml_imports

        ml_imports()  # other pool threads import the same libraries (see trainer/imports.py)
    cfg = _with_dataset_config(cfg)  # a dataset config's batch size and resolution
    note = ""
    try:
        counts, concepts = _dataset_facts(cfg)
    except Exception as e:  # a missing or unreadable folder: the curve is still useful
        counts, concepts, note = None, [], str(e)
    if not counts and cfg.max_train_epochs is not None:
        return {"steps": [], "curves": {}, "epoch_steps": [], "save_steps": [], "total": 0, "summary": "",
                "curve": True, "concepts": concepts, "epochs": None, "sdxl": bool(cfg.sdxl),
                "note": note or tr("Choose a training folder: the number of steps of {n} epochs depends on it."
                                   ).format(n=cfg.max_train_epochs)}
    plan = resolve(cfg, counts or None)
    if plan.steps is None:
        note = note or tr("Choose a training folder to see the epochs.")
    note = " ".join(n for n in (note, _optimizer_note(plan, cfg)) if n)
    total = plan.total_steps
    steps, curves = [], {}
    if curve:
        from trainer.optim.preview import lr_curve

        lrs = lr_curve(plan.lr_scheduler, total, cfg.learning_rate, group_lrs=[g.lr for g in plan.groups],
                       lr_warmup_steps=cfg.lr_warmup_steps, lr_scheduler_num_cycles=cfg.lr_scheduler_num_cycles,
                       lr_scheduler_power=cfg.lr_scheduler_power, lr_scheduler_type=cfg.lr_scheduler_type,
                       lr_scheduler_args=cfg.lr_scheduler_args, lr_decay_steps=cfg.lr_decay_steps,
                       lr_scheduler_timescale=cfg.lr_scheduler_timescale,
                       lr_scheduler_min_lr_ratio=cfg.lr_scheduler_min_lr_ratio)
        stride = max(1, len(lrs) // MAX_POINTS)
        steps = list(range(1, total + 1, stride))
        curves = {g.name: [lrs[s - 1][i] for s in steps] for i, g in enumerate(plan.groups)}
    summary = plan.steps.describe() if plan.steps is not None else tr("{n} steps").format(n=total)
    return {"steps": steps, "curves": curves, "epoch_steps": list(plan.epoch_steps),
            "save_steps": list(plan.save_steps), "total": total, "summary": summary, "note": note, "curve": curve,
            "concepts": concepts, "epochs": plan.steps.epochs if plan.steps is not None else None,
            "sdxl": bool(cfg.sdxl)}


class LrPreview(QWidget):
    """``request(cfg)`` (debounced) recomputes the curve in a pool thread; ``computed`` when it is drawn."""

    computed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        title = QLabel(tr("Learning rate over the run"))
        title.setObjectName("subTitle")
        self.plot = None  # made when first shown or drawn: pyqtgraph loads only then (a faster start)
        self.summary = QLabel()
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        lay.addWidget(title)
        lay.addStretch(1)  # replaced by the plot
        lay.addWidget(self.summary)
        self.hints = QLabel()  # the guide's numbers for this dataset and run (hints, never errors)
        self.hints.setWordWrap(True)
        lay.addWidget(self.hints)
        from widgets.common.guidance_hints import goal

        goal().changed.connect(self._show_hints)  # a method: disconnected when the preview is gone
        self.result: dict | None = None
        self.error: str | None = None
        self._cfg = None
        self._task = None
        self._dirty = False
        self._waiting = False  # for the training libraries, to draw the curve
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self._start)

    def ensure_plot(self):
        """The plot widget (created, and pyqtgraph imported, on the first call)."""
        if self.plot is None:
            import pyqtgraph as pg

            class LocalAxis(pg.AxisItem):  # tick labels with the language's decimal sign
                def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
                    return [localize(t) for t in super().tickStrings(values, scale, spacing)]

                def labelString(self):  # noqa: N802 - the "(x0.001)" scale too
                    return localize(super().labelString().replace("(x", "(× "))

            plot = pg.PlotWidget(background="w", axisItems={"left": LocalAxis("left"),
                                                            "bottom": LocalAxis("bottom")})
            plot.setMinimumHeight(180)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("bottom", tr("step"))
            plot.setLabel("left", tr("learning rate"))
            plot.addLegend(offset=(60, -30))
            plot.setMouseEnabled(x=True, y=False)
            lay = self.layout()
            stretch = lay.itemAt(1)
            lay.removeItem(stretch)
            lay.insertWidget(1, plot, 1)
            self.plot = plot
        return self.plot

    def showEvent(self, e) -> None:  # noqa: N802 - Qt's name
        super().showEvent(e)
        if self.plot is None:  # after the page has painted once: pyqtgraph's import does not delay it
            QTimer.singleShot(50, lambda: shiboken6.isValid(self) and self.ensure_plot())

    def request(self, cfg) -> None:
        self._cfg = cfg
        self._timer.start()

    def busy(self) -> bool:
        return self._timer.isActive() or self._task is not None

    def _start(self) -> None:
        if self._task is not None:  # one at a time; the newest settings follow when it ends
            self._dirty = True
            return
        self._dirty = False
        from app.warmup import libraries_ready, when_ready

        curve = libraries_ready()  # torch is never loaded for the preview: the idle warm-up loads it
        if not curve and not self._waiting:
            self._waiting = True
            when_ready(self._libraries_loaded)
        self._task = run_task(schedule_preview, self._cfg, curve, on_done=self._done, on_error=self._failed,
                              owner=self)

    def _libraries_loaded(self) -> None:
        self._waiting = False
        if self._cfg is not None and shiboken6.isValid(self):
            self.request(self._cfg)

    def _finish(self) -> None:
        self._task = None
        if self._dirty:
            self._start()
        else:
            self.computed.emit()

    def _failed(self, msg: str) -> None:
        self.result, self.error = None, msg
        self.ensure_plot().clear()
        self.summary.setText(tr_core(msg))
        self._show_hints()
        self._finish()

    def _done(self, res: dict) -> None:
        import pyqtgraph as pg

        self.result, self.error = res, None
        p = self.ensure_plot()
        p.clear()
        if p.plotItem.legend is not None:
            p.plotItem.legend.clear()
        peak = max((max(v) for v in res["curves"].values() if v), default=0.0) or 1.0
        for name, values in res["curves"].items():
            p.plot(res["steps"], values, pen=pg.mkPen(GROUP_PENS.get(name, "#333"), width=2),
                   name=tr("UNet") if name == "unet" else tr("text encoder"))
        for s in res["epoch_steps"]:
            p.addItem(pg.InfiniteLine(s, angle=90, pen=pg.mkPen("#bbbbbb", style=pg.QtCore.Qt.PenStyle.DashLine)))
        saves = res["save_steps"]
        if saves:
            p.plot(saves, [peak * 1.04] * len(saves), pen=None, symbol="t", symbolBrush="#2a7a2a", symbolSize=9,
                   name=tr("file saved"))
        if res["total"]:
            p.setXRange(0, res["total"], padding=0.01)
        p.setYRange(0, peak * 1.1, padding=0)
        text = tr_core(res["summary"])  # the step plan and notes come from the core in English
        if res["epoch_steps"]:
            text += " · " + tr("dashed lines: epoch ends")
        if res["note"]:
            text = (text + " · " if text else "") + tr_core(res["note"])
        if not res.get("curve", True):
            text = (text + " · " if text else "") + tr("The curve is drawn once the training libraries have "
                                                       "loaded (in the background, a few seconds).")
        self.summary.setText(text)
        self._show_hints()
        self._finish()

    def _show_hints(self, *_goal) -> None:
        from widgets.common.guidance_hints import hints_html

        res = self.result or {}
        self.hints.setText(hints_html(res.get("concepts") or [], epochs=res.get("epochs"),
                                      total_steps=res.get("total"), sdxl=res.get("sdxl", False)))
