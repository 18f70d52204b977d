"""File names of saved LoRAs (as sd-scripts names them), the network file itself, and the resumable
training state (network, optimizer, scheduler, progress, random generators)."""
from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .errors import UserError
from .network.lora_file import save_lora
from .network.naming import rename_modules, uses_both_unet_spellings


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
        from .models.lora_names import SdxlRenamer

        sd = rename_modules(sd, SdxlRenamer(unet, to_original=True))
    if uses_both_unet_spellings(sd):  # diffusers would silently drop half of such a file
        raise RuntimeError("internal error: LoRA file would mix input_blocks and down_blocks names")
    return sd


def save_network(network, base, path: Path, metadata: dict, save_precision) -> int:
    return save_lora(path, network_state_dict(network, base.unet, base.family), metadata, save_precision)


@dataclass
class Progress:
    step: int            # optimizer steps done
    epoch: int           # epochs fully done
    batch_in_epoch: int  # local batches done in the current epoch
    session_id: int
    total_steps: int


def state_dir(path: Path) -> Path:
    return path.with_name(path.stem + "-state")


def save_state(folder: Path, network, optimizer, scheduler, progress: Progress) -> None:
    """Written to a temp folder and renamed, so an interrupted save never replaces a good state."""
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()},
              str(tmp / "network.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(), "python_rng": random.getstate()}, tmp / "trainer.pt")
    (tmp / "progress.json").write_text(json.dumps(asdict(progress)), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def load_state(folder: str | Path, network, optimizer, scheduler) -> Progress:
    from safetensors.torch import load_file

    f = Path(folder)
    if not (f / "progress.json").is_file():
        raise UserError(f"{f} is not a saved training state (progress.json is missing).")
    missing, unexpected = network.load_state_dict(load_file(str(f / "network.safetensors")))
    if unexpected:
        raise UserError(f"The state in {f} belongs to a different network ({len(unexpected)} unknown tensors, "
                        f"for example {unexpected[0]}); use the same network settings to resume.")
    blob = torch.load(f / "trainer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    random.setstate(_as_tuple(blob["python_rng"]))
    return Progress(**json.loads((f / "progress.json").read_text(encoding="utf-8")))


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
