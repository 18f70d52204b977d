"""Fixtures for the desktop-app tests: isolated settings/cache folders, an opened dataset page."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_dataset


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_DESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LORA_DESK_CACHE_DIR", str(tmp_path / "cache"))
    from app import i18n

    i18n.set_language("en")
    yield tmp_path
    i18n.set_language("en")


def wait_loaded(qtbot, page, timeout=10000):
    qtbot.waitUntil(lambda: page.scan is not None and not page.is_loading(), timeout=timeout)


@pytest.fixture
def page(qtbot, app_env, tmp_path):
    """A DatasetPage showing a small generated dataset (2_redcircle: 3 images, 1_bluesquare: 2 images)."""
    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    data = make_dataset(tmp_path / "data set ünïcode")  # spaces and non-ASCII in the path
    store = CaptionStore()
    p = DatasetPage(store, tmp_path / "cache")
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    p.open_dataset(data)
    wait_loaded(qtbot, p)
    yield p
    p.shutdown()


def entry_named(page, concept: str, name: str):
    return next(e for e in page.scan.images if e.concept.folder_name == concept and e.path.name == name)


def caption_file(root: Path, concept: str, stem: str) -> Path:
    return root / concept / f"{stem}.txt"
