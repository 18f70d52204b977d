"""The totals bar counts steps as the trainer groups the dataset (trainer.dataset.groups): each [[datasets]]
cuts its own batches of its own batch size, and with buckets a batch never mixes buckets."""
from app_fixtures import app_env  # noqa: F401
from conftest import make_dataset


def _shapes(root):
    make_dataset(root, {"1_wide": 3}, size=(128, 32))  # two buckets: 3 + 3 images never share a batch
    make_dataset(root, {"1_tall": 3}, size=(32, 128))
    return root


def _page(qtbot, tmp_path, root):
    from widgets.dataset.caption_store import CaptionStore
    from widgets.dataset.dataset_page import DatasetPage

    page = DatasetPage(CaptionStore(), tmp_path / "cache")
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    page.edit_settings(resolution="96", enable_bucket=True, min_bucket_reso=64, max_bucket_reso=192,
                       bucket_reso_steps=32, train_batch_size=2)
    page.open_dataset(root)
    page.tabs.setCurrentWidget(page.buckets)
    qtbot.waitUntil(lambda: page.scan is not None and not page.is_loading()
                    and page.buckets.report is not None, timeout=10000)
    return page


def test_a_folders_steps_with_buckets(qtbot, app_env, tmp_path):
    page = _page(qtbot, tmp_path, _shapes(tmp_path / "data"))
    text = page.totals.text()
    # 6 samples at batch 2: 3 steps; in 2 buckets of 3: 2 + 2
    assert "6 samples per epoch" in text and "3 steps per epoch</b> at batch 2" in text
    assert "(4 with 2 buckets" in text
    page.shutdown()


def test_each_dataset_of_a_dataset_config_counts_its_own_batches_and_buckets(qtbot, app_env, tmp_path):
    data = _shapes(tmp_path / "data")
    make_dataset(data, {"1_square": 2})
    toml = tmp_path / "two.toml"
    toml.write_text('[[datasets]]\nbatch_size = 2\n  [[datasets.subsets]]\n  image_dir = "data/1_wide"\n'
                    '  [[datasets.subsets]]\n  image_dir = "data/1_tall"\n'
                    '[[datasets]]\nbatch_size = 1\n  [[datasets.subsets]]\n  image_dir = "data/1_square"\n',
                    encoding="utf-8")
    page = _page(qtbot, tmp_path, toml)
    text = page.totals.text()
    # dataset 1: 6 samples at batch 2 -> 3 (2 + 2 in its buckets); dataset 2: 2 at batch 1 -> 2
    assert "8 samples per epoch" in text and "5 steps per epoch</b> at batch 2, 1" in text
    assert "(6 with 3 buckets" in text
    page.totals_bar.batch.setValue(3)  # the run's batch size: the datasets set their own, nothing changes
    assert "5 steps per epoch</b> at batch 2, 1" in page.totals.text()
    page.shutdown()
