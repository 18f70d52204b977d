"""Numbers as the interface language writes them: ``0,52`` in Russian, ``0.52`` in English.

``LocalNumber`` is a float whose ``format`` uses the language's decimal sign, so ``tr(t).format(x=Ln(0.52))``
with ``{x:.2f}`` in the template prints ``0,52`` in Russian; :func:`localize` does the same to a ready text.
No Qt here.
"""
from __future__ import annotations

import re

from . import i18n

_DECIMAL = re.compile(r"(?<![\w.])(-?\d+)\.(\d+)(?![\w.]|\.\d)")


def decimal_sign() -> str:
    return "," if i18n.language() == "ru" else "."


class LocalNumber(float):
    def __format__(self, spec: str) -> str:
        text = format(float(self), spec)
        return text.replace(".", decimal_sign()) if decimal_sign() != "." else text

    def __str__(self) -> str:
        return format(self, "g")


def localize(text: str) -> str:
    """Decimal numbers in ``text`` written with the language's decimal sign (versions like 1.2.3, file names
    like x.5.safetensors and words are left alone)."""
    if decimal_sign() == "." or not text:
        return text
    return _DECIMAL.sub(lambda m: f"{m.group(1)},{m.group(2)}", text)


def fmt_float(v: float, spec: str = ".4g") -> str:
    return format(LocalNumber(v), spec)


def trf(text: str, **fields) -> str:
    """``tr(text).format(**fields)`` with float fields written in the language's way."""
    return i18n.tr(text).format(**{k: LocalNumber(v) if isinstance(v, float) else v for k, v in fields.items()})
