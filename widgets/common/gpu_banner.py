"""The "no NVIDIA GPU" banner across the top of the main window: without a GPU training runs on the CPU and is
very slow (the demo still works: a tiny model, a few minutes).

The GPU check is ``trainer.gpu_info.query_gpus()`` (NVML, no torch, a few milliseconds).  The banner sits in
its own non-movable tool bar, so it survives the window rebuilding its pages (language switch).  "Hide" closes
it; "Don't show again" also remembers that in the settings (``ui/hide_cpu_banner``).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolBar

from app.i18n import tr

SETTING = "ui/hide_cpu_banner"
STYLE = ("#gpuBanner { background: #fff3cd; border: 1px solid #e0b84a; border-radius: 4px; }"
         "#gpuBanner QLabel { color: #5c4400; }")


def banner_text() -> str:
    """Short enough for one line at 1280 px in every language; the tooltip says more."""
    return tr("No NVIDIA GPU found: training on the CPU is very slow. The demo works; real LoRAs need an "
              "NVIDIA card and its driver.")


def banner_details() -> str:
    return tr("No NVIDIA GPU found: training will be very slow on CPU. The demo still works "
              "(a tiny model, a few minutes); for real LoRAs use a computer with an NVIDIA card "
              "and its driver installed.")


class GpuBanner(QFrame):
    dismissed = Signal(bool)  # True: "don't show again"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("gpuBanner")
        self.setStyleSheet(STYLE)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 6, 4)
        icon = QLabel("⚠")
        icon.setStyleSheet("font-size: 16px;")
        self.label = QLabel(banner_text())
        self.label.setToolTip(banner_details())
        # one line (a wrapping label makes the tool bar several lines tall); it fits at 1280 px, and a
        # narrower window cuts it (the tooltip holds the whole text)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setMinimumWidth(200)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.never_button = QPushButton(tr("Don't show again"))
        self.hide_button = QPushButton(tr("Hide"))
        self.never_button.setFlat(True)
        self.hide_button.setFlat(True)
        self.never_button.clicked.connect(lambda: self.dismissed.emit(True))
        self.hide_button.clicked.connect(lambda: self.dismissed.emit(False))
        lay.addWidget(icon)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.never_button)
        lay.addWidget(self.hide_button)


def no_gpu() -> bool:
    """True when NVML reports no NVIDIA GPU (no driver, no card, or no nvidia-ml-py)."""
    from trainer import gpu_info

    return not gpu_info.query_gpus()


def install_gpu_banner(window, settings=None, persist: bool = True) -> QToolBar | None:
    """Add the banner to a QMainWindow when there is no NVIDIA GPU; return its tool bar (None: not shown)."""
    if settings is not None and str(settings.value(SETTING, "false")).lower() == "true":
        return None
    if not no_gpu():
        return None
    bar = QToolBar(tr("GPU notice"), window)
    bar.setObjectName("gpuBannerBar")
    bar.setMovable(False)
    bar.setFloatable(False)
    bar.toggleViewAction().setVisible(False)  # not in the tool bar context menu
    banner = GpuBanner(bar)
    bar.addWidget(banner)
    bar.banner = banner

    def dismiss(forever: bool) -> None:
        if forever and persist and settings is not None:
            settings.setValue(SETTING, "true")
        bar.hide()

    banner.dismissed.connect(dismiss)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    return bar
