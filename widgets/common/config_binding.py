"""How a page holds the shared config (trainer/config/model.py): the window's model, or one of its own when the
page stands alone (tests, a page shown by itself), followed for as long as the page lives."""
from __future__ import annotations

from PySide6.QtCore import QObject


def shared_model(config):
    """The ConfigModel a page works on: the one given, or (a page on its own) one holding ``config`` or
    TrainConfig's defaults."""
    from trainer.config.model import ConfigModel

    return config if isinstance(config, ConfigModel) else ConfigModel(config)


def follow(widget: QObject, model, listener):
    """Subscribe ``listener`` for as long as ``widget`` lives; returns the unsubscribe function."""
    unsubscribe = model.subscribe(listener)
    widget.destroyed.connect(lambda *_: unsubscribe())
    return unsubscribe
