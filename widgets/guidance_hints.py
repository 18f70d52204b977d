"""The guide's dataset numbers as hints in the window (trainer.dataset.guidance): the training goal chosen on
the Dataset page's totals bar, the hints there (images, samples per epoch, balance) and under the Training
page's learning-rate preview (the whole run too). Hints only: nothing is blocked."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox

from app.i18n import tr

COLOURS = {"ok": "#2a7a2a", "low": "#b35c00", "high": "#b35c00", "note": "#55595f"}


class _Goal(QObject):
    changed = Signal(str)

    def __init__(self):
        super().__init__()
        self.value = "character"

    def set(self, goal: str) -> None:
        if goal != self.value:
            self.value = goal
            self.changed.emit(goal)


_goal: _Goal | None = None


def goal() -> _Goal:
    """The one training goal the window's hints follow ("character", "style" or "concept")."""
    global _goal
    if _goal is None:
        _goal = _Goal()
    return _goal


def goal_combo(parent=None) -> QComboBox:
    box = QComboBox(parent)
    for key, label in (("character", tr("character")), ("style", tr("style")), ("concept", tr("concept"))):
        box.addItem(label, key)
    box.setToolTip(tr("What you train: the guide's numbers of images and steps differ for each"))
    box.setCurrentIndex(box.findData(goal().value))
    box.currentIndexChanged.connect(lambda _i: goal().set(box.currentData()))
    goal().changed.connect(lambda g: box.setCurrentIndex(box.findData(g)))
    return box


def concept_tuples(concepts) -> list[tuple[str, int, int, bool]]:
    return [(c.folder_name, len(c.images), c.repeats, bool(c.is_reg)) for c in concepts]


def hints_html(concepts: list, *, epochs=None, total_steps=None, sdxl=False, sep: str = "<br>") -> str:
    """The hints for the current goal as rich text, one per line (or joined by ``sep``)."""
    from trainer.dataset.guidance import dataset_hints

    if not concepts:
        return ""
    lines = []
    for h in dataset_hints(goal().value, concepts, epochs=epochs, total_steps=total_steps, sdxl=sdxl):
        values = {k: tr(v) if isinstance(v, str) and k == "what" else v for k, v in h.values.items()}
        mark = "✓" if h.level == "ok" else "•"
        lines.append(f"<span style='color:{COLOURS[h.level]}'>{mark} {tr(h.template).format(**values)}</span>")
    return sep.join(lines)
