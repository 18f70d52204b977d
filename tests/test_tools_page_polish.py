"""The Tools page looks finished: titled panels, placeholders until a result comes, a progress bar with text,
the newest trained LoRA filled in (also from the settings of an earlier session), its own status line; the
memory bar's legend and card marker."""
from __future__ import annotations

from app_fixtures import app_env  # noqa: F401 - fixture
from tools_fixtures import one_torch_thread, tools_files  # noqa: F401 - fixtures


def test_panels_are_titled_and_show_placeholders(qtbot, app_env):  # noqa: F811
    from widgets.tools.tools_panels import ToolsPanels

    w = ToolsPanels()
    qtbot.addWidget(w)
    for panel in (w.check, w.resize_panel, w.merge, w.sample):
        assert panel.form_box.title(), type(panel).__name__
        assert panel.progress.isTextVisible() and panel.progress.text() == "not started"
        assert panel.status.text()
    for panel in (w.check, w.resize_panel, w.merge):
        assert panel.boxes
        for box in panel.boxes:  # a title, and a sentence saying what will be shown there
            assert box.title() and not box.has_result() and len(box.placeholder.text()) > 40
            assert box.stack.currentWidget() is box.placeholder
    assert "grid will appear" in w.sample.view.text()


def test_last_trained_lora_is_filled_in_from_the_settings(qtbot, app_env, tmp_path):  # noqa: F811
    from app.settings import make_settings
    from widgets.tools.tools_page import LAST_LORA, ToolsPage

    lora = tmp_path / "last.safetensors"
    lora.write_bytes(b"x")
    settings = make_settings()
    settings.setValue(LAST_LORA, str(lora))
    page = ToolsPage(settings)
    qtbot.addWidget(page)
    assert page.panels.check.file.path() == str(lora) and page.panels.resize_panel.file.path() == str(lora)
    assert str(lora) in page.status_text()
    newer = tmp_path / "newer.safetensors"
    page.add_file(str(newer))
    assert settings.value(LAST_LORA) == str(newer) and page.panels.check.file.path() == str(newer)


def test_check_result_is_a_table_with_the_verdict(qtbot, tools_files):  # noqa: F811
    from widgets.tools.tools_panels import ToolsPanels

    w = ToolsPanels()
    qtbot.addWidget(w)
    w.set_lora_files([tools_files["lora"]])
    w.check.start()
    qtbot.waitUntil(lambda: w.check.task is None, timeout=180000)
    assert all(b.has_result() for b in w.check.boxes)
    s = w.check.summary
    assert s.item(0, 0).text() == "Verdict" and s.item(0, 1).text() == "Healthy."
    assert w.check.progress.text() == "done"


def test_status_bar_shows_the_tools_line_not_dataset_counts(qtbot, app_env):  # noqa: F811
    from app.main_window import MainWindow
    from app.settings import make_settings

    w = MainWindow(make_settings(), None, persist=False)
    qtbot.addWidget(w)
    w.show()
    w.statusBar().showMessage("14 of 14 images shown, 1 selected")
    w.tabs.setCurrentIndex(2)
    assert "images" not in w.statusBar().currentMessage() and not w._summary.isVisible()
    w.dataset_page.status.emit("3 of 3 images shown")  # the Dataset page's line waits for its page
    assert "images" not in w.statusBar().currentMessage()
    w.tabs.setCurrentIndex(0)
    assert w._summary.isVisible()


def test_memory_bar_legend_and_card_marker(qtbot, monkeypatch, tiny_ckpt):
    from trainer import gpu_info
    from trainer.config.fields import TrainConfig
    from widgets.training.vram_bar import VramBar

    gib = 1024 ** 3
    card = gpu_info.GpuMemory(0, "Test card", 12 * gib, 10 * gib, 2 * gib)
    monkeypatch.setattr(gpu_info, "query_gpus", lambda: [card])
    bar = VramBar()
    qtbot.addWidget(bar)
    bar.update_config(TrainConfig(pretrained_model_name_or_path=str(tiny_ckpt())))
    legend = bar.legend.text()
    for kind in ("model", "network", "optimizer", "activations", "CUDA context"):
        assert kind in legend, legend
    assert "GiB" in legend and bar.bar.total == 12 * gib and bar.bar.marker_text == "card 12 GiB"
    monkeypatch.setattr(gpu_info, "query_gpus", lambda: None)
    bar._gpus_at = -1e9
    bar.update_config(TrainConfig(pretrained_model_name_or_path=str(tiny_ckpt())))
    assert bar.bar.total is None and bar.bar.marker_text == ""
