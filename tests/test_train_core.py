"""Training core behaviour on a tiny SD 1.x model: network kinds, determinism, resume, a real learning signal,
bad input, NaN and stop handling, and the command line."""
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from conftest import make_dataset, quick_config, run_training
from diffusers_check import SD_KEY, file_modules, lora_wrapped, pipeline_for
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from trainer import events as ev
from trainer.errors import UserError
from trainer.models.loader import load_base_model
from trainer.network.build import build_network

ROOT = Path(__file__).resolve().parent.parent


def _suffixes(net):
    return {k.split(".", 1)[1] for k in net.state_dict()}


@pytest.mark.parametrize("module,args,expect_conv,suffix", [
    ("networks.lora", [], False, "lora_down.weight"),
    ("networks.lora", ["conv_dim=4", "conv_alpha=1"], True, "lora_down.weight"),
    ("lycoris.kohya", ["algo=loha", "conv_dim=4"], True, "hada_w1_a"),
    ("lycoris.kohya", ["algo=lokr", "factor=4", "conv_dim=4"], True, "lokr_w1"),
    ("lycoris.kohya", ["algo=ia3", "preset=attn-mlp"], False, "on_input"),
])
def test_network_kinds_make_the_modules_they_should(tiny_ckpt, module, args, expect_conv, suffix):
    from trainer.config.fields import TrainConfig

    base = load_base_model(tiny_ckpt("sd1"))
    net = build_network(TrainConfig(network_module=module, network_args=args, network_dim=4),
                        base.unet, base.text_encoders)
    names = net.module_names()
    has_conv3 = any(n.endswith(("_conv1", "_conv2")) for n in names)
    assert has_conv3 == expect_conv
    assert suffix in _suffixes(net)
    assert any(n.startswith("lora_te_text_model_encoder_layers_") for n in names)


def test_unet_only_writes_no_text_encoder_keys(tiny_ckpt, dataset, tmp_path):
    path, _ = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path, max_train_steps=1,
                                        network_train_unet_only=True))
    keys = load_file(path).keys()
    assert keys and not [k for k in keys if k.startswith("lora_te")]


def test_same_seed_same_file(tiny_ckpt, dataset, tmp_path):
    a, _ = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "a", shuffle_caption=True,
                                     noise_offset=0.05))
    b, _ = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "b", shuffle_caption=True,
                                     noise_offset=0.05))
    sa, sb = load_file(a), load_file(b)
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_continues_at_the_saved_step(tiny_ckpt, dataset, tmp_path):
    cfg = quick_config(tiny_ckpt("sd1"), dataset, tmp_path, max_train_steps=4, save_every_n_steps=2,
                       save_state=True, lr_scheduler="linear")
    _, events = run_training(cfg)
    state = tmp_path / "lora-step00000002-state"
    assert state.is_dir()
    path, resumed = run_training(cfg.replace(resume=str(state), output_name="resumed"))
    started = next(e for e in resumed if isinstance(e, ev.Started))
    steps = [e.step for e in resumed if isinstance(e, ev.Step)]
    assert started.start_step == 2 and steps == [3, 4]
    lr_first = [e.lrs["unet"] for e in events if isinstance(e, ev.Step)]
    lr_resumed = [e.lrs["unet"] for e in resumed if isinstance(e, ev.Step)]
    assert lr_resumed == pytest.approx(lr_first[2:])  # the scheduler continued, not restarted


def test_loss_goes_down_learning_one_image(tiny_ckpt, tmp_path):
    data = make_dataset(tmp_path / "one", {"1_redcircle": 1})
    _, events = run_training(quick_config(tiny_ckpt("sd1"), data, tmp_path / "out", train_batch_size=1,
                                          max_train_steps=42, learning_rate=5e-3, network_dim=8,
                                          network_alpha=8.0, cache_latents=True, network_train_unet_only=True))
    losses = [e.loss for e in events if isinstance(e, ev.Step)]
    first, last = sum(losses[:14]) / 14, sum(losses[-14:]) / 14  # seen: 1.11 -> 0.80
    assert last < 0.85 * first, (first, last)


def test_bad_images_are_skipped_and_training_goes_on(tiny_ckpt, tmp_path):
    data = make_dataset(tmp_path / "данные с пробелом", {"2_кот мурзик": 3})
    folder = data / "2_кот мурзик"
    (folder / "zero.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image")
    good = (folder / "img0.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("CMYK", (64, 64), (0, 50, 50, 0)).save(folder / "cmyk.jpg")
    (data / "notaconcept").mkdir()
    path, events = run_training(quick_config(tiny_ckpt("sd1"), data, tmp_path / "вывод out", max_train_steps=4,
                                             train_batch_size=1))
    logs = " ".join(e.message for e in events if isinstance(e, ev.Log))
    for name in ("zero.png", "text.png", "truncated.png", "notaconcept"):
        assert name in logs, name
    assert Path(path).is_file() and events[-1].steps == 4


def test_empty_training_folder_is_a_clear_error(tiny_ckpt, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty"):
        run_training(quick_config(tiny_ckpt("sd1"), tmp_path / "empty", tmp_path / "out"))


def test_nan_loss_stops_with_advice_and_keeps_last_good_file(tiny_ckpt, dataset, tmp_path):
    cfg = quick_config(tiny_ckpt("sd1"), dataset, tmp_path, learning_rate=1e30, max_train_steps=20,
                       save_every_n_steps=1, max_grad_norm=0.0)
    events = []
    from trainer.run.trainer import Trainer

    with pytest.raises(UserError, match="NaN"):
        Trainer(cfg, events.append).run()
    failed = events[-1]
    assert isinstance(failed, ev.Failed) and failed.kind == "nan" and "learning rate" in failed.advice
    assert failed.last_good and Path(failed.last_good).is_file()
    assert all(torch.isfinite(t).all() for t in load_file(failed.last_good).values())


def test_stop_ends_early_with_a_usable_file(tiny_ckpt, dataset, tmp_path):
    stop = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.Step) and e.step == 2:
            stop.set()

    from trainer.run.trainer import Trainer

    path = Trainer(quick_config(tiny_ckpt("sd1"), dataset, tmp_path, max_train_steps=50), on_event, stop).run()
    assert isinstance(events[-1], ev.Finished) and events[-1].stopped and events[-1].steps == 2
    with safe_open(path, "pt") as f:
        assert f.metadata()["ss_steps"] == "2"


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_cli_bad_input_is_one_line_and_exit_1(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('learning_rat = 1\n')
    r = _cli("train", "--config_file", str(cfg))
    assert r.returncode == 1 and "Did you mean 'learning_rate'" in r.stderr and "Traceback" not in r.stderr
    cfg.write_text(f'pretrained_model_name_or_path = "{tmp_path / "nope.safetensors"}"\n'
                   f'train_data_dir = "{tmp_path}"\noutput_dir = "{tmp_path}"\n')
    r = _cli("train", "--config_file", str(cfg))
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.strip().startswith("error:")


def test_cli_trains_a_ckpt_model_with_overrides(tiny_ckpt, dataset, tmp_path):
    from trainer.models.diffusers_to_ldm import save_state_dict
    from trainer.models.checkpoint_io import read_state_dict

    ckpt = tmp_path / "model.ckpt"
    save_state_dict(ckpt, read_state_dict(tiny_ckpt("sd1")))
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[model]\npretrained_model_name_or_path = "{ckpt}"\n[data]\ntrain_data_dir = "{dataset}"\n'
                   f'resolution = 64\n[out]\noutput_dir = "{tmp_path / "out"}"\noutput_name = "x"\n'
                   'max_data_loader_n_workers = 0\nnetwork_dim = 4\n')
    r = _cli("train", "--config_file", str(cfg), "--max_train_steps", "2", "--learning_rate", "1e-4",
             "--save_precision", "bf16")
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "out" / "x.safetensors"
    with safe_open(out, "pt") as f:
        assert f.metadata()["ss_steps"] == "2"
        assert f.get_tensor(next(iter(f.keys()))).dtype == torch.bfloat16
        assert all(SD_KEY.match(k) for k in f.keys())
    pipe = pipeline_for(load_base_model(ckpt))
    pipe.load_lora_weights(str(out))
    unet_mods, te_mods = file_modules(out)
    assert lora_wrapped(pipe.unet) == len(unet_mods) and lora_wrapped(pipe.text_encoder) == len(te_mods)


def test_continue_from_network_weights(tiny_ckpt, dataset, tmp_path):
    first, _ = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "a", max_train_steps=1,
                                         network_dim=4, network_alpha=2.0))
    cfg = quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "b", max_train_steps=1, network_dim=8,
                       network_weights=first)
    with pytest.raises(UserError, match="set dim_from_weights"):
        run_training(cfg)
    path, events = run_training(cfg.replace(dim_from_weights=True))
    logs = [e.message for e in events if isinstance(e, ev.Log)]
    assert any("network_dim 4 and network_alpha 2 taken" in m for m in logs)
    with safe_open(path, "pt") as f:
        assert f.get_tensor("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight").shape[0] == 4


def test_text_encoder_only_writes_no_unet_keys(tiny_ckpt, dataset, tmp_path):
    path, _ = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path, max_train_steps=1,
                                        network_train_text_encoder_only=True))
    keys = load_file(path).keys()
    assert keys and all(k.startswith("lora_te_") for k in keys)


def test_train_norm_without_latent_cache_trains(tiny_ckpt, dataset, tmp_path):
    """The VAE can return channels-last latents; a trained GroupNorm's backward on them crashed the process on
    CPU. Latents are made contiguous; the norm layers train and are saved."""
    path, events = run_training(quick_config(
        tiny_ckpt("sd1"), dataset, tmp_path, max_train_steps=2, cache_latents=False,
        network_module="lycoris.kohya", network_args=["train_norm=True", "preset=attn-mlp"],
        network_train_unet_only=True))
    keys = load_file(path).keys()
    assert any("norm" in k for k in keys) and len([e for e in events if type(e).__name__ == "Step"]) == 2
