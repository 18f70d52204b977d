"""Running the core's Trainer from the GUI: a worker QObject moved to a QThread (no subprocess).

The trainer reports plain events (trainer.events) to a callback and stops when a ``threading.Event`` is set.
:class:`TrainWorker` turns them into Qt signals (delivered to the GUI thread, queued); widgets never see the
worker thread. Every signal wakes the GUI thread and takes the interpreter lock from the trainer, so the
frequent events are coalesced: Step and Log events go out together as one :class:`Progress` at most
``1 / FORWARD_S`` times a second, whatever the step rate; Started, Saved, Finished and Failed go out at once
(after whatever was pending, so the order holds). :class:`TrainRun` owns the thread:

    run = TrainRun(cfg)
    run.event.connect(view.on_event)        # Started / Saved / Finished / Failed objects, one by one
    run.progress.connect(view.on_progress)  # Progress: the Step and Log events since the last one
    run.done.connect(...)                   # always last, after Finished or Failed
    run.start(); ...; run.stop()            # stop: the trainer saves a usable file and finishes

torch is imported in the worker thread when training starts, never at import time.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback

from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QThread, Signal, Slot


TRAIN_NICE = 5
FORWARD_S = 0.25  # Step/Log events reach the GUI thread at most 4 times a second
BATCHED = ("Step", "Log")


@dataclass
class Progress:
    """The Step and Log events of one forwarding period, oldest first."""

    steps: list = field(default_factory=list)
    logs: list = field(default_factory=list)


def lower_priority(nice: int = TRAIN_NICE) -> None:
    """Run the training thread (and the compute threads torch starts from it, which inherit the value) a
    little below the GUI thread: the window needs only a sliver of CPU, but needs it at once, even while
    torch keeps every core busy. Linux only (nice is per thread there); a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except (OSError, AttributeError):
        pass


class TrainWorker(QObject):
    event = Signal(object)
    progress = Signal(object)
    done = Signal()

    def __init__(self, cfg, stop: threading.Event, interval_s: float = FORWARD_S):
        super().__init__()
        self.cfg = cfg
        self.stop = stop
        self.interval_s = interval_s
        self.failed = False
        self.result: str | None = None
        self._lock = threading.Lock()  # the trainer's thread and the flush timer's
        self._pending = Progress()
        self._timer: threading.Timer | None = None
        self._last_flush = float("-inf")

    def _on_event(self, e) -> None:
        kind = type(e).__name__
        if kind in BATCHED:
            with self._lock:
                (self._pending.steps if kind == "Step" else self._pending.logs).append(e)
                if self._timer is None:  # sent when the period since the last Progress is over
                    delay = max(0.0, self._last_flush + self.interval_s - time.monotonic())
                    timer = self._timer = threading.Timer(delay, self._timer_fired)
                    timer.args = (timer,)
                    timer.daemon = True
                    timer.start()  # inherits the training thread's lower priority
            return
        with self._lock:
            if kind == "Failed":
                self.failed = True
            self._flush_locked()
            self.event.emit(e)

    def flush(self) -> None:
        """Send what is pending now (when the run ends)."""
        with self._lock:
            self._flush_locked()

    def _timer_fired(self, timer) -> None:
        with self._lock:
            if timer is self._timer:  # else an immediate event flushed meanwhile and a newer timer is due later
                self._flush_locked()

    def _flush_locked(self) -> None:
        # emitted under the lock: a Progress taken by the timer cannot arrive after a later Saved or Finished
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = self._pending
        if batch.steps or batch.logs:
            self._pending = Progress()
            self._last_flush = time.monotonic()
            self.progress.emit(batch)

    @Slot()
    def run(self) -> None:
        lower_priority()
        try:
            from trainer.imports import ml_imports

            ml_imports()  # the page's warm-up may still be importing in a pool thread
            from trainer import events as ev
            from trainer.errors import UserError
            from trainer.run.trainer import Trainer

            trainer = Trainer(self.cfg, self._on_event, self.stop)
            try:
                self.result = trainer.run()
            except UserError as e:  # already reported as a Failed event (input, NaN, OOM) in most cases
                if not self.failed:
                    self._on_event(ev.Failed(str(e), kind="input", last_good=trainer.last_good))
            except Exception as e:  # a bug or an unexpected library error: shown, never a crash
                traceback.print_exc()
                self._on_event(ev.Failed(f"{type(e).__name__}: {e}", "", "error", trainer.last_good))
        except Exception as e:  # the import itself failed (a broken torch installation)
            traceback.print_exc()
            from trainer.events import Failed

            self._on_event(Failed(f"{type(e).__name__}: {e}", "", "error", None))
        finally:
            self.flush()
            self.done.emit()


class TrainRun(QObject):
    """One training run on its own QThread."""

    event = Signal(object)
    progress = Signal(object)
    done = Signal()

    def __init__(self, cfg, parent=None, interval_s: float = FORWARD_S):
        super().__init__(parent)
        self.stop_event = threading.Event()
        self.thread = QThread()
        self.thread.setObjectName("training")
        self.worker = TrainWorker(cfg, self.stop_event, interval_s)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.event.connect(self.event)
        self.worker.progress.connect(self.progress)
        self.worker.done.connect(self.thread.quit)
        self.thread.finished.connect(self._finished)
        self._running = False
        self._launched = False

    def start(self, when=None) -> None:
        """Start the thread now, or when ``when(callback)`` calls back (the training view's first paint)."""
        self._running = True
        if when is None:
            self._launch()
        else:
            when(self._launch)

    def _launch(self) -> None:
        if self._launched:
            return
        self._launched = True
        if self.stop_event.is_set():  # stopped before it began: nothing to train, nothing to save
            self._finished()
        else:
            self.thread.start()

    def stop(self) -> None:
        """Ask the trainer to stop after the current step; it saves a file and reports Finished."""
        self.stop_event.set()

    def is_running(self) -> bool:
        return self._running

    def wait(self, ms: int) -> bool:
        self._launch()  # a run still waiting for the view's first paint starts (or ends, when stopped) now
        return self.thread.wait(ms)

    def _finished(self) -> None:
        self._running = False
        self.done.emit()


def warm_up_training_core() -> None:
    """Import the training core and parse the CLIP tokenizers once, in a pool thread while the user edits
    settings: building the tokenizers holds the interpreter lock ~0.15 s each, which would otherwise stall
    the window right after Start."""
    from trainer.imports import ml_imports
    from trainer.models.tokenizers import load_tokenizers

    ml_imports()  # the import is most of the work

    load_tokenizers("sdxl")  # both paddings: CLIP-L's and OpenCLIP's (SD 2.x uses the latter)
