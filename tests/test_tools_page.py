"""The Tools page hosts the tool panels and takes files sent from a training run."""
from widgets.tools.tools_page import ToolsPage


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


def _drop(qtbot, widget, paths):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    enter = QDragEnterEvent(widget.rect().center(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    widget.dragEnterEvent(enter)
    assert enter.isAccepted()
    widget.dropEvent(QDropEvent(QPointF(widget.rect().center()), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))


def test_files_dropped_on_the_panels_are_taken_as_paths(qtbot, tmp_path):
    page = ToolsPage()
    qtbot.addWidget(page)
    a, b = str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")
    _drop(qtbot, page.panels.check.file, [a])
    assert page.panels.check.file.path() == a
    _drop(qtbot, page.panels.sample.loras, [a, b])
    _drop(qtbot, page.panels.sample.loras, [b])
    assert page.panels.sample.loras.paths() == [a, b]
