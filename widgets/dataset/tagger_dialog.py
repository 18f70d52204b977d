"""Auto-tagging from the Dataset page: a WD14-style ONNX tagger the user has on disk tags the chosen images
off the GUI thread (progress bar, Stop); a table shows each caption before and after; Apply writes them as one
undo step of the caption store (the path every bulk edit takes). The files and options are remembered."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFormLayout,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QTableView, QVBoxLayout)

from app.i18n import tr

from widgets.common.file_inputs import FileField

KEY = "tagger/"  # settings keys
WRAP_ROWS = 300


def _spin(value: float) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(0.01, 1.0)
    s.setSingleStep(0.05)
    s.setDecimals(2)
    s.setValue(value)
    return s


class PreviewModel(QAbstractTableModel):
    """Image | caption before | caption after, for the outcomes that change (a model, not items: 10,000 rows
    appear at once)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, str, str, str]] = []  # image label, before, after, image path

    def set_outcomes(self, outcomes) -> None:
        self.beginResetModel()
        none = tr("(no caption file)")
        self.rows = [(f"{o.target.image.parent.name}/{o.target.image.name}",
                      o.before if o.before is not None else none, o.after, str(o.target.image))
                     for o in outcomes if o.changed]
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):  # noqa: N802 - Qt's name
        return 3

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return row[3] if index.column() == 0 else row[index.column()]
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt's name
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return (tr("Image"), tr("Caption before"), tr("Caption after"))[section]
        return None


class TaggerDialog(QDialog):
    """``scopes``: list of (title, image entries) as the bulk dialog takes; ``store``: the CaptionStore."""

    applied = Signal(object)  # BulkResult

    def __init__(self, store, scopes: list, caption_extension: str = ".txt", settings=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr("Auto-tag captions"))
        self.store, self.scopes, self.caption_extension = store, scopes, caption_extension
        if settings is None:
            from app.settings import make_settings

            settings = make_settings()
        self.settings = settings
        self.task = None
        self.plan = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.model = FileField(tr("ONNX model (*.onnx)"))
        self.model.edit.setPlaceholderText(tr("model.onnx of a WD14 tagger (e.g. wd-v1-4-moat-tagger-v2)"))
        self.tags = FileField(tr("Tag list (*.csv)"))
        self.tags.edit.setPlaceholderText(tr("selected_tags.csv that came with the model"))
        self.model.edit.textChanged.connect(self._model_changed)
        self.scope = QComboBox()
        for title, entries in scopes:
            self.scope.addItem(f"{title} ({len(entries)})")
        self.threshold, self.char_threshold = _spin(0.35), _spin(0.85)
        self.threshold.setToolTip(tr("General tags scored at least this are added (lower: more tags)"))
        self.char_threshold.setToolTip(tr("Character tags scored at least this are added"))
        thresholds = QHBoxLayout()
        thresholds.addWidget(self.threshold)
        thresholds.addWidget(QLabel(tr("Characters:")))
        thresholds.addWidget(self.char_threshold)
        thresholds.addStretch(1)
        self.exclude = QLineEdit()
        self.exclude.setPlaceholderText(tr("comma-separated, e.g. watermark, signature, simple background"))
        self.mode = QComboBox()
        self.mode.addItem(tr("Add to the existing tags"), "add")
        self.mode.addItem(tr("Replace the existing tags"), "replace")
        self.trigger = QLineEdit()
        self.trigger.setPlaceholderText(tr("kept first in every caption (optional)"))
        self.underscores = QCheckBox(
            tr("Underscores to spaces (long_hair → long hair; kaomoji like ^_^ stay)"))
        self.underscores.setChecked(True)
        form.addRow(tr("Tagger model"), self.model)
        form.addRow(tr("Tag list"), self.tags)
        form.addRow(tr("Apply to"), self.scope)
        form.addRow(tr("Threshold"), thresholds)
        form.addRow(tr("Exclude tags"), self.exclude)
        form.addRow(tr("Existing captions"), self.mode)
        form.addRow(tr("Trigger word"), self.trigger)
        form.addRow("", self.underscores)
        lay.addLayout(form)

        run = QHBoxLayout()
        self.run_btn = QPushButton(tr("Tag images"))
        self.run_btn.setToolTip(tr("Run the tagger and show what would change; nothing is written yet"))
        self.run_btn.clicked.connect(self.start)
        self.stop_btn = QPushButton(tr("Stop"))
        self.stop_btn.setEnabled(False)
        self.stop_btn.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        run.addWidget(self.run_btn)
        run.addWidget(self.stop_btn)
        run.addWidget(self.progress, 1)
        lay.addLayout(run)
        self.info = QLabel(tr("Pick the tagger's files, then press Tag images. Nothing is downloaded."))
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.info)
        self.preview = PreviewModel(self)
        self.table = QTableView()
        self.table.setModel(self.preview)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 180)
        lay.addWidget(self.table, 1)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.apply_btn = QPushButton(tr("Apply"))
        self.apply_btn.setToolTip(tr("Write the new captions (one step: Ctrl+Z undoes all of them)"))
        self.apply_btn.setEnabled(False)
        self.apply_btn.clicked.connect(self.apply)
        self.close_btn = QPushButton(tr("Close"))
        self.close_btn.clicked.connect(self.reject)
        buttons.addWidget(self.apply_btn)
        buttons.addWidget(self.close_btn)
        lay.addLayout(buttons)
        for w in (self.scope, self.mode):
            w.currentIndexChanged.connect(self._invalidate)
        for w in (self.threshold, self.char_threshold):
            w.valueChanged.connect(self._invalidate)
        for w in (self.exclude, self.trigger, self.model.edit, self.tags.edit):
            w.textChanged.connect(self._invalidate)
        self.underscores.toggled.connect(self._invalidate)
        self._load_settings()
        self.resize(900, 640)

    # ------------------------------------------------------------------ settings
    def _load_settings(self) -> None:
        s = self.settings
        self.model.set_path(str(s.value(KEY + "model", "") or ""))
        self.tags.set_path(str(s.value(KEY + "tags", "") or ""))
        for spin, name in ((self.threshold, "threshold"), (self.char_threshold, "character_threshold")):
            try:
                spin.setValue(float(s.value(KEY + name, spin.value())))
            except (TypeError, ValueError):
                pass
        self.exclude.setText(str(s.value(KEY + "exclude", "") or ""))
        self.mode.setCurrentIndex(max(0, self.mode.findData(str(s.value(KEY + "mode", "add")))))
        self.underscores.setChecked(str(s.value(KEY + "underscores", "true")).lower() != "false")

    def _save_settings(self) -> None:
        s = self.settings
        for name, value in (("model", self.model.path()), ("tags", self.tags.path()),
                            ("threshold", self.threshold.value()),
                            ("character_threshold", self.char_threshold.value()),
                            ("exclude", self.exclude.text()), ("mode", self.mode.currentData()),
                            ("underscores", "true" if self.underscores.isChecked() else "false")):
            s.setValue(KEY + name, value)

    def _model_changed(self, text: str) -> None:
        """The tag list usually lies beside the model: fill it in when the field is empty."""
        beside = Path(text.strip()).with_name("selected_tags.csv") if text.strip() else None
        if beside is not None and not self.tags.path() and beside.is_file():
            self.tags.set_path(beside)

    # ------------------------------------------------------------------ running
    def options(self):
        from trainer.tagging.select import TagOptions, parse_tag_list

        return TagOptions(threshold=self.threshold.value(), character_threshold=self.char_threshold.value(),
                          exclude=parse_tag_list(self.exclude.text()),
                          underscores=self.underscores.isChecked(), mode=self.mode.currentData(),
                          trigger=self.trigger.text().strip())

    def targets(self) -> list:
        from trainer.tagging.run import Target

        entries = self.scopes[self.scope.currentIndex()][1] if self.scopes else []
        return [Target(e.path, e.default_caption_path(self.caption_extension)) for e in entries]

    def is_running(self) -> bool:
        return self.task is not None

    def start(self) -> bool:
        from trainer.tagging.run import load_and_tag

        if self.task is not None:
            return False
        if not self.model.path() or not self.tags.path():
            self.info.setText(tr("Choose the tagger model (.onnx) and its selected_tags.csv first."))
            return False
        targets = self.targets()
        if not targets:
            self.info.setText(tr("There are no images to tag here."))
            return False
        self._save_settings()
        self.plan = None
        self._fill_table(None)
        self.apply_btn.setEnabled(False)
        self.progress.setRange(0, len(targets))
        self.progress.setValue(0)
        self.info.setText(tr("Loading the tagger…"))
        self._set_running(True)
        from widgets.common.worker import run_task

        self.task = run_task(load_and_tag, self.model.path(), self.tags.path(), targets, self.options(),
                             on_done=self._done, on_error=self._failed, on_progress=self._progress,
                             owner=self)
        return True

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.stop_btn.setEnabled(False)
            self.info.setText(tr("Stopping after the current images…"))

    def _set_running(self, on: bool) -> None:
        self.run_btn.setEnabled(not on)
        self.stop_btn.setEnabled(on)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        if not self.task or not self.task.cancel_event.is_set():
            self.info.setText(tr("Tagging… {done} of {total} images").format(done=done, total=total))

    def _failed(self, message: str) -> None:
        self.task = None
        self._set_running(False)
        self.info.setText(message)

    def _done(self, plan) -> None:
        self.task = None
        self._set_running(False)
        self.plan = plan
        self.progress.setValue(plan.done)
        self._fill_table(plan)
        self.info.setText(self._summary(plan))
        self.apply_btn.setEnabled(bool(plan.preview.changes))

    def _summary(self, plan) -> str:
        changes = plan.preview.changes
        created = sum(1 for c in changes if c.old_text is None)
        parts = []
        if plan.stopped:
            parts.append(tr("Stopped after {done} of {total} images.").format(done=plan.done,
                                                                               total=plan.total))
        text = tr("{n} of {m} caption files change").format(n=len(changes), m=len(plan.outcomes))
        parts.append(text + (" " + tr("({n} new)").format(n=created) if created else "") + ".")
        if plan.problems:
            parts.append(tr("{n} left alone, for example:").format(n=len(plan.problems)) + " "
                         + plan.problems[0].message)
        parts.append(tr("Tagged on {device}.").format(device=plan.provider.removesuffix("ExecutionProvider")))
        if changes:
            parts.append(tr("Apply writes them; Ctrl+Z undoes it in one step."))
        return " ".join(parts)

    def _fill_table(self, plan) -> None:
        self.preview.set_outcomes(plan.outcomes if plan is not None else [])
        # wrapped rows for a readable preview; past a few hundred, measuring every row would freeze the window
        # for seconds, so long lists stay one line a row (the full text is in the tooltip)
        wrap = self.preview.rowCount() <= WRAP_ROWS
        self.table.setWordWrap(wrap)
        if wrap:
            self.table.resizeRowsToContents()

    def _invalidate(self, *_) -> None:
        """An option changed: the preview no longer says what Apply would write."""
        if self.plan is not None and self.task is None:
            self.plan = None
            self._fill_table(None)
            self.apply_btn.setEnabled(False)
            self.info.setText(tr("The options changed: press Tag images again to see the captions."))

    # ------------------------------------------------------------------ applying
    def apply(self):
        if self.plan is None or not self.plan.preview.changes:
            return None
        n = len(self.plan.preview.changes)
        result = self.store.apply_bulk(self.plan.preview, tr("Auto-tag {n} captions").format(n=n))
        self.applied.emit(result)
        self.accept()
        return result

    def reject(self) -> None:
        if self.task is not None:
            self.task.cancel()  # its result is dropped with the dialog (run_task's owner check)
        super().reject()


def open_tagger_dialog(page, show: bool = True) -> TaggerDialog | None:
    """The Dataset page's Auto-tag button: same scopes as bulk edits, the caption being edited saved first."""
    if page.scan is None:
        page.status.emit(tr("Open a training folder first (Ctrl+O)."))
        return None
    if not page.editor.save():
        return None
    dlg = TaggerDialog(page.store, page.bulk_scopes(), caption_extension=page.values["caption_extension"],
                       settings=getattr(page.window(), "settings", None), parent=page)
    dlg.applied.connect(page._bulk_applied)
    if show:
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # a running tagger's result is then dropped
        dlg.open()
    return dlg


def tagger_button(page) -> QPushButton:
    btn = QPushButton(tr("Auto-tag…"))
    btn.setToolTip(
        tr("Tag images with a WD14 ONNX tagger you have on disk, preview, then apply as one undo step"))
    btn.clicked.connect(lambda: open_tagger_dialog(page))
    return btn
