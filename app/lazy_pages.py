"""The Training and Tools pages are built when first shown (or first needed), not with the window: the
window is usable sooner, and the Training page's forms and plots cost nothing until the user goes there.

Until a page exists its tab holds an empty placeholder; :func:`swap_in` puts the real page in its place. The
window keeps what the unbuilt pages would have been told meanwhile: the settings are in the window's one
ConfigModel (``MainWindow.config_model``, which the Dataset page edits too), saved LoRA files wait in
``MainWindow._saved_loras``.
"""
from __future__ import annotations

from app.i18n import tr


def swap_in(tabs, index: int, page, title: str) -> None:
    """Put ``page`` in tab ``index`` instead of its placeholder, keeping the current tab and sending no
    currentChanged for the swap."""
    current = tabs.currentIndex()
    tabs.blockSignals(True)
    try:
        placeholder = tabs.widget(index)
        tabs.removeTab(index)
        tabs.insertTab(index, page, title)
        tabs.setCurrentIndex(current)
    finally:
        tabs.blockSignals(False)
    if placeholder is not None:
        placeholder.deleteLater()


def tab_parent(tabs):
    """The QTabWidget's own page stack: a page made as its child is not re-parented (and so not styled
    again, all of it) when inserted as a tab."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QStackedWidget

    return tabs.findChild(QStackedWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)


def make_training_page(win):
    """The Training page of ``win``, on the window's shared config (which already names the open dataset
    folder), connected to the window."""
    from widgets.training.training_page import TrainingPage

    page = TrainingPage(win.config_model, win.settings, parent=tab_parent(win.tabs))
    page.status.connect(lambda m: win._page_status(page, m))
    page.send_to_tools.connect(win.send_to_tools)
    page.sample_saved.connect(win.sample_saved)
    page.lora_saved.connect(win._lora_saved)
    page.trainingChanged.connect(win.dataset_page.set_training)  # a run's source stays while it runs
    swap_in(win.tabs, 1, page, tr("Training"))
    return page


def make_tools_page(win):
    """The Tools page of ``win``, offered the LoRA files saved before it existed."""
    from widgets.tools.tools_page import ToolsPage

    page = ToolsPage(win.settings if win.persist else None, parent=tab_parent(win.tabs))
    page.status.connect(lambda m: win._page_status(page, m, 0))
    for path in win._saved_loras:
        page.add_file(path, remember=False)
    swap_in(win.tabs, 2, page, tr("Tools"))
    return page
