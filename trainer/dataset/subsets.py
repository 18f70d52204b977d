"""Per-folder (subset) options: what sd-scripts' ``[[datasets.subsets]]`` may set for one folder only.

A concept folder (:class:`trainer.dataset.scan.Concept`) carries ``options``: the subset keys its dataset
config gave it. Everything else falls back to the run's settings, so a plain ``train_data_dir`` run (no
options anywhere) behaves exactly as before. The trainer, the caption preview and the latent cache all ask
:func:`option` so one folder's ``keep_tokens`` can never leak into another's captions.
"""
from __future__ import annotations

def option(concept, cfg, name: str):
    """``name`` for images of ``concept``: the folder's own value, else the run's (cfg), else None."""
    opts = getattr(concept, "options", None) or {}
    if name in opts and opts[name] is not None:
        return opts[name]
    return getattr(cfg, name, None)


def item_option(entry, cfg, name: str):
    """:func:`option` for the concept an image entry belongs to."""
    return option(entry.concept, cfg, name)


class SubsetView:
    """The run settings as one folder sees them: ``view.keep_tokens`` is the folder's own value when its
    dataset config gave one, else the run's. Lets code written against a TrainConfig apply per-folder
    options without knowing about them."""

    def __init__(self, cfg, concept):
        self._cfg = cfg
        self._opts = getattr(concept, "options", None) or {}

    def __getattr__(self, name: str):
        if name in self._opts and self._opts[name] is not None:
            return self._opts[name]
        return getattr(self._cfg, name)
