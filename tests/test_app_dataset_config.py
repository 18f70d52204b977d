"""The Dataset page opens an sd-scripts dataset config: its subsets are the concepts with their own options,
the run's dataset_config names the file, edits go back into it keeping every key the page does not show, a
run config naming a dataset config opens it here, and a bad file is one sentence."""
import pytest
from app_fixtures import app_env, page  # noqa: F401
from conftest import make_dataset

from trainer.dataset.config_file import read_dataset_config

TOML = """
[general]
shuffle_caption = true
caption_prefix = "photo of"

[[datasets]]
resolution = 64
batch_size = 2
  [[datasets.subsets]]
  image_dir = "{a}"
  num_repeats = 2
  keep_tokens = 1
  class_tokens = "red thing"

[[datasets]]
resolution = [96, 96]
  [[datasets.subsets]]
  image_dir = "{b}"
  flip_aug = true
  [[datasets.subsets]]
  image_dir = "{reg}"
  is_reg = true
"""


@pytest.fixture
def config_file(tmp_path):
    make_dataset(tmp_path / "d", {"2_redcircle": 3, "1_bluesquare": 2})
    make_dataset(tmp_path / "r", {"1_circle": 2})
    path = tmp_path / "my dataset.toml"
    path.write_text(TOML.format(a=(tmp_path / "d" / "2_redcircle").as_posix(),
                                b=(tmp_path / "d" / "1_bluesquare").as_posix(), reg="r/1_circle"), encoding="utf-8")
    return path


def _open(qtbot, page, path):
    page.open_dataset(str(path))
    qtbot.waitUntil(lambda: page.root == path and page.scan is not None and not page.is_loading()
                    and page.concepts.topLevelItemCount() == 4, timeout=10000)


def _rows(page):
    out = []
    for i in range(1, page.concepts.topLevelItemCount()):
        it = page.concepts.topLevelItem(i)
        lines = [it.child(i).text(0).strip() for i in range(it.childCount())]  # wrapped between options
        out.append((it.text(0), it.text(1), " · ".join(lines)))
    return out


def test_a_dataset_config_opens_as_the_concepts_with_their_options(qtbot, page, config_file):
    _open(qtbot, page, config_file)
    prefix = "prefix “photo of”"  # from [general], like shuffle
    assert _rows(page) == [("2_redcircle", "×2", f"dataset 1 · keep 1 · shuffle · {prefix}"),
                           ("1_bluesquare", "×1", f"dataset 2 · shuffle · flip · {prefix}"),
                           ("1_circle", "×1", f"dataset 2 · shuffle · {prefix} · reg")]
    assert page.config_model.get().dataset_config == str(config_file)  # the run trains from it
    # dataset 1: 3 x 2 samples at batch 2 -> 3 batches; dataset 2: 2 + 2 at the run's batch size (1) -> 4
    assert "10 samples per epoch" in page.totals.text() and "7 steps per epoch" in page.totals.text()
    assert "at batch 2, 1" in page.totals.text()


def test_edits_go_back_into_the_file_keeping_what_the_page_does_not_show(qtbot, page, config_file, monkeypatch):
    from widgets.dataset.concept_options import ConceptOptionsDialog, save_dataset_config_from

    _open(qtbot, page, config_file)

    def user_edits(dlg):
        dlg.repeats.setValue(5)
        dlg.keep.setValue(-1)  # "as the run"
        dlg.dropout.setValue(0.2)
        return ConceptOptionsDialog.DialogCode.Accepted

    monkeypatch.setattr(ConceptOptionsDialog, "exec", user_edits)
    page.concepts._edit(page.concepts.topLevelItem(1))  # 2_redcircle
    before = read_dataset_config(config_file)
    assert save_dataset_config_from(page, str(config_file)) == str(config_file)
    after = read_dataset_config(config_file)
    red = after["datasets"][0]["subsets"][0]
    assert red == {"image_dir": before["datasets"][0]["subsets"][0]["image_dir"], "num_repeats": 5,
                   "class_tokens": "red thing", "caption_dropout_rate": 0.2}  # shuffle stays inherited
    assert after["general"] == before["general"]  # caption_prefix and shuffle_caption kept there
    assert after["datasets"][1] == before["datasets"][1]  # untouched dataset, relative image_dir included
    assert (after["datasets"][0]["resolution"], after["datasets"][0]["batch_size"]) == (64, 2)


def test_a_run_config_naming_a_dataset_config_opens_it_here(qtbot, page, config_file):
    page.config_model.update(dataset_config=str(config_file))  # what opening a run config does
    qtbot.waitUntil(lambda: page.root == config_file and not page.is_loading()
                    and page.concepts.topLevelItemCount() == 4, timeout=10000)
    assert [r[0] for r in _rows(page)] == ["2_redcircle", "1_bluesquare", "1_circle"]


def test_a_bad_dataset_config_is_one_sentence(qtbot, page, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[datasets]]\n[[datasets.subsets]]\nimage_dir='x'\nnum_repeat=2\n", encoding="utf-8")
    page.open_dataset(str(bad))
    qtbot.waitUntil(lambda: page.error is not None, timeout=10000)
    assert not page.banner.isHidden() and "Traceback" not in page.banner.text()
    assert "Did you mean 'num_repeats'" in page.banner.text() and "bad.toml" in page.banner.text()
    assert page.config_model.get().dataset_config != str(bad)  # the run is not pointed at it


def test_saved_elsewhere_the_relative_folders_still_name_the_same_folders(qtbot, page, config_file, tmp_path):
    from widgets.dataset.concept_options import save_dataset_config_from

    _open(qtbot, page, config_file)
    other = tmp_path / "elsewhere" / "copy.toml"
    other.parent.mkdir()
    assert save_dataset_config_from(page, str(other)) == str(other)
    reg = read_dataset_config(other)["datasets"][1]["subsets"][1]["image_dir"]
    assert reg == (tmp_path / "r" / "1_circle").as_posix()  # was "r/1_circle", relative to the first file
    assert page.root == other and page.config_model.get().dataset_config == str(other)
    assert read_dataset_config(config_file)["datasets"][1]["subsets"][1]["image_dir"] == "r/1_circle"  # unchanged


def test_opening_a_folder_after_a_dataset_config_trains_that_folder(qtbot, page, config_file, tmp_path):
    folder = page.root  # the fixture's plain training folder
    _open(qtbot, page, config_file)
    assert page.config_model.get().dataset_config == str(config_file)
    page.open_dataset(folder)
    qtbot.waitUntil(lambda: page.root == folder and not page.is_loading()
                    and page.concepts.topLevelItemCount() == 3, timeout=10000)
    cfg = page.config_model.get()
    assert cfg.dataset_config == "" and cfg.train_data_dir == str(folder)  # not the config's folders any more


def test_the_page_follows_what_another_page_points_the_run_at(qtbot, page, config_file, tmp_path):
    folder = page.root
    _open(qtbot, page, config_file)
    page.config_model.update(dataset_config="")  # cleared on the Training page: the run trains train_data_dir
    qtbot.waitUntil(lambda: page.root == folder and not page.is_loading(), timeout=10000)
    other = make_dataset(tmp_path / "other", {"3_star": 2})
    page.config_model.update(train_data_dir=str(other))  # another training folder typed there
    qtbot.waitUntil(lambda: page.root == other and not page.is_loading()
                    and page.concepts.topLevelItemCount() == 2, timeout=10000)
    page.config_model.update(train_data_dir=str(tmp_path / "not a folder"))  # typing: nothing to show yet
    page._follow_timer.stop()
    page._follow_run_source()
    assert page.root == other and not page.is_loading()


def test_the_buckets_tab_buckets_each_dataset_at_its_own_settings(qtbot, page, config_file):
    from trainer.config.plan import dataset_bucket_counts

    _open(qtbot, page, config_file)
    page.tabs.setCurrentWidget(page.buckets)  # the page's own resolution stays TrainConfig's 512
    qtbot.waitUntil(lambda: page.buckets.report is not None and not page.buckets.is_running(), timeout=10000)
    table = page.buckets.table
    rows = [(table.item(r, 0).text(), int(table.item(r, 1).text()), int(table.item(r, 2).text()))
            for r in range(table.rowCount())]
    # dataset 1 at 64 px: 3 images x 2 repeats; dataset 2 at 96 px: 2 images + 2 reg images balanced to them
    assert rows == [("dataset 1 · 64×64  (1.00)", 3, 6), ("dataset 2 · 96×96  (1.00)", 4, 4)]
    # what the trainer plans from (trainer.config.plan), per dataset
    trained = dataset_bucket_counts(page.config_model.get())
    assert [(b, counts) for b, counts in trained] == [(2, {(64, 64): 6}), (1, {(96, 96): 4})]
    assert "dataset 2: 96,96, batch 1" in page.buckets.status.text()
    table.selectRow(1)
    shown = {page.buckets.images.item(r, 0).text() for r in range(page.buckets.images.rowCount())}
    assert shown == {"1_bluesquare/img0.png", "1_bluesquare/img1.png", "1_circle/img0.png",
                     "1_circle/img1.png"}
    assert page.buckets.images.item(0, 2).text() == "96×96 ↑"  # the 64 px images enlarged to fit


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_concepts_options_wrap_to_the_lists_width_and_none_is_cut_off(qtbot, page, config_file, lang):
    from app import i18n

    i18n.set_language(lang)
    _open(qtbot, page, config_file)
    tree = page.concepts
    blue = tree.topLevelItem(2)
    c = tree._concept_of(blue)
    c.options.update(keep_tokens=2, flip_aug=True, caption_dropout_rate=0.25, caption_extension=".caption")
    tree._fill(blue, c)
    tr = i18n.tr
    whole = " · ".join([tr("dataset {n}").format(n=2), tr("keep {n}").format(n=2), tr("shuffle"), tr("flip"),
                        tr("drop {p}%").format(p=25), ".caption", tr("prefix “{t}”").format(t="photo of")])
    for width in (1200, 240, 170):  # the concept column as wide as the page, then squeezed by the splitter
        page.split.setSizes([width, 1200 - width, 0])

        def fits():
            room = tree.viewport().width() - tree.indentation()
            lines = [blue.child(i).text(0) for i in range(blue.childCount())]
            return all(tree.fontMetrics().horizontalAdvance(t) <= room for t in lines) and \
                " · ".join(t.strip() for t in lines) == whole

        qtbot.waitUntil(fits, timeout=5000)
        assert blue.child(0).toolTip(0) == whole
    assert blue.childCount() > 1  # narrow: several lines, broken between options


def test_the_dataset_config_is_read_once_until_it_or_the_settings_change(qtbot, page, config_file,
                                                                         monkeypatch):
    import trainer.dataset.config_file as config_file_module
    from widgets.dataset.concept_options import save_dataset_config_from

    _open(qtbot, page, config_file)
    real, reads = config_file_module.dataset_configs, []
    monkeypatch.setattr(config_file_module, "dataset_configs", lambda cfg: reads.append(1) or real(cfg))
    page.forget_dataset_cfgs()
    for row in range(page.model.rowCount()):  # selection changes, each asking for its dataset's bucketer
        page.view.setCurrentIndex(page.model.index(row))
    page._update_totals()
    assert page.model.rowCount() == 7 and len(reads) == 1
    page.totals_bar.batch.setValue(3)  # a setting changed: the datasets are read again, at the new one
    assert len(reads) == 2 and "at batch 2, 3" in page.totals.text()
    reads.clear()
    page.scan.concepts[0].repeats = 4
    save_dataset_config_from(page, str(config_file))  # the file written: read afresh
    page._update_totals()
    assert len(reads) == 1
def test_new_repeats_change_what_the_reg_folder_of_that_dataset_adds(qtbot, page, config_file, monkeypatch):
    from widgets.dataset.concept_options import ConceptOptionsDialog

    _open(qtbot, page, config_file)
    samples = lambda: [page.concepts.topLevelItem(i).text(3) for i in range(4)]  # noqa: E731
    assert samples() == ["10", "6", "2", "2"]

    def user_edits(dlg):
        dlg.repeats.setValue(3)
        return ConceptOptionsDialog.DialogCode.Accepted

    monkeypatch.setattr(ConceptOptionsDialog, "exec", user_edits)
    page.concepts._edit(page.concepts.topLevelItem(2))  # 1_bluesquare: 2 images x 3 = 6 in dataset 2
    assert samples() == ["18", "6", "6", "6"]  # its dataset's 2 reg images are repeated up to 6 samples
    assert "1_circle: 2×1 = 2, balanced to 6" in page.totals.text()
    assert "18 samples per epoch" in page.totals.text()
