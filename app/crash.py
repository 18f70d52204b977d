"""Crash handler: an uncaught exception (main thread, Qt slot or worker thread) is written to a log file in
``logs`` of the user's data folder (trainer.paths.user_log_dir; the rescued LoRA files live there too) and the
window shows the file's path in a message box, instead of the app vanishing (a bundle started by a
double-click has no console to print to).

``install()`` sets ``sys.excepthook`` and ``threading.excepthook``; ``uninstall()`` puts the previous hooks
back (tests).  ``LORA_DESK_DATA_DIR`` overrides the data folder.  No torch here.
"""
from __future__ import annotations

import os
import platform
import sys
import threading
import time
import traceback
from pathlib import Path

from trainer.fileio import unused_path
from trainer.paths import user_log_dir

_previous: tuple | None = None
_notifier = None  # a QObject in the GUI thread: worker-thread crashes reach the message box through it


def _environment() -> list[str]:
    from trainer.version import APP_VERSION

    lines = [f"LoRA Desk {APP_VERSION}",
             f"Python {platform.python_version()} on {platform.platform()}",
             f"frozen bundle: {bool(getattr(sys, 'frozen', False))}",
             f"argv: {sys.argv!r}"]
    for name in ("torch", "diffusers", "transformers", "PySide6"):  # only those already imported
        mod = sys.modules.get(name)
        if mod is not None:
            lines.append(f"{name} {getattr(mod, '__version__', '?')}")
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            lines.append(f"torch CUDA: {torch.version.cuda}, available: {torch.cuda.is_available()}")
        except Exception:
            pass
    return lines


def write_crash_log(exc_type, exc, tb, thread_name: str | None = None) -> Path:
    """Write the traceback and the environment to ``logs/crash-<time>.log``; return the file's path.

    Falls back to the temp folder when the data folder cannot be written."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "\n".join([
        f"LoRA Desk crash report, {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"thread: {thread_name or threading.current_thread().name}",
        *_environment(),
        "",
        "".join(traceback.format_exception(exc_type, exc, tb)),
    ])
    for folder in (user_log_dir(), Path(os.environ.get("TMPDIR") or os.environ.get("TEMP") or "/tmp")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = unused_path(folder, f"crash-{stamp}-{os.getpid()}", ".log")
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    raise OSError("could not write a crash log anywhere")


def show_crash_dialog(path: Path, summary: str) -> None:
    """A message box with the error and the log's path (made on the GUI thread; replaced in tests)."""
    from PySide6.QtCore import Qt, QUrl
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QApplication, QMessageBox

    from .i18n import tr

    if QApplication.instance() is None:  # a crash before the window existed
        QApplication([sys.argv[0] if sys.argv else "lora-desk"])
    box = QMessageBox(QMessageBox.Icon.Critical, tr("LoRA Desk: unexpected error"),
                      tr("LoRA Desk hit an error it did not expect:") + f"\n\n{summary}\n\n"
                      + tr("The details were written to:") + f"\n{path}\n\n"
                      + tr("Please attach this file when you report the problem."))
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # the path can be copied
    open_btn = box.addButton(tr("Open log folder"), QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    if box.clickedButton() is open_btn:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


def _summary(exc_type, exc) -> str:
    text = f"{exc_type.__name__}: {exc}"
    return text if len(text) < 400 else text[:400] + "…"


def handle(exc_type, exc, tb, thread_name: str | None = None) -> Path | None:
    """Log one uncaught exception and tell the user where the log is. Returns the log's path."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return None
    try:
        path = write_crash_log(exc_type, exc, tb, thread_name)
    except Exception:
        sys.__excepthook__(exc_type, exc, tb)
        return None
    if sys.stderr is not None:
        try:
            traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
            print(f"LoRA Desk: the error was written to {path}", file=sys.stderr)
        except Exception:
            pass
    summary = _summary(exc_type, exc)
    if _notifier is not None and threading.current_thread() is not threading.main_thread():
        _notifier.crashed.emit(str(path), summary)  # queued into the GUI thread
    else:
        try:
            show_crash_dialog(path, summary)
        except Exception:
            pass  # no GUI possible: the log and stderr have it
    return path


def _excepthook(exc_type, exc, tb) -> None:
    handle(exc_type, exc, tb)


def _threading_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    handle(args.exc_type, args.exc_value, args.exc_traceback,
           thread_name=args.thread.name if args.thread is not None else None)


def _make_notifier():
    from PySide6.QtCore import QObject, Signal

    class _Notifier(QObject):
        crashed = Signal(str, str)

    n = _Notifier()
    n.crashed.connect(lambda p, s: show_crash_dialog(Path(p), s))
    return n


def install() -> None:
    """Route uncaught exceptions here (call in the GUI thread, once the QApplication exists)."""
    global _previous, _notifier
    if _previous is None:
        _previous = (sys.excepthook, threading.excepthook)
    sys.excepthook = _excepthook
    threading.excepthook = _threading_excepthook
    try:
        _notifier = _make_notifier()
    except Exception:
        _notifier = None


def uninstall() -> None:
    global _previous, _notifier
    if _previous is not None:
        sys.excepthook, threading.excepthook = _previous
        _previous = None
    _notifier = None
