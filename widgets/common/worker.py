"""Running a plain Python function off the GUI thread (QThreadPool) and getting its result back as signals.

The function runs in a pool thread; ``progress``, ``finished`` and ``failed`` are delivered on the GUI thread
(queued connections), the only way results reach widgets. Progress is throttled so a function that reports
10,000 times does not flood the event loop.

    task = Task(check_dataset, scan, on_progress=..., cancel=...)   # see run_task
"""
from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


def background_thread() -> None:
    """Lower the calling pool thread's CPU priority (Linux: nice is per thread), so on a busy machine the GUI
    thread is scheduled first and the window stays responsive. Safe to call repeatedly; a no-op elsewhere."""
    if not sys.platform.startswith("linux") or getattr(_local, "lowered", False):
        return
    _local.lowered = True
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), 10))
    except (OSError, AttributeError):
        pass


_local = threading.local()
_gc_lock = threading.Lock()
_gc_pauses = 0


@contextlib.contextmanager
def gc_paused():
    """No automatic garbage collection while a pool thread builds many objects (a scan of 10,000 images).

    A full collection holds the GIL for as long as it takes to walk every object of the process (a quarter
    of a second with a big dataset open), which would freeze the GUI thread. The dataset page freezes the
    finished scan's objects (``gc.freeze``) so later collections skip them.
    """
    global _gc_pauses
    with _gc_lock:
        _gc_pauses += 1
        if _gc_pauses == 1:
            gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0:
                gc.enable()


class TaskSignals(QObject):
    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)


class Task(QRunnable):
    """``fn(*args, on_progress=..., cancel=..., **kwargs)`` when ``with_progress``; else ``fn(*args, **kwargs)``."""

    def __init__(self, fn: Callable[..., Any], *args, with_progress: bool = False, **kwargs):
        super().__init__()
        self.setAutoDelete(False)  # the Python object owns it; kept alive by the caller until done
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.with_progress = with_progress
        self.signals = TaskSignals()
        self.cancel_event = threading.Event()
        self.done = threading.Event()
        self._last_progress = 0.0

    def cancel(self) -> None:
        self.cancel_event.set()

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress > 0.05:
            self._last_progress = now
            self.signals.progress.emit(done, total)

    def run(self) -> None:
        background_thread()
        try:
            kwargs = dict(self.kwargs)
            if self.with_progress:
                kwargs.update(on_progress=self._progress, cancel=self.cancel_event)
            result = self.fn(*self.args, **kwargs)
        except Exception as e:  # reported as a message, never an exception dialog
            msg = str(e) or type(e).__name__
            traceback.print_exc()
            self.done.set()
            self._emit(self.signals.failed, msg)
            return
        self.done.set()
        self._emit(self.signals.finished, result)

    @staticmethod
    def _emit(signal, value) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the application is shutting down: nobody is listening any more
            pass


_alive: set[Task] = set()


def run_task(fn: Callable[..., Any], *args, on_done: Callable[[Any], None] | None = None,
             on_error: Callable[[str], None] | None = None,
             on_progress: Callable[[int, int], None] | None = None,
             pool: QThreadPool | None = None, owner: QObject | None = None, **kwargs) -> Task:
    """Start ``fn`` in the global thread pool; callbacks run on the GUI thread. ``on_progress`` also asks
    ``fn`` for ``on_progress``/``cancel`` keyword arguments. Callbacks are skipped once ``owner`` (the widget
    that asked) has been deleted."""
    task = Task(fn, *args, with_progress=on_progress is not None, **kwargs)
    _alive.add(task)

    def gone() -> bool:
        return owner is not None and not shiboken6.isValid(owner)

    def finished(result):
        _alive.discard(task)
        if on_done is not None and not gone():
            on_done(result)

    def failed(msg):
        _alive.discard(task)
        if on_error is not None and not gone():
            on_error(msg)

    def progress(done, total):
        if not gone():
            on_progress(done, total)

    task.signals.finished.connect(finished)
    task.signals.failed.connect(failed)
    if on_progress is not None:
        task.signals.progress.connect(progress)
    (pool or QThreadPool.globalInstance()).start(task)
    return task
