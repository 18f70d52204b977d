"""The guide's dataset numbers as hints (trainer/dataset/guidance.py): images per concept, samples per epoch,
samples over the run (steps for SDXL), balance between folders, regularization images."""
import pytest
from app_fixtures import app_env, page  # noqa: F401

from trainer.dataset.guidance import dataset_hints


def levels(hints):
    return [(h.level, h.text) for h in hints]


def test_a_character_inside_the_guides_numbers_gets_only_ok_hints():
    hints = dataset_hints("character", [("5_mayuri", 80, 5, False)], epochs=10)
    assert [h.level for h in hints] == ["ok", "ok", "ok"]
    assert hints[0].text == "Images for a character: 80, within the guide's 50-100."
    assert hints[1].text == "Samples per epoch (images x repeats): 400, within the guide's 300-500."
    assert hints[2].text.startswith("Samples over the run (epochs x samples per epoch, before the batch size): 4000")


def test_a_small_style_is_low_and_gets_the_repeats_that_would_fit():
    hints = dataset_hints("style", [("1_art", 40, 1, False)], epochs=10)
    assert [h.level for h in hints] == ["low", "low", "note", "low"]
    assert hints[2].text == "Repeats 12 for '1_art' would give 480 samples per epoch."


def test_sdxl_is_judged_by_steps_and_a_concept_by_samples_per_epoch_only():
    hints = dataset_hints("concept", [("10_hat", 30, 10, False)], epochs=20, total_steps=9000, sdxl=True)
    assert levels(hints) == [("ok", "Samples per epoch (images x repeats): 300, within the guide's 200-600."),
                             ("high", "Total steps for SDXL: 9000, above the guide's 1500-6000.")]


def test_unbalanced_folders_and_reg_images_are_noted_never_errors():
    hints = dataset_hints("character", [("1_main", 76, 1, False), ("6_maid", 16, 6, False),
                                        ("1_tiny", 5, 1, False), ("1_reg", 100, 1, True)])
    notes = [h.text for h in hints if h.level == "note"]
    assert any("'1_tiny' adds 5 samples per epoch" in n for n in notes)
    assert not any("6_maid" in n for n in notes)  # 96 vs 76: in balance
    assert any("regularization" in n for n in notes)
    assert hints[0].values["value"] == 97  # reg images are not counted as the character's images
    assert all(h.level in ("ok", "low", "high", "note") for h in hints)


def test_an_unknown_goal_is_a_sentence():
    with pytest.raises(ValueError, match="character, style, concept"):
        dataset_hints("portrait", [])


def test_the_totals_bar_and_the_training_page_show_the_hints_for_the_chosen_goal(qtbot, page, tmp_path):
    from conftest import make_dataset, quick_config

    from widgets.common.guidance_hints import goal, hints_html
    from widgets.training.lr_preview import schedule_preview

    goal().set("character")
    text = page.totals_bar.hints.text()
    assert "Images for a character: 5, below the guide's 50-100." in text
    goal().set("style")
    assert "Images for a style: 5" in page.totals_bar.hints.text()
    res = schedule_preview(quick_config("m", make_dataset(tmp_path / "d"), tmp_path / "o", max_train_epochs=10))
    assert res["concepts"] == [("1_bluesquare", 2, 1, False), ("2_redcircle", 3, 2, False)] and res["epochs"] == 10
    run = hints_html(res["concepts"], epochs=res["epochs"], total_steps=res["total"])
    assert "Samples over the run (epochs x samples per epoch, before the batch size): 80" in run
    goal().set("character")
