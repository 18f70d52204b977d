"""Start-up: the Training and Tools pages are built when first shown, opening the Training page loads neither
torch nor pyqtgraph, and the training libraries are warmed up only after the window has been idle."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app_fixtures import app_env  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent


def test_hidden_pages_are_built_when_first_shown(qtbot, app_env):  # noqa: F811
    from app.main_window import MainWindow
    from app.settings import make_settings

    w = MainWindow(make_settings(), None, persist=False)
    qtbot.addWidget(w)
    w.show()
    assert w._training_page is None and w._tools_page is None
    w.tabs.setCurrentIndex(1)
    assert w._training_page is not None and w.tabs.widget(1) is w._training_page
    assert w.tabs.currentIndex() == 1 and w._tools_page is None
    page = w._training_page
    assert page._view is None  # the progress view (pyqtgraph) waits for its tab
    page.tabs.setCurrentIndex(1)
    assert page._view is not None and page.tabs.widget(1) is page.view and page.tabs.currentIndex() == 1
    w.tabs.setCurrentIndex(2)
    assert w.tabs.widget(2) is w._tools_page and w.statusBar().currentMessage().startswith("Tools")


def test_dataset_edits_and_saved_files_reach_pages_built_later(qtbot, app_env, tmp_path):  # noqa: F811
    from app.main_window import MainWindow
    from app.settings import make_settings

    w = MainWindow(make_settings(), None, persist=False)
    qtbot.addWidget(w)
    w.dataset_page.totals_bar.batch.setValue(3)  # as the user types it, before the Training page exists
    lora = tmp_path / "run.safetensors"
    lora.write_bytes(b"x")
    w._lora_saved(str(lora))
    assert w.training_page.config().train_batch_size == 3
    assert w.tools_page.panels.check.file.path() == str(lora)


def test_opening_on_the_training_page_loads_no_torch_nor_plots(tmp_path):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "lora-desk.ini").write_text("[window]\npage=1\n")
    code = ("import sys, main\n"
            "rc = main.main([])\n"
            "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'pyqtgraph') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LORA_DESK_CONFIG_DIR=str(cfg),
               LORA_DESK_CACHE_DIR=str(tmp_path / "cache"), LORA_DESK_QUIT_AFTER_SHOW="built")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr


def test_warm_up_waits_for_the_user_to_pause(qtbot, monkeypatch, app_env):  # noqa: F811
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication, QWidget

    from app import train_worker, warmup
    from trainer import imports

    calls = []
    monkeypatch.setattr(train_worker, "warm_up_training_core", lambda: calls.append(1))
    monkeypatch.setattr(imports, "_loaded", set())
    owner = QWidget()
    qtbot.addWidget(owner)
    w = warmup.Warmup(owner, idle_ms=60_000)
    monkeypatch.setattr(warmup, "_instance", w)
    assert not warmup.libraries_ready() and w._timer.isActive()
    QApplication.sendEvent(owner, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_A, Qt.KeyboardModifier.NoModifier))
    assert not w.started and w._timer.isActive() and w._timer.remainingTime() > 30_000  # started over
    ready = []
    warmup.when_ready(lambda: ready.append(1))
    w._timer.timeout.emit()  # the quiet moment came
    qtbot.waitUntil(lambda: w.done, timeout=10000)
    assert calls == [1] and ready == [1] and warmup.libraries_ready()
