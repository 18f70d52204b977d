"""The main window's menu bar: File, Edit, View, Language and Help with their shortcuts."""
from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from . import i18n
from .i18n import tr


def build_menus(win) -> None:
    """(Re)build the menus of ``win`` (a MainWindow); its actions that change later are kept on it
    (``reload_action``, ``save_action``, ``undo_action``, ``redo_action``, ``language_actions``)."""
    mb = win.menuBar()
    mb.clear()
    page = win.dataset_page

    def act(menu, text, slot, shortcut=None, tip=None):
        a = QAction(text, win)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    m = mb.addMenu(tr("&File"))
    act(m, tr("&Open training folder…"), page.choose_folder, QKeySequence.StandardKey.Open,
        tr("A folder holding concept folders like 6_maid"))
    win.reload_action = act(m, tr("&Reload dataset"), page.reload, "F5")
    win.save_action = act(m, tr("&Save caption"), page.save_current, QKeySequence.StandardKey.Save)
    m.addSeparator()
    act(m, tr("&Quit"), win.close, QKeySequence.StandardKey.Quit)

    m = mb.addMenu(tr("&Edit"))
    win.undo_action = act(m, tr("&Undo"), win.undo, QKeySequence.StandardKey.Undo)
    win.redo_action = act(m, tr("&Redo"), win.redo, QKeySequence.StandardKey.Redo)
    m.addSeparator()
    act(m, tr("&Bulk edit captions…"), page.open_bulk_dialog, "Ctrl+B")
    act(m, tr("&Find images by name or tag"), win._focus_filter, QKeySequence.StandardKey.Find)
    act(m, tr("Check &images (hygiene)"), win._run_hygiene, "Ctrl+H")

    m = mb.addMenu(tr("&View"))
    for i, name in enumerate((tr("Dataset"), tr("Training"), tr("Tools"))):
        act(m, name, lambda _=False, i=i: win.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")

    m = mb.addMenu(tr("&Language"))
    group = QActionGroup(win)
    group.setExclusive(True)
    win.language_actions = {}
    for code, name in i18n.LANGUAGES.items():
        a = QAction(name, win, checkable=True)
        a.setChecked(code == i18n.language())
        a.triggered.connect(lambda _=False, c=code: win.set_language(c))
        group.addAction(a)
        m.addAction(a)
        win.language_actions[code] = a

    m = mb.addMenu(tr("&Help"))
    act(m, tr("&About LoRA Desk"), win.about)
    win._update_undo_actions()
