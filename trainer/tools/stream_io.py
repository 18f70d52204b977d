"""Tensor-at-a-time reading and writing of checkpoints, so a 6.5 GB SDXL file is never held twice.

Reading: ``.safetensors`` through ``safe_open`` (each ``get`` reads one tensor from the memory-mapped file);
``.ckpt``/``.pt`` through ``checkpoint_io.read_state_dict`` (safe ``torch.load``; zip-format files are
memory-mapped, old pickle files are loaded once).
Writing: ``write_safetensors`` computes the header from known names, dtypes and shapes, then writes each tensor's
bytes as soon as it is produced and lets it go. The file is written to a hidden temp file next to the target,
fsynced and renamed into place; any failure (a full disk included) removes the temp file, so no partial file is
ever left under the target's name. Peak memory is one tensor plus what the caller keeps.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable

import torch

from ..errors import ModelError, UserError
from ..models.checkpoint_io import _check_file, _sniff, read_state_dict

ST_TAGS = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
}
_BY_TAG = {v: k for k, v in ST_TAGS.items()}


class CheckpointReader:
    """``keys()``, ``shape(k)``, ``dtype(k)``, ``get(k)`` over a checkpoint file without loading it whole."""

    def __init__(self, path):
        self.path = _check_file(path)
        self.kind = _sniff(self.path)
        self._sd = None
        self._f = None
        if self.kind == "safetensors":
            from safetensors import safe_open

            try:
                self._f = safe_open(str(self.path), framework="pt", device="cpu")
                self._keys = list(self._f.keys())
                self._meta = dict(self._f.metadata() or {})
            except Exception as e:  # safetensors raises its own error types
                raise ModelError(f"{self.path} is a damaged or truncated .safetensors file ({e}).") from None
            self._shapes = {}
            self._dtypes = {}
            for k in self._keys:
                sl = self._f.get_slice(k)
                self._shapes[k] = tuple(sl.get_shape())
                self._dtypes[k] = _BY_TAG.get(sl.get_dtype(), None)
        else:
            self._sd = read_state_dict(self.path)  # raises ModelError for anything that is not a checkpoint
            self._keys = list(self._sd)
            self._meta = {}
            self._shapes = {k: tuple(v.shape) for k, v in self._sd.items()}
            self._dtypes = {k: v.dtype for k, v in self._sd.items()}

    def keys(self) -> list[str]:
        return list(self._keys)

    @property
    def metadata(self) -> dict:
        return dict(self._meta)

    def shapes(self) -> dict:
        return dict(self._shapes)

    def dtype(self, key):
        return self._dtypes[key]

    def get(self, key) -> torch.Tensor:
        if self._f is not None:
            return self._f.get_tensor(key)
        return self._sd[key]

    def close(self):
        self._f = None
        self._sd = None


def _header(entries: list[tuple[str, torch.dtype, tuple]], metadata: dict | None) -> tuple[bytes, list[int]]:
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset, sizes = 0, []
    for name, dtype, shape in entries:
        if dtype not in ST_TAGS:
            raise ModelError(f"The tensor {name} has a type ({dtype}) that .safetensors cannot store.")
        n = 1
        for d in shape:
            n *= int(d)
        size = n * torch.empty((), dtype=dtype).element_size()
        header[name] = {"dtype": ST_TAGS[dtype], "shape": [int(d) for d in shape], "data_offsets": [offset, offset + size]}
        sizes.append(size)
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, sizes


def write_safetensors(path, entries: list[tuple[str, torch.dtype, tuple]], produce: Callable[[str], torch.Tensor],
                      metadata: dict | None = None, on_progress: Callable[[int, int], None] | None = None,
                      stop: threading.Event | None = None) -> int:
    """Write ``entries`` (name, dtype, shape), each tensor made by ``produce(name)`` just before it is written.

    Atomic: temp file + fsync + rename. Returns the file size. Raises UserError when stopped or the write fails.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    head, sizes = _header(entries, metadata)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".part")
    total = len(entries)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            for i, ((name, dtype, shape), size) in enumerate(zip(entries, sizes)):
                if stop is not None and stop.is_set():
                    raise UserError(f"Stopped; {p} was not written.")
                t = produce(name)
                if t.dtype != dtype:
                    t = t.to(dtype)
                if tuple(t.shape) != tuple(shape):
                    raise ModelError(f"internal error: {name} has shape {tuple(t.shape)}, expected {tuple(shape)}.")
                data = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
                if data.nbytes != size:
                    raise ModelError(f"internal error: {name} has {data.nbytes} bytes, expected {size}.")
                f.write(memoryview(data))
                del t, data
                if on_progress:
                    on_progress(i + 1, total)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as e:
        _remove(tmp)
        raise UserError(f"Could not write {p} ({e.strerror or e}); no file was left behind.") from None
    except BaseException:
        _remove(tmp)
        raise
    return p.stat().st_size


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def same_file(a, b) -> bool:
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_not_input(save_to, inputs: Iterable, what: str) -> None:
    for src in inputs:
        if same_file(save_to, src):
            raise UserError(f"The {what} would overwrite its input {src}; choose another file to save to.")
