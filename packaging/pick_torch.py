"""Which torch build start.sh / start.bat install: the CUDA build when ``nvidia-smi`` reports an NVIDIA driver
new enough for one, else the CPU build.  Standard library only (it runs before the venv exists).

    python packaging/pick_torch.py            # runs nvidia-smi, prints KEY=VALUE lines (start.sh: eval)
    python packaging/pick_torch.py --pip-args # one line: the arguments for `pip install` (start.bat)
    python packaging/pick_torch.py --smi-output FILE --platform win32   # decide from a saved output (tests)

The decision is :func:`pick_torch`, a pure function of nvidia-smi's output and the platform.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

TORCH_VERSION = "2.13.0"  # the README's pinned version; keep the two in step
INDEX = "https://download.pytorch.org/whl/"
# CUDA builds offered for TORCH_VERSION, newest first: (lowest CUDA version the driver must support, tag).
# The driver's "CUDA Version" (nvidia-smi's header) is the newest CUDA runtime it can run.
CUDA_BUILDS = (((13, 0), "cu130"), ((12, 8), "cu128"), ((12, 6), "cu126"))
_CUDA_RE = re.compile(r"CUDA Version\s*:\s*(\d+)\.(\d+)")
_GPU_RE = re.compile(r"^GPU \d+: (.+?)(?: \(UUID|$)", re.M)


@dataclass(frozen=True)
class TorchChoice:
    kind: str             # "cpu" or a CUDA tag like "cu128"
    index_url: str | None  # None: the default index (PyPI)
    reason: str

    def pip_args(self) -> list[str]:
        args = [f"torch=={TORCH_VERSION}"]
        if self.index_url:
            args += ["--index-url", self.index_url, "--extra-index-url", "https://pypi.org/simple"]
        return args


def pick_torch(smi_output: str | None, platform: str = sys.platform) -> TorchChoice:
    """``smi_output``: what ``nvidia-smi`` printed (None: no nvidia-smi, or it failed)."""
    if not smi_output or "NVIDIA-SMI has failed" in smi_output or "No devices were found" in smi_output:
        why = "no NVIDIA GPU found (nvidia-smi missing or found no GPU)"
        # PyPI's Linux torch carries CUDA libraries (GBs): the CPU index has the small CPU-only wheel.
        return TorchChoice("cpu", None if platform == "win32" else INDEX + "cpu", why + ": CPU build")
    m = _CUDA_RE.search(smi_output)
    gpus = _GPU_RE.findall(smi_output)
    names = ", ".join(gpus) if gpus else "an NVIDIA GPU"
    if not m:  # driver too old to print a CUDA version, or an unexpected format
        return TorchChoice("cpu", None if platform == "win32" else INDEX + "cpu",
                           f"{names} found but nvidia-smi reports no CUDA version: CPU build "
                           f"(update the NVIDIA driver and delete .venv to get the GPU build)")
    cuda = (int(m.group(1)), int(m.group(2)))
    for need, tag in CUDA_BUILDS:
        if cuda >= need:
            return TorchChoice(tag, INDEX + tag, f"{names}, driver supports CUDA {cuda[0]}.{cuda[1]}: {tag} build")
    oldest = CUDA_BUILDS[-1][0]
    return TorchChoice("cpu", None if platform == "win32" else INDEX + "cpu",
                       f"{names}: the driver supports CUDA {cuda[0]}.{cuda[1]}, torch {TORCH_VERSION} needs "
                       f"{oldest[0]}.{oldest[1]} or newer: CPU build (update the NVIDIA driver and delete "
                       f".venv to get the GPU build)")


def run_nvidia_smi() -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe], capture_output=True, text=True, timeout=30)
        q = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return r.stdout + "\n" + (q.stdout if q.returncode == 0 else "")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smi-output", metavar="FILE", help="decide from this saved nvidia-smi output")
    p.add_argument("--platform", default=sys.platform)
    p.add_argument("--pip-args", action="store_true", help="print only the pip install arguments")
    a = p.parse_args(argv)
    if a.smi_output:
        with open(a.smi_output, encoding="utf-8", errors="replace") as f:
            out = f.read()
    else:
        out = run_nvidia_smi()
    c = pick_torch(out, a.platform)
    if a.pip_args:
        print(" ".join(c.pip_args()))
    else:
        print(f"TORCH_KIND={c.kind}")
        print(f"TORCH_PIP_ARGS='{' '.join(c.pip_args())}'")
        print(f"TORCH_REASON='{c.reason.replace(chr(39), '')}'")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
