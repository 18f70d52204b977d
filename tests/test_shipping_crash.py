"""Shipping: the crash handler (a log file and a dialog for an error in any thread, the log folder beside
rescued LoRA files, a real start that crashes in a slot)."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def crash_env(tmp_path, monkeypatch):
    from app import crash

    monkeypatch.setenv("LORA_DESK_DATA_DIR", str(tmp_path / "data"))
    shown = []
    monkeypatch.setattr(crash, "show_crash_dialog", lambda path, summary: shown.append((Path(path), summary)))
    yield crash, shown, tmp_path / "data" / "logs"
    crash.uninstall()


def _boom():
    raise ValueError("the wheels came off")


def test_crash_in_the_gui_thread_writes_a_log_and_shows_its_path(qtbot, crash_env):
    crash, shown, logs = crash_env
    before = (sys.excepthook, threading.excepthook)
    crash.install()
    assert sys.excepthook is not before[0] and threading.excepthook is not before[1]
    try:
        _boom()
    except ValueError:
        sys.excepthook(*sys.exc_info())  # what Python does with an uncaught exception
    files = list(logs.glob("crash-*.log"))
    assert len(files) == 1
    text = files[0].read_text(encoding="utf-8")
    assert "ValueError: the wheels came off" in text and "_boom" in text  # the traceback
    from trainer.version import APP_VERSION

    assert f"LoRA Desk {APP_VERSION}" in text and "Python " in text
    assert shown == [(files[0], "ValueError: the wheels came off")]
    crash.uninstall()
    assert (sys.excepthook, threading.excepthook) == before


def test_crash_in_a_worker_thread_reaches_the_gui_thread(qtbot, crash_env):
    crash, shown, logs = crash_env
    crash.install()
    t = threading.Thread(target=_boom, name="loader")
    t.start()
    t.join()
    mine = lambda: [c for c in shown if "wheels" in c[1]]  # noqa: E731 - only this test's crash counts
    qtbot.waitUntil(lambda: len(mine()) == 1, timeout=30000)  # queued signal -> message box in the GUI thread
    path, summary = mine()[0]
    assert path.parent == logs and path.exists()
    assert "thread: loader" in path.read_text(encoding="utf-8")
    assert "the wheels came off" in summary


def test_crash_log_falls_back_to_temp_when_the_data_folder_is_unwritable(crash_env, tmp_path, monkeypatch):
    crash, shown, logs = crash_env
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LORA_DESK_DATA_DIR", str(blocker))  # data/logs cannot be made under a file
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    try:
        _boom()
    except ValueError:
        path = crash.handle(*sys.exc_info())
    assert path.parent == tmp_path / "tmp" and path.exists()
    assert shown and shown[0][0] == path


@pytest.mark.parametrize("override", [False, True])
def test_crash_logs_and_rescued_files_share_one_data_folder(crash_env, tmp_path, monkeypatch, override):
    """One per-user data folder (trainer.paths.user_data_dir): crash logs in its logs/, rescued LoRA files in
    its rescued/; LORA_DESK_DATA_DIR moves both."""
    from trainer.paths import user_data_dir
    from trainer.run.save_guard import rescue_folder

    crash, shown, logs = crash_env
    if not override:
        monkeypatch.delenv("LORA_DESK_DATA_DIR")
        monkeypatch.setattr(sys, "platform", "linux")
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        logs = tmp_path / "xdg" / "LoRADesk" / "logs"
    try:
        _boom()
    except ValueError:
        path = crash.handle(*sys.exc_info())
    assert path.parent == logs == user_data_dir() / "logs"
    assert rescue_folder() == logs.parent / "rescued"


def test_keyboard_interrupt_is_not_a_crash(crash_env, capsys):
    crash, shown, logs = crash_env
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        assert crash.handle(*sys.exc_info()) is None
    assert not shown and not logs.exists()


def test_the_app_installs_the_handler_and_a_crash_does_not_vanish(tmp_path):
    """A real start: an error raised in a Qt slot of the running app gives a log and the message box."""
    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "from PySide6.QtCore import QTimer\n"
        "from app import crash\n"
        "from app import main_window\n"
        "crash.show_crash_dialog = lambda p, s: (print('DIALOG', p, s, flush=True), __import__('PySide6.QtWidgets')"
        ".QtWidgets.QApplication.quit())\n"
        "def boom(): raise RuntimeError('slot failed')\n"
        "build = main_window.MainWindow.finish_build\n"
        "def finish_build(self):\n"
        "    build(self)\n"
        "    QTimer.singleShot(100, boom)\n"
        "main_window.MainWindow.finish_build = finish_build\n"
        "import main\n"
        "sys.exit(main.main([]))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LORA_DESK_CONFIG_DIR=str(tmp_path / "cfg"),
               LORA_DESK_CACHE_DIR=str(tmp_path / "cache"), LORA_DESK_DATA_DIR=str(tmp_path / "data"))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert "DIALOG" in r.stdout, r.stdout + r.stderr
    logs = list((tmp_path / "data" / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in r.stdout
    assert "RuntimeError: slot failed" in logs[0].read_text(encoding="utf-8")
    assert f"the error was written to {logs[0]}" in r.stderr
