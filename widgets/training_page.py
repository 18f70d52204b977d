"""The Training page. Placeholder until the training forms land (parameter forms, presets, VRAM estimate,
live plots); until then training runs from the command line."""
from __future__ import annotations

from app.i18n import tr

from .placeholder_page import PlaceholderPage


class TrainingPage(PlaceholderPage):
    def __init__(self, parent=None):
        super().__init__(
            tr("Training — coming in a later version"),
            tr("The training forms, presets, VRAM estimate and live loss plots are coming in a later version. "
               "Until then, train from a terminal:\n\npython main.py train --config_file my_lora.toml"),
            parent)
