"""File names of saved LoRAs (as sd-scripts names them), the network file itself, and the resumable
training state (network, optimizer, scheduler, progress, random generators)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from trainer.errors import UserError
from trainer.fileio import write_atomic
from trainer.network.lora_file import SAVE_DTYPES, lora_bytes
from trainer.network.naming import rename_modules, uses_both_unet_spellings


def epoch_file(output_dir: str, name: str, epoch: int) -> Path:
    return Path(output_dir) / f"{name}-{epoch:06d}.safetensors"


def step_file(output_dir: str, name: str, step: int) -> Path:
    return Path(output_dir) / f"{name}-step{step:08d}.safetensors"


def final_file(output_dir: str, name: str) -> Path:
    return Path(output_dir) / f"{name}.safetensors"


def network_state_dict(network, unet, family: str) -> dict[str, torch.Tensor]:
    """The network's tensors under sd-scripts' names (SDXL UNet in the original block layout)."""
    sd = network.state_dict()
    if family == "sdxl":
        from trainer.models.lora_names import SdxlRenamer

        sd = rename_modules(sd, SdxlRenamer(unet, to_original=True))
    if uses_both_unet_spellings(sd):  # diffusers would silently drop half of such a file
        raise RuntimeError("internal error: LoRA file would mix input_blocks and down_blocks names")
    return sd


def _as_saved(sd: dict[str, torch.Tensor], save_precision) -> dict[str, torch.Tensor]:
    """sd-scripts' save_weights converts every tensor to save_precision when one is given, the int64 .alpha
    of a TOML int network_alpha included (lora_bytes converts only the floats, as its merge/resize do)."""
    if not save_precision:
        return sd
    dtype = SAVE_DTYPES[save_precision]
    return {k: v if v.is_floating_point() else v.to(dtype) for k, v in sd.items()}


def network_bytes(network, base, metadata: dict, save_precision) -> bytes:
    """The LoRA file in memory (written by trainer.run.save_guard, which keeps it when the disk refuses)."""
    sd = _as_saved(network_state_dict(network, base.unet, base.family), save_precision)
    return lora_bytes(sd, metadata, save_precision)


def save_network(network, base, path: Path, metadata: dict, save_precision) -> int:
    """Write the LoRA file atomically (temp file + rename); returns its size."""
    return write_atomic(path, network_bytes(network, base, metadata, save_precision))


@dataclass
class Progress:
    step: int            # optimizer steps done
    epoch: int           # epochs fully done
    batch_in_epoch: int  # local batches done in the current epoch
    session_id: int
    total_steps: int
    seed: int | None = None  # the data seed: a resumed run must draw the same batches (None: older states)


def state_dir(path: Path) -> Path:
    return path.with_name(path.stem + "-state")


def save_state(folder: Path, network, optimizer, scheduler, progress: Progress, scaler=None) -> str | None:
    """Replace the state folder atomically (trainer.run.train_state). A failed save (full disk, folder gone)
    leaves the previous state as it was and returns one sentence for a warning instead of raising."""
    from trainer.run.train_state import write_state

    try:
        write_state(folder, network, optimizer, scheduler, scaler, asdict(progress))
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as RuntimeError
        reason = getattr(e, "strerror", None) or str(e).splitlines()[0][:160]
        return f"The training state {folder} could not be saved ({reason}); the previous state is kept."
    return None


def resume_seed(folder: str | Path, wanted: int | None, seed: int, emit) -> int:
    """Check a resume folder before the model loads (UserError naming the file) and return the data seed
    it was trained with, so the resumed run draws the batches the interrupted one would have."""
    from trainer import events as ev
    from trainer.run.train_state import read_progress, read_trainer_blob

    saved = read_progress(folder).get("seed")
    read_trainer_blob(folder)
    if saved is None or saved == seed:
        return seed
    if wanted is not None:  # a seed set on purpose that differs: say which one wins
        emit(ev.Log(f"Resuming with the seed the state was trained with ({saved}) instead of {wanted}, so "
                    "the run continues with the same image order.", "warning"))
    return saved


def load_state(folder: str | Path, network, optimizer, scheduler, scaler=None) -> Progress:
    """Restore everything write_state saved. trainer.pt is read with weights_only=True; every refusal is a
    UserError naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from trainer.run.train_state import read_progress, read_trainer_blob, restore_rng, restore_scaler

    f = Path(folder)
    progress = read_progress(f)
    blob = read_trainer_blob(f)
    try:
        weights = load_file(str(f / "network.safetensors"))
    except (SafetensorError, OSError) as e:
        raise UserError(f"{f / 'network.safetensors'} is missing or damaged ({e}).") from None
    missing, unexpected = network.load_state_dict(weights)
    if unexpected:
        raise UserError(f"The state in {f} belongs to a different network ({len(unexpected)} unknown tensors, "
                        f"for example {unexpected[0]}); use the same network settings to resume.")
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    restore_scaler(scaler, blob)
    if "rng" in blob:
        restore_rng(blob["rng"])
    else:  # written before the numpy/CUDA generators were saved
        restore_rng({"python": blob["python_rng"], "torch": blob["torch_rng"]})
    known = {k: progress[k] for k in Progress.__dataclass_fields__ if k in progress}
    return Progress(**known)
