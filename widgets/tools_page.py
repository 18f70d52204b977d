"""The Tools page. Placeholder until the LoRA tools (resize, check, merge, sample grid) get their panels;
until then they run from the command line."""
from __future__ import annotations

from app.i18n import tr

from .placeholder_page import PlaceholderPage


class ToolsPage(PlaceholderPage):
    def __init__(self, parent=None):
        super().__init__(
            tr("Tools — coming in a later version"),
            tr("Resize, check and merge LoRA files, and sample grids, are coming in a later version. "
               "Until then, use the command line:\n\npython main.py resize|check|merge|sample --help"),
            parent)
