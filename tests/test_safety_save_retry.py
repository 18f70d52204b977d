"""Issue 16, item 2 in the window: when the final LoRA went to the rescue folder, the training view opens a
dialog that says why and where, and writes the weights kept in memory to another folder (again and again
until it works)."""
from pathlib import Path

import pytest
import torch
from safetensors.torch import load, save

from app_fixtures import app_env  # noqa: F401  (fixture)
from trainer.events import SaveFailed

DATA = save({"lora_unet_x.lora_down.weight": torch.ones(2)}, {"ss_network_dim": "4"})


@pytest.fixture
def failed(tmp_path):
    rescue = tmp_path / "rescued" / "my_lora-20261130-120000.safetensors"
    rescue.parent.mkdir()
    rescue.write_bytes(DATA)
    return SaveFailed(str(tmp_path / "gone" / "my_lora.safetensors"), "the disk is full", str(rescue), DATA)


def test_the_training_view_offers_another_folder_and_retries(qtbot, app_env, tmp_path, failed):  # noqa: F811
    from widgets.training.train_view import TrainView

    view = TrainView()
    qtbot.addWidget(view)
    view.on_event(failed)
    dialog = view.save_retry
    assert dialog.isVisible()
    assert "the disk is full" in dialog.text() and failed.fallback in dialog.text()

    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    assert not dialog.save_to(str(blocked))  # fails: says why and stays open for another try
    assert dialog.isVisible() and "could not be saved either" in dialog.text()

    good = tmp_path / "elsewhere"
    good.mkdir()
    assert dialog.save_to(str(good))
    written = good / "my_lora.safetensors"
    assert load(written.read_bytes()).keys() == load(DATA).keys() and written.read_bytes() == DATA
    assert str(written) in dialog.text() and not dialog.choose_btn.isEnabled()
    view.refresh()  # log lines wait for the next redraw (never while the view is hidden)
    assert str(written) in view.log.toPlainText()


def test_the_dialog_speaks_russian(qtbot, app_env, failed):  # noqa: F811
    from app import i18n
    from widgets.training.save_retry import SaveRetryDialog

    i18n.set_language("ru")
    dialog = SaveRetryDialog(failed)
    qtbot.addWidget(dialog)
    assert "диск заполнен" in dialog.text() and "Вместо этого" in dialog.text()
    assert dialog.choose_btn.text() == "Сохранить в другую папку…"


def test_without_a_rescue_copy_the_dialog_says_the_weights_are_only_in_memory(qtbot, app_env, failed):  # noqa: F811
    from widgets.training.save_retry import SaveRetryDialog

    failed.fallback = ""
    dialog = SaveRetryDialog(failed)
    qtbot.addWidget(dialog)
    assert "kept in memory" in dialog.text()
    assert Path(failed.path).name == "my_lora.safetensors"
