"""Issue 16, items 5 and 6 without training: every field's range from its metadata, files that are not what
their suffix says, a broken .safetensors header in `check --sd_model`, file modes, UTF-16 captions, images
behind symlink loops, and our sentence instead of Pillow's DecompressionBombWarning. The probe's corpus is
generated here."""
import json
import os
import pickle
import struct
import warnings
from pathlib import Path

import pytest
import torch
from conftest import make_dataset
from PIL import Image

from trainer.config.fields import FIELDS, TrainConfig
from trainer.config.ranges import range_problem
from trainer.errors import DatasetError, ModelError
from trainer.config.validate import errors

# --- ranges ---------------------------------------------------------------------------------------------


def _messages(**kw) -> list[str]:
    return [i.message for i in errors(TrainConfig(**kw), need_paths=False)]


@pytest.mark.parametrize("name", [n for n, f in FIELDS.items() if f.metadata.get("min") is not None
                                  and n != "max_train_steps"])
def test_every_minimum_in_the_field_metadata_is_enforced(name):
    low = FIELDS[name].metadata["min"]
    value = low - 1 if isinstance(low, int) else low - 0.5
    found = [m for m in _messages(**{name: value}) if m.startswith(f"{name} = ")]
    assert found == [f"{name} = {value:g}: the smallest allowed value is {low:g}."]


@pytest.mark.parametrize("name", [n for n, f in FIELDS.items() if f.metadata.get("max") is not None])
def test_every_maximum_in_the_field_metadata_is_enforced(name):
    high = FIELDS[name].metadata["max"]
    value = high + 1
    assert any(m.startswith(f"{name} = ") and "largest allowed value" in m for m in _messages(**{name: value}))


def test_the_probes_cases_are_one_sentence_each():
    assert _messages(train_batch_size=0) == ["train_batch_size = 0: the smallest allowed value is 1."]
    assert _messages(network_dim=0) == ["network_dim = 0: the smallest allowed value is 1."]
    assert _messages(network_dim=-4) == ["network_dim = -4: the smallest allowed value is 1."]
    assert _messages(mixed_precision="fp8") == ["mixed_precision = fp8: choose one of: no, fp16, bf16."]
    assert _messages(output_name="") and _messages(output_name="../victim/base")
    assert _messages() == []  # the defaults are all in range


def test_the_form_and_validate_share_the_range_words():
    assert range_problem("learning_rate", -1.0) == ("The smallest allowed value is {value}.", "0")
    assert range_problem("caption_dropout_rate", 1.5) == ("The largest allowed value is {value}.", "1")
    assert range_problem("network_dim", None) is None  # empty: sd-scripts' default


# --- files that are not what their suffix says ----------------------------------------------------------


@pytest.fixture
def corpus(tmp_path):
    """Files a careless user might hand over, named .safetensors."""
    d = tmp_path / "corpus"
    d.mkdir()
    torch.save({"a": torch.zeros(2)}, d / "torch-zip.safetensors")
    torch.save({"a": torch.zeros(2)}, d / "torch-legacy.safetensors", _use_new_zipfile_serialization=False)
    (d / "pickle.safetensors").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    for name, header in {"no-offsets": {"x": {"dtype": "F32", "shape": [1]}}, "list-entry": {"x": [1, 2]},
                         "text-offsets": {"x": {"dtype": "F32", "shape": [1], "data_offsets": "0,4"}}}.items():
        raw = json.dumps(header).encode()
        (d / f"{name}.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    return d


def test_a_lora_that_is_really_a_torch_checkpoint_is_named_for_what_it_is(corpus):
    from trainer.network.lora_file import load_lora

    with pytest.raises(ModelError, match="is a PyTorch checkpoint .* with a .safetensors name"):
        load_lora(corpus / "torch-zip.safetensors")
    with pytest.raises(ModelError, match="is a Python pickle"):
        load_lora(corpus / "torch-legacy.safetensors")


def test_a_renamed_torch_checkpoint_is_read_by_content_never_as_code(corpus):
    from trainer.models.checkpoint_io import read_state_dict

    assert set(read_state_dict(corpus / "torch-zip.safetensors")) == {"a"}
    with pytest.raises(ModelError):
        read_state_dict(corpus / "pickle.safetensors")


@pytest.mark.parametrize("name", ["no-offsets", "list-entry", "text-offsets"])
def test_a_header_of_the_wrong_shape_is_one_sentence(corpus, name):
    from trainer.models.checkpoint_io import read_shapes

    with pytest.raises(ModelError) as e:
        read_shapes(corpus / f"{name}.safetensors")
    assert "damaged .safetensors header" in str(e.value) and "\n" not in str(e.value)


def test_check_with_a_broken_sd_model_is_one_line_exit_1(corpus, tmp_path, capsys):
    from safetensors.torch import save_file

    from trainer.tools.cli import main_check

    lora = tmp_path / "l.safetensors"
    save_file({"lora_unet_x.lora_down.weight": torch.zeros(1, 4), "lora_unet_x.lora_up.weight": torch.zeros(4, 1)},
              str(lora), {"ss_network_dim": "1"})
    code = main_check([str(lora), "--sd_model", str(corpus / "no-offsets.safetensors")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "damaged .safetensors header" in err and "Traceback" not in err and "\n" not in err


# --- small items ------------------------------------------------------------------------------------------


def test_saved_files_get_the_umask_mode_or_keep_their_own(tmp_path):
    from trainer.fileio import write_atomic

    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.safetensors", b"x")
        assert (tmp_path / "a.safetensors").stat().st_mode & 0o777 == 0o644
        os.chmod(tmp_path / "a.safetensors", 0o664)
        write_atomic(tmp_path / "a.safetensors", b"y")  # a replaced file keeps its mode
        assert (tmp_path / "a.safetensors").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)


@pytest.mark.parametrize("encoding,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
def test_utf16_captions_are_trained_and_written_back_as_utf16(tmp_path, encoding, bom):
    from trainer.dataset.captions import read_caption, write_caption_atomic
    from trainer.dataset.scan import scan_dataset

    data = make_dataset(tmp_path / "data", {"1_x": 1})
    cap = data / "1_x" / "img0.txt"
    cap.write_bytes(bom + "девушка, red hair\r\nnotes".encode(encoding))
    scan = scan_dataset(data)
    assert scan.images[0].caption == "девушка, red hair" and not scan.problems_of("caption_encoding")
    cf = read_caption(cap)
    write_caption_atomic(cap, cf.text.replace("red", "blue"), cf.newline, cf.encoding)
    assert cap.read_bytes() == bom + "девушка, blue hair\r\nnotes".encode(encoding)


def test_images_behind_a_symlink_loop_are_named_with_the_reason(tmp_path):
    from trainer.dataset.scan import scan_dataset

    data = make_dataset(tmp_path / "data", {"1_x": 2})
    (data / "1_x" / "loop.png").symlink_to(data / "1_x" / "loop.png")
    (data / "1_x" / "gone.png").symlink_to(data / "1_x" / "nothing-here.png")
    (data / "2_loop").symlink_to(data / "2_loop")
    scan = scan_dataset(data)
    messages = {Path(p.path).name: p.message for p in scan.problems}
    assert "points back to itself" in messages["loop.png"]
    assert "does not exist" in messages["gone.png"]
    assert "points back to itself" in messages["2_loop"]
    assert [i.path.name for i in scan.images] == ["img0.png", "img1.png"]


def test_absurd_repeats_are_refused_with_the_limit_named(tmp_path):
    from trainer.dataset.scan import scan_dataset

    data = make_dataset(tmp_path / "data", {"10000000000_x": 1})
    with pytest.raises(DatasetError, match="10000000000 repeats; at most 10000"):
        scan_dataset(data)


def test_a_very_large_image_gets_our_sentence_not_pillows_warning(tmp_path, monkeypatch):
    from trainer.dataset.buckets import Bucketer
    from trainer.dataset.plan import assign_buckets
    from trainer.dataset.scan import scan_dataset

    data = make_dataset(tmp_path / "data", {"1_x": 1}, size=(40, 40))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 px: above the warning, below the refusal
    with warnings.catch_warnings(record=True) as caught:
        report = assign_buckets(scan_dataset(data), Bucketer((64, 64), True, 64, 128, 64, False))
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    large = [p for p in report.problems if p.kind == "large_image"]
    assert len(large) == 1 and "img0.png" in large[0].message and "megapixels" in large[0].message
    assert report.assignments  # still trained
