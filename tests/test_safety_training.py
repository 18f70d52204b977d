"""Issue 16, items 2, 4 and 5 on real (tiny) training runs: a final save the disk refuses keeps the weights
(written to the rescue folder, path printed), a run killed after a state save and resumed gives bitwise the
file of an uninterrupted run, and bad input is one sentence with exit code 1 before the model loads."""
import threading

import pytest
import torch
from conftest import quick_config, run_training
from safetensors.torch import load_file

from trainer import events as ev
from trainer.cli.train import main_train
from trainer.run.trainer import Trainer


def test_a_final_save_the_disk_refuses_goes_to_the_rescue_folder(tiny_ckpt, dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_DESK_DATA_DIR", str(tmp_path / "data-dir"))
    out = tmp_path / "out"
    cfg = quick_config(tiny_ckpt("sd1"), dataset, out, max_train_steps=2, save_every_n_steps=1)
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.Started):  # the folder is gone and a file is in its way: mkdir and write fail
            out.rmdir()
            out.write_text("in the way")

    path = Trainer(cfg, on_event).run()
    rescued = tmp_path / "data-dir" / "rescued"
    assert path and path.startswith(str(rescued)) and load_file(path)  # a whole, loadable LoRA
    failed = next(e for e in events if isinstance(e, ev.SaveFailed))
    assert failed.path == str(out / "lora.safetensors") and failed.fallback == path
    assert failed.reason == "a file is in the way of the folder" and failed.data
    assert events[-1] == ev.Finished(path, 2, False)
    assert out.read_text() == "in the way"
    logs = [e.message for e in events if isinstance(e, ev.Log) and e.level == "error"]
    assert len(logs) == 1 and path in logs[0]
    # the step-1 file failed too: a warning, and training went on to step 2
    skipped = [e.message for e in events if isinstance(e, ev.Log) and "training goes on" in e.message]
    assert len(skipped) == 1 and "lora-step00000001.safetensors" in skipped[0]
    assert [e.step for e in events if isinstance(e, ev.Saved)] == [2]


def _weights(path):
    return load_file(str(path))


@pytest.mark.slow
def test_resume_after_a_kill_gives_bitwise_the_uninterrupted_file(tiny_ckpt, dataset, tmp_path):
    # augmentations, caption shuffle/dropout, network dropout and an epoch boundary at the saved step:
    # every random generator the loop draws from has to come back
    kw = dict(max_train_steps=8, save_every_n_steps=4, save_state=True, network_dropout=0.1,
              shuffle_caption=True, caption_dropout_rate=0.3, caption_tag_dropout_rate=0.2, flip_aug=True,
              random_crop=True, seed=5, max_data_loader_n_workers=0)
    model = tiny_ckpt("sd1")
    whole, _ = run_training(quick_config(model, dataset, tmp_path / "a", **kw))

    stop = threading.Event()
    part = quick_config(model, dataset, tmp_path / "b", **kw)

    def kill_after_state(e):  # a kill right after the step-4 state: the rest of the run never happens
        if isinstance(e, ev.Saved) and e.step == 4:
            stop.set()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(part, kill_after_state, stop).run()
    state = tmp_path / "b" / "lora-step00000004-state"
    resumed, _ = run_training(part.replace(resume=str(state), seed=None))  # the state knows the seed
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_input_is_one_line_and_exit_1_before_the_model_loads(tiny_ckpt, dataset, tmp_path, capsys):
    model = tiny_ckpt("sd1")
    common = ["--pretrained_model_name_or_path", str(model), "--train_data_dir", str(dataset),
              "--output_dir", str(tmp_path / "out"), "--resolution", "64"]
    cases = {
        "train_batch_size": ["--train_batch_size", "0"],
        "network_dim": ["--network_dim", "-4"],
        "output_name": ["--output_name", "../victim/base"],
        "would overwrite the base model": ["--output_dir", str(model.parent), "--output_name", model.stem],
    }
    for words, extra in cases.items():
        assert main_train(common + extra) == 1, words
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
        assert words in err and "Loading" not in err
    assert not (tmp_path / "victim").exists()


def test_a_folder_with_absurd_repeats_is_one_sentence(tiny_ckpt, tmp_path, capsys):
    from conftest import make_dataset

    data = make_dataset(tmp_path / "data", {"10000000000_x": 1})
    assert main_train(["--pretrained_model_name_or_path", str(tiny_ckpt("sd1")), "--train_data_dir", str(data),
                       "--output_dir", str(tmp_path / "out"), "--resolution", "64"]) == 1
    err = capsys.readouterr().err.strip()
    assert "10000000000 repeats" in err and "at most 10000" in err and "\n" not in err
