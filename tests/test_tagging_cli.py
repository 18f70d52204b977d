"""``python main.py tag``: captions written, dry run, exit codes and one-sentence errors for bad input."""
import subprocess
import sys
from pathlib import Path

import pytest

from tagging_fixtures import make_tagger, solid
from main import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def setup(tmp_path):
    model, tags = make_tagger(tmp_path / "tagger")
    data = tmp_path / "data"
    solid(data / "3_oc" / "red.png", (255, 0, 0))
    solid(data / "3_oc" / "green.png", (0, 255, 0))
    (data / "3_oc" / "green.txt").write_text("oc, old tag\n", encoding="utf-8")
    return data, model, tags


def _err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_tag_writes_captions_and_prints_a_summary(setup, capsys):
    data, model, tags = setup
    rc = main(["tag", str(data), "--model", str(model), "--tags", str(tags), "--threshold", "0.45",
               "--exclude", "solo, ^_^", "--trigger", "oc"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "2 of 2 caption files changed (1 new); tagged on CPU" in out
    assert (data / "3_oc" / "red.txt").read_text(encoding="utf-8") == "oc, red theme, long hair\n"
    assert (data / "3_oc" / "green.txt").read_text(encoding="utf-8") == \
        "oc, old tag, long hair, hatsune miku (vocaloid)\n"


def test_replace_with_character_threshold_and_keep_underscores(setup, capsys):
    data, model, tags = setup
    rc = main(["tag", str(data / "3_oc"), "--model", str(model), "--tags", str(tags), "--mode", "replace",
               "--character_threshold", "0.6", "--keep_underscores", "--thresh", "0.92"])
    assert rc == 0
    assert (data / "3_oc" / "green.txt").read_text(encoding="utf-8") == \
        "^_^, hatsune_miku_(vocaloid), kagamine_rin\n"


def test_dry_run_shows_changes_and_writes_nothing(setup, capsys):
    data, model, tags = setup
    before = (data / "3_oc" / "green.txt").read_bytes()
    rc = main(["tag", str(data), "--model", str(model), "--tags", str(tags), "--dry-run"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "green.txt: oc, old tag -> oc, old tag, long hair, smile, ^_^, solo" in out
    assert "red.txt: (no caption) -> red theme" in out
    assert "nothing was written (--dry-run)" in out
    assert (data / "3_oc" / "green.txt").read_bytes() == before and not (data / "3_oc" / "red.txt").exists()


HEADER = b"tag_id,name,category,count\n"
BAD = {  # case -> (model or None for the good one, tag list bytes or None for the good one, extra, error)
    "missing model": ("missing.onnx", None, [], "Tagger model '.*missing.onnx' does not exist"),
    "broken model": (b"\x00garbage", None, [], "Tagger model '.*bad.onnx' cannot be loaded by onnxruntime"),
    "csv header": (None, b"id,tag\n1,a\n", [],
                   "Tag list '.*bad.csv' is not a WD14 selected_tags.csv: its first line must start with "
                   "'tag_id,name,category'"),
    "csv rows": (None, HEADER + b"1,a,0,5\n", [], "Tagger model 'model.onnx' gives 13 scores but 'bad.csv' "
                 "lists 1 tags"),
    "csv category": (None, HEADER + b"1,a,x,5\n", [],
                     "Tag list '.*bad.csv' line 2: category 'x' is not a number"),
    "missing csv": (None, "none.csv", [], "Tag list '.*none.csv' does not exist"),
    "threshold": (None, None, ["--threshold", "2"],
                  "[Aa]rgument --threshold.*must be a number above 0 and at most 1, not '2'"),
}


def _file(folder, value, good, name):
    if value is None:
        return str(good)
    if isinstance(value, str):
        return str(folder / value)
    (folder / name).write_bytes(value)
    return str(folder / name)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_sentence_and_exit_1(setup, capsys, case):
    import re

    data, model, tags = setup
    bad_model, bad_csv, extra, expect = BAD[case]
    rc = main(["tag", str(data), "--model", _file(data.parent, bad_model, model, "bad.onnx"),
               "--tags", _file(data.parent, bad_csv, tags, "bad.csv"), *extra])
    assert rc == 1
    captured = capsys.readouterr()
    err = [line for line in captured.err.strip().splitlines() if line.startswith("error:")]
    assert len(err) == 1 and re.search(expect, err[0]), captured.err
    assert "Traceback" not in captured.err
    assert not (data / "3_oc" / "red.txt").exists()


def test_empty_folder_is_refused(tmp_path, setup, capsys):
    _, model, tags = setup
    (tmp_path / "empty").mkdir()
    assert main(["tag", str(tmp_path / "empty"), "--model", str(model), "--tags", str(tags)]) == 1
    assert "holds no images" in _err_line(capsys)


def test_main_py_tag_runs_as_a_process(setup):
    data, model, tags = setup
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "tag", str(data), "--model", str(model),
                        "--tags", str(tags)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (data / "3_oc" / "red.txt").read_text(encoding="utf-8").startswith("red theme, ")
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "tag", str(data)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1 and "The following arguments are required: --model, --tags" in r.stderr
