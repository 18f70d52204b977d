"""Batch size, gradient accumulation, resolution and bucket settings are set on either page (Dataset or
Training) and shown on both, so the steps shown beside the images are the steps that will be trained."""
from app_fixtures import app_env, wait_loaded  # noqa: F401
from conftest import make_dataset


def _window(qtbot, app_env):
    from app.main_window import MainWindow
    from app.settings import make_settings

    w = MainWindow(make_settings(), None, persist=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.built, timeout=10000)
    w.open_dataset(make_dataset(app_env / "data"))  # 2_redcircle: 3 images, 1_bluesquare: 2 -> 8 samples
    wait_loaded(qtbot, w.dataset_page)
    return w


def test_dataset_page_edits_reach_the_training_form(qtbot, app_env):
    w = _window(qtbot, app_env)
    data, train = w.dataset_page, w.training_page
    data.totals_bar.batch.setValue(4)  # as the user types in the spin box
    data.totals_bar.accum.setValue(2)
    assert train.config().train_batch_size == 4 and train.config().gradient_accumulation_steps == 2
    assert train.form.rows["train_batch_size"].value() == 4
    assert "1 steps per epoch" in data.totals.text()  # ceil(8 / 4) / 2
    data.buckets.resolution.setText("768,768")
    data.buckets.max_reso.setValue(1536)
    assert train.config().resolution == "768,768" and train.config().max_bucket_reso == 1536
    assert train.form.rows["resolution"].value() == "768,768"


def test_training_form_and_presets_reach_the_dataset_page(qtbot, app_env):
    w = _window(qtbot, app_env)
    data, train = w.dataset_page, w.training_page
    train.set_value("train_batch_size", 3)
    assert data.totals_bar.batch.value() == 3 and data.values["train_batch_size"] == 3
    assert "3 steps per epoch" in data.totals.text()  # ceil(8 / 3)
    train.set_value("resolution", "640,640")
    assert data.buckets.resolution.text() == "640,640"
    # the bucket preview sorts the images again for the new resolution
    def sorted_for_640():
        report = data.buckets.report
        areas = [w * h for w, h in (report.counts if report is not None else ())]
        return bool(areas) and max(areas) <= 640 * 640 and min(areas) > 512 * 512

    qtbot.waitUntil(sorted_for_640, timeout=10000)
    train.apply_preset("sd15_24gb")
    assert data.totals_bar.batch.value() == 6 and data.buckets.resolution.text() == "512,512"
    assert train.config().train_batch_size == 6


def test_caption_extension_from_the_training_page_rescans_the_dataset(qtbot, app_env):
    w = _window(qtbot, app_env)
    data, train = w.dataset_page, w.training_page
    root = data.root
    for p in root.glob("*/*.txt"):  # the same captions under another extension, with one more tag
        p.with_suffix(".caption").write_text(p.read_text(encoding="utf-8").strip() + ", from caption files\n",
                                             encoding="utf-8")
    train.set_value("caption_extension", ".caption")
    qtbot.waitUntil(lambda: data.scan is not None and data.scan.caption_extension == ".caption"
                    and not data.is_loading(), timeout=10000)
    assert any(e.caption and "from caption files" in e.caption for e in data.scan.images)


def test_both_pages_read_and_write_the_windows_one_config(qtbot, app_env):
    from trainer.config.fields import TrainConfig

    w = _window(qtbot, app_env)
    data, model = w.dataset_page, w.config_model
    assert data.config_model is model and data.buckets.enable_bucket.isChecked() == model.get().enable_bucket
    data.buckets.enable_bucket.setChecked(not model.get().enable_bucket)  # the user's click, before the page exists
    flipped = model.get().enable_bucket
    train = w.training_page  # built now: it reads the model, not a copy of its own
    assert train.config_model is model and train.config() is model.get()
    assert train.form.rows["enable_bucket"].value() == flipped
    train.set_value("enable_bucket", not flipped)  # back from the form: the model and the Dataset page follow
    assert model.get().enable_bucket is not flipped and data.buckets.enable_bucket.isChecked() is not flipped
    # a whole config (what a preset or a file does) is shown by both pages: no page keeps a default of its own
    model.set(TrainConfig(train_data_dir=str(data.root), enable_bucket=False, train_batch_size=5,
                          resolution="640,640"))
    assert not data.buckets.enable_bucket.isChecked() and data.totals_bar.batch.value() == 5
    assert data.buckets.resolution.text() == "640,640" and data.values["enable_bucket"] is False
    assert train.form.rows["enable_bucket"].value() is False and train.form.rows["train_batch_size"].value() == 5
    assert "2 steps per epoch" in data.totals.text()  # ceil(8 / 5)


def test_a_page_on_its_own_starts_from_train_configs_defaults(qtbot, tmp_path):
    from trainer.config.fields import TrainConfig
    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    page = DatasetPage(CaptionStore(), tmp_path / "cache")
    qtbot.addWidget(page)
    d = TrainConfig()
    assert page.buckets.enable_bucket.isChecked() is d.enable_bucket is False
    assert page.buckets.settings() == {k: getattr(d, k) for k in page.buckets.settings()}
    assert page.totals_bar.batch.value() == d.train_batch_size
