"""The learning-rate preview: the curve of the chosen scheduler over every step of the current settings, per
parameter group, with epoch boundaries and save points marked.

The curve comes from the core's real scheduler objects (``trainer.optim.preview.lr_curve``), which import
torch, so :func:`schedule_preview` runs in a pool thread; the steps come from the dataset scan and the same
steps math as the trainer (``trainer.dataset.plan``). Nothing here imports torch at module level.
"""
from __future__ import annotations

import threading

import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.i18n import tr

from .worker import run_task

GROUP_PENS = {"unet": "#1f77b4", "textencoder": "#d62728"}
MAX_POINTS = 4000  # the curve is thinned to this many points for drawing

_scan_cache: dict = {}
_scan_lock = threading.Lock()


def _bucket_counts(cfg) -> dict | None:
    """Items per bucket of the training folder (cached per folder and bucket settings), None without one."""
    from pathlib import Path

    from trainer.plan import dataset_bucket_counts

    folder = Path(cfg.dataset_config or cfg.train_data_dir)  # a dataset config lists its folders itself
    if not (cfg.dataset_config or cfg.train_data_dir) or not folder.exists():
        return None
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
    counts = dataset_bucket_counts(cfg)  # the trainer's count: regularization images balanced too
    with _scan_lock:
        if len(_scan_cache) > 16:
            _scan_cache.clear()
        _scan_cache[key] = counts
    return counts


def _as_the_optimizer_runs_it(cfg, groups: list) -> tuple[str, list, str]:
    """(scheduler, groups, note) as the trainer will use them: AdaFactor with relative_step replaces the
    scheduler with its own; adaptive optimizers (Prodigy, D-Adaptation) train every part at learning_rate."""
    from trainer.errors import ConfigError
    from trainer.optim.checks import adafactor_sets_scheduler
    from trainer.optim.optimizers import OPTIMIZERS, canonical_optimizer_name

    if adafactor_sets_scheduler(cfg.optimizer_type, cfg.optimizer_args):
        return "adafactor", groups, tr("AdaFactor (relative_step) sets its own learning rate from the gradients; "
                                       "the curve shows the starting value only.")
    try:
        info = OPTIMIZERS.get(canonical_optimizer_name(cfg.optimizer_type))
    except ConfigError:
        info = None
    if info is not None and info.is_adaptive:
        return cfg.lr_scheduler, [(name, cfg.learning_rate) for name, _ in groups], tr(
            "{name} finds the step size itself: the curve is the factor the scheduler applies to it "
            "(learning_rate, usually 1.0, for every part).").format(name=info.name)
    return cfg.lr_scheduler, groups, ""


def schedule_preview(cfg) -> dict:
    """{steps, curves {group: [lr]}, epoch_steps, save_steps, note}; runs in a pool thread (imports torch)."""
    from trainer.imports import ml_imports

    ml_imports()  # other pool threads import the same libraries (see trainer/imports.py)
    from trainer.dataset.plan import plan_steps
    from trainer.optim.preview import lr_curve
    from trainer.plan import _with_dataset_config

    cfg = _with_dataset_config(cfg)  # a dataset config's batch size and resolution
    note = ""
    try:
        counts = _bucket_counts(cfg)
    except Exception as e:  # a missing or unreadable folder: the curve is still useful
        counts, note = None, str(e)
    concepts = _concepts(cfg) if counts else []
    plan = None
    if counts:
        plan = plan_steps(counts, cfg.train_batch_size, cfg.gradient_accumulation_steps, 1, cfg.max_train_epochs,
                          cfg.max_train_steps)
        total = plan.total_steps
    elif cfg.max_train_epochs is not None:
        return {"steps": [], "curves": {}, "epoch_steps": [], "save_steps": [], "total": 0, "summary": "",
                "note": note or tr("Choose a training folder: the number of steps of {n} epochs depends on it."
                                   ).format(n=cfg.max_train_epochs)}
    else:
        total = cfg.max_train_steps
        note = note or tr("Choose a training folder to see the epochs.")
    groups = []
    if not cfg.network_train_text_encoder_only:
        groups.append(("unet", cfg.unet_lr if cfg.unet_lr is not None else cfg.learning_rate))
    if not cfg.network_train_unet_only and not (cfg.cache_text_encoder_outputs or
                                                 cfg.cache_text_encoder_outputs_to_disk):
        groups.append(("textencoder", cfg.text_encoder_lr if cfg.text_encoder_lr is not None else cfg.learning_rate))
    scheduler, groups, optimizer_note = _as_the_optimizer_runs_it(cfg, groups)
    note = " ".join(n for n in (note, optimizer_note) if n)
    curve = lr_curve(scheduler, total, cfg.learning_rate, group_lrs=[lr for _, lr in groups],
                     lr_warmup_steps=cfg.lr_warmup_steps, lr_scheduler_num_cycles=cfg.lr_scheduler_num_cycles,
                     lr_scheduler_power=cfg.lr_scheduler_power, lr_scheduler_type=cfg.lr_scheduler_type,
                     lr_scheduler_args=cfg.lr_scheduler_args)
    stride = max(1, len(curve) // MAX_POINTS)
    steps = list(range(1, total + 1, stride))
    curves = {name: [curve[s - 1][i] for s in steps] for i, (name, _) in enumerate(groups)}
    epoch_steps, save_steps = [], []
    if plan is not None:
        spe = plan.steps_per_epoch
        epoch_steps = [e * spe for e in range(1, plan.epochs) if e * spe < total]
        if cfg.save_every_n_epochs:
            save_steps += [e * spe for e in range(cfg.save_every_n_epochs, plan.epochs, cfg.save_every_n_epochs)
                           if e * spe < total]
    if cfg.save_every_n_steps:
        save_steps += list(range(cfg.save_every_n_steps, total, cfg.save_every_n_steps))
    save_steps = sorted(set(save_steps)) + [total]
    summary = plan.describe() if plan is not None else tr("{n} steps").format(n=total)
    return {"steps": steps, "curves": curves, "epoch_steps": epoch_steps, "save_steps": save_steps,
            "total": total, "summary": summary, "note": note, "concepts": concepts,
            "epochs": plan.epochs if plan is not None else None, "sdxl": bool(cfg.sdxl)}


def _concepts(cfg) -> list:
    """(folder, images, repeats, is_reg) of the run's folders, for the guide's hints."""
    from trainer.dataset.sources import scan_sources

    from .guidance_hints import concept_tuples

    try:
        return concept_tuples(scan_sources(cfg).concepts)
    except Exception:  # noqa: BLE001 - the curve's note already says what is wrong with the folder
        return []


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
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(180)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", tr("step"))
        self.plot.setLabel("left", tr("learning rate"))
        self.plot.addLegend(offset=(60, -30))
        self.plot.setMouseEnabled(x=True, y=False)
        self.summary = QLabel()
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        lay.addWidget(title)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.summary)
        self.hints = QLabel()  # the guide's numbers for this dataset and run (hints, never errors)
        self.hints.setWordWrap(True)
        lay.addWidget(self.hints)
        from .guidance_hints import goal

        goal().changed.connect(self._show_hints)  # a method: disconnected when the preview is gone
        self.result: dict | None = None
        self.error: str | None = None
        self._cfg = None
        self._task = None
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self._start)

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
        self._task = run_task(schedule_preview, self._cfg, on_done=self._done, on_error=self._failed, owner=self)

    def _finish(self) -> None:
        self._task = None
        if self._dirty:
            self._start()
        else:
            self.computed.emit()

    def _failed(self, msg: str) -> None:
        self.result, self.error = None, msg
        self.plot.clear()
        self.summary.setText(msg)
        self._show_hints()
        self._finish()

    def _done(self, res: dict) -> None:
        self.result, self.error = res, None
        p = self.plot
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
        text = res["summary"]
        if res["epoch_steps"]:
            text += " · " + tr("dashed lines: epoch ends")
        if res["note"]:
            text = (text + " · " if text else "") + res["note"]
        self.summary.setText(text)
        self._show_hints()
        self._finish()

    def _show_hints(self, *_goal) -> None:
        from .guidance_hints import hints_html

        res = self.result or {}
        self.hints.setText(hints_html(res.get("concepts") or [], epochs=res.get("epochs"),
                                      total_steps=res.get("total"), sdxl=res.get("sdxl", False)))
