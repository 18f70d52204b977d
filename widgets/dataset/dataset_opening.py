"""Opening a training folder on the Dataset page: the folder dialog, the scan in a pool thread, and filling the
page's widgets from the finished scan one per event-loop turn, so even 10,000 images never freeze the window.
A dataset config (sd-scripts' TOML) opens the same way: ``root`` is then the file, its subsets the concepts.
What the user opened (or the page followed from another page) the run trains (``train_what_is_shown``:
dataset_config names the file, or is cleared and train_data_dir names the folder); reading the same root again
(``reload``: a caption extension edit, files removed by the hygiene check) leaves the run's source alone.

:class:`DatasetOpening` is a mixin of :class:`widgets.dataset.dataset_page.DatasetPage`; it uses the page's widgets
(``model``, ``view``, ``concepts``, ``tag_stats``, ``hygiene``, ``buckets``, ``editor``, ``path_label``,
``banner``), its signals (``status``, ``datasetOpened``), its settings (``values``, ``_resolution``,
``_update_totals``, ``_update_completion``, ``select_path``) and the state the page starts with (``root``,
``scan``, ``error``, ``bucket_report``, ``_by_image``, ``_by_caption``, ``_scan_task``, ``_filling``,
``_train_when_shown``).
``_reselect`` (an image path) is selected again once the scan is shown (set by ``reload`` and the main window).
"""
from __future__ import annotations

import gc
import os
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog

from app.i18n import tr

from widgets.common.worker import gc_paused, run_task


def _scan_and_index(root: str, caption_extension: str):
    """Runs in a pool thread: the scan, the path indexes and the tag frequency (all the work that grows with
    the number of images), so the GUI thread only fills widgets. The dataset layer is imported here too.
    ``root``: a training folder, or a dataset config file."""
    from trainer.dataset.scan import scan_dataset
    from trainer.dataset.tags import tag_frequency

    with gc_paused():
        if is_dataset_config(root):
            scan = _scan_config(root, caption_extension)
        else:
            scan = scan_dataset(root, caption_extension)
        images = scan.images
        by_image = {os.fspath(e.path): e for e in images}  # also caches each Path's string form
        by_caption = {os.fspath(e.default_caption_path(scan.caption_extension)): e for e in images}
        return scan, by_image, by_caption, tag_frequency(scan)


def _scan_config(path: str, caption_extension: str):
    """The subsets of a dataset config as concepts (ConfigError/DatasetError: one sentence naming the file)."""
    from types import SimpleNamespace

    from trainer.dataset.config_file import scan_dataset_config

    return scan_dataset_config(SimpleNamespace(dataset_config=path, caption_extension=caption_extension))


def is_dataset_config(root) -> bool:
    """The one test of what the page opens: a file is a dataset config, anything else a training folder."""
    return root is not None and Path(root).is_file()


def _release(scan) -> None:
    """Break the concept <-> image reference cycles of a scan no longer shown, so reference counting frees it
    at once (its objects were frozen out of the garbage collector's reach)."""
    for c in scan.concepts:
        c.images = []


class DatasetOpening:
    """Open, reload and show a scan (mixin of the Dataset page, see the module doc)."""

    def choose_folder(self) -> None:
        start = os.fspath(self.root) if self.root else os.path.expanduser("~")
        folder = QFileDialog.getExistingDirectory(self, tr("Open training folder"), start)
        if folder:
            self.open_dataset(folder)

    def choose_dataset_config(self) -> None:
        start = os.fspath(self.root.parent if self.root else Path.home())
        path, _ = QFileDialog.getOpenFileName(self, tr("Open dataset config"), start, tr("TOML (*.toml)"))
        if path:
            self.open_dataset(path)

    def open_dataset(self, folder, train: bool = True) -> None:
        """Open a training folder, or a dataset config file (its subsets become the concepts). ``train``: the
        run trains it once it is shown; False when the page only reads what it shows again."""
        if not self.editor.set_entry(None):
            return
        self._train_when_shown = self._train_when_shown or train  # a reload while an open is pending keeps it
        self.forget_dataset_cfgs()  # the file may have changed since it was read
        self.root = Path(folder)
        self.path_label.setText(os.fspath(self.root))
        self.banner.hide()
        self.status.emit(tr("Scanning {folder}…").format(folder=self.root))
        root = self.root
        self._scan_task = run_task(_scan_and_index, os.fspath(root), self.values["caption_extension"],
                                   owner=self, on_done=lambda s, r=root: self._scanned(r, s),
                                   on_error=lambda m, r=root: self._scan_failed(r, m))

    def reload(self) -> None:
        """Read the folder or dataset config shown again (what the run trains is not changed by it)."""
        if self.root is not None:
            self.show_again(self.root)

    def show_again(self, root) -> None:
        """Show ``root`` keeping the selected image: the dataset shown, read again (or from the dataset config
        it was just written to)."""
        keep = self.editor.entry.path if self.editor.entry is not None else None
        self._reselect = keep
        self.open_dataset(root, train=False)

    def is_loading(self) -> bool:
        return self._scan_task is not None or self._filling or self.buckets.is_running()

    def _scan_failed(self, root: Path, msg: str) -> None:
        if root != self.root:
            return
        self._scan_task = None
        self._train_when_shown = False  # the run is not pointed at what cannot be read
        self.error = msg
        self.banner.setText(msg)
        self.banner.show()
        self.status.emit(msg)

    def _scanned(self, root: Path, result) -> None:
        """Fill the widgets from a finished scan, one widget per event-loop turn (no long freeze)."""
        if root != self.root:
            return
        scan, self._by_image, self._by_caption, freq = result
        self._scan_task = None
        self.error = None
        old, self.scan = self.scan, scan
        self.bucket_report = None
        steps = [
            lambda: self.model.set_entries(scan.images, concept=None),
            lambda: self.concepts.set_scan(scan),
            lambda: self.tag_stats.set_scan(scan, freq),
            self._update_completion,
            lambda: self.hygiene.set_scan(scan, self._resolution(), int(self.values["min_bucket_reso"])),
            lambda: self.buckets.set_scan(scan),
            self._update_totals,
            lambda: self._finish_open(root, scan, old),
        ]
        self._filling = True

        def run_next():
            if self.scan is not scan:
                return  # another folder was opened meanwhile
            steps.pop(0)()
            if steps:
                QTimer.singleShot(0, self, run_next)  # skipped if the page is deleted meanwhile

        run_next()

    def _finish_open(self, root: Path, scan, old) -> None:
        self._filling = False
        if old is not None and old is not scan:
            _release(old)
        gc.freeze()  # the scan lives as long as it is shown: keep full collections from walking it
        self.datasetOpened.emit(os.fspath(root))
        self.status.emit(tr("{n} images in {c} concepts; {p} problems found by the scan.").format(
            n=len(scan.images), c=len(scan.concepts), p=len(scan.problems)))
        if self._train_when_shown:  # opened by the user or followed: the run trains it (after the sentence
            self._train_when_shown = False  # above: while a run is on, the page says what it does instead)
            self.train_what_is_shown(root)
        again = getattr(self, "_reselect", None)
        self._reselect = None
        if again is not None and self.select_path(again):
            return
        if self.model.rowCount():
            self.view.setCurrentIndex(self.model.index(0))
