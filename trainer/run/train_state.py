"""The resumable training state folder (`<name>-state`): written whole or not at all, and everything that
decides the next steps, so a resumed run gives bitwise the file an uninterrupted one gives (on the CPU).

Atomic replacement: the new state is written to `<folder>.tmp`; the old folder is renamed to `<folder>.old`,
the new one renamed into place, then the old one deleted. A kill between two renames leaves a pair that
:func:`recover_state_folders` puts right at the next start. `progress.json` is written last: a `.tmp` folder
that has it is complete (trainer.run.state_folders).

What is saved besides network, optimizer and scheduler: the python, numpy, torch CPU (and CUDA) random
generators, the gradient scaler and the data seed (the batch order and the per-image crop/flip/caption
generators are functions of seed, epoch and batch number, see trainer.run.data)."""
from __future__ import annotations

import json
import pickle
import random
import shutil
import zipfile
from pathlib import Path

import numpy as np
import torch

from trainer.errors import UserError
from trainer.fileio import write_atomic
from trainer.run.state_folders import TMP, swap_in


def capture_rng() -> dict:
    """Every random generator the loop draws from, in types torch.load(weights_only=True) accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {"python": random.getstate(), "torch": torch.get_rng_state(),
           "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore_rng(blob: dict) -> None:
    random.setstate(_as_tuple(blob["python"]))
    torch.set_rng_state(blob["torch"])
    if "numpy" in blob:
        kind, keys, pos, has_gauss, cached = blob["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in blob and torch.cuda.is_available():
        states = blob["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def write_state(folder: Path, network, optimizer, scheduler, scaler, progress: dict) -> None:
    """Write the state to `<folder>.tmp`, then swap it in (see the module docstring). OSError/RuntimeError
    propagate with the previous state left in place (the partial `.tmp` is removed)."""
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + TMP)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()},
                  str(tmp / "network.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None, "rng": capture_rng()},
                   tmp / "trainer.pt")
        write_atomic(tmp / "progress.json", json.dumps(progress).encode("utf-8"))  # last: marks it complete
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_in(tmp, folder)


def read_progress(folder: str | Path) -> dict:
    f = Path(folder)
    path = f / "progress.json"
    if not path.is_file():
        raise UserError(f"{f} is not a saved training state (progress.json is missing).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is damaged and cannot be read ({e}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("step"), int):
        raise UserError(f"{path} is not the progress file of a training state.")
    return data


def read_trainer_blob(folder: str | Path) -> dict:
    """trainer.pt with weights_only=True: a file that names code is refused, naming the file."""
    path = Path(folder) / "trainer.pt"
    if not path.is_file():
        raise UserError(f"{path} is missing; the state folder is incomplete.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path} holds objects other than plain numbers and tensors; it was not loaded, so "
                        "no code in it ran (resume only from state folders this program wrote).") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise UserError(f"{path} is damaged or truncated ({str(e).splitlines()[0][:120]}).") from None
    if not isinstance(blob, dict) or "optimizer" not in blob or "scheduler" not in blob:
        raise UserError(f"{path} is not the trainer file of a training state.")
    return blob


def restore_scaler(scaler, blob: dict) -> None:
    if scaler is not None and blob.get("scaler"):
        scaler.load_state_dict(blob["scaler"])
