"""Read checkpoint files: tensors (``read_state_dict``) or only names, shapes and dtypes (``read_shapes``).

``.ckpt``/``.pt``/``.pth``/``.bin`` are read with ``torch.load(weights_only=True)``: a pickle that names any
code (a class or function outside torch's allow-list) is refused and nothing in it runs. Files are
recognised by their first bytes, not by their suffix alone, so a renamed file still gets a clear message.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

from trainer.errors import ModelError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
CHECKPOINT_SUFFIXES = (".safetensors",) + PICKLE_SUFFIXES

_REFUSED = (
    "contains pickled code that is not plain tensors; refusing to load it for safety; "
    "convert it to .safetensors with a tool you trust"
)

# safetensors dtype tags -> torch dtype names
_ST_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
}


def _sniff(path: Path) -> str:
    """'safetensors', 'zip' (torch zip format), 'pickle' (legacy torch.save) or 'unknown'."""
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 2 <= n < (1 << 31):
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    return "unknown"


_CONTENT = {"zip": "a PyTorch checkpoint (torch.save zip)", "pickle": "a Python pickle (old torch.save format)"}


def content_mismatch(path) -> str | None:
    """For a .safetensors file whose bytes are a PyTorch checkpoint: one sentence saying so, else None."""
    p = Path(path)
    try:
        kind = _sniff(p)
    except OSError:
        return None
    if kind not in _CONTENT:  # a real (maybe damaged) .safetensors file, or bytes of no known kind
        return None
    return f"{p} is {_CONTENT[kind]} with a .safetensors name; rename it to .ckpt, or convert it."


def _check_file(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise ModelError(f"The model file {p} does not exist.")
    if p.is_dir():
        raise ModelError(f"{p} is a folder, not a model file.")
    if p.stat().st_size == 0:
        raise ModelError(f"The model file {p} is empty.")
    return p


def _not_checkpoint(p: Path) -> ModelError:
    return ModelError(
        f"{p} is not a checkpoint file (expected .safetensors, or a PyTorch .ckpt/.pt/.pth/.bin of tensors)."
    )


def read_state_dict(path, *, mmap: bool = True) -> dict:
    """All tensors of a checkpoint, on the CPU, in their stored dtype (a top-level "state_dict" is unwrapped).
    mmap=False (disable_mmap_load_safetensors) reads a .safetensors file whole: faster on WSL and network
    drives, where memory-mapped reads crawl."""
    p = _check_file(path)
    kind = _sniff(p)
    if kind == "safetensors":
        return _read_safetensors(p) if mmap else _read_safetensors_whole(p)
    if kind in ("zip", "pickle"):
        return _read_torch(p)
    raise _not_checkpoint(p)


def _read_safetensors(p: Path) -> dict:
    """Tensor by tensor: safetensors' load_file holds the interpreter lock for the whole file (seconds for a
    6 GB SDXL checkpoint), which would freeze the window while the training thread loads the model."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            return {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ModelError(f"{p} is a damaged or truncated .safetensors file ({_short(e)}).") from None


def _read_safetensors_whole(p: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(p.read_bytes())
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ModelError(f"{p} is a damaged or truncated .safetensors file ({_short(e)}).") from None


class _LegacyStub:
    """Harmless stand-in for data-only classes that old Lightning checkpoints name (never their code)."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _stub_for(name: str):
    def make(*args, **kwargs):
        return None

    make.__name__ = name.rsplit(".", 1)[-1]
    return make


# Globals that real SD 1.x .ckpt files name in their training bookkeeping (not in the tensors we use).
# They are replaced by our own inert stubs, so nothing from those modules is imported or run.
_BENIGN_GLOBALS = [
    (_LegacyStub, "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"),
    (_stub_for("numpy.core.multiarray.scalar"), "numpy.core.multiarray.scalar"),
    (_stub_for("numpy._core.multiarray.scalar"), "numpy._core.multiarray.scalar"),
    (_LegacyStub, "numpy.dtype"),
]


def _read_torch(p: Path) -> dict:
    import torch

    try:
        with torch.serialization.safe_globals(_BENIGN_GLOBALS):
            if p.suffix.lower() == ".safetensors":  # torch.load hands any path with this suffix to safetensors
                with open(p, "rb") as f:
                    obj = torch.load(f, map_location="cpu", weights_only=True)
            else:
                try:
                    obj = torch.load(str(p), map_location="cpu", weights_only=True, mmap=True)
                except RuntimeError as e:
                    if "mmap" not in str(e):
                        raise
                    obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Weights only load failed" in msg or "Unsupported global" in msg or "Unsupported operand" in msg:
            raise ModelError(f"{p} {_REFUSED}.") from None
        raise ModelError(f"{p} is a damaged checkpoint file ({_short(e)}).") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, KeyError, AttributeError) as e:
        raise ModelError(f"{p} is a damaged or truncated checkpoint file ({_short(e)}).") from None
    return _tensors_of(obj, p)


def _tensors_of(obj, p: Path) -> dict:
    import torch

    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelError(f"{p} holds a {type(obj).__name__}, not a dictionary of tensors.")
    sd = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not sd:
        raise ModelError(f"{p} holds no tensors.")
    return sd


def read_shapes(path) -> dict:
    """``{name: (shape tuple, dtype name)}`` without loading weights (safetensors header only).

    dtype names are torch's (``float16``, ``bfloat16``, ``float32`` ...). Pickle checkpoints have no header,
    so they are loaded (safely) and measured.
    """
    p = _check_file(path)
    kind = _sniff(p)
    if kind == "safetensors":
        header = _read_header(p)
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            try:
                out[name] = (tuple(int(d) for d in info["shape"]), _ST_DTYPES.get(info["dtype"], info["dtype"]))
            except (KeyError, TypeError, ValueError):
                raise ModelError(f"{p} has a damaged .safetensors header (entry {name!r}).") from None
        return out
    if kind in ("zip", "pickle"):
        sd = _read_torch(p)
        return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in sd.items()}
    raise _not_checkpoint(p)


def read_metadata(path) -> dict:
    """The ``__metadata__`` strings of a .safetensors file ({} for other files or none)."""
    p = _check_file(path)
    if _sniff(p) != "safetensors":
        return {}
    meta = _read_header(p).get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def _read_header(p: Path) -> dict:
    size = p.stat().st_size
    with open(p, "rb") as f:
        raw = f.read(8)
        (n,) = struct.unpack("<Q", raw)
        if n + 8 > size:
            raise ModelError(f"{p} is a truncated .safetensors file (its header runs past the end of the file).")
        data = f.read(n)
    try:
        header = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"{p} has a damaged .safetensors header.") from None
    if not isinstance(header, dict):
        raise ModelError(f"{p} has a damaged .safetensors header.")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:  # every entry: {"dtype": str, "shape": [int...], "data_offsets": [begin, end]}
            begin, stop = info["data_offsets"]
            end = max(end, int(stop))
            ok = (isinstance(info["dtype"], str) and isinstance(info["shape"], list)
                  and 0 <= int(begin) <= int(stop))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ModelError(f"{p} has a damaged .safetensors header (entry {name!r} is not a tensor description).")
    if 8 + n + end > size:
        raise ModelError(f"{p} is a truncated .safetensors file ({size} bytes, its header needs {8 + n + end}).")
    return header


def _short(e: Exception, limit: int = 160) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return s if len(s) <= limit else s[: limit - 3] + "..."
