"""Where the app's data files (``resources/``) live, in a source checkout and inside a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_root() -> Path:
    """The ``resources`` folder: beside ``trainer/`` in a checkout, under ``sys._MEIPASS`` in a bundle.

    The PyInstaller spec must add the folder as data with the destination ``resources``.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Absolute path of a file or folder under ``resources/`` (it is not checked for existence)."""
    return resources_root().joinpath(*parts)
