"""Reading and writing LoRA .safetensors files with sd-scripts' key names and `ss_*` metadata."""
from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Callable

import torch

from ..errors import ModelError
from ..fileio import write_atomic
from .naming import rename_modules, te_name_to_kohya

SAVE_DTYPES = {None: torch.float32, "float": torch.float32, "fp32": torch.float32, "fp16": torch.float16,
               "bf16": torch.bfloat16}


def addnet_hashes(tensors: dict, metadata: dict) -> tuple[str, str]:
    """sd-scripts' precalculated hashes (sshs_model_hash, sshs_legacy_hash): sha256 of the file's tensor
    data written with only the `ss_*` metadata, and the old 8-digit hash of bytes 1 MiB..1 MiB+64 KiB."""
    from safetensors.torch import save

    data = save(tensors, {k: v for k, v in metadata.items() if k.startswith("ss_")})
    header_len = int.from_bytes(data[:8], "little")
    model_hash = hashlib.sha256(data[8 + header_len:]).hexdigest()
    legacy = hashlib.sha256(io.BytesIO(data[0x100000:0x110000]).read()).hexdigest()[:8]
    return model_hash, legacy


def file_hashes(path: str | os.PathLike) -> tuple[str, str]:
    """(old A1111 8-digit hash, full sha256) of a checkpoint, as sd-scripts stores them."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(0x100000)
        legacy = hashlib.sha256(f.read(0x10000)).hexdigest()[:8]
        f.seek(0)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return legacy, sha.hexdigest()


def hashes_in_background(path) -> Callable[[], tuple[str, str] | None]:
    """Start file_hashes(path) in a thread -> a function that waits for its result (None: not a file).
    hashlib releases the GIL while hashing, so a multi-GB checkpoint is hashed beside model loading and
    caching instead of before the first step."""
    p = Path(path) if path else None
    if p is None or not p.is_file():
        return lambda: None
    box: dict = {}

    def work():
        try:
            box["hashes"] = file_hashes(p)
        except OSError as e:
            box["error"] = e

    thread = threading.Thread(target=work, name="model-hashes", daemon=True)
    thread.start()

    def result():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["hashes"]

    return result


def lora_bytes(state_dict: dict[str, torch.Tensor], metadata: dict[str, str],
               save_precision: str | None = None) -> bytes:
    """The whole .safetensors file in memory (kept when writing it fails, see trainer.run.save_guard)."""
    from safetensors.torch import save

    dtype = SAVE_DTYPES[save_precision]
    tensors = {k: v.detach().to("cpu", dtype=dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in state_dict.items()}
    meta = {k: str(v) for k, v in metadata.items()}
    meta["sshs_model_hash"], meta["sshs_legacy_hash"] = addnet_hashes(tensors, meta)
    return save(tensors, meta)


def save_lora(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], metadata: dict[str, str],
              save_precision: str | None = None) -> int:
    """Write atomically (temp file + rename) so a crash never leaves a half-written LoRA. Returns bytes."""
    return write_atomic(path, lora_bytes(state_dict, metadata, save_precision))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise _unreadable(path, e) from None


def _unreadable(path, e: Exception) -> ModelError:
    """Recognise by content what a .safetensors file that safetensors cannot open really is."""
    from ..models.checkpoint_io import content_mismatch

    mismatch = content_mismatch(path)
    if mismatch:
        return ModelError(mismatch)
    return ModelError(f"{path} is not a readable .safetensors file ({str(e).splitlines()[0][:160]}).")


def read_lora(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A LoRA file's tensors under the names the file has, and its metadata (the check tool wants both raw)."""
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"LoRA file not found: {p}")
    if p.suffix.lower() != ".safetensors":
        raise ModelError(f"{p} is not a .safetensors LoRA file.")
    try:
        sd = load_file(str(p))
    except Exception as e:  # safetensors raises its own error types
        raise _unreadable(p, e) from None
    if not any(k.startswith("lora_") for k in sd):
        raise ModelError(f"{p} is not a LoRA file: it has no lora_unet_/lora_te_ keys.")
    return sd, read_metadata(p)


def load_lora(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a LoRA file and normalise text-encoder names to sd-scripts' spelling."""
    sd, metadata = read_lora(path)
    return rename_modules(sd, te_name_to_kohya), metadata
