"""Real (tiny) training started from the Training page: live plots, progress, saved files, Stop, a responsive
GUI thread, the failure dialog and closing the window during training."""
import time

import pytest

from app_fixtures import app_env  # noqa: F401
from conftest import make_dataset, quick_config


@pytest.fixture
def ready_page(qtbot, app_env, tiny_ckpt, tmp_path):
    from widgets.training.training_page import TrainingPage

    def make(**kw):
        cfg = quick_config(tiny_ckpt("sd1"), make_dataset(tmp_path / "data"), tmp_path / "out", **kw)
        p = TrainingPage(cfg)
        qtbot.addWidget(p)
        p.resize(1300, 850)
        p.show()
        assert p.start_btn.isEnabled(), [i.message for i in p.errors()]
        made.append(p)
        return p

    made = []
    yield make
    for p in made:
        p.shutdown()


class GapMeter:
    """The longest gap between ticks of a 10 ms QTimer on the GUI thread."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.max_gap = 0.0
        self.ticks = 0
        self.gaps = []
        self.note = lambda: ""

    def start(self):
        self.last = self.t0 = time.perf_counter()
        self.timer.start()

    def _tick(self):
        now = time.perf_counter()
        if now - self.last > 0.05:
            self.gaps.append((round(now - self.t0, 2), round(now - self.last, 3), self.note()))
        self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.ticks += 1

    def stop(self):
        self.timer.stop()


def test_training_from_the_widget(ready_page, qtbot):
    page = ready_page(max_train_steps=6, save_every_n_steps=3)
    view = page.view
    meter = GapMeter()
    meter.note = lambda: (view.total_steps > 0, view.steps.n, view.log.toPlainText()[-60:])
    import gc

    from trainer.models.tokenizers import _cached

    # the page warms the core up and draws the learning-rate preview in pool threads once it is shown (a user
    # reads the settings meanwhile)
    qtbot.waitUntil(lambda: _cached.cache_info().currsize >= 2 and page.settle(), timeout=60000)
    gc.collect()  # not the GUI's pause: garbage earlier tests left in this process
    meter.start()
    assert page.start()
    assert page.is_training() and not page.start_btn.isEnabled() and page.stop_btn.isEnabled()
    qtbot.waitUntil(lambda: page.tabs.currentWidget() is view, timeout=1000)
    qtbot.waitUntil(lambda: not page.is_training(), timeout=180000)
    meter.stop()
    assert page.fail_dialog is None, page.fail_dialog.text()
    assert view.progress.value() == 100
    assert view.steps.n == 6 and list(view.loss_curve.getData()[0]) == [1, 2, 3, 4, 5, 6]
    assert len(view.avg_curve.getData()[1]) == 6
    assert set(view.lr_curves) == {"unet", "textencoder"} and len(view.lr_curves["unet"].getData()[1]) == 6
    assert "step 6 / 6" in view.step_label.text() and "it/s" in view.speed_label.text()
    assert "GPU memory" in view.gpu_label.text()
    assert [s.step for s in view.saved] == [3, 6] and view.saved[-1].final
    final = view.saved[-1].path
    assert __import__("os").path.getsize(final) == view.saved[-1].size_bytes > 0
    assert view.files.topLevelItemCount() == 2 and view.files.topLevelItem(1).text(1) == "6"
    sent = []
    page.send_to_tools.connect(sent.append)
    assert view.send_btn.isEnabled()
    view.send_btn.click()
    assert sent == [final]
    grids = []
    page.sample_saved.connect(lambda paths, base: grids.append((paths, base)))
    assert view.grid_btn.isEnabled()
    view.grid_btn.click()
    assert grids == [([s.path for s in view.saved], page.config().pretrained_model_name_or_path)]
    assert page.start_btn.isEnabled() and not page.stop_btn.isEnabled()
    # plots are redrawn on the timer, never more than 10 times a second
    assert view.refresh_count >= 1
    # the GUI thread was never blocked for more than 100 ms from pressing Start to the end: the first paint of
    # the view, model loading, steps, plots, saving
    assert meter.ticks > 20 and meter.max_gap < 0.1, "\n".join(map(str, meter.gaps))


def test_stop_during_training_saves_within_2s(ready_page, qtbot):
    page = ready_page(max_train_steps=1000)
    page.start()
    qtbot.waitUntil(lambda: page.view.steps.n >= 2, timeout=180000)
    t0 = time.perf_counter()
    page.stop()
    qtbot.waitUntil(lambda: not page.is_training(), timeout=5000)
    assert time.perf_counter() - t0 < 2.0
    saved = page.view.saved
    assert saved and saved[-1].final and __import__("os").path.exists(saved[-1].path)
    assert "Stopped" in page.view.status.text()
    assert page.view.progress.value() < 100


def test_failure_shows_the_core_advice(ready_page, qtbot, monkeypatch):
    from trainer import events as ev

    page = ready_page(max_train_steps=2)
    page.show_failure(ev.Failed("The loss became NaN or infinite at step 3; training stopped.",
                                "Lower the learning rate.", "nan", "/out/lora.safetensors"))
    box = page.fail_dialog
    assert box.windowTitle() == "The loss became NaN"
    assert "Lower the learning rate." in box.text() and "/out/lora.safetensors" in box.text()
    box.close()


def test_closing_the_window_during_training_asks_first(qtbot, app_env, tiny_ckpt, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app.main_window import MainWindow
    from app.settings import make_settings

    cfg = quick_config(tiny_ckpt("sd1"), make_dataset(tmp_path / "data"), tmp_path / "out", max_train_steps=1000)
    w = MainWindow(make_settings(), cfg, persist=False)
    qtbot.addWidget(w)
    w.show()
    page = w.training_page
    page.set_config(cfg)
    assert page.start()
    qtbot.waitUntil(lambda: page.view.steps.n >= 1, timeout=180000)
    other = make_dataset(tmp_path / "next", {"3_star": 2})  # the next dataset opened while this one trains
    w.open_dataset(other)
    qtbot.waitUntil(lambda: w.dataset_page.root == other and not w.dataset_page.is_loading(), timeout=30000)
    assert page.config().train_data_dir == cfg.train_data_dir  # the running run's source stays shown
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    w.close()
    assert asked and w.isVisible() and page.is_training()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=180000)
    assert not page.is_training() and page.view.saved and page.view.saved[-1].final
    assert page.config().train_data_dir == str(other)  # the run over: the next one trains what was opened


def test_training_starts_once_the_view_has_painted(qtbot, app_env):
    """The worker thread starts after the view's first paint (or a timeout when the window is hidden), so that
    the paint does not race the model load for the interpreter lock."""
    from PySide6.QtWidgets import QTabWidget, QWidget

    from widgets.training.train_view import TrainView

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    view = TrainView()
    tabs.addTab(QWidget(), "form")
    tabs.addTab(view, "progress")
    tabs.resize(900, 600)
    tabs.show()
    qtbot.waitExposed(tabs)
    called = []
    view.begin("", {"unet": 1e-4})
    view.after_first_paint(lambda: called.append(time.perf_counter()), timeout_ms=5000)
    t0 = time.perf_counter()
    qtbot.wait(30)
    assert not called  # the view is not shown yet: nothing painted
    tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: bool(called), timeout=3000)
    assert called[0] - t0 < 2.0  # well before the timeout
    assert list(view.lr_curves) == ["unet"] and "UNet" in view.lr_plot.plotItem.titleLabel.text

    hidden = TrainView()
    qtbot.addWidget(hidden)
    late = []
    hidden.after_first_paint(lambda: late.append(1), timeout_ms=50)
    qtbot.waitUntil(lambda: bool(late), timeout=2000)
    qtbot.wait(100)
    assert late == [1]  # once


def test_stop_before_the_first_paint_ends_without_training(ready_page, qtbot):
    page = ready_page(max_train_steps=1000)
    page.hide()  # nothing paints: the run waits for its start
    assert page.start()
    page.stop()
    qtbot.waitUntil(lambda: not page.is_training(), timeout=5000)
    assert not page.run.thread.isRunning() and page.view.saved == []
    assert page.view.status.text() == "Stopped before training began; nothing was saved."
    assert page.start_btn.isEnabled()


def test_scale_weight_norms_report_is_shown(qtbot, app_env):
    from trainer import events as ev
    from widgets.training.train_view import TrainView

    view = TrainView()
    qtbot.addWidget(view)
    view.begin("", {"unet": 1e-4})
    view.on_event(ev.Started(10, 1, 10, 10, 1, "plan"))
    view.on_event(ev.Step(1, 10, 1, 0.5, 0.5, {"unet": 1e-4}, 2.0, 5.0,
                          {"keys_scaled": 3, "average_key_norm": 0.912, "max_key_norm": 1.0}))
    view.refresh()
    assert view.norm_label.text() == "scale_weight_norms: 3 keys scaled, average key norm 0.912"
    assert not view.norm_label.isHidden()
    view.begin("", {"unet": 1e-4})
    assert view.norm_label.text() == "" and view.norm_label.isHidden()


def test_a_run_stopped_before_its_first_step_says_nothing_was_saved(qtbot, app_env):
    from trainer import events as ev
    from widgets.training.train_view import TrainView

    view = TrainView()
    qtbot.addWidget(view)
    view.begin("", {"unet": 1e-4})
    view.on_event(ev.Finished("", 0, True))  # the core's event when stopped during model loading or caching
    view.end()
    assert view.status.text() == "Stopped before training began; nothing was saved."
    assert "Finished:" not in view.log.toPlainText()
