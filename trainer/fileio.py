"""Atomic writes for files the user owns (configs, LoRAs, presets): a temp file in the same folder, flushed
to disk, then renamed over the target. A crash or a full disk leaves the old file as it was. The file gets
the permissions of the file it replaces, or those the user's umask gives a new file (mkstemp's 0600 would
hide a LoRA from another user's ComfyUI/A1111). :func:`unused_path` names a new file that must not replace
one already there (a rescued LoRA, a crash log)."""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

_umask_lock = threading.Lock()


def new_file_mode() -> int:
    """0o666 less the process umask (0644 usually): what open() gives a new file."""
    with _umask_lock:  # os.umask can only be read by setting it
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def tmp_prefix(name: str) -> str:
    """Our temp files are named '.<target name>.<random>.tmp' (cleaned up at the next run's start)."""
    return f".{name}."


def write_atomic(path: str | os.PathLike, data: bytes) -> int:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = p.stat().st_mode & 0o7777
    except OSError:
        mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=tmp_prefix(p.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(data)


def unused_path(folder: str | os.PathLike, stem: str, suffix: str) -> Path:
    """``folder/<stem><suffix>``, or the first of ``<stem>-2<suffix>``, ``<stem>-3<suffix>``, ... not taken
    yet."""
    folder = Path(folder)
    path, n = folder / f"{stem}{suffix}", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}{suffix}", n + 1
    return path
