"""trainer.models.checkpoint_io: safe reading of checkpoints and header-only shapes."""

import os
import pickle
import sys
import types

import pytest
import torch
from safetensors.torch import save_file

from trainer.errors import ModelError
from trainer.models.checkpoint_io import read_metadata, read_shapes, read_state_dict


def _tensors():
    return {"a.weight": torch.randn(3, 4), "b.bias": torch.zeros(5, dtype=torch.float16)}


def test_safetensors_and_shapes(tmp_path):
    p = tmp_path / "m.safetensors"
    save_file(_tensors(), str(p), metadata={"ss_x": "1"})
    sd = read_state_dict(p)
    assert torch.equal(sd["a.weight"], _tensors()["a.weight"]) or sd["a.weight"].shape == (3, 4)
    assert read_shapes(p) == {"a.weight": ((3, 4), "float32"), "b.bias": ((5,), "float16")}
    assert read_metadata(p) == {"ss_x": "1"}


def test_ckpt_unwraps_state_dict(tmp_path):
    p = tmp_path / "m.ckpt"
    t = _tensors()
    torch.save({"state_dict": t, "epoch": 3, "global_step": 10}, p)
    sd = read_state_dict(p)
    assert set(sd) == set(t) and torch.equal(sd["a.weight"], t["a.weight"])
    assert read_shapes(p)["b.bias"] == ((5,), "float16")


def test_plain_dict_pt_and_renamed_safetensors(tmp_path):
    p = tmp_path / "m.pt"
    torch.save(_tensors(), p)
    assert set(read_state_dict(p)) == {"a.weight", "b.bias"}
    q = tmp_path / "actually_safetensors.ckpt"
    save_file(_tensors(), str(q))
    assert set(read_state_dict(q)) == {"a.weight", "b.bias"}


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    p = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Evil(marker)}, p)
    with pytest.raises(ModelError, match="contains pickled code that is not plain tensors; refusing"):
        read_state_dict(p)
    assert not marker.exists()
    with pytest.raises(ModelError, match="refusing to load it for safety"):
        read_shapes(p)
    assert not marker.exists()
    # the same through the legacy (non-zip) torch.save format
    q = tmp_path / "evil_legacy.ckpt"
    torch.save({"x": _Evil(marker)}, q, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelError, match="pickled code"):
        read_state_dict(q)
    assert not marker.exists()


def test_lightning_bookkeeping_classes_do_not_block_real_ckpts(tmp_path, monkeypatch):
    # Real SD 1.x .ckpt files name pytorch_lightning's ModelCheckpoint class in "callbacks"; fake that module
    # while saving, remove it before loading: the file must still load, without importing anything.
    mod = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    class ModelCheckpoint:
        pass

    ModelCheckpoint.__module__ = mod.__name__
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    mod.ModelCheckpoint = ModelCheckpoint
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks", mod.__name__):
        monkeypatch.setitem(sys.modules, name, mod if name == mod.__name__ else types.ModuleType(name))
    p = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": _tensors(), "callbacks": {ModelCheckpoint: {"best": 1.0}}}, p)
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks", mod.__name__):
        monkeypatch.delitem(sys.modules, name)
    assert set(read_state_dict(p)) == {"a.weight", "b.bias"}
    assert "pytorch_lightning" not in sys.modules


def test_missing_text_truncated_and_empty(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        read_state_dict(tmp_path / "nope.safetensors")
    txt = tmp_path / "notes.ckpt"
    txt.write_text("hello, this is not a model\n" * 10)
    with pytest.raises(ModelError, match="is not a checkpoint file"):
        read_state_dict(txt)
    with pytest.raises(ModelError, match="is not a checkpoint file"):
        read_shapes(txt)
    p = tmp_path / "m.safetensors"
    save_file({"w": torch.randn(64, 64)}, str(p))
    data = p.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelError, match="truncated"):
        read_state_dict(cut)
    with pytest.raises(ModelError, match="truncated"):
        read_shapes(cut)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        read_state_dict(empty)
    cut_ckpt = tmp_path / "cut.ckpt"
    torch.save({"state_dict": {"w": torch.randn(256, 256)}}, cut_ckpt)
    cut_ckpt.write_bytes(cut_ckpt.read_bytes()[:5000])
    with pytest.raises(ModelError, match="damaged"):
        read_state_dict(cut_ckpt)


def test_pickle_of_non_tensors_only(tmp_path):
    p = tmp_path / "list.pt"
    torch.save([1, 2, 3], p)
    with pytest.raises(ModelError, match="not a dictionary of tensors"):
        read_state_dict(p)
    q = tmp_path / "raw.pkl.ckpt"
    q.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ModelError):
        read_state_dict(q)
