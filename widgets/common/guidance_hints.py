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


class GoalCombo(QComboBox):
    """Chooses the goal; follows it when another combo changes it. Slots are methods, so a closed window's
    combo is disconnected from the shared goal (a lambda would outlive its widget)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        for key, label in (("character", tr("character")), ("style", tr("style")), ("concept", tr("concept"))):
            self.addItem(label, key)
        self.setToolTip(tr("What you train: the guide's numbers of images and steps differ for each"))
        self.setCurrentIndex(self.findData(goal().value))
        self.currentIndexChanged.connect(self._chosen)
        goal().changed.connect(self._follow)

    def _chosen(self, _index: int) -> None:
        goal().set(self.currentData())

    def _follow(self, value: str) -> None:
        self.setCurrentIndex(self.findData(value))


def goal_combo(parent=None) -> QComboBox:
    return GoalCombo(parent)


def _texts() -> dict[str, str]:
    """The guidance sentences and their parts (trainer.dataset.guidance) in the interface language."""
    return {
        "{what}: {value}, below the guide's {lo}-{hi}.": tr("{what}: {value}, below the guide's {lo}-{hi}."),
        "{what}: {value}, above the guide's {lo}-{hi}.": tr("{what}: {value}, above the guide's {lo}-{hi}."),
        "{what}: {value}, within the guide's {lo}-{hi}.": tr("{what}: {value}, within the guide's {lo}-{hi}."),
        "Repeats {repeats} for '{name}' would give {samples} samples per epoch.":
            tr("Repeats {repeats} for '{name}' would give {samples} samples per epoch."),
        "'{name}' adds {samples} samples per epoch, far fewer than the largest folder ({most}); raise its repeats "
        "to keep the concepts in balance.":
            tr("'{name}' adds {samples} samples per epoch, far fewer than the largest folder ({most}); raise its "
               "repeats to keep the concepts in balance."),
        "The guide trains without regularization images; they double each epoch.":
            tr("The guide trains without regularization images; they double each epoch."),
        "Images for a character": tr("Images for a character"),
        "Images for a style": tr("Images for a style"),
        "Samples per epoch (images x repeats)": tr("Samples per epoch (images x repeats)"),
        "Total steps for SDXL": tr("Total steps for SDXL"),
        "Samples over the run (epochs x samples per epoch, before the batch size)":
            tr("Samples over the run (epochs x samples per epoch, before the batch size)"),
    }


def concept_tuples(concepts) -> list[tuple[str, int, int, bool]]:
    return [(c.folder_name, len(c.images), c.repeats, bool(c.is_reg)) for c in concepts]


def hints_html(concepts: list, *, epochs=None, total_steps=None, sdxl=False, sep: str = "<br>") -> str:
    """The hints for the current goal as rich text, one per line (or joined by ``sep``)."""
    from trainer.dataset.guidance import dataset_hints

    if not concepts:
        return ""
    texts = _texts()
    lines = []
    for h in dataset_hints(goal().value, concepts, epochs=epochs, total_steps=total_steps, sdxl=sdxl):
        values = {k: texts.get(v, v) if k == "what" else v for k, v in h.values.items()}
        mark = "✓" if h.level == "ok" else "•"
        text = texts.get(h.template, h.template).format(**values)
        lines.append(f"<span style='color:{COLOURS[h.level]}'>{mark} {text}</span>")
    return sep.join(lines)
