"""Stopping: before the first optimizer step (model loading, caching, set-up) a run writes no file and ends
with Finished(path="", steps=0, stopped=True); after it, with a usable file. The command line's Ctrl+C does
the same through a SIGINT handler. And ss_seed records the seed actually used."""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from conftest import quick_config
from safetensors import safe_open
from safetensors.torch import save

from trainer import events as ev
from trainer.run.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
# a good LoRA from an earlier run (a file without ss_* metadata under the run's name is refused up front)
OLD = save({"lora_unet_x.lora_down.weight": torch.zeros(1)}, {"ss_output_name": "an earlier run"})


def _run_stopping_on(cfg, trigger):
    """Run, setting the stop Event when trigger(event) is true; return (result, events)."""
    stop = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if trigger(e):
            stop.set()

    return Trainer(cfg, on_event, stop).run(), events


def _log_starts(prefix):
    return lambda e: isinstance(e, ev.Log) and e.message.startswith(prefix)


def _assert_stopped_without_file(result, events, out: Path):
    assert result is None
    assert events[-1] == ev.Finished("", 0, True)
    kinds = {type(e).__name__ for e in events}
    assert not kinds & {"Failed", "Saved", "Step"}, kinds
    assert sorted(p.name for p in out.iterdir()) == ["lora.safetensors"]
    assert (out / "lora.safetensors").read_bytes() == OLD  # the earlier file is left as it was


@pytest.mark.parametrize("phase,trigger,options", [
    ("loading the model", _log_starts("Loading"), {}),
    ("caching latents", _log_starts("Caching latents"), {"cache_latents": True}),
    ("caching text-encoder outputs", _log_starts("Caching text-encoder outputs"),
     {"cache_text_encoder_outputs": True, "network_train_unet_only": True}),
    ("building the network", _log_starts("Network:"), {}),
    ("before the first batch", lambda e: isinstance(e, ev.Started), {}),
])
def test_stop_before_the_first_step_writes_no_file(tiny_ckpt, dataset, tmp_path, phase, trigger, options):
    out = tmp_path / "out"
    out.mkdir()
    (out / "lora.safetensors").write_bytes(OLD)
    cfg = quick_config(tiny_ckpt("sd1"), dataset, out, max_train_steps=5, **options)
    result, events = _run_stopping_on(cfg, trigger)
    _assert_stopped_without_file(result, events, out)


def test_stop_set_before_run_writes_no_file(tiny_ckpt, dataset, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "lora.safetensors").write_bytes(OLD)
    stop = threading.Event()
    stop.set()
    events = []
    result = Trainer(quick_config(tiny_ckpt("sd1"), dataset, out), events.append, stop).run()
    _assert_stopped_without_file(result, events, out)


def test_stop_after_the_first_step_saves_it(tiny_ckpt, dataset, tmp_path):
    result, events = _run_stopping_on(quick_config(tiny_ckpt("sd1"), dataset, tmp_path, max_train_steps=50),
                                      lambda e: isinstance(e, ev.Step))
    assert events[-1] == ev.Finished(result, 1, True) and Path(result).is_file()
    with safe_open(result, "pt") as f:
        assert f.metadata()["ss_steps"] == "1"


def test_caching_loops_raise_interrupted_error_when_stopped():
    """The loops check the Event per caption (and per VAE batch), not only before they begin."""
    from types import SimpleNamespace

    import torch

    from trainer.run.caching import cache_text_outputs

    stop = threading.Event()
    items = [SimpleNamespace(entry=SimpleNamespace(caption=f"c{i}", path=Path(f"/nowhere/{i}.png")))
             for i in range(4)]
    seen = []

    def encode(captions):
        seen.extend(captions)
        stop.set()  # asked to stop while the first caption is being encoded
        return torch.zeros(1, 2, 3), None

    with pytest.raises(InterruptedError):
        data = SimpleNamespace(items=items, caption=lambda i, epoch, rng: items[i].entry.caption)
        cache_text_outputs(data, encode, "m", to_disk=False, max_token_length=None, clip_skip=None, stop=stop)
    assert seen == ["c0"]


def test_ss_seed_is_the_seed_used(tiny_ckpt, dataset, tmp_path):
    events = []
    trainer = Trainer(quick_config(tiny_ckpt("sd1"), dataset, tmp_path, max_train_steps=1, seed=None),
                      events.append)
    path = trainer.run()
    with safe_open(path, "pt") as f:
        recorded = f.metadata()["ss_seed"]
    assert isinstance(trainer.seed, int) and recorded == str(trainer.seed)


# ---------------------------------------------------------------------- the command line's Ctrl+C
def test_stop_handler_first_sets_stop_then_quits(capsys):
    from trainer.cli.train import STOP_MESSAGE, stop_handler

    stop = threading.Event()
    handler = stop_handler(stop)
    handler(signal.SIGINT, None)
    assert stop.is_set() and STOP_MESSAGE in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)


def test_stop_on_ctrl_c_restores_the_previous_handler():
    from trainer.cli.train import stop_on_ctrl_c

    before = signal.getsignal(signal.SIGINT)
    stop = threading.Event()
    with stop_on_ctrl_c(stop):
        assert signal.getsignal(signal.SIGINT) is not before
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt: it only asks to stop
        assert stop.is_set()
    assert signal.getsignal(signal.SIGINT) is before


def test_stop_on_ctrl_c_does_nothing_outside_the_main_thread():
    from trainer.cli.train import stop_on_ctrl_c

    before = signal.getsignal(signal.SIGINT)
    seen = []

    def worker():
        with stop_on_ctrl_c(threading.Event()):
            seen.append(signal.getsignal(signal.SIGINT))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [before]


def _cli_config(tmp_path, model, data, **extra):
    cfg = tmp_path / "c.toml"
    lines = [f'pretrained_model_name_or_path = "{model}"', f'train_data_dir = "{data}"',
             f'output_dir = "{tmp_path / "out"}"', 'output_name = "x"', "resolution = 64",
             "max_data_loader_n_workers = 0", "network_dim = 4", "train_batch_size = 2", "seed = 1"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def test_cli_ctrl_c_before_the_first_step_writes_nothing(tiny_ckpt, dataset, tmp_path, monkeypatch, capfd):
    """Ctrl+C while the model loads: exit 130, the earlier file untouched, the SIGINT handler restored."""
    import trainer.models.loader as loader
    from trainer.cli.train import main_train

    real = loader.load_base_model

    def load_and_press_ctrl_c(*a, **kw):
        base = real(*a, **kw)
        signal.raise_signal(signal.SIGINT)
        return base

    monkeypatch.setattr(loader, "load_base_model", load_and_press_ctrl_c)
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.safetensors").write_bytes(OLD)
    before = signal.getsignal(signal.SIGINT)
    code = main_train(["--config_file", str(_cli_config(tmp_path, tiny_ckpt("sd1"), dataset)),
                       "--max_train_steps", "5"])
    err = capfd.readouterr().err
    assert code == 130, err[-2000:]
    assert "Stopping after this step" in err and "nothing was saved" in err and "done:" not in err and "Traceback" not in err
    assert (out / "x.safetensors").read_bytes() == OLD and sorted(p.name for p in out.iterdir()) == ["x.safetensors"]
    assert signal.getsignal(signal.SIGINT) is before


def test_cli_second_ctrl_c_quits_at_once(tiny_ckpt, dataset, tmp_path, monkeypatch, capfd):
    import trainer.cli.train as cli

    class PressTwice(cli.ConsoleReporter):
        def __call__(self, e):
            super().__call__(e)
            if isinstance(e, ev.Step) and e.step == 1:
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(cli, "ConsoleReporter", PressTwice)
    code = cli.main_train(["--config_file", str(_cli_config(tmp_path, tiny_ckpt("sd1"), dataset)),
                           "--max_train_steps", "50"])
    err = capfd.readouterr().err
    assert code == 130 and "interrupted" in err, err[-2000:]
    assert not (tmp_path / "out" / "x.safetensors").exists()


def test_cli_ctrl_c_at_step_1_saves_and_exits_0(tiny_ckpt, dataset, tmp_path, monkeypatch, capfd):
    import trainer.cli.train as cli

    class PressOnce(cli.ConsoleReporter):
        def __call__(self, e):
            super().__call__(e)
            if isinstance(e, ev.Step) and e.step == 1:
                signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(cli, "ConsoleReporter", PressOnce)
    before = signal.getsignal(signal.SIGINT)
    code = cli.main_train(["--config_file", str(_cli_config(tmp_path, tiny_ckpt("sd1"), dataset)),
                           "--max_train_steps", "50"])
    err = capfd.readouterr().err
    assert code == 0, err[-2000:]
    assert err.count("Stopping after this step and saving") == 1 and "stopped early; done:" in err
    with safe_open(tmp_path / "out" / "x.safetensors", "pt") as f:
        assert f.metadata()["ss_steps"] == "1"
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.slow  # a fresh interpreter imports torch and diffusers: ~20 s here
def test_cli_ctrl_c_after_a_step_saves_and_exits_0(tiny_ckpt, dataset, tmp_path):
    """A real SIGINT to `main.py train`, sent once the step-1 file is reported."""
    cfg = _cli_config(tmp_path, tiny_ckpt("sd1"), dataset, max_train_steps=500, save_every_n_steps=1)
    p = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", "--config_file", str(cfg)],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=tmp_path)
    err = []
    try:
        for line in p.stderr:
            err.append(line)
            if "(epoch 1, step 1)" in line:  # the step-1 file is saved: at least one step is done
                os.kill(p.pid, signal.SIGINT)
                break
        err.append(p.stderr.read())
        code = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = "".join(err)
    assert code == 0, text[-3000:]
    assert "Stopping after this step and saving" in text and "stopped early; done:" in text
    final = tmp_path / "out" / "x.safetensors"
    with safe_open(final, "pt") as f:
        steps = int(f.metadata()["ss_steps"])
    assert 1 <= steps < 500
