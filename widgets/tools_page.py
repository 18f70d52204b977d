"""The Tools page: resize, check, merge and sample-grid panels for LoRA files (widgets/tools_panels.py)."""
from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from .tools_panels import ToolsPanels


class ToolsPage(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        self.panels = ToolsPanels(self)
        lay.addWidget(self.panels)
        self._files: list[str] = []

    def sample_files(self, paths: list, base_model: str = "") -> None:
        """A run's saved files as the rows of a sample grid (the base model filled in when the field is empty);
        the Sample grid panel is shown, its prompt focused."""
        for p in paths:
            if p in self._files:
                self._files.remove(p)
        self._files += list(paths)
        self.panels.set_lora_files(self._files)
        sample = self.panels.sample
        sample.loras.set_paths(paths)
        if base_model and not sample.base.path():
            sample.base.set_path(base_model)
        self.panels.setCurrentWidget(sample)
        sample.prompt.setFocus()

    def add_file(self, path: str) -> None:
        """A saved LoRA sent from the Training page: offered in every panel (newest last)."""
        if path in self._files:
            self._files.remove(path)
        self._files.append(path)
        self.panels.set_lora_files(self._files)
