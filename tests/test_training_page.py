"""The Training page: forms from metadata, TOML round trip, presets, validation blocking Start, import, the VRAM
bar's latency, the learning-rate preview (pytest-qt, offscreen, no training here)."""
import time

import pytest

from app_fixtures import app_env  # noqa: F401
from conftest import make_dataset


@pytest.fixture
def tpage(qtbot, app_env, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(app_env / "xdg"))  # user presets
    monkeypatch.setenv("APPDATA", str(app_env / "xdg"))
    from app.settings import make_settings
    from widgets.training.training_page import TrainingPage

    p = TrainingPage(settings=make_settings())
    qtbot.addWidget(p)
    p.resize(1300, 850)
    p.show()
    yield p
    p.shutdown()


def test_every_field_has_an_editor_of_its_kind(tpage):
    from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

    from trainer.config.fields import FIELDS

    form = tpage.form
    assert set(form.rows) == set(FIELDS)
    assert isinstance(form.rows["optimizer_type"].editor, QComboBox)
    assert isinstance(form.rows["cache_latents"].editor, QCheckBox)
    spin = form.rows["train_batch_size"].editor
    assert isinstance(spin, QSpinBox) and (spin.minimum(), spin.maximum()) == (1, 256)
    assert isinstance(form.rows["learning_rate"].editor, QLineEdit)
    assert isinstance(form.rows["network_args"].editor, QLineEdit)
    row = form.rows["train_batch_size"]
    assert "Images per step" in row.help.text() and "train_batch_size" in row.label.toolTip()
    assert "recommended" in form.rows["network_dim"].hint.text()
    assert form.rows["resolution"].hint.text().startswith("px")
    # advanced fields sit in a collapsed section
    assert form.rows["xformers"].container.isHidden() or not form.rows["xformers"].container.isVisibleTo(form)
    assert not form.advanced_toggles["memory"].isChecked()


def test_preset_save_toml_reload_identical(tpage, tmp_path):
    from trainer.config.files import load_toml

    tpage.set_value("pretrained_model_name_or_path", "/models/x.safetensors")
    tpage.set_value("output_dir", str(tmp_path / "out"))
    before = tpage.config()
    tpage.apply_preset("sd15_8gb")
    cfg = tpage.config()
    assert cfg.optimizer_type == "AdamW8bit" and cfg.gradient_checkpointing and cfg.lr_scheduler_num_cycles == 3
    assert cfg.output_dir == before.output_dir and cfg.pretrained_model_name_or_path == before.pretrained_model_name_or_path
    # the editors show the preset
    assert tpage.form.rows["optimizer_type"].editor.currentText() == "AdamW8bit"
    assert tpage.form.rows["network_dim"].editor.value() == 32
    assert tpage.form.rows["learning_rate"].editor.text() == "0.0001"
    # an edit through the editor itself
    tpage.form.rows["network_args"].editor.setText("conv_dim=8 conv_alpha=4")
    tpage.form._edited("network_args")
    path = tmp_path / "my lora.toml"
    assert tpage.save_config(str(path))
    assert load_toml(path) == tpage.config()
    tpage.apply_preset("sdxl_pony_style_12gb")
    assert tpage.open_config(str(path))
    assert tpage.config() == load_toml(path)
    assert tpage.config().network_args == ["conv_dim=8", "conv_alpha=4"]
    assert tpage.recent_files()[0] == str(path.resolve())


def test_user_preset_round_trip(tpage, monkeypatch):
    tpage.set_value("network_dim", 12)
    tpage.set_value("output_dir", "/somewhere")
    path = tpage.save_preset("mine")
    assert "output_dir" not in open(path).read()
    assert tpage.preset_combo.findData("mine") > 0
    tpage.set_value("network_dim", 64)
    tpage.apply_preset("mine")
    assert tpage.config().network_dim == 12 and tpage.config().output_dir == "/somewhere"
    from PySide6.QtWidgets import QMessageBox

    asked, warned = [], []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a) or QMessageBox.StandardButton.No)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(a))
    tpage.set_value("network_dim", 40)
    assert tpage.save_preset("mine") is None and asked  # asked first; "no" keeps the old one
    tpage.apply_preset("mine")
    assert tpage.config().network_dim == 12
    assert tpage.save_preset("../elsewhere") is None and "cannot be a preset name" in warned[0][2]


def test_invalid_combination_disables_start_and_shows_the_sentence(tpage, tiny_ckpt, tmp_path):
    data = make_dataset(tmp_path / "data")
    tpage.set_value("pretrained_model_name_or_path", str(tiny_ckpt("sd1")))
    tpage.set_value("train_data_dir", str(data))
    tpage.set_value("output_dir", str(tmp_path / "out"))
    assert tpage.start_btn.isEnabled(), [i.message for i in tpage.errors()]
    tpage.set_value("cache_latents", True)
    tpage.set_value("random_crop", True)
    assert not tpage.start_btn.isEnabled()
    msg = tpage.form.rows["cache_latents"].message
    assert not msg.isHidden() and "random_crop" in msg.text()
    assert "random_crop" in tpage.blockers.text() and tpage.blockers.isVisible()
    tpage.set_value("random_crop", False)
    assert tpage.start_btn.isEnabled() and msg.isHidden()
    # a number the form cannot read blocks Start too
    lr = tpage.form.rows["learning_rate"].editor
    lr.setText("fast")
    tpage.form._edited("learning_rate")
    assert not tpage.start_btn.isEnabled() and "number" in tpage.form.rows["learning_rate"].message.text()
    lr.setText("2e-4")
    tpage.form._edited("learning_rate")
    assert tpage.start_btn.isEnabled() and tpage.config().learning_rate == 2e-4


def test_fields_that_do_not_apply_are_disabled_with_the_reason(tpage):
    rows = tpage.form.rows
    tpage.set_value("optimizer_type", "Prodigy")
    assert not rows["unet_lr"].editor.isEnabled() and "one learning rate" in rows["unet_lr"].message.text()
    tpage.set_value("optimizer_type", "AdamW8bit")
    assert rows["unet_lr"].editor.isEnabled()
    tpage.set_value("network_train_unet_only", True)
    assert not rows["text_encoder_lr"].editor.isEnabled()
    assert "network_train_unet_only" in rows["text_encoder_lr"].message.text()
    assert not rows["lr_scheduler_num_cycles"].editor.isEnabled()
    tpage.set_value("lr_scheduler", "cosine_with_restarts")
    assert rows["lr_scheduler_num_cycles"].editor.isEnabled()


def test_import_lists_unknown_keys(tpage, tmp_path):
    import json

    f = tmp_path / "kohya_ss.json"
    f.write_text(json.dumps({"LoRA_type": "Standard", "epoch": 7, "optimizer": "AdamW8bit",
                             "sample_prompts": "a cat", "max_resolution": "768,768"}), encoding="utf-8")
    assert tpage.open_config(str(f))
    assert tpage.config().max_train_epochs == 7 and tpage.config().resolution == "768,768"
    assert "sample_prompts" in tpage.import_dialog.text()
    tpage.import_dialog.close()


def test_vram_label_follows_batch_and_resolution_within_50ms(tpage, qtbot, tiny_ckpt):
    tpage.set_value("pretrained_model_name_or_path", str(tiny_ckpt("sd1")))
    qtbot.waitUntil(lambda: tpage.vram.estimate is not None, timeout=2000)
    qtbot.waitUntil(tpage.settle, timeout=60000)  # the preview's one-time torch import is over
    first = tpage.vram.estimate.peak_bytes
    text = tpage.vram.label.text()
    assert "GiB" in text and "largest part" in text
    assert "no nvidia gpu found" in tpage.vram.gpu_label.text().lower() or "GPU 0" in tpage.vram.gpu_label.text()
    peaks = [first]
    for name, value in (("train_batch_size", 4), ("resolution", "768,768")):
        t0 = time.perf_counter()
        tpage.set_value(name, value)
        qtbot.waitUntil(lambda t0=t0: tpage.vram.updated_at > t0, timeout=1000)
        qtbot.waitUntil(tpage.settle, timeout=10000)
        assert tpage.vram.updated_at - t0 < 0.05
        assert tpage.vram.estimate.peak_bytes > peaks[-1], name
        peaks.append(tpage.vram.estimate.peak_bytes)
    assert tpage.vram.estimate.batch_size == 4
    assert tpage.vram.label.text() != text and "768x768, batch 4" in tpage.vram.label.text()


def test_lr_preview_marks_epochs_and_saves(tpage, qtbot, tmp_path):
    data = make_dataset(tmp_path / "data")  # 8 samples per epoch
    tpage.set_value("train_data_dir", str(data))
    tpage.set_value("train_batch_size", 2)
    tpage.set_value("max_train_epochs", 4)
    tpage.set_value("save_every_n_epochs", 2)
    tpage.set_value("lr_scheduler", "cosine")
    tpage.set_value("learning_rate", 1e-3)
    qtbot.waitUntil(lambda: not tpage.lr_preview.busy() and tpage.lr_preview.result is not None
                    and tpage.lr_preview.result["total"] == 16, timeout=60000)
    res = tpage.lr_preview.result
    assert res["epoch_steps"] == [4, 8, 12] and res["save_steps"] == [8, 16]
    unet = res["curves"]["unet"]
    assert unet[0] == pytest.approx(1e-3) and unet[-1] < 1e-4 and set(res["curves"]) == {"unet", "textencoder"}


def test_send_to_tools_switches_tab(qtbot, app_env):
    from app.main_window import MainWindow
    from app.settings import make_settings

    w = MainWindow(make_settings(), persist=False)
    qtbot.addWidget(w)
    got = []
    if hasattr(w.tools_page, "add_file"):
        w.tools_page.add_file = got.append
    w.training_page.send_to_tools.emit("/x/lora.safetensors")
    assert w.tabs.currentWidget() is w.tools_page
    assert got in ([], ["/x/lora.safetensors"]) and (got or not hasattr(w.tools_page, "add_file"))


def test_lr_preview_follows_the_optimizer(tmp_path):
    """Adaptive optimizers train every part at learning_rate; AdaFactor's relative_step brings its own
    scheduler: the preview shows what the trainer will do, and says why."""
    from trainer.config.fields import TrainConfig
    from widgets.training.lr_preview import schedule_preview

    base = dict(train_data_dir=str(make_dataset(tmp_path / "data")), train_batch_size=2, max_train_epochs=2,
                learning_rate=1.0, unet_lr=1e-4, text_encoder_lr=5e-5, lr_scheduler="cosine")
    prodigy = schedule_preview(TrainConfig(optimizer_type="Prodigy", **base))
    assert prodigy["curves"]["unet"][0] == pytest.approx(1.0) == prodigy["curves"]["textencoder"][0]
    assert "Prodigy finds the step size itself" in prodigy["note"]
    ada = schedule_preview(TrainConfig(optimizer_type="AdaFactor", **base))
    assert "AdaFactor (relative_step)" in ada["note"] and len(set(ada["curves"]["unet"])) == 1  # flat
    adam = schedule_preview(TrainConfig(optimizer_type="AdamW", **base))
    assert adam["curves"]["unet"][0] == pytest.approx(1e-4) and adam["curves"]["unet"][-1] < 1e-5
    assert "step size" not in adam["note"]
