"""What the run trains follows what the user opens on the Dataset page (a training folder or a dataset
config), never a re-read of the same dataset; "Save dataset config..." of a folder trains and shows the file
written; while a run is on, its source stays as it is and what was opened meanwhile is trained next."""
from app_fixtures import app_env, page, wait_loaded  # noqa: F401
from conftest import make_dataset


def _loaded_at(qtbot, page, root, concepts):
    qtbot.waitUntil(lambda: page.root == root and page.scan is not None and not page.is_loading()
                    and page.concepts.topLevelItemCount() == concepts, timeout=10000)


def _window_with_a_folder(qtbot, app_env):
    """The real window (not saving settings) with a generated training folder open -> (window, folder)."""
    from app.main_window import MainWindow
    from app.settings import make_settings

    w = MainWindow(make_settings(), None, persist=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.built, timeout=10000)
    folder = make_dataset(app_env / "data")
    w.open_dataset(folder)
    wait_loaded(qtbot, w.dataset_page)
    return w, folder


def test_reading_the_folder_again_leaves_what_the_run_trains(qtbot, page, tmp_path):
    folder = page.root
    other = str(tmp_path / "elsewhere.toml")
    page.edit_settings(dataset_config=other)  # pointed elsewhere by this page (no follow)
    page.hygiene.datasetChanged.emit()  # files removed by the hygiene check: the folder is read again
    qtbot.waitUntil(lambda: page.is_loading(), timeout=5000)
    wait_loaded(qtbot, page)
    page.edit_settings(caption_extension=".caption")  # captions are other files: read again after a pause
    qtbot.waitUntil(lambda: page.is_loading(), timeout=5000)
    wait_loaded(qtbot, page)
    cfg = page.config_model.get()
    assert page.root == folder and cfg.dataset_config == other


def test_a_dataset_config_saved_from_a_folder_is_trained_and_shown(qtbot, page, tmp_path):
    from widgets.dataset.concept_options import save_dataset_config_from

    red = next(c for c in page.scan.concepts if c.folder_name == "2_redcircle")
    red.repeats, red.options = 5, {"keep_tokens": 2}  # as the options dialog sets them
    page.view.setCurrentIndex(page.model.index(1))
    chosen = page.editor.entry.path
    path = str(tmp_path / "saved.toml")
    assert save_dataset_config_from(page, path) == path
    assert page.config_model.get().dataset_config == path  # at once: the run reads the file
    _loaded_at(qtbot, page, tmp_path / "saved.toml", 3)  # the page shows the file: its subsets, their options
    red = next(c for c in page.scan.concepts if c.folder_name == "2_redcircle")
    assert red.repeats == 5 and red.options.get("keep_tokens") == 2
    assert page.editor.entry.path == chosen  # the same image stays selected
    page.edit_settings(caption_extension=".caption")  # a reload after the save keeps training the file
    qtbot.waitUntil(lambda: page.is_loading(), timeout=5000)
    wait_loaded(qtbot, page)
    assert page.config_model.get().dataset_config == path and page.root == tmp_path / "saved.toml"


def test_while_a_run_is_on_what_is_opened_is_trained_by_the_next_run(qtbot, page, tmp_path):
    folder = str(page.root)
    said = []
    page.status.connect(said.append)
    page.set_training(True)
    other = make_dataset(tmp_path / "other", {"3_star": 2})
    page.open_dataset(other)
    _loaded_at(qtbot, page, other, 2)
    cfg = page.config_model.get()
    assert cfg.train_data_dir == folder and cfg.dataset_config == ""  # the running run's source, as shown
    assert f"Training is running: the next run trains {other}." in said
    page.set_training(False)
    assert page.config_model.get().train_data_dir == str(other)


def test_the_window_keeps_the_runs_source_while_training(qtbot, app_env):
    w, first = _window_with_a_folder(qtbot, app_env)
    train = w.training_page
    assert train.config().train_data_dir == str(first)
    train.trainingChanged.emit(True)  # what Start emits once the run's thread is going
    second = make_dataset(app_env / "second", {"3_star": 2})
    w.open_dataset(second)
    _loaded_at(qtbot, w.dataset_page, second, 2)
    assert train.form.rows["train_data_dir"].value() == str(first)
    train.trainingChanged.emit(False)
    assert train.form.rows["train_data_dir"].value() == str(second)


def test_switching_the_language_keeps_what_the_run_trains(qtbot, app_env):
    """The page shows its folder again in the new language; a source typed on the Training page that the page
    could not follow (a dataset config not written yet) is not replaced by the shown folder."""
    w, folder = _window_with_a_folder(qtbot, app_env)
    planned = str(app_env / "not-written-yet.toml")
    w.config_model.update(dataset_config=planned)  # as typed on the Training page
    assert w.set_language("ru")
    qtbot.waitUntil(lambda: w.dataset_page.root == folder, timeout=10000)
    wait_loaded(qtbot, w.dataset_page)
    cfg = w.config_model.get()
    assert cfg.dataset_config == planned and cfg.train_data_dir == str(folder)
