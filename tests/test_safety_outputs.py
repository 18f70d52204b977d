"""Issue 16, items 1 and 3: the output plan is checked before anything loads (no input is ever overwritten,
output_name is a plain file name, output_dir is usable), state folders are replaced atomically and what a
kill leaves behind is put right at the next start. Fast: no model is loaded."""
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import quick_config
from safetensors.torch import save, save_file

from trainer.errors import ConfigError, UserError
from trainer.run.output_plan import cleanup_leftovers, output_name_problem, prepare_outputs
from trainer.run.saving import Progress, load_state, save_state
from trainer.run.state_folders import recover_state_folders
from trainer.run.trainer import Trainer
from trainer.config.validate import errors

LORA = save({"lora_unet_x.lora_down.weight": torch.zeros(1)}, {"ss_network_dim": "4"})
NOT_LORA = save({"model.diffusion_model.x": torch.zeros(1)}, {"format": "pt"})


def _cfg(tmp_path, **kw):
    base = tmp_path / "base.safetensors"
    if not base.exists():
        base.write_bytes(NOT_LORA)
    data = tmp_path / "data"
    (data / "1_x").mkdir(parents=True, exist_ok=True)
    return quick_config(base, data, tmp_path / "out", **kw)


def _refused(cfg) -> str:
    with pytest.raises(ConfigError) as e:
        prepare_outputs(cfg)
    return str(e.value)


def test_the_base_model_is_never_overwritten(tmp_path):
    cfg = _cfg(tmp_path, output_dir=str(tmp_path), output_name="base")
    before = (tmp_path / "base.safetensors").read_bytes()
    msg = _refused(cfg)
    assert "base.safetensors" in msg and "\n" not in msg
    assert [(i.field, i.message) for i in errors(cfg)] == [("output_name", msg)]  # the form shows it too
    # a whole run stops there too, before the model loads, and the base model is as it was
    with pytest.raises(ConfigError):
        Trainer(cfg).run()
    assert (tmp_path / "base.safetensors").read_bytes() == before


@pytest.mark.parametrize("field", ["vae", "network_weights"])
def test_other_input_files_are_never_overwritten(tmp_path, field):
    (tmp_path / "out").mkdir()
    src = tmp_path / "out" / "lora.safetensors"
    src.write_bytes(LORA)  # even a LoRA of ours: it is an input of this run
    assert "would overwrite" in _refused(_cfg(tmp_path, **{field: str(src)}))


def test_the_resume_folder_is_not_replaced_by_the_runs_final_state(tmp_path):
    state = tmp_path / "out" / "lora-state"
    state.mkdir(parents=True)
    (state / "progress.json").write_text("{}")
    msg = _refused(_cfg(tmp_path, resume=str(state), save_state=True))
    assert "lora-state" in msg and "resume" in msg


def test_output_dir_inside_a_diffusers_model_folder_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    cfg = _cfg(tmp_path, pretrained_model_name_or_path=str(model), output_dir=str(model / "loras"))
    assert "inside the base model" in _refused(cfg)


@pytest.mark.parametrize("name", ["", ".", "..", "../victim/base", "/abs/path", "a\\b", "con", "LPT1.x", ".hidden",
                                  "x:y"])
def test_output_name_must_be_a_plain_file_name(tmp_path, name):
    assert output_name_problem(name)
    msg = _refused(_cfg(tmp_path, output_name=name))
    assert "output_name" in msg
    assert not (tmp_path / "victim").exists() and not Path("/abs").exists()


def test_a_file_under_the_runs_name_that_is_not_a_lora_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "lora-000002.safetensors").write_bytes(b"my holiday photos, renamed by mistake")
    msg = _refused(_cfg(tmp_path))
    assert "lora-000002.safetensors" in msg and "not a LoRA" in msg
    (out / "lora-000002.safetensors").write_bytes(LORA)  # a LoRA is replaced, as sd-scripts does
    prepare_outputs(_cfg(tmp_path))
    (out / "lora-state").mkdir()
    (out / "lora-state" / "notes.txt").write_text("mine")
    assert "not a training state" in _refused(_cfg(tmp_path))


def test_an_unusable_output_dir_is_found_before_training(tmp_path):
    (tmp_path / "file").write_text("x")
    assert "is a file" in _refused(_cfg(tmp_path, output_dir=str(tmp_path / "file")))
    assert "cannot be created" in _refused(_cfg(tmp_path, output_dir=str(tmp_path / "file" / "sub")))
    cfg = _cfg(tmp_path, output_dir=str(tmp_path / "new" / "deep"))
    prepare_outputs(cfg)  # created, probed, and the probe removed
    assert (tmp_path / "new" / "deep").is_dir() and not list((tmp_path / "new" / "deep").iterdir())


def test_logging_dir_inside_an_input_is_refused(tmp_path):
    cfg = _cfg(tmp_path)
    assert "logging_dir" in _refused(cfg.replace(logging_dir=str(Path(cfg.train_data_dir) / "logs")))


def test_leftover_temp_files_of_this_output_name_are_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    ours = [".lora.safetensors.a1b2c3d4.tmp", ".lora-000001.safetensors.zz_9yq1x.tmp",
            ".lora-step00000004.safetensors.k3j4h5g6.tmp"]
    others = [".other.safetensors.a1b2c3d4.tmp", "notes.tmp", ".lora.safetensors"]
    for name in ours + others:
        (out / name).write_bytes(b"x")
    notes = cleanup_leftovers(out, "lora")
    assert sorted(p.name for p in out.iterdir()) == sorted(others)
    assert len(notes) == 1 and "3 half-written" in notes[0]


def _state(folder: Path, step: int, complete=True):
    folder.mkdir(parents=True)
    (folder / "network.safetensors").write_bytes(b"x")
    if complete:
        (folder / "progress.json").write_text(json.dumps({"step": step}))


def _step(folder: Path) -> int:
    return json.loads((folder / "progress.json").read_text())["step"]


def test_a_kill_between_the_two_renames_is_recovered(tmp_path):
    # new state complete in .tmp, old one renamed aside, the new one not yet in place: the new one wins
    _state(tmp_path / "lora-state.old", 4)
    _state(tmp_path / "lora-state.tmp", 8)
    notes = recover_state_folders(tmp_path, "lora")
    assert _step(tmp_path / "lora-state") == 8 and sorted(p.name for p in tmp_path.iterdir()) == ["lora-state"]
    assert notes and "Recovered" in notes[0]
    # killed while the new one was written: the old one comes back
    _state(tmp_path / "lora-000001-state.old", 4)
    _state(tmp_path / "lora-000001-state.tmp", 8, complete=False)
    recover_state_folders(tmp_path, "lora")
    assert _step(tmp_path / "lora-000001-state") == 4
    # a swap that finished but did not delete the old one; a .tmp next to a good state
    _state(tmp_path / "lora-step00000008-state", 8)
    _state(tmp_path / "lora-step00000008-state.old", 4)
    _state(tmp_path / "lora-state.tmp", 12, complete=False)
    _state(tmp_path / "other-state.tmp", 1)  # another run's: not touched
    recover_state_folders(tmp_path, "lora")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lora-000001-state", "lora-state",
                                                          "lora-step00000008-state", "other-state.tmp"]


class _Net(torch.nn.Module):
    """Stands in for the LoRA network: save_state/load_state use state_dict/load_state_dict only."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x)

    def load_state_dict(self, sd):
        result = super().load_state_dict(sd, strict=False)
        return result.missing_keys, result.unexpected_keys


def _parts():
    net = _Net()
    opt = torch.optim.AdamW(net.parameters(), lr=0.1)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return net, opt, sched


def test_a_failed_state_save_keeps_the_previous_state_and_is_one_warning(tmp_path):
    net, opt, sched = _parts()
    folder = tmp_path / "out" / "lora-state"
    assert save_state(folder, net, opt, sched, Progress(4, 1, 0, 7, 12, seed=3)) is None
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    # the .tmp folder cannot be made: a file is in its way (what a full disk or a lost folder look like)
    (tmp_path / "out" / "lora-state.tmp").write_text("in the way")
    problem = save_state(folder, net, opt, sched, Progress(8, 2, 0, 7, 12, seed=3))
    assert problem and "could not be saved" in problem and "previous state is kept" in problem
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_state_round_trip_restores_every_generator(tmp_path):
    import random

    import numpy as np

    net, opt, sched = _parts()
    folder = tmp_path / "s"
    save_state(folder, net, opt, sched, Progress(4, 1, 2, 7, 12, seed=3))
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    progress = load_state(folder, *_parts())
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
    assert progress == Progress(4, 1, 2, 7, 12, seed=3)


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {_Boom.marker}",))


def test_a_resume_state_holding_code_is_refused_naming_the_file_and_nothing_runs(tmp_path):
    net, opt, sched = _parts()
    folder = tmp_path / "s"
    save_state(folder, net, opt, sched, Progress(4, 1, 0, 7, 12))
    _Boom.marker = tmp_path / "ran"
    torch.save({"optimizer": _Boom(), "scheduler": {}}, folder / "trainer.pt", pickle_module=pickle)
    with pytest.raises(UserError) as e:
        load_state(folder, *_parts())
    msg = str(e.value)
    assert str(folder / "trainer.pt") in msg and "weights_only" not in msg and "\n" not in msg
    assert not _Boom.marker.exists()
    save_file({"x": torch.zeros(1)}, str(folder / "trainer.pt"))  # not a torch file at all
    with pytest.raises(UserError, match="trainer.pt"):
        load_state(folder, *_parts())


def test_a_rescued_lora_and_a_crash_log_never_replace_a_file_already_there(tmp_path, monkeypatch):
    """One rule (trainer.fileio.unused_path) names both: the name, else name-2, name-3, ..."""
    import time

    from app.crash import write_crash_log
    from trainer.fileio import unused_path
    from trainer.run.save_guard import rescue_path

    assert unused_path(tmp_path, "a", ".log") == tmp_path / "a.log"
    (tmp_path / "a.log").write_text("x")
    (tmp_path / "a-2.log").write_text("x")
    assert unused_path(tmp_path, "a", ".log") == tmp_path / "a-3.log"

    monkeypatch.setenv("LORA_DESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20261130-120000" if "%H%M%S" in fmt else "now")
    first = rescue_path("my_lora.safetensors")
    assert first.name == "my_lora-20261130-120000.safetensors"
    first.parent.mkdir(parents=True)
    first.write_bytes(b"weights")
    assert rescue_path("my_lora.safetensors").name == "my_lora-20261130-120000-2.safetensors"

    logs = [write_crash_log(ValueError, ValueError("x"), None) for _ in range(2)]  # in the same second
    assert [p.name for p in logs] == [f"crash-20261130-120000-{os.getpid()}.log",
                                      f"crash-20261130-120000-{os.getpid()}-2.log"]
    assert all(p.read_text(encoding="utf-8").startswith("LoRA Desk crash report") for p in logs)
