"""The Dataset page: concept folders (left), the thumbnail grid with filter and sort (middle), the image
preview and caption editor (right), tag statistics / hygiene / bucket preview (tabs under the grid), and the
samples-per-epoch and steps totals (always visible at the bottom).

The dataset layer (``trainer.dataset``, no Qt and no torch) does the work; it is imported on first use so the
window appears before numpy and Pillow load. Scanning runs in a pool thread, so even 10,000 images never
freeze the window (see :mod:`widgets.dataset.dataset_opening`).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QLineEdit, QListView,
                               QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from app.i18n import tr

from widgets.dataset.bucket_preview import BucketPreview
from widgets.dataset.bulk_dialog import BulkDialog
from widgets.dataset.caption_editor import CaptionEditor
from widgets.dataset.caption_store import CaptionStore
from widgets.dataset.concept_list import ConceptList, dataset_config_buttons
from widgets.common.config_binding import follow, shared_model
from widgets.dataset.dataset_opening import DatasetOpening
from widgets.dataset.dataset_settings import DATASET_FIELDS, DatasetSettings
from widgets.dataset.hygiene_panel import HygienePanel
from widgets.dataset.image_preview import ImagePreview
from widgets.dataset.tag_stats import TagStats
from widgets.dataset.tagger_dialog import tagger_button
from widgets.dataset.thumbnail_delegate import ThumbnailDelegate
from widgets.dataset.thumbnails import SORT_FOLDER, SORT_NAME, SORT_TAGS, ENTRY_ROLE, ThumbnailCache, ThumbnailModel
from widgets.dataset.totals_bar import TotalsBar

__all__ = ["DATASET_FIELDS", "DatasetPage"]


class DatasetPage(DatasetSettings, DatasetOpening, QWidget):
    status = Signal(str)  # a sentence for the status bar
    datasetOpened = Signal(str)
    dirtyChanged = Signal(bool)
    settingsEdited = Signal(dict)  # TrainConfig fields (kohya names) the user changed here: batch, buckets...

    def __init__(self, store: CaptionStore, cache_folder: Path, config=None, parent=None):
        super().__init__(parent)
        # Background work (scan, thumbnails, hygiene, buckets) runs in Python threads; a shorter GIL switch
        # interval than the default 5 ms keeps the GUI thread's turns short while they run.
        if sys.getswitchinterval() > 0.001:
            sys.setswitchinterval(0.001)
        self.store = store
        self.scan = None
        self.root: Path | None = None
        self.error: str | None = None
        self.config_model = shared_model(config)  # the window's (shared with the Training page), or its own
        self._scan_task = None  # DatasetOpening's state: the running scan, widgets still being filled
        self._filling = False
        self._train_when_shown = False  # a root the user opened: the run trains it once shown
        self._training = False  # a run is on (the window's Training page says so): its source stays
        self._train_after_run = None  # what the page opened meanwhile, trained once the run ends
        self._cfgs_cache = None  # (root, config, the dataset config's per-dataset settings): see dataset_cfgs
        self._by_image: dict[str, object] = {}
        self._by_caption: dict[str, object] = {}
        self.bucket_report = None

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(6)
        # top bar
        top = QHBoxLayout()
        self.open_btn = QPushButton(tr("Open folder…"))
        self.open_btn.setToolTip(tr("Open a training folder holding concept folders like 6_maid (Ctrl+O)"))
        self.open_btn.clicked.connect(self.choose_folder)
        self.path_label = QLabel(tr("No dataset open"))
        self.path_label.setObjectName("pathLabel")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText(tr("Filter by name or tag"))
        self.filter.setToolTip(tr("Filter by file name or tag (tag:name for an exact tag)"))
        self.filter.setClearButtonEnabled(True)
        # the whole placeholder stays readable (plus room for the clear button)
        self.filter.setMinimumWidth(max(200, self.filter.fontMetrics().horizontalAdvance(
            self.filter.placeholderText()) + 48))
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(lambda: self.model.set_filter(self.filter.text()))
        self.filter.textChanged.connect(lambda _t: self._filter_timer.start())
        self.sort = QComboBox()
        self.sort.addItem(tr("Folder order"), SORT_FOLDER)
        self.sort.addItem(tr("File name"), SORT_NAME)
        self.sort.addItem(tr("Number of tags"), SORT_TAGS)
        self.sort.currentIndexChanged.connect(lambda _i: self.model.set_sort(self.sort.currentData()))
        self.bulk_btn = QPushButton(tr("Bulk edit…"))
        self.bulk_btn.setToolTip(tr("Add, remove, replace, dedupe or sort tags in many captions at once"))
        self.bulk_btn.clicked.connect(self.open_bulk_dialog)
        top.addWidget(self.open_btn)
        top.addWidget(self.path_label, 1)
        top.addWidget(QLabel(tr("Sort:")))
        top.addWidget(self.sort)
        top.addWidget(self.filter)
        top.addWidget(self.bulk_btn)
        self.tag_btn = tagger_button(self)  # auto-tagging with a local WD14 tagger
        top.addWidget(self.tag_btn)
        outer.addLayout(top)

        self.banner = QLabel()
        self.banner.setObjectName("errorBanner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        outer.addWidget(self.banner)

        # left | middle | right
        self.split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        t = QLabel(tr("Concepts"))
        t.setObjectName("sectionTitle")
        ll.addWidget(t)
        self.concepts = ConceptList()
        self.concepts.conceptChosen.connect(self._concept_chosen)
        ll.addWidget(self.concepts, 1)
        ll.addWidget(dataset_config_buttons(self))  # the concepts' own options: an sd-scripts dataset config
        self.split.addWidget(left)

        middle = QSplitter(Qt.Orientation.Vertical)
        self.model = ThumbnailModel(ThumbnailCache(cache_folder), self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setViewMode(QListView.ViewMode.ListMode)
        self.view.setFlow(QListView.Flow.LeftToRight)
        self.view.setWrapping(True)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(True)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(400)
        self.view.setSpacing(2)
        self.view.setItemDelegate(ThumbnailDelegate(self.model.cache.size, self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_selection_label())
        middle.addWidget(self.view)
        self.tabs = QTabWidget()
        self.tag_stats = TagStats()
        self.tag_stats.tagClicked.connect(self.filter_by_tag)
        self.hygiene = HygienePanel()
        self.hygiene.imageActivated.connect(self.select_path)
        self.hygiene.datasetChanged.connect(self.reload)
        self.buckets = BucketPreview(self.config_model.get())
        self.buckets.dataset_cfgs = self.dataset_cfgs  # a dataset config: each dataset at its own settings
        self.buckets.settingsChanged.connect(self._bucket_settings_changed)
        self.buckets.reportReady.connect(self._bucket_report)
        self.buckets.imageActivated.connect(self.select_path)
        self.tabs.addTab(self.tag_stats, tr("Tag statistics"))
        self.tabs.addTab(self.hygiene, tr("Hygiene"))
        self.tabs.addTab(self.buckets, tr("Buckets"))
        middle.addWidget(self.tabs)
        middle.setSizes([520, 300])
        self.split.addWidget(middle)

        right = QSplitter(Qt.Orientation.Vertical)
        self.preview = ImagePreview()
        right.addWidget(self.preview)
        self.editor = CaptionEditor(store)
        self.editor.keep_tokens = self.values["keep_tokens"]
        self.editor.dirtyChanged.connect(self.dirtyChanged)
        self.editor.message.connect(self.status)
        right.addWidget(self.editor)
        right.setSizes([360, 440])
        self.split.addWidget(right)
        self.split.setSizes([290, 650, 460])
        self.split.setStretchFactor(1, 1)
        outer.addWidget(self.split, 1)

        # totals
        self.totals_bar = TotalsBar(self.config_model.get())
        self.totals_bar.valueChanged.connect(self._set_value)
        self.totals, self.batch, self.accum = self.totals_bar.totals, self.totals_bar.batch, self.totals_bar.accum
        outer.addWidget(self.totals_bar)

        self.selection_label = QLabel()
        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(300)
        self._stats_timer.timeout.connect(self._refresh_tags)
        store.changed.connect(self._captions_changed)
        self._rescan_timer = QTimer(self)
        self._rescan_timer.setSingleShot(True)
        self._rescan_timer.setInterval(600)  # the extension is typed a key at a time
        self._rescan_timer.timeout.connect(self.reload)
        self._follow_timer = QTimer(self)  # another page changed what the run trains: show that
        self._follow_timer.setSingleShot(True)
        self._follow_timer.setInterval(600)
        self._follow_timer.timeout.connect(self._follow_run_source)
        self._unfollow = follow(self, self.config_model, self._config_changed)  # edits made on any page

    # ------------------------------------------------------------------ grid and selection
    def _concept_chosen(self, concept) -> None:
        self.model.set_concept(concept)
        self.tag_stats.set_concept(concept.folder_name if concept is not None else None)
        if self.model.rowCount():
            self.view.setCurrentIndex(self.model.index(0))

    def filter_by_tag(self, tag: str) -> None:
        self.filter.setText(f"tag:{tag}")
        self._filter_timer.stop()
        self.model.set_filter(self.filter.text())

    def _current_changed(self, current, previous) -> None:
        entry = current.data(ENTRY_ROLE) if current.isValid() else None
        if entry is self.editor.entry:
            return
        if not self.editor.set_entry(entry, self.values["caption_extension"]):
            # the previous caption could not be saved: stay on it
            if previous.isValid():
                self.view.selectionModel().setCurrentIndex(previous, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            return
        self.preview.show_entry(entry, self.bucketer_for(entry), self.config_model.get())
        self._update_selection_label()

    def select_path(self, path) -> bool:
        """Select an image (or the image of a caption file) in the grid, clearing filters if needed."""
        key = os.fspath(path)
        entry = self._by_image.get(key) or self._by_caption.get(key)
        if entry is None:
            return False
        row = self.model.row_of_path(entry.path)
        if row < 0:
            self.filter.clear()
            self._filter_timer.stop()
            self.model.set_filter("")
            self.concepts.choose(None)
            self.model.set_concept(None)
            row = self.model.row_of_path(entry.path)
        if row < 0:
            return False
        idx = self.model.index(row)
        self.view.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scrollTo(idx)
        return True

    def selected_entries(self) -> list:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [self.model.entry(r) for r in rows if self.model.entry(r) is not None]

    def _update_selection_label(self) -> None:
        n = len(self.view.selectionModel().selectedIndexes())
        shown = self.model.rowCount()
        if self.scan is not None:
            self.status.emit(tr("{shown} of {total} images shown, {n} selected").format(
                shown=shown, total=len(self.scan.images), n=n))

    # ------------------------------------------------------------------ captions changed on disk by us
    def _captions_changed(self, paths: list) -> None:
        from trainer.dataset.captions import read_caption
        from trainer.dataset.scan import ProblemKind

        if self.scan is None:
            return
        for p in paths:
            entry = self._by_caption.get(os.fspath(p))
            if entry is None:
                continue
            path = Path(p)
            if path.exists():
                try:
                    entry.caption = read_caption(path).caption
                    entry.caption_path = path
                    entry.caption_missing = False
                    entry.caption_unreadable = False
                except Exception:
                    continue
            else:
                entry.caption_path = None
                entry.caption_missing = True
                entry.caption = entry.concept.name
            self.model.caption_changed(entry)
        fixed = {os.fspath(e.path) for e in self.scan.images if not e.caption_missing}
        self.scan.problems = [pr for pr in self.scan.problems
                              if not (pr.kind == ProblemKind.MISSING_CAPTION and os.fspath(pr.path) in fixed)]
        if len(paths) > 1 and self.model.filter_text():
            self.model.refresh()
        self._stats_timer.start()

    def _refresh_tags(self) -> None:
        self.tag_stats.refresh()
        self._update_completion()

    def _update_completion(self) -> None:
        from trainer.dataset.tags import overall_tag_frequency

        self.editor.set_completion_tags(list(overall_tag_frequency(self.tag_stats.freq)))

    # ------------------------------------------------------------------ bulk edits
    def bulk_scopes(self) -> list:
        scopes = []
        sel = self.selected_entries()
        if sel:
            scopes.append((tr("Selected images"), sel))
        c = self.concepts.concept()
        if c is not None:
            scopes.append((tr("Concept {name}").format(name=c.folder_name), list(c.images)))
        if self.model.filter_text():
            scopes.append((tr("Images shown by the filter"), self.model.shown()))
        scopes.append((tr("Whole dataset"), self.scan.images if self.scan else []))
        if self.scan is not None:
            for con in self.scan.concepts:
                if con is not c:
                    scopes.append((tr("Concept {name}").format(name=con.folder_name), list(con.images)))
        return scopes

    def open_bulk_dialog(self, show: bool = True) -> BulkDialog | None:
        if self.scan is None:
            return None
        if not self.editor.save():
            return None
        dlg = BulkDialog(self.store, self.bulk_scopes(), keep_tokens=int(self.values["keep_tokens"]),
                         caption_extension=self.values["caption_extension"],
                         completion=self.editor.add_edit.completer(), parent=self)
        dlg.applied.connect(self._bulk_applied)
        if show:
            dlg.open()
        return dlg

    def _bulk_applied(self, result) -> None:
        msg = tr("{n} caption files changed (Ctrl+Z undoes it).").format(n=len(result.written))
        if result.failed:
            msg += " " + tr("{n} could not be changed.").format(n=len(result.failed))
        self.status.emit(msg)

    # ------------------------------------------------------------------ totals
    def _bucket_report(self, report) -> None:
        self.bucket_report = report
        self._update_totals()

    def _update_totals(self) -> None:
        if self.scan is not None:
            self.totals_bar.show_totals(self.scan, self.dataset_groups(),
                                        int(self.values["gradient_accumulation_steps"]))

    # ------------------------------------------------------------------ window plumbing
    def save_current(self) -> bool:
        return self.editor.save()

    def has_unsaved(self) -> bool:
        return self.editor.is_dirty()

    def shutdown(self) -> None:
        self._unfollow()  # a page being replaced (language switch) no longer follows the config
        self.hygiene.cancel()
        self.model.shutdown()
