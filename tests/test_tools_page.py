"""The Tools page hosts the tool panels and takes files sent from a training run."""
from widgets.tools_page import ToolsPage


def test_files_sent_from_training_fill_the_panels(qtbot, tmp_path):
    page = ToolsPage()
    qtbot.addWidget(page)
    a, b = str(tmp_path / "lora-000001.safetensors"), str(tmp_path / "lora.safetensors")
    page.add_file(a)
    page.add_file(b)
    page.add_file(a)  # sent again: moves to the end
    assert page.panels.count() == 4
    assert page.panels.check.file.path() == a
    assert page._files == [b, a]
