"""The main window: Dataset, Training and Tools pages, menus with shortcuts, status bar, About, and the
settings it remembers (last dataset folder, geometry, page, language).

Switching the language rebuilds the pages and menus in place (the open dataset is reopened, an unsaved
caption is saved first); the caption undo history survives because the :class:`CaptionStore` belongs to the
window, not to a page.
"""
from __future__ import annotations

import platform
from pathlib import Path

from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from . import i18n
from .i18n import tr
from .settings import cache_dir

PAGES = ("dataset", "training", "tools")
APP_NAME = "LoRA Desk"


def app_version() -> str:
    from trainer.version import APP_VERSION  # the one place the version lives (also in a bundle)

    return APP_VERSION


class MainWindow(QMainWindow):
    """``deferred=True`` (used by ``run_app``): the window is first a light shell (title, page tabs) that can
    be shown at once; :meth:`finish_build` (queued right after ``show``) builds the pages and menus."""

    def __init__(self, settings, config=None, persist: bool = True, deferred: bool = False):
        super().__init__()
        self.settings = settings
        self.persist = persist
        self._started_from = None
        self._start_config = config  # until the pages are built; then the one ConfigModel the pages share
        self.config_model = None
        self.store = None
        self.dataset_page = None
        self._training_page = self._tools_page = None
        self._saved_loras: list[str] = []  # LoRA files trained this session (for a Tools page built later)
        self.config_path = None  # the open config file (shown in the title): set_config_path
        self.built = False
        self._pending_dataset = None
        self._pending_page = 0
        self.setWindowTitle(APP_NAME)
        shell = QTabWidget()
        shell.setDocumentMode(True)
        for name in (tr("Dataset"), tr("Training"), tr("Tools")):
            shell.addTab(QWidget(), name)
        self.tabs = shell
        self.setCentralWidget(shell)
        self.statusBar().showMessage(tr("Loading…"))
        if not deferred:
            self.finish_build()
        geo = settings.value("window/geometry")
        if persist and isinstance(geo, QByteArray | bytes) and geo:
            self.restoreGeometry(QByteArray(geo))
        else:
            self.resize(1400, 900)

    def finish_build(self) -> None:
        """Build the pages and menus (once); a dataset or page asked for meanwhile is opened now."""
        if self.built:
            return
        from widgets.dataset.caption_store import CaptionStore

        from trainer.config.model import ConfigModel

        config = self._start_config
        if config is None:  # the last session's settings; the first time (or not persisting) a starter preset
            from .session_config import load_session_config, starter_config

            config, self._started_from = load_session_config() if self.persist else (starter_config(), None)
        self.config_model = ConfigModel(config)  # the Dataset and Training pages read and edit this one config
        self.store = CaptionStore(self)
        self.store.failed.connect(self._store_failed)
        self.store.undo_stack.cleanChanged.connect(self._update_title)  # a bound slot: dropped with the window
        self.store.undo_stack.indexChanged.connect(self._update_undo_actions)
        shell = self.tabs
        self._build(page=self._pending_page)
        shell.deleteLater()
        self.built = True
        from .warmup import install as install_warmup

        # torch loads in the background once the user pauses (screenshots and other one-off windows: only when
        # asked, see app/launch.py)
        self.warmup = install_warmup(self, auto=self.persist)
        from widgets.common.gpu_banner import install_gpu_banner  # no NVIDIA GPU: "training will be very slow on CPU"

        self.gpu_banner = install_gpu_banner(self, self.settings, self.persist)
        if self._pending_dataset is not None:
            folder, self._pending_dataset = self._pending_dataset, None
            self.dataset_page.open_dataset(folder)

    # ------------------------------------------------------------------ building (again on language change)
    def _build(self, page: int) -> None:
        """The Dataset page now; the Training and Tools pages when first shown (app/lazy_pages.py)."""
        from widgets.dataset.dataset_page import DatasetPage

        self.setWindowTitle(APP_NAME)
        from .lazy_pages import tab_parent

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        # the tab widget is in the window before the pages are made in it: their widgets are styled once
        self.setCentralWidget(self.tabs)
        self._training_page = self._tools_page = None
        self.dataset_page = DatasetPage(self.store, cache_dir(), self.config_model, parent=tab_parent(self.tabs))
        self.dataset_page.status.connect(lambda m: self._page_status(self.dataset_page, m))
        self.dataset_page.datasetOpened.connect(self._dataset_opened)
        self.dataset_page.dirtyChanged.connect(self._update_title)
        self.tabs.addTab(self.dataset_page, tr("Dataset"))
        self.tabs.addTab(QWidget(), tr("Training"))
        self.tabs.addTab(QWidget(), tr("Tools"))
        self.tabs.setCurrentIndex(page)
        self._ensure_page(page)
        self.tabs.currentChanged.connect(self._page_changed)
        self._build_menus()
        sb = self.statusBar()
        if getattr(self, "_summary", None) is not None:
            sb.removeWidget(self._summary)
        self._summary = QLabel()
        sb.addPermanentWidget(self._summary)
        self._summary.setVisible(page != PAGES.index("tools"))
        if self._started_from == "starter":
            sb.showMessage(tr("Ready. The training settings start from the SD 1.5 8 GB preset; pick the preset for "
                              "your model and card on the Training page."))
            self._started_from = None
        else:
            sb.showMessage(tr("Ready. Open a training folder with Ctrl+O."))
        if page == PAGES.index("tools"):
            sb.showMessage(self.tools_page.status_text())
        self._update_title()

    def _build_menus(self) -> None:
        from .menus import build_menus

        build_menus(self)

    def _update_undo_actions(self, *_):
        s = self.store.undo_stack
        self.undo_action.setText(tr("&Undo") + (f": {s.undoText()}" if s.canUndo() else ""))
        self.redo_action.setText(tr("&Redo") + (f": {s.redoText()}" if s.canRedo() else ""))
        self.redo_action.setEnabled(s.canRedo())

    # ------------------------------------------------------------------ actions
    def undo(self) -> None:
        """Unsaved typing is saved first, so undo then takes it back (nothing is lost silently)."""
        page = self.dataset_page
        focus = self.focusWidget()
        if focus is page.filter or focus is page.editor.add_edit:
            focus.undo()
            return
        if page.has_unsaved() and not page.save_current():
            return
        self.store.undo_stack.undo()

    def redo(self) -> None:
        self.store.undo_stack.redo()

    def _focus_filter(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.dataset_page.filter.setFocus()
        self.dataset_page.filter.selectAll()

    def _run_hygiene(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.dataset_page.tabs.setCurrentWidget(self.dataset_page.hygiene)
        self.dataset_page.hygiene.run_check()

    # ------------------------------------------------------------------ pages built when first needed
    @property
    def training_page(self):
        if self._training_page is None and self.dataset_page is not None:
            from .lazy_pages import make_training_page

            self._training_page = make_training_page(self)
        return self._training_page

    @property
    def tools_page(self):
        if self._tools_page is None and self.dataset_page is not None:
            from .lazy_pages import make_tools_page

            self._tools_page = make_tools_page(self)
        return self._tools_page

    def _ensure_page(self, index: int) -> None:
        if index == PAGES.index("training"):
            self.training_page  # noqa: B018 - built now
        elif index == PAGES.index("tools"):
            self.tools_page  # noqa: B018 - built now

    @property
    def config(self):
        """The settings the pages show (the shared ConfigModel's), or those the window will start from."""
        return self.config_model.get() if self.config_model is not None else self._start_config

    def _lora_saved(self, path: str) -> None:
        self._saved_loras.append(str(path))
        if self._tools_page is not None:
            self._tools_page.add_file(path)
        elif self.persist:
            from widgets.tools.tools_page import LAST_LORA

            self.settings.setValue(LAST_LORA, str(path))

    def _page_status(self, page, message: str, timeout: int = 8000) -> None:
        """A page's status message, shown only while that page is the current one."""
        if self.tabs.currentWidget() is page:
            self.statusBar().showMessage(message, timeout)

    def _page_changed(self, index: int) -> None:
        """A page is built when first shown. Each page has its own status: the dataset counts belong to the
        Dataset and Training pages, the Tools page shows its own line."""
        self._ensure_page(index)
        tools = self._tools_page
        on_tools = tools is not None and self.tabs.widget(index) is tools
        self._summary.setVisible(not on_tools)
        if on_tools:
            self.statusBar().showMessage(tools.status_text())
        else:
            self.statusBar().clearMessage()

    def show_page(self, name: str) -> None:
        self._pending_page = PAGES.index(name)
        self.tabs.setCurrentIndex(self._pending_page)

    def open_dataset(self, folder) -> None:
        if not self.built:
            self._pending_dataset = folder
            return
        self.dataset_page.open_dataset(folder)

    def _dataset_opened(self, folder: str) -> None:
        """The Dataset page opened a training folder or a dataset config (the page points the run at it)."""
        if self.persist:
            self.settings.setValue("dataset/last", folder)
        scan = self.dataset_page.scan
        self._summary.setText(tr("{images} images · {samples} samples per epoch").format(
            images=len(scan.images), samples=scan.samples_per_epoch))
        self._update_title()

    def set_config_path(self, path) -> None:
        """The config file now open (None: none); the title shows its name beside the dataset's."""
        self.config_path = str(path) if path else None
        self._update_title()

    def _update_title(self, *_signal_args) -> None:
        page = self.dataset_page
        title = APP_NAME
        if page is not None and page.root is not None:
            title = f"{Path(page.root).name} — {APP_NAME}"
        if self.config_path:
            title = f"{Path(self.config_path).name} · {title}"
        if page is not None and page.has_unsaved():
            title = "● " + title
        self.setWindowTitle(title)

    def _store_failed(self, msg: str) -> None:
        self.statusBar().showMessage(msg, 15000)
        page = self.dataset_page
        page.banner.setText(msg)
        page.banner.show()

    def about(self) -> None:
        QMessageBox.about(self, tr("About LoRA Desk"), self.about_text())

    def about_text(self) -> str:
        what = tr("Train LoRA adapters for Stable Diffusion 1.x, 2.x and SDXL on your own GPU, from a folder of "
                  "images to a LoRA file that AUTOMATIC1111, ComfyUI and diffusers load.")
        kohya = tr("Reads and writes kohya-ss sd-scripts configs and metadata.")
        return (f"<h3>{APP_NAME} {app_version()}</h3><p>{what}</p><p>{kohya}</p>"
                f"<p>Python {platform.python_version()} · PySide6 {PYSIDE_VERSION} · Apache-2.0</p>")

    def set_language(self, lang: str) -> bool:
        """Switch the interface language now (pages and menus are rebuilt; the dataset is reopened)."""
        page = self.dataset_page
        if lang == i18n.language():
            return True
        training = self._training_page
        if training is not None and training.is_training():  # the pages are rebuilt: not while a run is on
            self.statusBar().showMessage(tr("Switch the language after training ends."), 8000)
            self.language_actions[i18n.language()].setChecked(True)
            return False
        if page.has_unsaved() and not page.save_current():
            self.language_actions[i18n.language()].setChecked(True)
            return False
        i18n.set_language(lang)
        if self.persist:
            self.settings.setValue("ui/language", lang)
        current = self.tabs.currentIndex()
        root = page.root
        selected = page.editor.entry.path if page.editor.entry is not None else None
        page.shutdown()
        if training is not None:
            training.shutdown()  # no run (checked above): it only stops following the config
        old = self.tabs
        self._build(page=current)  # the new pages read the same ConfigModel
        old.deleteLater()
        if root is not None:
            self.dataset_page._reselect = selected
            self.dataset_page.open_dataset(root, train=False)  # shown again in the new language, not re-chosen
        return True

    # ------------------------------------------------------------------ closing
    def closeEvent(self, e) -> None:
        page = self.dataset_page
        if page is None:
            super().closeEvent(e)
            return
        training = self._training_page
        if training is not None and not training.confirm_close(self.close):
            e.ignore()  # asked first; the window closes once the stopped run has saved its file
            return
        if page.has_unsaved() and not page.save_current():
            answer = QMessageBox.question(
                self, tr("Unsaved caption"),
                tr("The caption could not be saved. Quit anyway and lose the change?"))
            if answer != QMessageBox.StandardButton.Yes:
                e.ignore()
                return
        if self.persist:
            self.settings.setValue("window/geometry", self.saveGeometry())
            self.settings.setValue("window/page", self.tabs.currentIndex())
            self.settings.sync()
            if training is not None:
                from .session_config import save_session_config

                try:
                    save_session_config(self.config)
                except OSError:  # a read-only config folder must not keep the window open
                    pass
        page.shutdown()
        if training is not None:
            training.shutdown()
        super().closeEvent(e)

    def sample_saved(self, paths: list, base_model: str) -> None:
        """The training view's saved files go to the Tools page's sample grid, one row each."""
        self.tabs.setCurrentWidget(self.tools_page)
        self.tools_page.sample_files(paths, base_model)

    def send_to_tools(self, path: str) -> None:
        """A file from the training view goes to the Tools page."""
        self.tabs.setCurrentWidget(self.tools_page)
        if hasattr(self.tools_page, "add_file"):
            self.tools_page.add_file(path)
