"""Saving a LoRA file without ever losing the trained weights.

The file is built in memory first (lora_bytes). When writing it fails (disk full, folder gone, no
permission): an intermediate file (epoch/step) is skipped with a warning and training goes on; the final
file goes to the user data folder (trainer.paths.user_data_dir()/rescued) and a SaveFailed event carries
the reason, that path and the bytes, so the window can offer another folder and retry."""
from __future__ import annotations

import errno
import time
from pathlib import Path

from trainer import events as ev
from trainer.errors import UserError
from trainer.fileio import unused_path, write_atomic

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EACCES: "no permission to write there",
    errno.EPERM: "no permission to write there",
    errno.EROFS: "the disk is read-only",
    errno.ENOENT: "the folder is gone",
    errno.ENOTDIR: "a file is in the way of the folder",
    errno.EEXIST: "a file is in the way of the folder",
    errno.EFBIG: "the file is larger than the system allows",
}


def os_reason(e: OSError) -> str:
    """A few plain words for an OSError ("the disk is full")."""
    return _REASONS.get(e.errno, e.strerror or str(e))


def rescue_folder() -> Path:
    from trainer.paths import user_data_dir

    return user_data_dir() / "rescued"


def rescue_path(name: str) -> Path:
    """A new file in the rescue folder: the intended name plus the time, so nothing there is replaced."""
    return unused_path(rescue_folder(), f"{Path(name).stem}-{time.strftime('%Y%m%d-%H%M%S')}", ".safetensors")


def write_lora(path: Path, data: bytes, *, final: bool, emit) -> tuple[Path, int] | None:
    """Write `data` to `path`. On failure: None for an intermediate file (after a warning); for the final
    file, the rescue path it went to instead (with a SaveFailed event). UserError when even that fails."""
    try:
        return path, write_atomic(path, data)
    except OSError as e:
        reason = os_reason(e)
    if not final:
        emit(ev.Log(f"{path} could not be saved ({reason}); training goes on and the weights stay in memory "
                    "for the next save.", "warning"))
        return None
    rescue = rescue_path(path.name)
    try:
        size = write_atomic(rescue, data)
    except OSError as e2:
        emit(ev.SaveFailed(str(path), reason, "", data))
        raise UserError(f"{path} could not be saved ({reason}), and neither could the copy in {rescue.parent} "
                        f"({os_reason(e2)}); free some space and train again.") from None
    emit(ev.SaveFailed(str(path), reason, str(rescue), data))
    emit(ev.Log(f"{path} could not be saved ({reason}); the LoRA was written to {rescue} instead.", "error"))
    return rescue, size


def save_network_guarded(network, base, path: Path, metadata: dict, epoch: int, step: int, cfg, final: bool,
                         emit) -> tuple[Path, int] | None:
    """The trainer's save: build the file in memory, then write_lora."""
    from trainer.network.metadata import with_progress
    from trainer.run.saving import network_bytes

    data = network_bytes(network, base, with_progress(metadata, epoch=epoch, step=step), cfg.save_precision)
    return write_lora(path, data, final=final, emit=emit)
