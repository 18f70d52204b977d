"""Issue 13's "Done when", end to end: a multi-folder sd-scripts dataset config (two [[datasets]] at their own
resolution and batch size, per-folder caption settings, regularization images, flipped cached latents, masks
from the alpha channel and from mask images) trains from the window (Dataset page: open the config, Auto-tag
the untagged folder with a tiny local ONNX tagger; Training page: Start) and from the command line with the
same settings and seed to the same tensors. Nothing is downloaded."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from app_fixtures import app_env, wait_loaded  # noqa: F401
from conftest import make_dataset, quick_config, train_data
from PIL import Image
from tagging_fixtures import make_tagger

TOML = """
[general]
caption_extension = ".txt"

[[datasets]]
resolution = 64
batch_size = 2
  [[datasets.subsets]]
  image_dir = "char/2_redcircle"
  num_repeats = 2
  keep_tokens = 1
  shuffle_caption = true
  caption_prefix = "sks"
  flip_aug = true
  alpha_mask = true

[[datasets]]
resolution = [96, 64]
batch_size = 1
  [[datasets.subsets]]
  image_dir = "style"
  class_tokens = "blue style"
  conditioning_data_dir = "masks"
  [[datasets.subsets]]
  image_dir = "reg"
  is_reg = true
  class_tokens = "square"
  conditioning_data_dir = "masks"
"""
STEPS = 4


def _build(root: Path) -> Path:
    """The folders of TOML under root and the dataset config naming them (relative to it, as users write
    it)."""
    make_dataset(root / "char", {"2_redcircle": 3})
    for i, png in enumerate(sorted((root / "char" / "2_redcircle").glob("*.png"))):  # a transparent margin
        rgba = np.asarray(Image.open(png).convert("RGBA")).copy()
        rgba[:, 48 - 4 * i:, 3] = 0
        Image.fromarray(rgba, "RGBA").save(png)
    make_dataset(root / "tmp", {"1_style": 2, "1_reg": 3}, size=(96, 64))
    (root / "tmp" / "1_style").rename(root / "style")
    (root / "tmp" / "1_reg").rename(root / "reg")
    for txt in (root / "style").glob("*.txt"):  # untagged: captioned with class_tokens
        txt.unlink()
    masks = root / "masks"
    for folder in ("style", "reg"):
        (masks / folder).mkdir(parents=True)
        for png in (root / folder).glob("*.png"):
            m = np.zeros((64, 96, 3), dtype=np.uint8)
            m[:, :48] = 255  # the left half is trained
            Image.fromarray(m).save(masks / folder / png.name)
    path = root / "dataset.toml"
    path.write_text(TOML, encoding="utf-8")
    return path


@pytest.fixture
def setup(tmp_path, tiny_ckpt):
    ds = _build(tmp_path / "data")
    other = make_dataset(tmp_path / "plain")  # what the run config trains until the dataset config is opened
    tagger = make_tagger(tmp_path / "tagger")

    def cfg(out):
        return quick_config(tiny_ckpt("sd1"), other, tmp_path / out, max_train_steps=STEPS,
                            cache_latents=True, cache_latents_to_disk=True, masked_loss=True,
                            prior_loss_weight=0.5, train_batch_size=1, seed=3)

    return ds, cfg, tagger


def _tensors(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _metadata(path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata()


def _tag_untagged_folder(qtbot, data, tagger) -> None:
    """The Dataset page's Auto-tag on the folder without caption files, with a tiny local WD14-style model."""
    from widgets.dataset.tagger_dialog import open_tagger_dialog

    dlg = open_tagger_dialog(data, show=False)
    qtbot.addWidget(dlg)
    dlg.model.set_path(tagger[0])
    dlg.tags.set_path(tagger[1])
    dlg.scope.setCurrentIndex([t for t, _ in data.bulk_scopes()].index("Concept style"))
    dlg.trigger.setText("blue style")
    assert dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=20000)
    assert "2 of 2 caption files change (2 new)" in dlg.info.text(), dlg.info.text()
    with qtbot.waitSignal(dlg.applied):
        dlg.apply()


def _train_from_window(qtbot, cfg, dataset_config, tagger) -> Path:
    from PySide6.QtCore import Qt

    from app.main_window import MainWindow
    from app.settings import make_settings

    w = MainWindow(make_settings(), cfg, persist=False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitUntil(lambda: w.built, timeout=10000)
    data = w.dataset_page
    data.open_dataset(str(dataset_config))
    qtbot.waitUntil(lambda: data.root == dataset_config and data.scan is not None and not data.is_loading()
                    and data.concepts.topLevelItemCount() == 4, timeout=20000)
    wait_loaded(qtbot, data)
    _tag_untagged_folder(qtbot, data, tagger)
    style = dataset_config.parent / "style"
    assert (style / "img0.txt").read_text(encoding="utf-8").startswith("blue style, ")
    # dataset 1: 3 images x 2 at batch 2 -> 3 steps; dataset 2: 2 untagged images + 2 of the 3 reg images
    # (balanced to the training images of their dataset) at batch 1 -> 4 steps
    assert "10 samples per epoch" in data.totals.text() and "7 steps per epoch" in data.totals.text()
    assert "10 samples per epoch" in w._summary.text() and "reg: 3×1 = 3, balanced to 2" in data.totals.text()
    tree = data.concepts
    rows = {tree.topLevelItem(i).text(0): tree.topLevelItem(i).text(3) for i in range(tree.topLevelItemCount())}
    assert rows == {"All": "10", "2_redcircle": "6", "style": "2", "reg": "2"}  # the rows add up
    options = [" · ".join(tree.topLevelItem(i).child(n).text(0).strip()
                          for n in range(tree.topLevelItem(i).childCount())) for i in range(1, 4)]
    assert options == ["dataset 1 · keep 1 · shuffle · flip · .txt · prefix “sks” · alpha mask",
                       "dataset 2 · .txt · mask images", "dataset 2 · .txt · mask images · reg"]
    w.show_page("training")
    page = w.training_page
    assert page.config().dataset_config == str(dataset_config)
    qtbot.waitUntil(lambda: page.start_btn.isEnabled(), timeout=20000)
    qtbot.mouseClick(page.start_btn, Qt.MouseButton.LeftButton)
    assert page.is_training()
    qtbot.waitUntil(lambda: not page.is_training(), timeout=180000)
    assert page.fail_dialog is None, page.fail_dialog.text()
    saved = page.view.saved
    log = page.view.log.toPlainText()
    assert "10 samples per epoch in 2 bucket(s) -> 7 batches" in log and "total 10 samples per epoch" in log
    assert saved and saved[-1].final and page.view.steps.n == STEPS
    return Path(saved[-1].path)


def _check_run(path: Path) -> dict:
    md = _metadata(path)
    first, second = json.loads(md["ss_datasets"])
    assert (first["resolution"], first["batch_size_per_device"]) == ([64, 64], 2)
    assert (second["resolution"], second["batch_size_per_device"]) == ([96, 64], 1)
    (char,) = first["subsets"]
    assert (char["image_dir"], char["num_repeats"], char["keep_tokens"], char["shuffle_caption"],
            char["caption_prefix"], char["flip_aug"]) == ("2_redcircle", 2, 1, True, "sks", True)
    style, reg = second["subsets"]
    assert (style["image_dir"], style["class_tokens"], style["is_reg"]) == ("style", "blue style", False)
    assert (reg["image_dir"], reg["is_reg"], reg["img_count"]) == ("reg", True, 3)
    assert first["num_train_images"] == 6 and second["num_train_images"] == 2
    assert md["ss_num_reg_images"] == "3" and second["num_reg_images"] == 3
    assert md["ss_num_train_images"] == "8" and md["ss_prior_loss_weight"] == "0.5"
    assert md["ss_masked_loss"] == "True" and md["ss_cache_latents"] == "True"
    # a dataset-config run: per-dataset keys in ss_datasets only, as sd-scripts' train_network.py writes it
    from trainer.dataset.run_info import FOLDER_RUN_KEYS

    assert not set(FOLDER_RUN_KEYS) & set(md)
    assert json.loads(md["ss_dataset_dirs"]) == {"2_redcircle": {"n_repeats": 2, "img_count": 3},
                                                 "style": {"n_repeats": 1, "img_count": 2}}
    tags = first["tag_frequency"]["2_redcircle"]
    assert tags["redcircle"] == 3
    assert {"blue style": 2, "long hair": 2, "solo": 2}.items() <= second["tag_frequency"]["style"].items()
    return md


def test_a_multi_folder_dataset_config_trains_from_the_window(qtbot, app_env, setup):
    ds, cfg, tagger = setup
    path = _train_from_window(qtbot, cfg("out_window"), ds, tagger)
    assert path.parent == Path(cfg("out_window").output_dir)
    _check_run(path)
    tensors = _tensors(path)
    ups = [k for k in tensors if k.endswith("lora_up.weight")]
    assert ups and any(tensors[k].abs().max() > 0 for k in ups)  # lora_up starts at zero: trained
    # flip_aug with cached latents: only the flipped folder's caches hold the mirrored image's latents too
    root = ds.parent
    for folder, flipped in (("char/2_redcircle", True), ("style", False), ("reg", False)):
        caches = sorted((root / folder).glob("*.npz"))
        assert caches, folder
        for npz in caches:
            with np.load(npz) as z:
                assert ("latents_flipped" in z) == flipped, npz


@pytest.mark.slow
def test_the_command_line_trains_the_same_tensors_from_the_same_files(qtbot, app_env, setup, tmp_path):
    import main
    from trainer.config.files import save_toml

    ds, cfg, tagger = setup
    window = _train_from_window(qtbot, cfg("out_window"), ds, tagger)
    run_toml = tmp_path / "run.toml"
    save_toml(cfg("out_cli").replace(train_data_dir=""), run_toml)
    assert main.main(["train", "--config_file", str(run_toml), "--dataset_config", str(ds)]) == 0
    cli = Path(cfg("out_cli").output_dir) / "lora.safetensors"
    md_cli, md_window = _check_run(cli), _metadata(window)
    assert set(md_cli) == set(md_window)
    a, b = _tensors(window), _tensors(cli)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_each_folder_trains_with_its_own_captions(setup):
    """What the run above feeds the text encoder: the prefix and keep_tokens of the first folder only, the
    class tokens of the untagged folder, the reg folder's captions as written."""
    import random

    ds, make_cfg, _ = setup
    data = train_data(make_cfg("out").replace(train_data_dir="", dataset_config=str(ds)))
    seen: dict = {}
    for i, item in enumerate(data.items):
        for epoch in range(4):
            caption = data.caption(i, epoch, random.Random(epoch))
            seen.setdefault(item.entry.concept.folder_name, []).append(caption)
    char = seen["2_redcircle"]
    assert all(c.startswith("sks redcircle, ") for c in char)  # the prefix joins the kept first tag
    assert len(set(char)) > 3  # the rest is shuffled
    assert set(seen["style"]) == {"blue style"}
    assert set(seen["reg"]) == {"reg, simple background, tag0", "reg, simple background, tag1"}  # 2 of 3 used


def test_the_shipped_example_has_reg_images_masks_and_per_folder_captions(tmp_path):
    """examples/demo_dataset_reg_masks.toml, as its header's command trains it (checked short of training)."""
    from trainer.dataset.mask_files import find_mask_file
    from trainer.dataset.sources import scan_sources

    root = Path(__file__).resolve().parents[1] / "examples"
    cfg = quick_config("m", "", tmp_path, train_data_dir="",
                       dataset_config=str(root / "demo_dataset_reg_masks.toml"), masked_loss=True,
                       prior_loss_weight=1.0, cache_latents=True)
    scan = scan_sources(cfg)
    red, reg, blue = scan.concepts
    assert [red.options[k] for k in ("caption_prefix", "keep_tokens", "flip_aug")] == ["sks", 1, True]
    assert reg.is_reg and {e.caption for e in reg.images} == {"circle"} and not blue.options.get("flip_aug")
    assert scan.samples_per_epoch == 8 * 4 + 8 * 4 + 6 * 2  # the 4 reg images balanced to 32 samples
    masks = [find_mask_file(red.options["conditioning_data_dir"], e) for e in red.images]
    assert all(m is not None and m.parent == root / "demo_masks" / "4_redcircle" for m in masks)
