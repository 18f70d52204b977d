"""Where a dataset stands against the Russian community guide's numbers (shared/seed/lora-guide-ru.txt), as
hints, never as errors. No torch, no Qt: the totals bar and the Training page call :func:`dataset_hints`.

The guide's numbers (experience, not rules; each dataset differs):

* images: 50-100 for a character, 75-200 for a style;
* samples per epoch (images x repeats, summed over folders): 200-600 in general, 300-500 for a character,
  400-600 for a style;
* samples over the whole run (per epoch x epochs, before dividing by the batch size): 2000-7000 for a
  character, 8000-12000 for a style; SDXL at a low rank: 1500-6000 steps;
* regularization images are not needed for this way of training;
* several concept folders: repeats keep them in balance (76 x 1 + 16 x 6).

A "concept" (an object, an outfit, a pose) has no numbers of its own in the guide: it gets the general
per-epoch range only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

GOALS = ("character", "style", "concept")
IMAGES = {"character": (50, 100), "style": (75, 200)}
PER_EPOCH = {"character": (300, 500), "style": (400, 600), "concept": (200, 600)}
RUN_SAMPLES = {"character": (2000, 7000), "style": (8000, 12000)}
SDXL_STEPS = (1500, 6000)
IMBALANCE = 4  # a folder with under a quarter of the largest folder's samples is trained much less


@dataclass(frozen=True)
class Hint:
    """``template.format(**values)`` is the sentence (the GUI translates the template first); ``level`` is
    "ok", "low", "high" or "note"."""

    level: str
    template: str
    values: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template.format(**self.values)


def _range(value: int, lo: int, hi: int, what: str) -> Hint:
    level = "low" if value < lo else "high" if value > hi else "ok"
    template = {"low": "{what}: {value}, below the guide's {lo}-{hi}.",
                "high": "{what}: {value}, above the guide's {lo}-{hi}.",
                "ok": "{what}: {value}, within the guide's {lo}-{hi}."}[level]
    return Hint(level, template, {"what": what, "value": value, "lo": lo, "hi": hi})


def dataset_hints(goal: str, concepts: list[tuple[str, int, int, bool]], *, epochs: int | None = None,
                  total_steps: int | None = None, sdxl: bool = False) -> list[Hint]:
    """Hints for ``concepts`` as (folder name, images, repeats, is regularization) trained for ``goal``
    ("character", "style" or "concept"); ``epochs`` and ``total_steps`` when known. Unknown goal: ValueError."""
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {', '.join(GOALS)}, not '{goal}'")
    train = [c for c in concepts if not c[3]]
    images = sum(n for _, n, _, _ in train)
    per_epoch = sum(n * r for _, n, r, _ in train)
    out: list[Hint] = []
    if goal in IMAGES:
        out.append(_range(images, *IMAGES[goal], what="Images for a character" if goal == "character" else "Images for a style"))
    out.append(_range(per_epoch, *PER_EPOCH[goal], what="Samples per epoch (images x repeats)"))
    if per_epoch and out[-1].level != "ok" and len(train) == 1:
        lo, hi = PER_EPOCH[goal]
        name, n, _, _ = train[0]
        best = max(1, round((lo + hi) / 2 / n)) if n else 1
        out.append(Hint("note", "Repeats {repeats} for '{name}' would give {samples} samples per epoch.",
                        {"repeats": best, "name": name, "samples": best * n}))
    if sdxl and total_steps:
        out.append(_range(total_steps, *SDXL_STEPS, what="Total steps for SDXL"))
    elif epochs and goal in RUN_SAMPLES:
        out.append(_range(per_epoch * epochs, *RUN_SAMPLES[goal],
                          what="Samples over the run (epochs x samples per epoch, before the batch size)"))
    if len(train) > 1:
        most = max(n * r for _, n, r, _ in train)
        for name, n, r, _ in train:
            if n * r * IMBALANCE < most:
                out.append(Hint("note", "'{name}' adds {samples} samples per epoch, far fewer than the largest "
                                        "folder ({most}); raise its repeats to keep the concepts in balance.",
                                {"name": name, "samples": n * r, "most": most}))
    if any(c[3] for c in concepts):
        out.append(Hint("note", "The guide trains without regularization images; they double each epoch."))
    return out
