"""What the Progress view's plots show besides the training loss and the schedule: the validation loss (dots
joined by a line, on the loss plot's own scale so both can be compared) and, for Prodigy and D-Adaptation,
d*lr per group on a right-hand axis of the learning-rate plot (the schedule there is only a factor near 1,
the real step size is orders of magnitude smaller)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from app.i18n import tr

from widgets.training.live_plots import fit_range, group_names

VAL_PEN = "#2ca02c"
DLR_PENS = {"unet": "#17becf", "textencoder": "#e377c2"}


class WatchPlots:
    def __init__(self, view):
        self.view = view
        self.val_curve = None  # curves and the d*lr axis are made when their first value comes: a run without
        # them paints exactly what it painted before (the view's first paint is timed)
        self.dlr_box = None  # made with the first d*lr value: runs without one paint nothing more
        self.dlr_curves: dict[str, object] = {}
        self._dlr_range = None
        # drawn by the view's own refresh (at most once a second, never while hidden): no timer of its own
        self.reset()

    def reset(self) -> None:
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self.dlr_steps: list[int] = []
        self.dlrs: dict[str, list[float]] = {}
        if self.val_curve is not None:
            self.val_curve.setData([], [])
        for c in self.dlr_curves.values():
            c.setData([], [])
        self._dlr_range = None
        item = self.view.lr_plot.getPlotItem()
        if item.getAxis("right").isVisible():
            item.hideAxis("right")
        self._dirty = False

    def on_event(self, e) -> None:
        kind = type(e).__name__
        if kind == "Validation":
            if self.val_steps and self.val_steps[-1] == e.step:  # the epoch end repeats the step's value
                return
            self.val_steps.append(e.step)
            self.val_losses.append(e.loss)
            # on the loss plot's scale: the view's next redraw fits its range to them with the losses, once
            self.view.plots.extra_losses = np.asarray(self.val_losses, dtype=float)
            self._dirty = True
        elif kind == "Step" and getattr(e, "dlrs", None):
            self.dlr_steps.append(e.step)
            for name, value in e.dlrs.items():
                self.dlrs.setdefault(name, []).append(value)
            self._dirty = True

    def legend(self) -> list[tuple[str, str]]:
        """The validation curve's entry for the loss plot's title."""
        return [(VAL_PEN, tr("validation"))] if self.val_steps else []

    def refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        view = self.view
        if self.val_steps:
            if self.val_curve is None:
                self.val_curve = view.loss_plot.plot(pen=pg.mkPen(VAL_PEN, width=2), symbol="o", symbolSize=6,
                                                     symbolBrush=VAL_PEN, symbolPen=None)
            self.val_curve.setData(self.val_steps, self.val_losses)
            view.plots.set_loss_title(self.legend())
        if self.dlr_steps:
            item = view.lr_plot.getPlotItem()
            if self.dlr_box is None:
                self._make_dlr_box(item)
            item.showAxis("right")
            top = 0.0
            for name, values in self.dlrs.items():
                if name not in self.dlr_curves:
                    curve = pg.PlotDataItem(pen=pg.mkPen(DLR_PENS.get(name, "#555"), width=2,
                                                         style=Qt.PenStyle.DashLine))
                    self.dlr_box.addItem(curve)
                    self.dlr_curves[name] = curve
                self.dlr_curves[name].setData(self.dlr_steps[: len(values)], values)
                top = max(top, max(values))
            new = fit_range(self._dlr_range, np.array([0.0, top]), floor=0.0) if top > 0 else None
            if new is not None:
                self._dlr_range = new
                self.dlr_box.setYRange(*new, padding=0)
            names = group_names()
            view.plots.set_lr_title([(DLR_PENS.get(n, "#555"), tr("d*lr {name}").format(name=names.get(n, n)))
                                     for n in self.dlr_curves])

    def _make_dlr_box(self, lr_item) -> None:
        """A second view box over the learning-rate plot with its own y scale, read on the right axis."""
        self.dlr_box = pg.ViewBox()
        self.dlr_box.setMouseEnabled(x=False, y=False)
        lr_item.scene().addItem(self.dlr_box)
        right = lr_item.getAxis("right")
        right.linkToView(self.dlr_box)
        right.setLabel("d*lr")
        right.setWidth(64)
        self.dlr_box.setXLink(lr_item)
        self.dlr_box.setGeometry(lr_item.vb.sceneBoundingRect())
        lr_item.vb.sigResized.connect(lambda *_: self.dlr_box.setGeometry(lr_item.vb.sceneBoundingRect()))
