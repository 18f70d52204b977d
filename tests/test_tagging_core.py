"""The tagging core with a tiny real ONNX tagger (tests/tagging_fixtures.py): expected tags for known images,
thresholds, exclusions, underscores, add vs replace, the trigger word first, stop, unreadable files."""
import threading

import numpy as np
import pytest

from tagging_fixtures import make_tagger, solid
from trainer.dataset.scan import scan_dataset
from trainer.dataset.tags import apply_bulk
from trainer.errors import UserError
from trainer.tagging.model import WDTagger, pick_providers
from trainer.tagging.preprocess import prepare_image
from trainer.tagging.run import find_targets, tag_images
from trainer.tagging.select import TagOptions, readable

COMMON = ["long hair", "smile", "^_^", "solo"]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    model, tags = make_tagger(tmp_path_factory.mktemp("tagger"))
    return WDTagger(model, tags)


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "imgs"
    solid(d / "red.png", (255, 0, 0))
    solid(d / "blue.jpg", (0, 0, 255))
    solid(d / "green.webp", (0, 255, 0), size=(40, 64))
    solid(d / "strip.png", (255, 0, 0), size=(100, 20))  # padded white to a square: mostly white
    return d


def _tags(plan):
    return {o.target.image.name: o.tags for o in plan.outcomes}


def test_known_images_give_known_tags_and_captions_are_written(tagger, images):
    plan = tag_images(find_targets(images), tagger, TagOptions())
    assert _tags(plan) == {
        "blue.jpg": ["blue theme", *COMMON],
        "green.webp": [*COMMON, "hatsune miku (vocaloid)"],
        "red.png": ["red theme", *COMMON],
        "strip.png": ["white background", *COMMON],
    }
    assert not (images / "red.txt").exists()  # tagging alone writes nothing
    assert plan.preview.describe() == "4 of 4 caption files change (4 new)"
    result = apply_bulk(plan.preview)
    assert len(result.written) == 4 and not result.failed
    assert (images / "red.txt").read_text(encoding="utf-8") == "red theme, long hair, smile, ^_^, solo\n"


def test_input_size_is_read_from_the_model_and_pixels_are_bgr_0_255(tmp_path, images):
    small = WDTagger(*make_tagger(tmp_path / "m16", size=16, batch=1))
    assert (small.width, small.height, small.fixed_batch) == (16, 16, 1)
    arr = prepare_image(images / "red.png", 16, 16)
    assert arr.shape == (16, 16, 3) and arr.dtype == np.float32
    assert arr[0, 0].tolist() == [0.0, 0.0, 255.0]  # B, G, R
    strip = prepare_image(images / "strip.png", 16, 16)
    assert strip[0, 8].tolist() == [255.0, 255.0, 255.0] and strip[8, 8].tolist() == [0.0, 0.0, 255.0]
    plan = tag_images(find_targets(images), small, TagOptions(), batch_size=8)  # batch 1 model: one at a time
    assert _tags(plan)["red.png"] == ["red theme", *COMMON]


def test_open_input_size_means_448_and_a_channels_first_model_is_refused(tmp_path):
    t = WDTagger(*make_tagger(tmp_path / "open", size="side"))
    assert (t.width, t.height) == (448, 448)
    with pytest.raises(UserError, match=r"model.onnx' is not a WD14-style tagger: .*\[batch, height, width, "
                                        r"3\] \(it takes tensor\(float\) \['N', 3, 32, 32\]\)"):
        WDTagger(*make_tagger(tmp_path / "nchw", channels_first=True))


def test_thresholds_general_and_character(tagger, images):
    plan = tag_images(find_targets(images), tagger, TagOptions(threshold=0.45, character_threshold=0.6))
    # smile (0.4) is out, kagamine rin (0.7) in
    assert _tags(plan)["red.png"] == ["red theme", "long hair", "^_^", "solo", "kagamine rin"]
    plan = tag_images(find_targets(images), tagger, TagOptions(threshold=0.92, character_threshold=0.99))
    assert _tags(plan)["red.png"] == ["red theme", "^_^"]
    assert _tags(plan)["green.webp"] == ["^_^", "hatsune miku (vocaloid)"]


def test_exclude_matches_with_underscores_or_spaces_and_any_case(tagger, images):
    opts = TagOptions(exclude=("Long_Hair", "solo", "hatsune miku (vocaloid)"))
    assert _tags(tag_images(find_targets(images), tagger, opts))["green.webp"] == ["smile", "^_^"]


def test_underscores_to_spaces_keeps_kaomoji_and_short_tags(tagger, images):
    assert readable("long_hair") == "long hair" and readable("^_^") == "^_^"
    assert readable("o_o") == "o_o" and readable("<o>_<o>") == "<o>_<o>"
    plan = tag_images(find_targets(images), tagger, TagOptions(underscores=False))
    assert _tags(plan)["green.webp"] == ["long_hair", "smile", "^_^", "solo", "hatsune_miku_(vocaloid)"]


def test_add_keeps_existing_tags_without_duplicates_and_other_lines(tagger, images):
    cap = images / "red.txt"
    cap.write_bytes(b"\xef\xbb\xbfmy_oc, Long hair, red theme\r\nsecond line\r\n")
    plan = tag_images(find_targets(images), tagger, TagOptions(mode="add", trigger="my_oc"))
    apply_bulk(plan.preview)
    assert cap.read_bytes() == b"\xef\xbb\xbfmy_oc, Long hair, red theme, smile, ^_^, solo\r\nsecond line\r\n"
    # a second run changes nothing
    again = tag_images(find_targets(images), tagger, TagOptions(mode="add", trigger="my_oc"))
    assert cap not in [c.path for c in again.preview.changes]


def test_replace_drops_existing_tags_and_the_trigger_goes_first(tagger, images):
    cap = images / "blue.txt"
    cap.write_text("old tag, sks, another\n", encoding="utf-8")
    plan = tag_images(find_targets(images), tagger, TagOptions(mode="replace", trigger="sks"))
    apply_bulk(plan.preview)
    assert cap.read_text(encoding="utf-8") == "sks, blue theme, long hair, smile, ^_^, solo\n"
    (images / "red.txt").write_text("solo, zzz, red theme\n", encoding="utf-8")
    plan = tag_images(find_targets(images), tagger, TagOptions(mode="add", trigger="zzz, Red_Theme"))
    apply_bulk(plan.preview)
    assert (images / "red.txt").read_text(encoding="utf-8") == "zzz, Red_Theme, solo, long hair, smile, ^_^\n"


def test_stop_keeps_what_was_tagged_and_progress_is_reported(tagger, tmp_path):
    d = tmp_path / "many"
    for i in range(10):
        solid(d / f"{i:02d}.png", (255, 0, 0))
    stop = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done >= 4:
            stop.set()

    plan = tag_images(find_targets(d), tagger, TagOptions(), batch_size=2, on_progress=progress, cancel=stop)
    assert plan.stopped and len(plan.outcomes) == 4 and plan.total == 10
    assert seen == [(2, 10), (4, 10)]
    assert len(plan.preview.changes) == 4
    assert not any(d.glob("*.txt"))


def test_unreadable_image_and_non_utf8_caption_are_reported_and_left_alone(tagger, images):
    (images / "broken.png").write_bytes(b"not a png")
    (images / "blue.txt").write_bytes(b"caf\xe9\n")
    plan = tag_images(find_targets(images), tagger, TagOptions())
    messages = [p.message for p in plan.problems]
    assert any("broken.png" in m for m in messages)
    assert any("blue.txt" in m and "UTF-8" in m for m in messages)
    assert len(plan.outcomes) == 3
    apply_bulk(plan.preview)
    assert (images / "blue.txt").read_bytes() == b"caf\xe9\n"


def test_training_folder_concepts_are_found_and_other_folders_need_recursive(tmp_path):
    root = tmp_path / "train"
    solid(root / "6_maid" / "a.png", (255, 0, 0))
    solid(root / "notes" / "b.png", (255, 0, 0))
    solid(root / ".hidden" / "c.png", (255, 0, 0))
    assert [t.image.name for t in find_targets(root)] == ["a.png"]
    assert [t.image.name for t in find_targets(root, ".caption", recursive=True)] == ["a.png", "b.png"]
    assert find_targets(root, "caption")[0].caption == root / "6_maid" / "a.caption"
    (root / "6_maid" / "A.TXT").write_text("x\n", encoding="utf-8")  # as the scan matches it: no second file
    assert find_targets(root)[0].caption == root / "6_maid" / "A.TXT"
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="'.*empty'.* holds no images"):
        find_targets(tmp_path / "empty")
    with pytest.raises(UserError, match="does not exist"):
        find_targets(tmp_path / "nope")


def test_each_image_gets_the_caption_file_the_training_reads(tmp_path):
    """The tagger pairs images and captions as the dataset scan does: the exact name before one differing in
    letter case, and a face crop (name_x_y_w_h) without its own caption shares name.txt."""
    concept = tmp_path / "train" / "2_maid"
    for name in ("a.png", "A.png", "b.png", "maid_0_0_64_64.png", "solo.png"):
        solid(concept / name, (255, 0, 0))
    for name in ("A.txt", "a.txt", "B.TXT", "maid.txt"):
        (concept / name).write_text("x\n", encoding="utf-8")
    scanned = {e.path.name: e.default_caption_path() for e in scan_dataset(tmp_path / "train").images}
    tagged = {t.image.name: t.caption for t in find_targets(tmp_path / "train")}
    assert tagged == scanned
    assert [tagged[n].name for n in ("a.png", "A.png", "b.png", "maid_0_0_64_64.png", "solo.png")] == \
        ["a.txt", "A.txt", "B.TXT", "maid.txt", "solo.txt"]


def test_gpu_provider_is_preferred_when_present():
    assert pick_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert pick_providers(["DmlExecutionProvider", "CPUExecutionProvider"]) == ["DmlExecutionProvider",
                                                                               "CPUExecutionProvider"]
    assert pick_providers(["CPUExecutionProvider", "CUDAExecutionProvider", "DmlExecutionProvider"])[0] == \
        "CUDAExecutionProvider"
