"""Table cells: numbers in the interface language's way (app/numbers.py), None as an empty cell."""
from __future__ import annotations

from app.numbers import fmt_float


def fmt_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return fmt_float(v, ".4g")
    return str(v)
