"""The always-visible totals of the Dataset page: samples and steps per epoch (76x1 + 16x6 = 172 ...) at the
chosen train_batch_size and gradient_accumulation_steps, counted as the trainer counts them."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout

from app.i18n import tr


class TotalsBar(QFrame):
    valueChanged = Signal(str, int)  # kohya field name, new value

    def __init__(self, config, parent=None):
        super().__init__(parent)
        self.setObjectName("totalsBar")
        rows = QVBoxLayout(self)
        rows.setContentsMargins(8, 4, 8, 4)
        rows.setSpacing(2)
        tl = QHBoxLayout()
        rows.addLayout(tl)
        self.totals = QLabel(tr("Open a training folder to see samples and steps per epoch."))
        self.totals.setObjectName("totals")
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.totals.setWordWrap(True)  # many folders: more lines, not a window wider than the screen
        tl.addWidget(self.totals, 1)
        self.batch = self._spin(tl, "train_batch_size", 256, config.train_batch_size)
        self.accum = self._spin(tl, "gradient_accumulation_steps", 1024, config.gradient_accumulation_steps)
        rows.addLayout(self._guidance_row())

    def _guidance_row(self) -> QHBoxLayout:
        """The guide's numbers for the chosen goal, as hints (widgets.common.guidance_hints)."""
        from widgets.common.guidance_hints import goal, goal_combo

        row = QHBoxLayout()
        row.addWidget(QLabel(tr("Training a")))
        row.addWidget(goal_combo(self))
        self.hints = QLabel()
        self.hints.setWordWrap(True)
        row.addWidget(self.hints, 1)
        self._concepts: list = []
        goal().changed.connect(self._show_hints)  # a method: disconnected when the bar is gone
        return row

    def _show_hints(self, *_goal) -> None:
        from widgets.common.guidance_hints import hints_html

        self.hints.setText(hints_html(self._concepts, sep=" "))

    def _spin(self, layout, key: str, top: int, value: int) -> QSpinBox:
        layout.addWidget(QLabel(key))
        box = QSpinBox()
        box.setRange(1, top)
        box.setValue(value)
        box.valueChanged.connect(lambda v: self.valueChanged.emit(key, v))
        layout.addWidget(box)
        return box

    def show_settings(self, config) -> None:
        """Show the config's batch size and accumulation (no ``valueChanged``: the change came from there)."""
        for box, value in ((self.batch, config.train_batch_size), (self.accum, config.gradient_accumulation_steps)):
            box.blockSignals(True)
            box.setValue(int(value))
            box.blockSignals(False)

    def show_totals(self, scan, groups: list, accum: int) -> None:
        """``groups``: the scan as the trainer groups it (trainer.dataset.groups: one for a training folder,
        one per [[datasets]] of a dataset config), each cutting its own batches of its batch size as set now,
        with its bucket report when the Buckets tab has one (for the count with buckets)."""
        from trainer.dataset.groups import plan_counts
        from trainer.dataset.plan import plan_steps
        from trainer.dataset.reg import concept_samples

        used = concept_samples(scan.concepts)  # reg images balanced per dataset, as trained: once here
        parts = [f"{c.folder_name}: {len(c.images)}×{c.repeats} = {c.samples}"
                 + (", " + tr("balanced to {n}").format(n=n) if n != c.samples else "")
                 for c, n in zip(scan.concepts, used)]
        samples = sum(used)
        per_dataset: dict = {}
        for c, n in zip(scan.concepts, used):
            per_dataset[c.dataset] = per_dataset.get(c.dataset, 0) + n
        batches = sum(-(-per_dataset.get(g.index, 0) // g.batch_size) for g in groups)
        simple = -(-batches // accum)
        at = ", ".join(str(g.batch_size) for g in groups)
        text = "  +  ".join(parts) + "  →  <b>" + tr("{n} samples per epoch").format(n=samples) + "</b>"
        text += " · <b>" + tr("{n} steps per epoch").format(n=simple) + "</b> " + \
            tr("at batch {b}").format(b=at)
        if accum > 1:
            text += " " + tr("with gradient accumulation {a}").format(a=accum)
        if groups and all(g.report is not None and g.report.counts for g in groups):
            try:
                plan = plan_steps(plan_counts(groups), groups[0].batch_size, accum)  # repeats as edited now
                if plan.steps_per_epoch != simple:
                    text += " " + tr("({n} with {b} buckets: a batch never mixes buckets)").format(
                        n=plan.steps_per_epoch, b=len(plan.buckets))
            except Exception:
                pass
        self.totals.setText(text)
        from widgets.common.guidance_hints import concept_tuples

        self._concepts = concept_tuples(scan.concepts)
        self._show_hints()
