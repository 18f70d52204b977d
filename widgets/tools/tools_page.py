"""The Tools page: resize, check, merge and sample-grid panels for LoRA files (widgets/tools/tools_panels.py).

The newest LoRA file a training run saved (or, after a restart, the one remembered in the settings under
``tools/last_lora``) is filled in, so "check the file I just trained" needs no browsing. The page has its own
status line (``status_text``); the window shows it instead of the Dataset page's counts.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.i18n import tr

from widgets.tools.tools_panels import ToolsPanels

LAST_LORA = "tools/last_lora"


class ToolsPage(QWidget):
    status = Signal(str)

    def __init__(self, settings=None, parent=None):
        super().__init__(parent)
        self.settings = settings
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        self.panels = ToolsPanels(self)
        lay.addWidget(self.panels)
        self._files: list[str] = []
        self.panels.currentChanged.connect(lambda _i: self.status.emit(self.status_text()))
        last = str(settings.value(LAST_LORA, "") or "") if settings is not None else ""
        if last and Path(last).is_file():
            self.add_file(last, remember=False)

    def status_text(self) -> str:
        """One line for the window's status bar: the newest LoRA file offered, or what the page is for."""
        if self._files:
            return tr("Tools · newest LoRA file: {path}").format(path=self._files[-1])
        return tr("Tools for LoRA files: check, resize, merge, compare in a sample grid.")

    def sample_files(self, paths: list, base_model: str = "") -> None:
        """A run's saved files as the rows of a sample grid (the base model filled in when the field is empty);
        the Sample grid panel is shown, its prompt focused."""
        for p in paths:
            if p in self._files:
                self._files.remove(p)
        self._files += list(paths)
        self.panels.set_lora_files(self._files)
        if paths and self.settings is not None:
            self.settings.setValue(LAST_LORA, str(paths[-1]))
        sample = self.panels.sample
        sample.loras.set_paths(paths)
        if base_model and not sample.base.path():
            sample.base.set_path(base_model)
        self.panels.setCurrentWidget(sample)
        sample.prompt.setFocus()

    def add_file(self, path: str, remember: bool = True) -> None:
        """A saved LoRA sent from the Training page: offered in every panel (newest last) and remembered for
        the next session."""
        path = str(path)
        if path in self._files:
            self._files.remove(path)
        self._files.append(path)
        self.panels.set_lora_files(self._files)
        if remember and self.settings is not None:
            self.settings.setValue(LAST_LORA, path)
        self.status.emit(self.status_text())
