"""NVIDIA GPUs' memory (total, free, used) and names through NVML (``pynvml`` from nvidia-ml-py).

No torch, no CUDA context: NVML answers in a millisecond, so the GUI can refresh the VRAM bar freely.
Without an NVIDIA driver (or without nvidia-ml-py) ``query_gpus`` returns None and ``gpu_summary`` says
"no NVIDIA GPU found"; nothing here raises.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

GiB = 1024 ** 3
NO_GPU = "no NVIDIA GPU found"

_lock = threading.Lock()
_initialised = False


@dataclass(frozen=True)
class GpuMemory:
    index: int
    name: str
    total_bytes: int
    free_bytes: int
    used_bytes: int

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GiB

    @property
    def free_gib(self) -> float:
        return self.free_bytes / GiB

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(total_gib=round(self.total_gib, 3), free_gib=round(self.free_gib, 3),
                 used_gib=round(self.used_bytes / GiB, 3))
        return d


def _init(pynvml) -> bool:
    global _initialised
    if not _initialised:
        pynvml.nvmlInit()  # raises NVMLError_LibraryNotFound / DriverNotLoaded without a driver
        _initialised = True
    return True


def query_gpus() -> list[GpuMemory] | None:
    """Every NVIDIA GPU's memory, or None when there is no driver, no GPU or no pynvml."""
    try:
        import pynvml
    except ImportError:
        return None
    with _lock:
        try:
            _init(pynvml)
            count = pynvml.nvmlDeviceGetCount()
            out = []
            for i in range(count):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                name = pynvml.nvmlDeviceGetName(h)
                if isinstance(name, bytes):
                    name = name.decode("utf-8", "replace")
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                out.append(GpuMemory(i, str(name), int(mem.total), int(mem.free), int(mem.used)))
        except pynvml.NVMLError:
            return None
        except OSError:  # a broken library file
            return None
    return out or None


def gpu_summary(gpus: list[GpuMemory] | None = None, *, need_bytes: int | None = None) -> str:
    """One line per GPU ("GPU 0 NVIDIA GeForce RTX 3060: 12.0 GiB total, 11.2 GiB free"), or NO_GPU."""
    if gpus is None:
        gpus = query_gpus()
    if not gpus:
        return NO_GPU
    lines = []
    for g in gpus:
        line = f"GPU {g.index} {g.name}: {g.total_gib:.1f} GiB total, {g.free_gib:.1f} GiB free"
        if need_bytes is not None:
            line += "; fits" if need_bytes <= g.free_bytes else (
                "; fits when other programs free memory" if need_bytes <= g.total_bytes else "; does not fit")
        lines.append(line)
    return "\n".join(lines)
