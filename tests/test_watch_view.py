"""The Progress view shows sample images (newest per prompt, a strip over time, enlarge and compare), the
validation loss beside the training loss, and d*lr on the learning-rate plot."""
import pytest
from PIL import Image

from app_fixtures import app_env  # noqa: F401
from trainer import events as ev


def _png(path, color):
    Image.new("RGB", (64, 64), color).save(path)
    return str(path)


def test_samples_validation_and_d_lr_in_the_progress_view(qtbot, app_env, tmp_path):
    from widgets.training.train_view import TrainView

    view = TrainView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.begin(str(tmp_path), {"unet": 1.0, "textencoder": 1.0})
    assert view.sample_strip.isHidden()  # nothing to show yet
    view.on_event(ev.Started(20, 2, 10, 10, 1, "plan"))
    colors = ["red", "blue", "green", "yellow"]
    for i, step in enumerate((0, 10, 20)):
        for prompt in (0, 1):
            path = _png(tmp_path / f"s{step}_{prompt}.png", colors[(i + prompt) % 4])
            view.on_event(ev.Sample(path, prompt, step, None if step == 10 else step // 10, f"prompt {prompt}"))
    for step in range(1, 21):
        view.on_event(ev.Step(step, 20, 1 + step // 11, 0.2, 0.15, {"unet": 1.0, "textencoder": 1.0}, 2.0, 5.0,
                              {}, {"unet": 1e-5 * step, "textencoder": 5e-6 * step}))
        if step % 10 == 0:
            view.on_event(ev.Validation(step, step // 10, 0.3 - step / 200))
            view.on_event(ev.Validation(step, step // 10, 0.3 - step / 200, True))  # the epoch end repeats it
    view.refresh()
    view.watch_plots.refresh()

    strip = view.sample_strip
    assert not strip.isHidden()
    assert [strip.latest.item(i).text() for i in range(strip.latest.count())] == ["#0 · epoch 2", "#1 · epoch 2"]
    assert [strip.history.item(i).text() for i in range(strip.history.count())] == ["start", "step 10", "epoch 2"]
    strip.latest.setCurrentRow(1)
    assert strip.history.count() == 3 and strip.history.item(0).data(0x0100).prompt_index == 1
    assert not strip.compare_btn.isEnabled()
    strip.history.item(0).setSelected(True)
    strip.history.item(2).setSelected(True)
    assert strip.compare_btn.isEnabled()
    strip.compare_btn.click()
    assert strip.dialog.isVisible() and "epoch 2" in " ".join(
        w.text() for w in strip.dialog.findChildren(type(strip.hint)))
    strip.dialog.close()

    x, y = view.watch_plots.val_curve.getData()
    assert list(x) == [10, 20] and list(y) == pytest.approx([0.25, 0.2])  # one point per step
    assert "validation" in view.loss_plot.plotItem.titleLabel.text
    lo, hi = view.loss_plot.viewRange()[1]
    assert lo <= 0.2 and hi >= 0.25  # training and validation losses inside the view
    dx, dy = view.watch_plots.dlr_curves["unet"].getData()
    assert len(dx) == 20 and dy[-1] == pytest.approx(2e-4)
    assert view.lr_plot.plotItem.getAxis("right").isVisible()
    assert "d*lr UNet" in view.lr_plot.plotItem.titleLabel.text

    view.begin(str(tmp_path), {"unet": 1e-4})  # a new run starts clean
    assert strip.isHidden() and strip.latest.count() == 0
    x = view.watch_plots.val_curve.getData()[0]
    assert x is None or len(x) == 0
    assert not view.lr_plot.plotItem.getAxis("right").isVisible()
    assert "validation" not in view.loss_plot.plotItem.titleLabel.text
    assert "d*lr" not in view.lr_plot.plotItem.titleLabel.text


def test_sample_thumbnails_are_decoded_small_off_the_gui_thread(qtbot, app_env, tmp_path, monkeypatch):
    import threading

    from widgets.training import sample_strip
    from widgets.training.sample_strip import THUMB, SampleStrip

    threads = []
    real = sample_strip.thumbnail
    monkeypatch.setattr(sample_strip, "thumbnail",
                        lambda p: threads.append(threading.current_thread()) or real(p))
    big = tmp_path / "big.png"
    Image.new("RGB", (1024, 640), "red").save(big)
    strip = SampleStrip()
    qtbot.addWidget(strip)
    for step in (10, 20):  # the same file twice: decoded once
        strip.add(ev.Sample(str(big), 0, step, None, "a red field"))
    assert strip.pending()
    qtbot.waitUntil(lambda: not strip.pending(), timeout=10000)
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    items = [strip.latest.item(0)] + [strip.history.item(i) for i in range(strip.history.count())]
    assert len(items) == 3
    for item in items:
        sizes = item.icon().availableSizes()
        assert sizes and max(sizes[0].width(), sizes[0].height()) == THUMB
    img = real(str(big))
    assert (img.width(), img.height()) == (THUMB, 70)


def test_plot_ranges_grow_with_the_data_and_shrink_only_when_far_too_wide():
    import numpy as np

    from widgets.training.live_plots import fit_range

    assert fit_range(None, np.array([np.nan])) is None
    first = fit_range(None, np.array([0.2, 0.3]))
    assert first == pytest.approx((0.19, 0.315))
    assert fit_range(first, np.array([0.21, 0.3])) is None  # still inside and not 4x too wide: no repaint
    assert fit_range(first, np.array([0.1, 0.3]))[0] < 0.1  # grows
    assert fit_range((0.0, 100.0), np.array([1.0, 2.0])) == pytest.approx((0.9, 2.15))  # far too wide
    assert fit_range(None, np.array([0.0, 2e-4]), floor=0.0) == pytest.approx((0.0, 2.3e-4))


def test_prompt_file_editor_previews_and_saves(qtbot, app_env, tmp_path, monkeypatch):
    from widgets.training.prompt_editor import PromptFileEditor

    path = tmp_path / "prompts.txt"
    path.write_text("a cat --w 640 --h 480 --d 3\n", encoding="utf-8")
    ed = PromptFileEditor(str(path), "ddim")
    qtbot.addWidget(ed)
    assert ed.table.rowCount() == 1
    assert [ed.table.item(0, c).text() for c in (1, 3, 4, 7)] == ["a cat", "640x480", "3", "ddim"]
    ed.text.setPlainText("# c\na dog --ss euler_a\nbad --ss warp\n")
    ed.preview()
    assert ed.table.rowCount() == 0 and "sampler 'warp'" in ed.message.text()
    ed.text.setPlainText("a dog --ss euler_a --s 12\n")
    assert len(ed.preview()) == 1 and ed.table.item(0, 7).text() == "euler_a"
    got = []
    ed.saved.connect(got.append)
    assert ed.save()
    assert path.read_text(encoding="utf-8") == "a dog --ss euler_a --s 12\n" and got == [str(path)]

    new = PromptFileEditor("", "ddim")  # a new file: asked for a name first
    qtbot.addWidget(new)
    assert new.table.rowCount() == 1  # the template is a working example
    target = tmp_path / "new.txt"
    monkeypatch.setattr("widgets.training.prompt_editor.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    assert new.save() and target.read_text(encoding="utf-8").startswith("# One prompt a line.")


def test_training_page_has_the_new_fields_in_their_group(qtbot, app_env):
    from trainer.config.fields import TrainConfig
    from widgets.training.param_form import ParamForm

    form = ParamForm(TrainConfig())
    qtbot.addWidget(form)
    for name in ("sample_prompts", "sample_every_n_epochs", "sample_sampler", "validation_split", "ema",
                 "ema_decay", "ema_save"):
        assert name in form.rows
    assert form.rows["sample_prompts"].edit_button.text() == "Edit…"
    assert form.sections.item(form.group_tabs["watch"]).text() == "Samples, validation and EMA"


def test_a_validation_point_is_fitted_into_the_loss_range_once_per_redraw(qtbot, app_env, tmp_path):
    from widgets.training.train_view import TrainView

    view = TrainView()
    qtbot.addWidget(view)
    view.show()
    view.begin(str(tmp_path), {"unet": 1.0})
    view.on_event(ev.Started(20, 2, 10, 10, 1, "plan"))
    for step in range(1, 11):
        view.on_event(ev.Step(step, 20, 1, 0.2, 0.15, {"unet": 1.0}, 2.0, 5.0, {}, {}))
    view.refresh()
    fits = []
    real = view.plots.fit_loss
    view.plots.fit_loss = lambda: fits.append(1) or real()
    view.on_event(ev.Validation(10, 1, 2.0))  # far above the training losses
    view.refresh()
    assert len(fits) == 1
    lo, hi = view.loss_plot.viewRange()[1]
    assert lo <= 0.15 and hi >= 2.0  # that one fit holds the validation point too
