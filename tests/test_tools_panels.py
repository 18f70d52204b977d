"""Tools page panels: no torch at import, a check and a 1x1 sample run in the worker thread and show results."""
import subprocess
import sys
from pathlib import Path

from tools_fixtures import one_torch_thread, tools_files  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_panels_import_no_torch():
    code = "import widgets.tools.tools_panels, sys; assert 'torch' not in sys.modules, 'torch imported'"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr


def test_check_and_sample_panels(qtbot, tools_files, tmp_path):
    from widgets.tools.tools_panels import ToolsPanels

    w = ToolsPanels()
    qtbot.addWidget(w)
    w.set_lora_files([tools_files["lora"]])
    w.check.base.set_path(tools_files["base"])
    w.check.start()
    qtbot.waitUntil(lambda: w.check.task is None, timeout=180000)
    assert w.check.status.text() == "Healthy." and w.check.table.rowCount() > 10

    s = w.sample
    s.base.set_path(tools_files["base"])
    s.prompt.setPlainText("redcircle")
    s.weights.setText("1.0")
    s.steps.setValue(2)
    s.width_.setValue(64)
    s.height_.setValue(64)
    s.out.set_path(tmp_path / "g.png")
    s.start()
    qtbot.waitUntil(lambda: s.task is None, timeout=180000)
    assert "1 images" in s.status.text(), s.status.text()
    assert s.view.pixmap() is not None and not s.view.pixmap().isNull() and (0, 0) in s.view.cells


def test_merge_panel_merges_loras_by_svd_to_the_new_rank(qtbot, tools_files, tmp_path):
    from trainer.network.lora_file import load_lora
    from trainer.tools.lora_modules import parse_modules
    from widgets.tools.tools_panels import ToolsPanels

    w = ToolsPanels()
    qtbot.addWidget(w)
    m = w.merge
    m.loras.set_paths([tools_files["lora"], tools_files["lora_b"]])
    m.ratios.setText("0.7 0.5")
    m.out.set_path(tmp_path / "ab.safetensors")
    m.new_rank.setValue(3)
    m.base.set_path(tools_files["base"])
    m.start()  # a new rank with a base model: refused with the reason, nothing runs
    assert m.task is None and "clear the base model" in m.status.text()
    m.base.set_path("")
    m.start()
    qtbot.waitUntil(lambda: m.task is None, timeout=120000)
    ranks = {mod.rank for mod in parse_modules(load_lora(tmp_path / "ab.safetensors")[0]).values()}
    assert ranks == {3}, m.status.text()


def test_resize_panel_resizes(qtbot, tools_files, tmp_path):
    from trainer.network.lora_file import load_lora
    from trainer.tools.lora_modules import parse_modules
    from widgets.tools.tools_panels import ToolsPanels

    w = ToolsPanels()
    qtbot.addWidget(w)
    w.set_lora_files([tools_files["lora"]])
    r = w.resize_panel
    r.rank.setValue(2)
    r.out.set_path(tmp_path / "r2.safetensors")
    r.start()
    qtbot.waitUntil(lambda: r.task is None, timeout=120000)
    assert "norm kept" in r.status.text(), r.status.text()
    assert {m.rank for m in parse_modules(load_lora(tmp_path / "r2.safetensors")[0]).values()} == {2}
    assert r.table.rowCount() > 10
