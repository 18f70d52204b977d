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

    def add_file(self, path: str) -> None:
        """A saved LoRA sent from the Training page: offered in every panel (newest last)."""
        if path in self._files:
            self._files.remove(path)
        self._files.append(path)
        self.panels.set_lora_files(self._files)
