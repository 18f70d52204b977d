"""What the sample grid varies, read from text (trainer/tools/sample_axes.py): weight lists and ranges, seeds
with -1, prompt files with --n; bad text is one sentence naming the field or the file and line."""
import pytest

from trainer.errors import UserError
from trainer.sampling.prompts import line_to_prompt_dict
from trainer.tools.cli import main_sample
from trainer.tools.sample_axes import (PromptLine, parse_prompt_line, parse_seeds, parse_values, prompt_lines,
                                       read_prompt_file, resolve_seeds)


@pytest.mark.parametrize("text,want", [
    ("0.6 0.8 1.0", [0.6, 0.8, 1.0]),
    ("0.6, 0.8,1", [0.6, 0.8, 1.0]),
    ("0.4-1.2 [5]", [0.4, 0.6, 0.8, 1.0, 1.2]),
    (["0.4-1.2", "[5]"], [0.4, 0.6, 0.8, 1.0, 1.2]),  # as the shell splits --weights 0.4-1.2 [5]
    ("0.4-1.2 (+0.2)", [0.4, 0.6, 0.8, 1.0, 1.2]),
    ("1-0 [3]", [1.0, 0.5, 0.0]),
    ("0-1", [0.0, 1.0]),
    ("0.4-1.2 [5], 1.5 -0.5", [0.4, 0.6, 0.8, 1.0, 1.2, 1.5, -0.5]),
    ("0.7-0.7 [1]", [0.7]),
])
def test_weights(text, want):
    assert parse_values(text) == want


@pytest.mark.parametrize("text,words", [
    ("0.4-x", "cannot read '0.4-x'"), ("", "at least one value"), ("1-5 [0]", "at least 1"),
    ("0-1 [1000]", "at most 200"), ("1-5 (-1)", "never gets from 1 to 5"), ("0-1000 (+0.001)", "at most 200"),
])
def test_bad_weights_are_one_sentence(text, words):
    with pytest.raises(UserError, match=r"^weights: .*" + words.replace("(", r"\(").replace("[", r"\[")):
        parse_values(text)


def test_seeds_and_random_seeds():
    assert parse_seeds("1 -1 3-5") == [1, -1, 3, 4, 5]
    drawn = resolve_seeds([-1, 7, -1])
    assert drawn[1] == 7 and all(0 <= s < 2 ** 32 for s in drawn)
    with pytest.raises(UserError, match="seeds: seeds are whole numbers"):
        parse_seeds("1.5")
    with pytest.raises(UserError, match="-2 is not a seed"):
        parse_seeds("-2")


def test_prompt_file(tmp_path):
    p = tmp_path / "prompts.txt"
    p.write_text("# my tests\nredcircle, (smile:1.2) --n blurry, lowres\n\nbluesquare\n", encoding="utf-8")
    assert read_prompt_file(p, "ugly") == [PromptLine("redcircle, (smile:1.2)", "blurry, lowres"),
                                          PromptLine("bluesquare", "ugly")]
    p.write_text("a cat --w 512 --n x\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{p} line 1: --w is not used"):
        read_prompt_file(p)
    p.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="has no prompts"):
        read_prompt_file(p)
    with pytest.raises(UserError, match="Prompt file not found"):
        read_prompt_file(tmp_path / "missing.txt")
    assert prompt_lines(["a", " ", "b --n c"], "n") == [PromptLine("a", "n"), PromptLine("b", "c")]


def test_cli_refuses_bad_axes_before_loading_a_model(tmp_path, capsys):
    base = tmp_path / "never-read.safetensors"  # does not exist: the axes are checked first
    for extra, words in ((["--prompt", "x", "--weights", "0.4-1.2", "[0]"], "weights: '0.4-1.2 [0]' asks for 0"),
                         (["--prompt", "x", "--seeds", "a"], "seeds: cannot read 'a'"),
                         (["--prompt_file", str(tmp_path / "p.txt")], "Prompt file not found"),
                         ([], "Give --prompt or --prompt_file.")):
        assert main_sample(["--sd_model", str(base), "--out", str(tmp_path / "g.png"), *extra]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err


def test_sample_panel_reads_the_fields_before_anything_loads(qtbot, tmp_path):
    from widgets.tools.sample_panel import SamplePanel

    w = SamplePanel()
    qtbot.addWidget(w)
    w.base.set_path(tmp_path / "base.safetensors")
    w.out.set_path(tmp_path / "g.png")
    w.prompt.setPlainText("redcircle\n\n(bluesquare:1.2) --n blurry")
    w.weights.setText("0.4-x")
    w.start()
    assert w.task is None and w.status.text().startswith("weights: cannot read '0.4-x'")
    w.weights.setText("0.4-1.2 [5]")
    w.seeds.setText("-1 7")
    w.loras.set_paths([str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")])
    w.fixed_lora.set_path(tmp_path / "style.safetensors")
    w.fixed_weight.setValue(0.7)
    w.job()
    assert w._shape == (2 * 2, 2 * 5)  # (files x prompts) rows, (seeds x weights) columns
    w.prompt.setPlainText("")
    w.start()
    assert w.task is None and "prompt" in w.status.text()


@pytest.mark.parametrize("line", ["red --n blurry", "red, (smile:1.2) --N blurry, lowres",
                                  "a cat --n x --n y"])
def test_the_grid_reads_a_line_as_the_training_samples_do(line):
    """One parser of sd-scripts' prompt lines (trainer/sampling/prompts.py): the grid's prompt and negative
    are the training's (--N as --n, the last --n wins), and every other option is refused by name."""
    trained = line_to_prompt_dict(line)
    assert parse_prompt_line(line) == PromptLine(trained["prompt"], trained["negative_prompt"])
    with pytest.raises(UserError, match="^typed: --b is not used by the sample grid"):
        parse_prompt_line(line + " --b 2", "typed")
