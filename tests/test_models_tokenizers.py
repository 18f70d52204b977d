"""Shipped CLIP tokenizer files and resource paths."""

import sys

from trainer.models.tokenizers import load_tokenizers, tokenizer_dir
from trainer.resources import resource_path

CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 267, 12066, 49407]


def test_known_clip_ids_and_padding():
    (tok,) = load_tokenizers("sd1")
    assert len(tok) == 49408 and tok.model_max_length == 77
    assert tok("a photo of a cat, masterpiece").input_ids == CAT_IDS
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id == 49407
    (tok2,) = load_tokenizers("sd2")
    assert tok2.pad_token == "!" and tok2.pad_token_id == 0
    ids = tok2("a photo of a cat, masterpiece", padding="max_length", max_length=77).input_ids
    assert ids[:9] == CAT_IDS and ids[9:] == [0] * 68
    t1, t2 = load_tokenizers("sdxl")
    assert (t1.pad_token_id, t2.pad_token_id) == (49407, 0)
    long = tok("tag, " * 100, truncation=True, max_length=77).input_ids
    assert len(long) == 77 and long[-1] == 49407


def test_resource_path_checkout_and_bundle(monkeypatch, tmp_path):
    assert (tokenizer_dir() / "vocab.json").is_file() and (tokenizer_dir() / "LICENSE").is_file()
    assert resource_path("tokenizers", "clip") == tokenizer_dir()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("tokenizers", "clip", "vocab.json") == tmp_path / "resources/tokenizers/clip/vocab.json"
