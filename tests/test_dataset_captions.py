"""trainer.dataset.captions: reading/writing caption files, tag lists, sd-scripts' process_caption."""

import os
import random

import pytest

from trainer.dataset import captions as C
from trainer.dataset.captions import (
    CaptionEncodingError,
    add_tag,
    dedupe_tags,
    join_tags,
    move_tag,
    move_to_front,
    process_caption,
    read_caption,
    remove_tag,
    replace_tag,
    sort_tags,
    split_tags,
    training_caption,
    write_caption_atomic,
)
from trainer.errors import DatasetError

# ----------------------------------------------------------------------------------------------- reading


def test_read_plain_utf8(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("maid, ёлка, smile\n".encode())
    cf = read_caption(p)
    assert cf.text == "maid, ёлка, smile\n"
    assert cf.encoding == "utf-8" and not cf.has_bom and cf.newline == "\n"
    assert cf.caption == "maid, ёлка, smile"


def test_read_bom_is_stripped_and_remembered(tmp_path):
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbfmaid, smile\r\nsecond line\r\n")
    cf = read_caption(p)
    assert cf.text == "maid, smile\nsecond line\n"
    assert not cf.text.startswith("\ufeff")
    assert cf.has_bom and cf.encoding == "utf-8-sig" and cf.newline == "\r\n"
    assert cf.caption == "maid, smile"
    # written back the same way
    write_caption_atomic(p, cf.text + "third\n", cf.newline, cf.encoding)
    assert p.read_bytes() == b"\xef\xbb\xbfmaid, smile\r\nsecond line\r\nthird\r\n"


def test_read_not_utf8_names_the_file(tmp_path):
    p = tmp_path / "кошка 1.txt"
    p.write_bytes("maid, кошка".encode("cp1251"))
    with pytest.raises(CaptionEncodingError) as e:
        read_caption(p)
    assert isinstance(e.value, DatasetError)
    assert "кошка 1.txt" in str(e.value) and "UTF-8" in str(e.value)
    assert e.value.path == p


def test_training_caption_first_line():
    assert training_caption("  a, b  \nc, d\n") == "a, b"
    assert training_caption("\ufeffa") == "a"
    assert training_caption("\n\nx") == ""
    assert training_caption("a\rb") == "a"


# ----------------------------------------------------------------------------------------------- writing


def test_write_atomic_creates_and_replaces(tmp_path):
    p = tmp_path / "new.txt"
    write_caption_atomic(p, "a, b\n")
    assert p.read_bytes() == b"a, b\n"
    write_caption_atomic(p, "a, b\nc", newline="\r\n")
    assert p.read_bytes() == b"a, b\r\nc"
    assert sorted(os.listdir(tmp_path)) == ["new.txt"]


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_write_atomic_keeps_permissions(tmp_path):
    p = tmp_path / "perm.txt"
    p.write_text("x")
    os.chmod(p, 0o640)
    write_caption_atomic(p, "y")
    assert (p.stat().st_mode & 0o777) == 0o640
    q = tmp_path / "fresh.txt"
    write_caption_atomic(q, "z")
    umask = os.umask(0)
    os.umask(umask)
    assert (q.stat().st_mode & 0o777) == 0o666 & ~umask


def test_write_atomic_failure_leaves_original(tmp_path, monkeypatch):
    p = tmp_path / "keep.txt"
    p.write_bytes(b"original, tags\n")

    def failing_replace(src, dst):
        assert os.path.exists(src) and open(src, "rb").read() == b"new, text\n"  # temp file was written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(C.os, "replace", failing_replace)
    with pytest.raises(DatasetError, match="keep.txt"):
        write_caption_atomic(p, "new, text\n")
    assert p.read_bytes() == b"original, tags\n"
    assert os.listdir(tmp_path) == ["keep.txt"]  # no temp file left behind


def test_write_atomic_non_os_exception_also_cleans_up(tmp_path, monkeypatch):
    p = tmp_path / "keep.txt"
    p.write_bytes(b"original")

    def boom(fd):
        raise RuntimeError("power cut")

    monkeypatch.setattr(C.os, "fsync", boom)
    with pytest.raises(RuntimeError):
        write_caption_atomic(p, "new")
    assert p.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_write_atomic_unencodable_text(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"old")
    with pytest.raises(UnicodeEncodeError):
        write_caption_atomic(p, "ёлка", encoding="ascii")
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.txt"]


# ----------------------------------------------------------------------------------------------- tags


def test_split_and_join():
    assert split_tags(" a ,b,, c ,") == ["a", "b", "c"]
    assert split_tags("") == []
    assert join_tags(["a", "b"]) == "a, b"


def test_tag_operations():
    tags = ["trigger", "1girl", "smile", "hat"]
    assert add_tag(tags, "new") == ["trigger", "1girl", "smile", "hat", "new"]
    assert add_tag(tags, "new", position="front") == ["new", "trigger", "1girl", "smile", "hat"]
    front_after_kept = ["trigger", "new", "1girl", "smile", "hat"]
    assert add_tag(tags, "new", position="front", keep_tokens=1) == front_after_kept
    assert add_tag(tags, "new", position="front", keep_tokens=9) == [*tags, "new"]
    assert add_tag(tags, "smile") == tags  # already present
    assert remove_tag(["a", "b", "a"], "a") == ["b"]
    assert replace_tag(["a", "b", "c"], "b", "x") == ["a", "x", "c"]
    assert replace_tag(["a", "b", "c"], "c", "a") == ["a", "b"]  # merges into the existing tag
    assert replace_tag(["a", "b"], "b", "") == ["a"]
    assert dedupe_tags(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert sort_tags(["z", "B", "a", "c"]) == ["a", "B", "c", "z"]
    assert sort_tags(["trigger", "z", "a"], keep_tokens=1) == ["trigger", "a", "z"]
    assert move_to_front(["a", "trig", "b"], "trig") == ["trig", "a", "b"]
    assert move_to_front(["a", "b"], "trig") == ["trig", "a", "b"]
    assert move_tag(["a", "b", "c"], 2, 0) == ["c", "a", "b"]
    assert tags == ["trigger", "1girl", "smile", "hat"]  # inputs never mutated


# --------------------------------------------------------------------------------------- process_caption


def _reference_process(caption, shuffle, keep_tokens, tag_dropout, seed):
    """Independent re-statement of sd-scripts' algorithm using the global ``random`` like it does."""
    random.seed(seed)
    tokens = [t.strip() for t in caption.strip().split(",")]
    fixed, flex = tokens[:keep_tokens], tokens[keep_tokens:]
    if shuffle:
        random.shuffle(flex)
    if tag_dropout > 0:
        flex = [t for t in flex if random.random() >= tag_dropout]
    return ", ".join(fixed + flex)


def test_process_caption_keep_tokens_and_shuffle_seeded():
    caption = "sks woman, red hair, smile, hat, outdoors, looking at viewer, blue eyes"
    outs = set()
    for seed in range(20):
        out = process_caption(caption, shuffle_caption=True, keep_tokens=2, rng=random.Random(seed))
        tags = out.split(", ")
        assert tags[:2] == ["sks woman", "red hair"]
        assert sorted(tags) == sorted(split_tags(caption))
        assert out == _reference_process(caption, True, 2, 0.0, seed)
        outs.add(out)
    assert len(outs) > 10  # actually shuffled
    # same seed -> same result
    a = process_caption(caption, shuffle_caption=True, keep_tokens=1, rng=random.Random(7))
    b = process_caption(caption, shuffle_caption=True, keep_tokens=1, rng=random.Random(7))
    assert a == b


def test_process_caption_tag_dropout_matches_reference():
    caption = "a, b, c, d, e, f, g, h"
    for seed in range(10):
        out = process_caption(caption, shuffle_caption=True, keep_tokens=1, caption_tag_dropout_rate=0.5,
                              rng=random.Random(seed))
        assert out == _reference_process(caption, True, 1, 0.5, seed)
        assert out.startswith("a")


def test_process_caption_whole_dropout():
    caption = "a, b, c"
    rng = random.Random(0)
    results = [process_caption(caption, caption_dropout_rate=0.3, rng=rng) for _ in range(1000)]
    dropped = results.count("")
    assert 240 < dropped < 360
    assert set(results) == {"", "a, b, c"}
    assert process_caption(caption, caption_dropout_every_n_epochs=2, epoch=4, rng=rng) == ""
    assert process_caption(caption, caption_dropout_every_n_epochs=2, epoch=3, rng=rng) == caption


def test_process_caption_unchanged_without_options():
    rng = random.Random(0)
    assert process_caption("a,b ,  c", rng=rng) == "a,b ,  c"  # no splitting unless shuffle/dropout
    assert process_caption("first line\nsecond", rng=rng) == "first line"
    assert rng.random() == random.Random(0).random()  # no random numbers consumed


def test_process_caption_keep_tokens_separator():
    caption = "sks, woman ||| hat, smile, outdoors ||| best quality, masterpiece"
    for seed in range(5):
        out = process_caption(caption, shuffle_caption=True, keep_tokens_separator="|||", keep_tokens=5,
                              rng=random.Random(seed))
        tags = out.split(", ")
        assert tags[:2] == ["sks", "woman"] and tags[-2:] == ["best quality", "masterpiece"]
        assert sorted(tags[2:5]) == ["hat", "outdoors", "smile"]


def test_process_caption_prefix_suffix_secondary_separator():
    out = process_caption("a, b;;;c", caption_prefix="trig,", caption_suffix=", end",
                          secondary_separator=";;;", rng=random.Random(0))
    assert out == "trig, a, b,c , end"  # prefix/suffix are joined with a space, as sd-scripts does
