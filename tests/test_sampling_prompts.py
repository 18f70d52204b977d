"""sd-scripts' sample prompt files (.txt/.toml/.json), when samples are due and how they are named.
Torch-free and fast."""
import json

import pytest

from trainer.config.fields import TrainConfig
from trainer.errors import ConfigError
from trainer.sampling.prompts import line_to_prompt_dict, load_prompts
from trainer.sampling.schedule import sample_due, sample_file_name
from trainer.config.validate import validate


def test_txt_lines_with_every_option_comments_and_blank_lines(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("# my prompts\n"
                 "masterpiece, 1girl, (red hair:1.2) --n lowres, bad hands --w 768 --h 516 --d 42 --l 6.5 "
                 "--s 20 --ss euler_a\n\n"
                 "  a cat --s 5000\n", encoding="utf-8")
    a, b = load_prompts(f)
    assert (a.index, a.prompt, a.negative, a.width, a.height, a.seed, a.scale, a.steps, a.sampler) == \
        (0, "masterpiece, 1girl, (red hair:1.2)", "lowres, bad hands", 768, 516, 42, 6.5, 20, "euler_a")
    assert a.size() == (768, 512)  # rounded down to a multiple of 8, as sd-scripts does
    assert (b.index, b.prompt, b.seed, b.steps, b.scale, b.width, b.sampler) == (1, "a cat", None, 1000, 7.5, 512, "")


def test_line_to_prompt_dict_matches_sd_scripts_keys():
    d = line_to_prompt_dict("x --n y --w 64 --h 80 --d 3 --l 7 --s 9 --ss ddim --unknown 1")
    assert d == {"prompt": "x", "negative_prompt": "y", "width": 64, "height": 80, "seed": 3, "scale": 7.0,
                 "sample_steps": 9, "sample_sampler": "ddim"}


def test_toml_and_json_forms(tmp_path):
    t = tmp_path / "p.toml"
    t.write_text('[prompt]\nwidth = 640\nsample_steps = 12\nnegative_prompt = "ugly"\n\n'
                 '[[prompt.subset]]\nprompt = "one"\nseed = 7\n\n'
                 '[[prompt.subset]]\nprompt = "two"\nwidth = 512\n', encoding="utf-8")
    one, two = load_prompts(t)
    assert (one.prompt, one.width, one.steps, one.negative, one.seed) == ("one", 640, 12, "ugly", 7)
    assert (two.prompt, two.width, two.index) == ("two", 512, 1)
    j = tmp_path / "p.json"
    j.write_text(json.dumps(["plain --d 4", {"prompt": "dict", "scale": 5, "sample_sampler": "k_euler"}]))
    a, b = load_prompts(j)
    assert (a.prompt, a.seed, b.prompt, b.scale, b.sampler) == ("plain", 4, "dict", 5.0, "k_euler")


@pytest.mark.parametrize("name,text,words", [
    ("missing.txt", None, "does not exist"),
    ("p.yaml", "x", ".txt, .toml or .json"),
    ("p.json", "{", "not valid JSON"),
    ("p.toml", "[other]\nx=1", "[prompt]"),
    ("p.txt", "# only a comment\n", "holds no prompt"),
    ("p.json", '[{"prompt": "x", "sample_sampler": "warp"}]', "sampler 'warp'"),
    ("p.json", '[{"prompt": "x", "width": "wide"}]', "'width' of prompt 1"),
])
def test_unusable_prompt_files_get_one_sentence_naming_the_file(tmp_path, name, text, words):
    f = tmp_path / name
    if text is not None:
        f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_prompts(f)
    assert words in str(e.value) and name in str(e.value)
    cfg = TrainConfig(sample_prompts=str(f), sample_every_n_epochs=1)
    assert any(i.field == "sample_prompts" and i.error for i in validate(cfg, need_paths=True))


def test_when_samples_are_due_follows_sd_scripts():
    cfg = TrainConfig(sample_prompts="p.txt", sample_every_n_steps=2)
    assert [s for s in range(1, 7) if sample_due(cfg, s, None)] == [2, 4, 6]
    assert not sample_due(cfg, 4, 1)  # an epoch end is not a step sample
    assert not sample_due(cfg, 0, 0, first=True)
    cfg = cfg.replace(sample_every_n_epochs=2, sample_at_first=True)  # epochs win over steps
    assert not sample_due(cfg, 2, None)
    assert [e for e in range(1, 6) if sample_due(cfg, 9, e)] == [2, 4]
    assert sample_due(cfg, 0, 0, first=True)
    assert not sample_due(cfg.replace(sample_prompts=""), 0, 2)
    assert not sample_due(TrainConfig(sample_prompts="p.txt", sample_every_n_steps=0), 4, None)


def test_file_names_as_sd_scripts_names_them():
    assert sample_file_name("mylora", 3, 42, step=120, epoch=None, timestamp="20260101120000") == \
        "mylora_000120_03_20260101120000_42.png"
    assert sample_file_name("mylora", 0, None, step=120, epoch=2, timestamp="20260101120000") == \
        "mylora_e000002_00_20260101120000.png"


def test_validate_warns_about_half_set_sample_options(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("a cat\n", encoding="utf-8")
    issues = {i.field: i for i in validate(TrainConfig(sample_prompts=str(f)), need_paths=True)}
    assert not issues["sample_every_n_epochs"].error
    issues = {i.field: i for i in validate(TrainConfig(sample_every_n_steps=5), need_paths=False)}
    assert "prompt file" in issues["sample_prompts"].message
    issues = {i.field: i for i in validate(TrainConfig(sample_sampler="warp"), need_paths=False)}
    assert issues["sample_sampler"].error
