"""The window must not slow training: the worker forwards few signals whatever the step rate, and the training
view does nothing while it cannot be seen."""
import threading
import time

from app_fixtures import app_env  # noqa: F401
from conftest import make_dataset, quick_config

FAST = dict(train_batch_size=1, cache_latents=True, cache_text_encoder_outputs=True, network_train_unet_only=True)


def run_counting(qtbot, cfg, interval_s):
    """Train through TrainRun; every signal with the time (worker side) it was sent."""
    from PySide6.QtCore import Qt

    from app.train_worker import TrainRun

    run = TrainRun(cfg, interval_s=interval_s)
    sent = []  # (monotonic time, "event" | "progress", payload), recorded in the sending thread
    run.worker.event.connect(lambda e: sent.append((time.monotonic(), "event", e)), Qt.ConnectionType.DirectConnection)
    run.worker.progress.connect(lambda b: sent.append((time.monotonic(), "progress", b)),
                                Qt.ConnectionType.DirectConnection)
    received = []
    run.event.connect(lambda e: received.append(e))
    run.progress.connect(lambda b: received.extend(b.logs + b.steps))
    done = []
    run.done.connect(lambda: done.append(1))
    run.start()
    qtbot.waitUntil(lambda: bool(done), timeout=180000)
    assert run.wait(10000)
    return sent, received


def test_worker_coalesces_steps_and_logs(qtbot, app_env, tiny_ckpt, tmp_path):
    """With a forwarding period longer than the run, only the first batch and the flushes before Started, Saved,
    Finished go out: 30 steps in a handful of signals, none lost, none out of order."""
    cfg = quick_config(tiny_ckpt("sd1"), make_dataset(tmp_path / "data"), tmp_path / "out", max_train_steps=30,
                       save_every_n_steps=10, **FAST)
    sent, received = run_counting(qtbot, cfg, interval_s=3600)
    batches = [p for _, kind, p in sent if kind == "progress"]
    events = [p for _, kind, p in sent if kind == "event"]
    assert [type(e).__name__ for e in events] == ["Started", "Saved", "Saved", "Saved", "Finished"]
    assert len(batches) <= len(events) + 2
    steps = [s.step for b in batches for s in b.steps]
    assert steps == list(range(1, 31))
    assert any(b.logs for b in batches) and all(type(e).__name__ == "Log" for b in batches for e in b.logs)
    # whatever came before a Saved reached the GUI thread before it
    order = [(type(e).__name__, getattr(e, "step", None)) for e in received]
    for i, (kind, step) in enumerate(order):
        if kind == "Saved":
            before = {s for k, s in order[:i] if k == "Step"}
            assert before == set(range(1, step + 1)), (step, sorted(before))


def test_worker_signal_rate_is_bounded(qtbot, app_env, tiny_ckpt, tmp_path):
    """At the default period: the Progress signals are at least FORWARD_S apart, except the flushes an immediate
    event forces, whatever the step rate (a GPU reports many steps a second)."""
    from app.train_worker import FORWARD_S

    cfg = quick_config(tiny_ckpt("sd1"), make_dataset(tmp_path / "data"), tmp_path / "out", max_train_steps=60,
                       **FAST)
    sent, _ = run_counting(qtbot, cfg, interval_s=FORWARD_S)
    times = [t for t, kind, _ in sent if kind == "progress"]
    immediate = sum(kind == "event" for _, kind, _ in sent)
    span = times[-1] - times[0]
    assert len(times) <= 2 + immediate + span / FORWARD_S, (len(times), span)
    assert sum(len(b.steps) for _, kind, b in sent if kind == "progress") == 60


def test_a_lone_pending_line_goes_out_without_a_later_event(qtbot, app_env):
    """A log line sent just after a batch waits for the period, not for the next event (the model may load for
    minutes after it)."""
    from app.train_worker import TrainWorker
    from trainer import events as ev

    worker = TrainWorker(None, threading.Event(), interval_s=0.2)
    got = []
    worker.progress.connect(lambda b: got.append([e.message for e in b.logs]))
    worker._on_event(ev.Log("first"))
    qtbot.waitUntil(lambda: got == [["first"]], timeout=2000)
    worker._on_event(ev.Log("loading the model"))
    worker._on_event(ev.Log("model: sd1"))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=2000)
    assert got[1] == ["loading the model", "model: sd1"]


def _steps(first, last, total=1000):
    from trainer import events as ev

    return [ev.Step(i, total, 1, 0.2, 0.2, {"unet": 1e-4}, 10.0, 1.0) for i in range(first, last + 1)]


def test_view_draws_nothing_while_minimised_or_hidden_and_catches_up(qtbot, app_env):
    from PySide6.QtWidgets import QTabWidget, QWidget

    from app.train_worker import Progress
    from trainer import events as ev
    from widgets.training.train_view import TrainView

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    view = TrainView()
    tabs.addTab(view, "progress")
    tabs.addTab(QWidget(), "settings")
    tabs.resize(900, 600)
    tabs.show()
    qtbot.waitExposed(tabs)
    view.begin("", {"unet": 1e-4})
    view.on_event(ev.Started(1000, 1, 1000, 1000, 1, "plan"))
    view.on_progress(Progress(_steps(1, 100), [ev.Log("one"), ev.Log("two")]))
    qtbot.waitUntil(lambda: view.refresh_count == 1, timeout=2000)
    assert "one\ntwo" in view.log.toPlainText() and len(view.loss_curve.getData()[0]) == 100

    tabs.showMinimized()
    qtbot.waitUntil(lambda: not view.seen(), timeout=2000)
    view.on_progress(Progress(_steps(101, 200), [ev.Log("three")]))
    qtbot.wait(400)
    assert view.refresh_count == 1 and not view._timer.isActive() and not view._gpu_timer.isActive()
    assert "three" not in view.log.toPlainText() and view.steps.n == 200  # kept, not drawn
    tabs.showNormal()
    qtbot.waitUntil(lambda: view.refresh_count == 2, timeout=2000)
    assert "three" in view.log.toPlainText() and len(view.loss_curve.getData()[0]) == 200
    assert view._gpu_timer.isActive()

    tabs.setCurrentIndex(1)  # another tab in front: hidden
    view.on_progress(Progress(_steps(201, 300), []))
    qtbot.wait(400)
    assert view.refresh_count == 2 and not view._gpu_timer.isActive()
    tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: view.refresh_count == 3, timeout=2000)
    assert "step 300 / 1000" in view.step_label.text()


def test_view_redraws_a_burst_once(qtbot, app_env):
    """Many batches within one period: one plot redraw for all of them."""
    from app.train_worker import Progress
    from trainer import events as ev
    from widgets.training.train_view import TrainView

    view = TrainView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.begin("", {"unet": 1e-4})
    view.on_event(ev.Started(1000, 1, 1000, 1000, 1, "plan"))
    view.refresh()  # the period starts now
    count = view.refresh_count
    for i in range(10):
        view.on_progress(Progress(_steps(10 * i + 1, 10 * i + 10), []))
    qtbot.waitUntil(lambda: view.refresh_count > count, timeout=3000)
    qtbot.wait(50)
    assert view.refresh_count == count + 1 and len(view.loss_curve.getData()[0]) == 100
    assert "step 100 / 1000" in view.step_label.text()


def test_long_curves_are_drawn_decimated_with_their_peaks(qtbot, app_env):
    import numpy as np

    from app.train_worker import Progress
    from trainer import events as ev
    from widgets.training.train_view import TrainView

    view = TrainView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    view.begin("", {"unet": 1e-4})
    view.on_event(ev.Started(50000, 1, 50000, 50000, 1, "plan"))
    steps = _steps(1, 50000, total=50000)
    steps[31234].loss = 9.0  # one spike
    view.on_progress(Progress(steps, []))
    view.refresh()
    x, y = view.loss_curve.getData()  # what is drawn
    assert len(x) < 10000 and np.nanmax(y) == 9.0
    assert view.steps.n == 50000
