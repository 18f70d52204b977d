"""Library messages that read like a broken install on a normal run, dropped where they are logged.

bitsandbytes 0.50 on a CPU with AVX512-BF16 tries to download an optional 4-bit kernel (the ``kernels``
package) when it is imported, and logs a warning when that package is missing. diffusers imports bitsandbytes
whenever it is installed (its quantizers), so every command that loads a model printed it, although LoRA Desk
never uses 4-bit layers. transformers 5 without torchvision says, when diffusers' pipelines import CLIP's
image processor (for the safety checker, which sampling does not use), that it falls back to the PIL one.
Only these messages are filtered; every other warning of those libraries still shows.
"""
from __future__ import annotations

import logging

# logger name -> a piece of the message to drop
_DROPPED = {
    "bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward from kernels-community",
    "transformers.utils.import_utils": "requires torchvision (not installed); falling back to",
}


class _DropMessage(logging.Filter):
    def __init__(self, piece: str):
        super().__init__()
        self.piece = piece

    def filter(self, record: logging.LogRecord) -> bool:
        return self.piece not in str(record.msg)


def install() -> None:
    """Attach the filters (idempotent). Cheap: only the standard library's logging."""
    for name, piece in _DROPPED.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessage) and f.piece == piece for f in logger.filters):
            logger.addFilter(_DropMessage(piece))
