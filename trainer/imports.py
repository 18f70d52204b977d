"""Importing the ML libraries from more than one thread.

transformers and diffusers load their submodules lazily, on the first access of a name. When two threads do
that at the same time, one can see a half-initialised module and fail with "cannot import name 'AutoModel' from
'transformers'". The desktop app imports them from pool threads (the core's warm-up, the learning-rate preview,
the tools) and from the training thread, so each of those entry points calls :func:`ml_imports` first: the
stack, and the lazily loaded names we reach later, are imported once, under one lock. Single-threaded callers
(the command line) need not call it.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_loaded: set[str] = set()


def _training() -> None:
    import transformers

    import trainer.optim.preview  # noqa: F401 - torch and the schedulers
    import trainer.run.trainer  # noqa: F401 - the training chain: diffusers models, CLIP, lycoris, accelerate

    for name in ("CLIPTokenizer", "CLIPTextModel", "CLIPTextModelWithProjection", "CLIPTextConfig"):
        getattr(transformers, name)
    from transformers.optimization import Adafactor  # noqa: F401


def _tools() -> None:
    import diffusers

    from trainer.tools import check, merge, resize, sample  # noqa: F401

    for name in ("StableDiffusionPipeline", "StableDiffusionXLPipeline",
                 *sorted({cls for cls, _, _ in sample.SAMPLERS.values()})):
        getattr(diffusers, name)


def ml_imports(tools: bool = False) -> None:
    """Import the training stack (and with ``tools`` the sampling pipelines) once, whichever thread asks."""
    wanted = ("training", "tools") if tools else ("training",)
    if all(w in _loaded for w in wanted):
        return
    with _lock:
        for w in wanted:
            if w not in _loaded:
                {"training": _training, "tools": _tools}[w]()
                _loaded.add(w)
