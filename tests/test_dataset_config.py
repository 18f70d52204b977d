"""sd-scripts' dataset_config: per-folder options reach that folder's captions only, [general] and [[datasets]]
defaults ascend to subsets, dataset keys set the run's batch size and resolution, unknown keys are named with a
suggestion, and what the Dataset page writes reads back the same."""
import json
import random

import pytest
from app_fixtures import app_env, page  # noqa: F401
from conftest import make_dataset, quick_config, run_training, train_data

from trainer.dataset.config_file import (
    concepts_to_dataset_config,
    effective_config,
    read_dataset_config,
    save_dataset_config,
)
from trainer.dataset.sources import scan_sources
from trainer.errors import ConfigError

TOML = """
[general]
caption_extension = ".txt"

[[datasets]]
resolution = 64
batch_size = 3

  [[datasets.subsets]]
  image_dir = "{a}"
  num_repeats = 2
  shuffle_caption = true
  keep_tokens = 1

  [[datasets.subsets]]
  image_dir = "{b}"
  caption_dropout_rate = 1.0

  [[datasets.subsets]]
  image_dir = "{reg}"
  is_reg = true
  class_tokens = "circle"
"""


@pytest.fixture
def folders(tmp_path):
    make_dataset(tmp_path / "d", {"2_redcircle": 3, "1_bluesquare": 2})
    make_dataset(tmp_path / "r", {"1_circle": 2})
    for p in (tmp_path / "r" / "1_circle").glob("*.txt"):
        p.unlink()  # reg images without captions: class_tokens is their caption
    path = tmp_path / "dataset.toml"
    path.write_text(TOML.format(a=(tmp_path / "d" / "2_redcircle").as_posix(),
                                b=(tmp_path / "d" / "1_bluesquare").as_posix(),
                                reg=(tmp_path / "r" / "1_circle").as_posix()), encoding="utf-8")
    return path


def test_per_subset_options_reach_the_captions_of_that_subset_only(folders, tmp_path):
    cfg = quick_config("m", tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(folders))
    data = train_data(cfg)
    by_folder: dict[str, set[str]] = {}
    for i, item in enumerate(data.items):
        for k in range(12):
            by_folder.setdefault(item.entry.concept.folder_name, set()).add(data.caption(i, 0, random.Random(k)))
    shuffled = by_folder["2_redcircle"]
    assert len(shuffled) > 3 and all(c.startswith("redcircle, ") for c in shuffled)  # keep_tokens = 1
    assert by_folder["1_bluesquare"] == {""}  # caption_dropout_rate 1.0 there only
    assert by_folder["1_circle"] == {"circle"}  # no caption file: class_tokens; not shuffled, not dropped
    reg = [it for it in data.items if it.entry.concept.is_reg]
    assert len(reg) == 2 and all(data.loss_weight(data.items.index(it)) == cfg.prior_loss_weight for it in reg)


def test_dataset_keys_set_the_run_and_steps_count_reg_images(folders, tmp_path):
    from trainer.config.plan import dataset_bucket_counts, resolve

    cfg = quick_config("m", tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(folders),
                       resolution="512", train_batch_size=1, max_train_epochs=1)
    eff = effective_config(cfg)
    assert eff.train_batch_size == 3 and eff.resolution == "64,64"
    counts = dataset_bucket_counts(cfg)
    assert counts == {(64, 64): 16}  # 3x2 + 2x1 training samples, reg balanced to 8
    assert resolve(cfg, counts).total_steps == 6  # ceil(16 / 3), batch size from the dataset config


@pytest.mark.parametrize("text, match", [
    ("[[datasets]]\n[[datasets.subsets]]\nimage_dir='x'\nnum_repeat=2\n", "'num_repeat'.*Did you mean 'num_repeats'"),
    ("[general]\nshufle_caption=true\n[[datasets]]\n[[datasets.subsets]]\nimage_dir='x'\n",
     "'shufle_caption'.*Did you mean 'shuffle_caption'"),
    ("[genral]\n[[datasets]]\n", "table 'genral'.*Did you mean 'general'"),
    ("[[datasets]]\n[[datasets.subsets]]\nimage_dir='x'\nkeep_tokens='one'\n", "keep_tokens.*must be int"),
    ("[[datasets]]\nresolution=512\n", "has no \\[\\[datasets.subsets\\]\\]"),
    ("[general]\nis_reg=true\n[[datasets]]\n[[datasets.subsets]]\nimage_dir='x'\n", "belongs in a"),
])
def test_bad_dataset_configs_are_one_sentence(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        read_dataset_config(path)


def test_what_the_dataset_page_writes_reads_back(folders, tmp_path):
    cfg = quick_config("m", tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(folders))
    scan = scan_sources(cfg)
    out = tmp_path / "saved.toml"
    save_dataset_config(concepts_to_dataset_config(scan.concepts, effective_config(cfg)), out)
    again = scan_sources(cfg.replace(dataset_config=str(out)))
    def summary(s):
        return [(c.path, c.repeats, c.is_reg, c.options, [e.caption for e in c.images]) for c in s.concepts]
    assert summary(again) == summary(scan)
    assert effective_config(cfg.replace(dataset_config=str(out))).train_batch_size == 3


def test_a_run_trains_from_a_dataset_config_and_records_reg_dirs(folders, tiny_ckpt, tmp_path):
    from safetensors import safe_open

    cfg = quick_config(tiny_ckpt("sd1"), tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(folders),
                       max_train_steps=2, cache_latents=True, flip_aug=True)
    path, _ = run_training(cfg)
    with safe_open(path, "pt") as f:
        md = f.metadata()
    assert md["ss_num_reg_images"] == "2" and md["ss_num_train_images"] == "8"
    assert "ss_batch_size_per_device" not in md and "ss_resolution" not in md  # in ss_datasets only
    (ds,) = json.loads(md["ss_datasets"])  # sd-scripts' record of a dataset_config run
    assert (ds["batch_size_per_device"], ds["num_train_images"], ds["num_reg_images"]) == (3, 8, 2)
    red, blue, reg = ds["subsets"]
    assert (red["image_dir"], red["num_repeats"], red["keep_tokens"]) == ("2_redcircle", 2, 1)
    assert red["shuffle_caption"] is True
    assert blue["shuffle_caption"] is False and reg["is_reg"] is True and reg["class_tokens"] == "circle"


def test_the_dataset_page_edits_a_concepts_options_and_saves_them(qtbot, page, tmp_path, monkeypatch):
    from widgets.dataset.concept_options import ConceptOptionsDialog, save_dataset_config_from

    def user_edits(dlg):  # what the user types into the dialog before pressing OK
        dlg.repeats.setValue(4)
        dlg.keep.setValue(1)
        dlg.shuffle.setChecked(True)
        dlg.flip.setChecked(False)
        dlg.dropout.setValue(0.1)
        return ConceptOptionsDialog.DialogCode.Accepted

    monkeypatch.setattr(ConceptOptionsDialog, "exec", user_edits)
    item = next(page.concepts.topLevelItem(i) for i in range(page.concepts.topLevelItemCount())
                if page.concepts.topLevelItem(i).text(0) == "2_redcircle")
    page.concepts._edit(item)  # what a double-click does
    assert item.text(1) == "×4" and item.child(0).text(0).strip() == "keep 1 · shuffle · no flip · drop 10%"
    assert "14 samples per epoch" in page.totals.text()  # 2 x 1 + 3 x 4
    with qtbot.waitSignal(page.settingsEdited) as sig:
        path = save_dataset_config_from(page, str(tmp_path / "saved.toml"))
    assert sig.args == [{"dataset_config": path}]
    subsets = read_dataset_config(path)["datasets"][0]["subsets"]
    red = next(s for s in subsets if s["image_dir"].endswith("2_redcircle"))
    assert (red["num_repeats"], red["keep_tokens"], red["shuffle_caption"], red["flip_aug"]) == (4, 1, True, False)
    assert red["caption_dropout_rate"] == 0.1
    blue = next(s for s in subsets if s["image_dir"].endswith("1_bluesquare"))
    assert set(blue) == {"image_dir", "num_repeats"}  # nothing set: the run's settings apply


def test_the_learning_rate_preview_plans_a_dataset_config_without_a_training_folder(folders, tmp_path):
    from widgets.training.lr_preview import schedule_preview

    cfg = quick_config("m", tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(folders),
                       max_train_epochs=2)
    res = schedule_preview(cfg)
    assert res["total"] == 12 and res["epochs"] == 2  # 16 samples at the config's batch size 3: 6 per epoch
    assert [c[0] for c in res["concepts"]] == ["2_redcircle", "1_bluesquare", "1_circle"]


def test_a_folders_own_option_meets_the_same_caching_rule_as_the_runs(folders, tmp_path):
    from trainer.dataset.checks import caching_issues

    text = folders.read_text(encoding="utf-8").replace("caption_dropout_rate = 1.0", "random_crop = true")
    folders.write_text(text, encoding="utf-8")
    cfg = quick_config("m", tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(folders),
                       cache_latents=True, cache_text_encoder_outputs=True, network_train_unet_only=True)
    assert caching_issues(cfg) == [
        ("cache_text_encoder_outputs", "cache_text_encoder_outputs cannot be used with shuffle_caption (set for "
         "the folder '2_redcircle' of the dataset config): the captions change every step."),
        ("cache_latents", "cache_latents cannot be used with random_crop (set for the folder '1_bluesquare' of "
         "the dataset config): a cached latent has one fixed crop. Turn one of them off.")]
    run_wide = caching_issues(cfg.replace(random_crop=True, dataset_config=""))
    assert run_wide == [("cache_latents", "cache_latents cannot be used with random_crop: a cached latent has "
                         "one fixed crop. Turn one of them off.")]
    assert len(caching_issues(cfg.replace(random_crop=True))) == 2  # the run's sentence covers its folders


SUBSET_OPTIONS = """
[[datasets]]
resolution = 64
  [[datasets.subsets]]
  image_dir = "{a}"
  caption_prefix = "photo of"
  caption_suffix = "best"
  secondary_separator = ";;;"
  enable_wildcard = true
  token_warmup_step = 10
  token_warmup_min = 1
  shuffle_caption = false
  caption_dropout_every_n_epochs = 2
  color_aug = true
  resize_interpolation = "nearest"
  [[datasets.subsets]]
  image_dir = "{b}"
"""


def test_caption_and_image_options_of_a_subset_reach_only_that_subset(tmp_path):
    import numpy as np
    import torch
    from PIL import Image

    data_dir = make_dataset(tmp_path / "d", {"1_a": 1, "1_b": 1}, size=(96, 96))
    (data_dir / "1_a" / "img0.txt").write_text("{red|blue} circle;;;round, x\nsecond line, y\n", encoding="utf-8")
    (data_dir / "1_b" / "img0.txt").write_text("{red|blue} square;;;flat, z\nother line\n", encoding="utf-8")
    path = tmp_path / "ds.toml"
    path.write_text(SUBSET_OPTIONS.format(a=(data_dir / "1_a").as_posix(), b=(data_dir / "1_b").as_posix()),
                    encoding="utf-8")
    cfg = quick_config("m", tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(path))
    data = train_data(cfg)
    a, b = (next(i for i, it in enumerate(data.items) if it.entry.concept.folder_name == n) for n in ("1_a", "1_b"))
    seen = {data.caption(a, 0, random.Random(k), step=20) for k in range(30)}
    # as sd-scripts: prefix and suffix wrap the whole file, then a line and each {a|b} are picked
    assert seen == {"photo of red circle,round, x", "photo of blue circle,round, x", "second line, y best"}
    assert all(len(data.caption(a, 0, random.Random(k), step=0).split(", ")) == 1 for k in range(8))  # warm-up
    assert data.caption(a, 1, random.Random(0), step=20) == ""  # epoch 2 of every 2: dropped
    assert {data.caption(b, e, random.Random(k), step=0) for e in (0, 1) for k in range(10)} == \
        {"{red|blue} square;;;flat, z"}  # the run's settings: no prefix, wildcard, warm-up or dropout

    def tensor(img):
        return torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)

    def resized(i, how):  # 96 -> 64 px
        return tensor(Image.open(data.items[i].entry.path).convert("RGB").resize((64, 64), how))

    # 1_a: nearest resizing, and color_aug changes some draws; 1_b: the run's resizing, never recoloured
    draws_a = [data.load_pixels(data.items[a], random.Random(k))[0] for k in range(12)]
    plain = [torch.equal(x, resized(a, Image.Resampling.NEAREST)) for x in draws_a]
    assert any(plain) and not all(plain)
    assert all(torch.equal(data.load_pixels(data.items[b], random.Random(k))[0],
                           resized(b, Image.Resampling.LANCZOS)) for k in range(6))


def test_a_folders_value_out_of_range_is_one_sentence_naming_it(tmp_path):
    from trainer.config.validate import validate
    from trainer.dataset.checks import face_range_problem

    data_dir = make_dataset(tmp_path / "d", {"1_a": 1})
    path = tmp_path / "ds.toml"
    path.write_text(f'[[datasets]]\n[[datasets.subsets]]\nimage_dir = "{(data_dir / "1_a").as_posix()}"\n'
                    'resize_interpolation = "sharpest"\nface_crop_aug_range = [4.0, 2.0]\n', encoding="utf-8")
    cfg = quick_config("m", tmp_path, tmp_path / "o", train_data_dir="", dataset_config=str(path))
    errors = [i.message for i in validate(cfg, need_paths=True) if i.error]
    assert any(m.startswith("Folder '1_a' of the dataset config: ") and "resize_interpolation" in m for m in errors)
    assert any("Folder '1_a'" in m and "face_crop_aug_range must be two numbers" in m for m in errors)
    # the run's own value gets the same sentence, without a folder
    sentence = "Folder '1_a' of the dataset config: " + face_range_problem("4.0,2.0")
    assert sentence in errors
    run_errors = [i.message for i in validate(cfg.replace(dataset_config="", face_crop_aug_range="4,2"),
                                              need_paths=False) if i.error]
    assert face_range_problem("4,2") in run_errors and face_range_problem("2,4") is None
