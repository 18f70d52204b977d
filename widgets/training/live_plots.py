"""The training view's live plots: loss (raw and moving average) and learning rate per group against the step.

Points are appended to growing buffers (no Qt work); :meth:`LivePlots.redraw` hands them to the curves.
"""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QSplitter

from app.i18n import tr

MAX_PASSED = 200_000  # points per curve handed to pyqtgraph; it draws a few per pixel of them
LR_PENS = {"unet": "#1f77b4", "textencoder": "#d62728"}
LOSS_PEN, AVG_PEN = "#9ab7d8", "#d35400"
AXIS_WIDTH = 64  # px, room for labels such as "0.00015"


def titled_legend(title: str, entries) -> str:
    """A plot title that names its curves in their colours: cheaper to draw than a pyqtgraph legend, whose
    first layout repaints the whole view a second time."""
    keys = " ".join(f'<span style="color:{color}">━ {html.escape(name)}</span>' for color, name in entries)
    return f"{html.escape(title)}&nbsp;&nbsp;&nbsp;{keys}"


def group_names() -> dict[str, str]:
    """The parameter groups' names in the plot titles."""
    return {"unet": tr("UNet"), "textencoder": tr("text encoder")}


def fit_range(current, values: np.ndarray, floor=None):
    """The y range that holds ``values``: None while ``current`` holds them and is not far too wide (a change
    of range repaints the axes, the costliest part of a redraw); else a range with 15 % room above the data
    and 10 % below it (none below ``floor`` when given)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if floor is not None:
        lo = floor
    span = max(hi - lo, abs(hi) * 1e-3, 1e-12)
    if current is not None and current[0] <= lo and current[1] >= hi and (current[1] - current[0]) < 4 * span:
        return None
    return lo - (0 if floor is not None else 0.1 * span), hi + 0.15 * span


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


class LivePlots(QSplitter):
    """Loss and learning-rate plots side by side."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.loss_plot.setLabel("bottom", tr("step"))
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen(LOSS_PEN, width=1))
        self.avg_curve = self.loss_plot.plot(pen=pg.mkPen(AVG_PEN, width=2))
        self._titles: dict[int, str] = {}  # id(plot) -> the title it shows
        self.extra_losses = np.empty(0)  # other points on the loss plot's scale (validation, watch_plots.py)
        self.set_loss_title()
        self.lr_plot = pg.PlotWidget(background="w")
        self.lr_plot.showGrid(x=True, y=True, alpha=0.25)
        self.lr_plot.setLabel("bottom", tr("step"))
        for p in (self.loss_plot, self.lr_plot):
            # ranges are set by redraw(), only when the data leaves them: a change of range repaints the axes,
            # the costliest part of a redraw
            p.disableAutoRange()
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            # a fixed axis width: fitted to its labels it would change after the first paint and paint again
            p.getAxis("left").setWidth(AXIS_WIDTH)
            p.getAxis("bottom").setHeight(40)
            for ax in ("left", "bottom"):  # repaints blit the axes unless their range changed
                p.getAxis(ax).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # long curves: drawn as the min and max of each few-pixel bin (spikes stay visible), visible part only
            p.setDownsampling(auto=True, mode="peak")
            p.setClipToView(True)
        self.addWidget(self.loss_plot)
        self.addWidget(self.lr_plot)
        self.lr_curves: dict[str, object] = {}
        self._lr_extra: list = []
        self.clear(LR_PENS)

    def clear(self, groups=LR_PENS) -> None:
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
        self.extra_losses = np.empty(0)
        self.set_loss_title()  # a new run: no validation entry until its first value
        self.set_lr_title()
        self.loss_curve.setData([], [])
        self._loss_range = self._lr_range = None
        self.avg_curve.setData([], [])

    def begin(self, groups: dict) -> None:
        """Ranges made (after clear) before the first step, so that its redraw is as cheap as the others."""
        peak = max((lr for lr in groups.values() if lr), default=0.0)
        if peak > 0:
            self._lr_range = (0.0, peak * 1.15)
            self.lr_plot.setYRange(*self._lr_range, padding=0)
        self._loss_range = (0.0, 0.5)
        self.loss_plot.setYRange(*self._loss_range, padding=0)

    def set_total(self, total_steps: int) -> None:
        for p in (self.loss_plot, self.lr_plot):
            p.setXRange(0, max(1, total_steps), padding=0.02)

    def add(self, e) -> None:
        """One Step event's points."""
        self.steps.append(e.step)
        self.losses.append(e.loss)
        self.avgs.append(e.avg_loss)
        for name, lr in e.lrs.items():
            self._lr_curve(name)
            self.lrs[name].append(lr)

    def _lr_curve(self, name: str) -> None:
        if name not in self.lrs:
            self.lrs[name] = _Buffer()
        if name not in self.lr_curves:
            self.lr_curves[name] = self.lr_plot.plot(pen=pg.mkPen(LR_PENS.get(name, "#333"), width=2))
            self.set_lr_title(self._lr_extra)

    def set_loss_title(self, extra=()) -> None:
        """The loss plot's title: its two curves and ``extra`` (colour, name) entries."""
        self._set_title(self.loss_plot, titled_legend(
            tr("Loss"), [(LOSS_PEN, tr("loss")), (AVG_PEN, tr("moving average")), *extra]))

    def set_lr_title(self, extra=()) -> None:
        """The learning-rate plot's title: one entry per group and ``extra`` (colour, name) entries."""
        self._lr_extra = list(extra)
        names = group_names()
        entries = [(LR_PENS.get(n, "#333"), names.get(n, n)) for n in self.lr_curves] + self._lr_extra
        self._set_title(self.lr_plot, titled_legend(tr("Learning rate"), entries))

    def _set_title(self, plot, title: str) -> None:
        if self._titles.get(id(plot)) != title:  # a new title lays the plot out again
            self._titles[id(plot)] = title
            plot.setTitle(title)

    def redraw(self) -> None:
        x = self.steps.view()
        k = max(1, len(x) // MAX_PASSED)  # very long runs are thinned first; the buffers keep every step
        losses, avgs = self.losses.view(), self.avgs.view()
        self.loss_curve.setData(x[::k], losses[::k])
        self.avg_curve.setData(x[::k], avgs[::k])
        self.fit_loss()
        peak = 0.0
        for name, buf in self.lrs.items():
            values = buf.view()
            self.lr_curves[name].setData(x[: buf.n][::k], values[::k])
            if buf.n:
                peak = max(peak, float(np.nanmax(values)))
        if peak > 0:
            self._fit_y(self.lr_plot, "_lr_range", np.array([0.0, peak]), floor=0.0)

    def fit_loss(self) -> None:
        """The loss plot's range around the losses and the extra points."""
        losses = self.losses.view()
        values = np.concatenate([losses, self.extra_losses]) if len(self.extra_losses) else losses
        self._fit_y(self.loss_plot, "_loss_range", values, floor=None)

    def _fit_y(self, plot, attr: str, values: np.ndarray, floor) -> None:
        new = fit_range(getattr(self, attr, None), values, floor)
        if new is not None:
            setattr(self, attr, new)
            plot.setYRange(*new, padding=0)
