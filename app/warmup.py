"""Loading the training libraries (torch, diffusers, transformers: seconds of CPU) in the background only once
the window has been idle for a while, never when a page opens: the first seconds after start stay quick,
and Start later finds the libraries loaded.

``install(window)`` starts watching for user input; after ``IDLE_MS`` without any, the core's warm-up runs in
a pool thread (app.train_worker.warm_up_training_core). ``libraries_ready()`` says whether torch may be used
without a noticeable wait (always True where no warm-up is installed, e.g. a page tested on its own);
``when_ready(callback)`` calls back once the libraries are loaded. A Training page shown without an installed
warm-up (on its own, in tests) warms up when shown, as a page alone has no idle window to wait for.
"""
from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

IDLE_MS = 3000
_INPUT = {QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.Wheel, QEvent.Type.MouseMove}
_instance: "Warmup | None" = None


class Warmup(QObject):
    ready = Signal()

    def __init__(self, parent=None, idle_ms: int = IDLE_MS, auto: bool = True):
        """``auto=False``: no idle watch; the warm-up runs only when :meth:`start_now` is called."""
        super().__init__(parent)
        self.done = _loaded()
        self.started = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(idle_ms)
        self._timer.timeout.connect(self._start)
        self._watching = auto and not self.done
        if self._watching:
            QApplication.instance().installEventFilter(self)
            self._timer.start()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() in _INPUT and not self.started:
            self._timer.start()  # the user is busy: wait for the next quiet moment
        return False

    def start_now(self) -> None:
        """Load the libraries now (screenshots of the Training page: the curve is drawn)."""
        self._start()

    def _start(self) -> None:
        if self.started or self.done:
            return
        self.started = True
        if self._watching:
            QApplication.instance().removeEventFilter(self)
        from widgets.common.worker import run_task

        from .train_worker import warm_up_training_core

        run_task(warm_up_training_core, on_done=self._finished, on_error=lambda _msg: self._finished(None),
                 owner=self)

    def _finished(self, _result) -> None:
        self.done = True
        self.ready.emit()


def _loaded() -> bool:
    from trainer import imports

    return "training" in imports._loaded


def _live() -> "Warmup | None":
    """The installed warm-up, unless its window (and so the object) has been deleted."""
    global _instance
    if _instance is not None and not shiboken6.isValid(_instance):
        _instance = None
    return _instance


def install(parent, auto: bool = True) -> Warmup:
    """Start the idle watch (once per process; a second window shares it). ``auto=False`` (screenshots,
    tests): nothing loads until :meth:`Warmup.start_now`."""
    global _instance
    if _live() is None:
        _instance = Warmup(parent, auto=auto)
        _instance.destroyed.connect(_forget)
    return _instance


def _forget(*_args) -> None:
    global _instance
    _instance = None


def installed() -> "Warmup | None":
    return _live()


def libraries_ready() -> bool:
    w = _live()
    return w is None or w.done or _loaded()


def when_ready(callback) -> None:
    """``callback()`` once the libraries are loaded (at once when they are)."""
    if libraries_ready():
        callback()
    else:
        _live().ready.connect(callback)
