"""State folders on disk, without torch: the atomic swap of a new state folder into place and the repair of
what a kill during that swap leaves behind (run at the next start by trainer.run.output_plan).

The swap: the new state is complete in `<folder>.tmp` (its progress.json is written last); the old folder
is renamed to `<folder>.old`, the new one renamed into place, then the old one deleted."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

TMP, OLD = ".tmp", ".old"


def swap_in(tmp: Path, folder: Path) -> None:
    """Put the complete state in `tmp` in the place of `folder`; if the second rename fails, the old state
    goes back in place and the error propagates (the `.tmp` is left for the next start to clean up)."""
    old = folder.with_name(folder.name + OLD)
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    try:
        tmp.rename(folder)
    except OSError:
        if old.exists() and not folder.exists():
            old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def own_state_name(name: str) -> re.Pattern:
    """State folders a run named `name` writes: <name>[-000001|-step00000001]-state."""
    return re.compile(re.escape(name) + r"(-\d{6}|-step\d{8})?-state")


def recover_state_folders(output_dir: str | Path, name: str) -> list[str]:
    """Put right what a kill during a swap left for this output name; returns what was done, as sentences."""
    out_dir = Path(output_dir)
    if not out_dir.is_dir():
        return []
    pattern = own_state_name(name)
    notes = []
    for suffix in (OLD, TMP):  # .old first: it decides whether a .tmp is still needed
        for leftover in sorted(out_dir.iterdir()):
            base = leftover.name[:-len(suffix)]
            if not (leftover.name.endswith(suffix) and pattern.fullmatch(base) and leftover.is_dir()):
                continue
            folder = leftover.with_name(base)
            tmp = folder.with_name(base + TMP)
            if not folder.exists():
                # killed between the two renames (or before a first state's rename): a .tmp with its
                # progress.json is whole and the newer one; otherwise the old one comes back
                source = tmp if (tmp / "progress.json").is_file() else leftover if suffix == OLD else None
                if source is not None:
                    source.rename(folder)
                    notes.append(f"Recovered the training state {folder} left by an interrupted save.")
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
                if suffix == TMP:
                    notes.append(f"Removed {leftover}, a state save that was interrupted.")
    return notes
