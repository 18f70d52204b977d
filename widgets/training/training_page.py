"""The Training page: the parameter forms (generated from TrainConfig's metadata), config files (open/save
kohya TOML, recent files, import of LoRA_Easy_Training_Scripts and bmaltais/kohya_ss configs), presets, the
VRAM bar, the learning-rate preview, and the live training view with Start/Stop.

Training runs in the same process on a QThread (app/train_worker.py, imported when Start is pressed); torch is
loaded there or by the idle warm-up (app/warmup.py), never while the window is built or the page opens. The
progress view is made when first needed.
"""
from __future__ import annotations

import os
import sys

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QMenu, QMessageBox, QPushButton, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from app.core_text import localized_event, localized_progress, tr_core
from app.i18n import tr

from widgets.training.config_files import ConfigFilesMixin
from widgets.training.lr_preview import LrPreview
from widgets.training.param_form import ParamForm
from widgets.training.vram_bar import VramBar

ESTIMATE_DEBOUNCE_MS = 10  # the VRAM bar follows an edit within 50 ms


def lr_groups(cfg) -> dict:
    """The parameter groups the trainer will report (name -> initial lr): the run plan's."""
    from trainer.config.plan import resolve

    return {g.name: g.lr for g in resolve(cfg).groups}


class TrainingPage(ConfigFilesMixin, QWidget):
    send_to_tools = Signal(str)
    lora_saved = Signal(str)  # every LoRA file a run writes (the Tools page fills it in)
    sample_saved = Signal(list, str)  # the run's saved files and its base model: a sample grid on the Tools page
    status = Signal(str)
    trainingChanged = Signal(bool)

    def __init__(self, config=None, settings=None, parent=None):
        """``config``: the window's ConfigModel (shared with the Dataset page), or a TrainConfig to start from
        (a page on its own; None: TrainConfig's defaults)."""
        super().__init__(parent)
        from widgets.common.config_binding import follow, shared_model

        if sys.getswitchinterval() > 0.001:  # short GIL turns: the window stays responsive while training
            sys.setswitchinterval(0.001)
        self.settings = settings
        self.config_path: str | None = None
        self.run = None
        self.last_import = None
        self.fail_dialog = None
        self._close_when_done = None
        self.issues: list = []

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(6)
        bar = QHBoxLayout()
        self.open_btn = QPushButton(tr("Open config…"))
        self.open_btn.setToolTip(tr("Open a kohya TOML config, or a LoRA_Easy_Training_Scripts / kohya_ss (JSON) one"))
        self.open_btn.clicked.connect(self.choose_open)
        self.save_btn = QPushButton(tr("Save config…"))
        self.save_btn.setToolTip(tr("Save every setting as a kohya TOML file"))
        self.save_btn.clicked.connect(self.choose_save)
        # a push button with a menu, like its neighbours (a tool button drew a stray arrow glyph when disabled)
        self.recent_btn = QPushButton(tr("Recent"))
        self.recent_btn.setToolTip(tr("Configs opened or saved lately"))
        self.recent_menu = QMenu(self)
        self.recent_btn.setMenu(self.recent_menu)
        self.preset_combo = QComboBox()
        self.preset_combo.setMinimumWidth(230)
        self.preset_combo.setToolTip(tr("A preset changes only the settings it names"))
        self.preset_combo.activated.connect(self._preset_chosen)
        self.save_preset_btn = QPushButton(tr("Save as preset…"))
        self.save_preset_btn.setToolTip(tr("Save the changed settings (without paths) as your own preset"))
        self.save_preset_btn.clicked.connect(self.choose_save_preset)
        self.start_btn = QPushButton(tr("Start training"))
        self.start_btn.setObjectName("startButton")
        self.start_btn.clicked.connect(self.start)
        self.stop_btn = QPushButton(tr("Stop"))
        self.stop_btn.setToolTip(tr("Stop after the current step and save a usable file"))
        self.stop_btn.setEnabled(False)
        self.stop_btn.clicked.connect(self.stop)
        for w in (self.open_btn, self.save_btn, self.recent_btn):
            bar.addWidget(w)
        bar.addSpacing(16)
        bar.addWidget(QLabel(tr("Preset:")))
        bar.addWidget(self.preset_combo)
        bar.addWidget(self.save_preset_btn)
        bar.addStretch(1)
        bar.addWidget(self.start_btn)
        bar.addWidget(self.stop_btn)
        outer.addLayout(bar)
        self.blockers = QLabel()
        self.blockers.setObjectName("warning")
        self.blockers.setWordWrap(True)
        self.blockers.setTextFormat(Qt.TextFormat.RichText)
        self.blockers.linkActivated.connect(lambda name: self.form.focus_field(name))
        outer.addWidget(self.blockers)

        # containers first, then their contents made in place: each widget is styled once (docs/traps.md)
        self.tabs = QTabWidget()
        outer.addWidget(self.tabs, 1)
        settings_tab = QSplitter(Qt.Orientation.Horizontal)
        self.tabs.addTab(settings_tab, tr("Settings"))
        self.tabs.addTab(QWidget(), tr("Progress"))
        self._view = None  # the progress view (its plots load pyqtgraph) is made when first needed
        self.config_model = shared_model(config)
        self.form = ParamForm(self.config_model.get(), parent=settings_tab)
        self.form.changed.connect(self._changed)
        side = QWidget(settings_tab)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(6, 0, 0, 0)
        self.vram = VramBar(side)
        self.lr_preview = LrPreview(side)
        sl.addWidget(self.vram)
        sl.addSpacing(8)
        sl.addWidget(self.lr_preview, 1)
        settings_tab.addWidget(self.form)
        settings_tab.addWidget(side)
        settings_tab.setSizes([780, 480])
        settings_tab.setStretchFactor(0, 3)
        settings_tab.setStretchFactor(1, 2)
        self.tabs.currentChanged.connect(self._tab_changed)

        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(ESTIMATE_DEBOUNCE_MS)
        self._estimate_timer.timeout.connect(self._update_estimate)
        self._preview_wanted = True
        self._run_cfg = None  # the settings of the last run started (its base model goes to the sample grid)
        self._fill_presets()
        self._fill_recent()
        self._revalidate()
        self._update_estimate()
        self._unfollow = follow(self, self.config_model, self._config_changed)  # edits made on any page

    def _tab_changed(self, index: int) -> None:
        if index == 1:
            self.view  # noqa: B018 - made now: the Progress tab is opened

    @property
    def view(self):
        """The training progress view (widgets/training/train_view.py), made on first use: opening the Progress tab,
        starting a run, or a test asking for it."""
        if self._view is None:
            from app.lazy_pages import swap_in

            from widgets.training.train_view import TrainView

            view = TrainView()
            view.send_to_tools.connect(self.send_to_tools)
            view.sample_saved.connect(lambda paths: self.sample_saved.emit(
                paths, self._run_cfg.pretrained_model_name_or_path if self._run_cfg else ""))
            swap_in(self.tabs, 1, view, tr("Progress"))
            self._view = view
        return self._view

    # ------------------------------------------------------------------ config
    def config(self):
        return self.config_model.get()

    def set_config(self, cfg) -> None:
        """Show and use ``cfg`` (a preset, an opened file): into the shared config."""
        if not self.config_model.set(cfg):
            self._refresh()  # the same settings: the checks (files may exist now) run again all the same

    def set_value(self, name: str, value) -> None:
        self.form.set_value(name, value)

    def _changed(self, _name: str) -> None:
        """An edit in the form: into the shared config (the other pages and this one's checks follow)."""
        if not self.config_model.set(self.form.config(), source=self):
            self._refresh()  # e.g. text that does not parse: no new value, but a sentence to show

    def _config_changed(self, cfg, _changed, source) -> None:
        if source is not self:  # an edit on the Dataset page, a preset, a file: the form shows it
            self.form.set_config(cfg)
        self._refresh()

    def _refresh(self) -> None:
        self._revalidate()
        self._estimate_timer.start()
        if self.isVisible():
            self.lr_preview.request(self.config())
        else:
            self._preview_wanted = True

    def showEvent(self, e) -> None:
        super().showEvent(e)
        if self._preview_wanted:  # the preview is computed once the page is seen
            self._preview_wanted = False
            self.lr_preview.request(self.config())
            from app import warmup

            if warmup.installed() is None:  # a page on its own (no window's idle warm-up): warm up now
                from app.train_worker import warm_up_training_core

                from widgets.common.worker import run_task

                run_task(warm_up_training_core, owner=self)

    def _update_estimate(self) -> None:
        self.vram.update_config(self.config())

    def _revalidate(self) -> None:
        from trainer.config.validate import validate

        cfg = self.config()
        from trainer.config.validate import Issue

        issues = [Issue(i.field, tr_core(i.message), i.error) for i in validate(cfg, need_paths=True)]

        model = cfg.pretrained_model_name_or_path
        if model and not os.path.exists(model):
            issues.append(Issue("pretrained_model_name_or_path", tr("The base model file does not exist.")))
        if cfg.train_data_dir and not os.path.isdir(cfg.train_data_dir):
            issues.append(Issue("train_data_dir", tr("The training folder does not exist.")))
        for name, msg in self.form.form_errors().items():
            issues.append(Issue(name, msg))
        self.issues = issues
        self.form.show_issues(issues)
        errors = [i for i in issues if i.error]
        training = self.is_training()
        self.start_btn.setEnabled(not errors and not training)
        if errors:
            links = "<br>".join(f"• <a href='{i.field}'>{i.field}</a>: {i.message}" for i in errors[:4])
            more = len(errors) - 4
            text = tr("Start is disabled until these are fixed:") + "<br>" + links
            if more > 0:
                text += "<br>" + tr("… and {n} more.").format(n=more)
            self.blockers.setText(text)
            self.blockers.show()
            self.start_btn.setToolTip(errors[0].message)
        else:
            self.blockers.hide()
            self.start_btn.setToolTip(tr("Train with these settings"))

    def errors(self) -> list:
        return [i for i in self.issues if i.error]

    # ------------------------------------------------------------------ training
    def is_training(self) -> bool:
        return self.run is not None and self.run.is_running()

    def settle(self) -> bool:
        """True when nothing is pending (the preview is drawn, every form section made): screenshots wait
        for it."""
        return not self.lr_preview.busy() and not self._estimate_timer.isActive() and not self.form.pending()

    def start(self) -> bool:
        from app.train_worker import TrainRun

        self._revalidate()
        if self.errors() or self.is_training():
            return False
        cfg = self.config()
        self._run_cfg = cfg
        self.run = TrainRun(cfg, self)
        # the core's sentences (log lines, plan, failures) in the interface language, for the view and the
        # failure dialog alike: translated once, where the events come in
        self.run.event.connect(lambda e: self._event(localized_event(e)))
        self.run.progress.connect(lambda p: self.view.on_progress(localized_progress(p)))
        self.run.done.connect(self._done)
        self.view.begin(cfg.output_dir, lr_groups(cfg))
        # the view is shown on the next event-loop turn: its first paint (~50 ms) then does not add to this one
        QTimer.singleShot(0, self._show_view)
        self.form.set_read_only(True)
        for w in (self.open_btn, self.recent_btn, self.preset_combo, self.start_btn):
            w.setEnabled(False)
        self.stop_btn.setEnabled(True)
        self.run.start(when=self.view.after_first_paint)
        self.trainingChanged.emit(True)
        return True

    def _show_view(self) -> None:
        if self.is_training():
            self.view.paint_plots_in_turns()
            self.tabs.setCurrentWidget(self.view)

    def stop(self) -> None:
        if self.run is not None:
            self.run.stop()
            self.stop_btn.setEnabled(False)
            self.view.status.setText(tr("Stopping after this step; saving…"))

    def _event(self, e) -> None:
        self.view.on_event(e)
        kind = type(e).__name__
        if kind == "Failed":
            self.show_failure(e)
        elif kind in ("Saved", "Finished") and getattr(e, "path", None):
            self.lora_saved.emit(str(e.path))

    def show_failure(self, e) -> None:
        titles = {"nan": tr("The loss became NaN"), "oom": tr("Out of GPU memory"), "input": tr("Cannot train")}
        text = e.message
        if e.advice:
            text += "\n\n" + tr("What to change:") + " " + e.advice
        if e.last_good:
            text += "\n\n" + tr("The last good file is kept: {path}").format(path=e.last_good)
        box = QMessageBox(QMessageBox.Icon.Warning, titles.get(e.kind, tr("Training failed")), text,
                          QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.open()
        self.fail_dialog = box

    def _done(self) -> None:
        self.view.end()
        self.form.set_read_only(False)
        for w in (self.open_btn, self.recent_btn, self.preset_combo):
            w.setEnabled(True)
        self.stop_btn.setEnabled(False)
        self._revalidate()
        self.trainingChanged.emit(False)
        if self._close_when_done is not None:
            cb, self._close_when_done = self._close_when_done, None
            cb()

    def confirm_close(self, close_again) -> bool:
        """Closing the window: True when it may close now. During training the user is asked first; on yes
        training stops (a file is saved) and ``close_again`` is called when it has finished."""
        if not self.is_training():
            return True
        answer = QMessageBox.question(
            self, tr("Training is running"),
            tr("Training is running. Stop it, save the file and close the window?"))
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self._close_when_done = close_again
        self.stop()
        return False

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop a run and wait for its thread (the window is going away, or the page is rebuilt)."""
        self._unfollow()
        if self.run is not None and self.run.is_running():
            self.run.stop()
            self.run.wait(timeout_ms)
