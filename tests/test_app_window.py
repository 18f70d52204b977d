"""The main window: start-up without torch, --screenshot, languages, remembered settings, menus."""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from app_fixtures import app_env, wait_loaded  # noqa: F401
from conftest import make_dataset

ROOT = Path(__file__).resolve().parent.parent


def test_screenshot_does_not_import_torch_and_writes_png(tmp_path):
    data = make_dataset(tmp_path / "data")
    out = tmp_path / "shot dir" / "out.png"
    code = (
        "import sys, main\n"
        f"rc = main.main(['--screenshot', {str(out)!r}, '--dataset', {str(data)!r}])\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc or (3 if heavy else 0))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LORA_DESK_CONFIG_DIR=str(tmp_path / "cfg"),
               LORA_DESK_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "HEAVY []" in r.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1280, 800)
    assert not (tmp_path / "cfg" / "lora-desk.ini").exists() or "dataset" not in \
        (tmp_path / "cfg" / "lora-desk.ini").read_text()  # screenshots leave the settings alone


def test_every_interface_text_has_a_russian_translation():
    ru = json.loads((ROOT / "resources" / "i18n" / "ru.json").read_text(encoding="utf-8"))
    missing = []
    for f in sorted((ROOT / "app").glob("*.py")) + sorted((ROOT / "widgets").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("tr", "trf") and node.args:
                arg = node.args[0]
                assert isinstance(arg, ast.Constant), f"{f.name}: tr() needs a literal string"
                if arg.value not in ru:
                    missing.append(arg.value)
    assert not missing, missing


def _window(qtbot, config=None):
    from app.main_window import MainWindow
    from app.settings import make_settings

    w = MainWindow(make_settings(), config)
    qtbot.addWidget(w)
    w.show()
    return w


def test_language_switch_from_the_menu_rebuilds_texts(qtbot, app_env):
    from app import i18n

    data = make_dataset(app_env / "data")
    w = _window(qtbot)
    w.open_dataset(data)
    wait_loaded(qtbot, w.dataset_page)
    assert w.tabs.tabText(0) == "Dataset"
    w.language_actions["ru"].trigger()
    assert i18n.language() == "ru"
    assert [w.tabs.tabText(i) for i in range(3)] == ["Датасет", "Обучение", "Инструменты"]
    assert w.menuBar().actions()[0].text() == "&Файл"
    assert w.dataset_page.open_btn.text() == "Открыть папку…"
    wait_loaded(qtbot, w.dataset_page)  # the dataset is reopened in the new language
    assert w.dataset_page.tag_stats.table.model().headerData(0, __import__("PySide6.QtCore").QtCore.Qt.Orientation.Horizontal) == "Тег"
    assert w.settings.value("ui/language") == "ru"
    w.language_actions["en"].trigger()
    assert w.tabs.tabText(0) == "Dataset"


def test_settings_remember_dataset_geometry_and_undo_menu(qtbot, app_env):
    data = make_dataset(app_env / "data")
    w = _window(qtbot)
    w.resize(1111, 777)
    w.open_dataset(data)
    page = w.dataset_page
    wait_loaded(qtbot, page)
    qtbot.waitUntil(lambda: page.editor.entry is not None)
    path = page.editor.path
    before = path.read_text(encoding="utf-8")
    page.editor.raw.setPlainText("typed, not saved\n")
    assert w.windowTitle().startswith("●")
    w.undo_action.trigger()  # saves the typing, then undoes it: nothing lost, file as before
    assert path.read_text(encoding="utf-8") == before
    w.redo_action.trigger()
    assert path.read_text(encoding="utf-8") == "typed, not saved\n"
    w.show_page("tools")
    w.close()
    from app.settings import make_settings

    s = make_settings()
    assert Path(str(s.value("dataset/last"))) == data
    assert int(s.value("window/page")) == 2
    w2 = _window(qtbot)
    assert s.value("window/geometry")
    assert abs(w2.height() - 777) <= 10  # (the offscreen screen is 800 px wide: the width is clamped)
    assert "LoRA Desk" in w2.about_text()


def test_training_and_tools_pages_are_real(qtbot, app_env):
    from widgets.tools.tools_page import ToolsPage
    from widgets.training.training_page import TrainingPage

    w = _window(qtbot)
    assert isinstance(w.training_page, TrainingPage) and isinstance(w.tools_page, ToolsPage)
    assert w.training_page.start_btn.text() == "Start training" and w.training_page.form.rows
    panels = w.tools_page.panels
    assert panels.count() == 4 and {type(panels.widget(i)).__name__ for i in range(4)} == {
        "CheckPanel", "ResizePanel", "MergePanel", "SamplePanel"}


def test_training_settings_start_from_a_preset_and_carry_over_to_the_next_session(qtbot, app_env):
    from app.session_config import session_path

    w = _window(qtbot)  # persist=True, no config file: the first start ever
    cfg = w.training_page.config()
    assert cfg.network_dim == 32 and cfg.optimizer_type == "AdamW8bit" and cfg.learning_rate == 1e-4
    assert "SD 1.5 8 GB preset" in w.statusBar().currentMessage()
    w.training_page.set_value("network_dim", 24)
    w.close()
    assert session_path().is_file()
    w2 = _window(qtbot)
    assert w2.training_page.config().network_dim == 24
    assert w2.dataset_page.values["train_batch_size"] == w2.training_page.config().train_batch_size == 2
    session_path().write_text("not = [valid", encoding="utf-8")  # a damaged file: start over, never refuse
    w3 = _window(qtbot)
    assert w3.training_page.config().network_dim == 32


def test_saved_files_become_the_rows_of_a_sample_grid(qtbot, app_env):
    w = _window(qtbot)
    w.sample_saved(["/out/a-000001.safetensors", "/out/a-000002.safetensors", "/out/a.safetensors"], "/m/base.ckpt")
    sample = w.tools_page.panels.sample
    assert w.tabs.currentWidget() is w.tools_page and w.tools_page.panels.currentWidget() is sample
    assert sample.loras.paths() == ["/out/a-000001.safetensors", "/out/a-000002.safetensors", "/out/a.safetensors"]
    assert sample.base.path() == "/m/base.ckpt"
    w.sample_saved(["/out/b.safetensors"], "/m/other.ckpt")  # a base model the user chose stays
    assert sample.loras.paths() == ["/out/b.safetensors"] and sample.base.path() == "/m/base.ckpt"
