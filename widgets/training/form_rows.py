"""The parameter form's rows by field name, made when first needed (widgets/training/param_form.py).

The form builds only the section that is shown; asking this mapping for a field of a section not built yet
builds that section (so ``form.rows[name]`` works for every field, as it did when all ~200 rows were
made at once).
The form's own loops (values, checks, read-only) walk :meth:`RowMap.built` and leave unbuilt sections alone:
a section is given the current state when it is made.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping


class RowMap(Mapping):
    """field name -> FieldRow for every config field; ``build(name)`` makes the section holding ``name``."""

    def __init__(self, names, build: Callable[[str], None]):
        self._names = tuple(names)
        self._known = frozenset(self._names)
        self._rows: dict = {}
        self._build = build

    def __getitem__(self, name: str):
        if name not in self._rows:
            if name not in self._known:
                raise KeyError(name)
            self._build(name)
        return self._rows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name) -> bool:
        return name in self._known

    def add(self, name: str, row) -> None:
        self._rows[name] = row

    def built(self) -> dict:
        """The rows made so far (name -> FieldRow)."""
        return self._rows
