"""Options of the training loop: epoch files and save_last_n_epochs, TensorBoard logs, the latent disk cache,
scale_weight_norms reporting, long captions and clip_skip, out-of-memory advice, and a smoke run of the
noise/loss/memory options on the real loop."""
import math
import os

import pytest
import torch
from conftest import quick_config, run_training

from safetensors.torch import load_file

from trainer import events as ev
from trainer.errors import UserError
from trainer.run.text import encode_sd, tokenize


def test_epoch_files_and_save_last_n_epochs(tiny_ckpt, dataset, tmp_path):
    # 5 samples (2x3 + 1x2 = 8 with repeats) at batch 4 -> 2 steps per epoch
    path, events = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path, max_train_epochs=4,
                                             train_batch_size=4, save_every_n_epochs=1, save_last_n_epochs=2))
    names = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert names == ["lora-000002.safetensors", "lora-000003.safetensors", "lora.safetensors"]
    saved = [(e.epoch, e.step) for e in events if isinstance(e, ev.Saved)]
    assert saved == [(1, 2), (2, 4), (3, 6), (4, 8)]


def test_tensorboard_logs_loss_and_lr_per_group(tiny_ckpt, dataset, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "out", logging_dir=str(tmp_path / "logs"),
                              log_prefix="demo"))
    (run,) = list((tmp_path / "logs").iterdir())
    assert run.name.startswith("demo")
    acc = EventAccumulator(str(run))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss/current", "loss/average", "lr/unet", "lr/textencoder"} <= tags
    assert len(acc.Scalars("loss/current")) == 3


def test_latent_disk_cache_is_reused_and_invalidated(tiny_ckpt, dataset, tmp_path):
    cfg = quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "a", cache_latents=True, cache_latents_to_disk=True,
                       max_train_steps=1)
    run_training(cfg)
    caches = sorted(dataset.rglob("*.npz"))
    assert len(caches) == 5
    stamp = {p: p.stat().st_mtime_ns for p in caches}
    run_training(cfg.replace(output_dir=str(tmp_path / "b")))
    assert all(p.stat().st_mtime_ns == stamp[p] for p in caches)  # reused
    # the same seed trains the same file whether the cache was written or read (encoding draws random numbers)
    first = load_file(str(tmp_path / "a" / "lora.safetensors"))
    again = load_file(str(tmp_path / "b" / "lora.safetensors"))
    assert all(torch.equal(first[k], again[k]) for k in first)
    run_training(cfg.replace(output_dir=str(tmp_path / "c"), resolution="96,96"))
    assert all(p.stat().st_mtime_ns != stamp[p] for p in caches)  # other bucket: encoded again


def test_scale_weight_norms_reports_keys_scaled(tiny_ckpt, dataset, tmp_path):
    _, events = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path, scale_weight_norms=1e-4,
                                          learning_rate=1e-2))
    extra = [e.extra for e in events if isinstance(e, ev.Step)]
    assert all(x["keys_scaled"] > 0 and x["average_key_norm"] > 0 for x in extra)


def test_long_captions_are_encoded_in_chunks_of_75(tiny_ckpt):
    from trainer.models.loader import load_base_model

    base = load_base_model(tiny_ckpt("sd1"))
    tok, te = base.tokenizers[0], base.text_encoders[0]
    caption = ", ".join(f"tag{i}" for i in range(120))
    ids = tokenize(tok, [caption], 225)
    assert ids.shape == (1, 3, 77)
    assert (ids[:, :, 0] == tok.bos_token_id).all()
    with torch.no_grad():
        states = encode_sd(te, ids, None)
        skip2 = encode_sd(te, ids, 2)
        short = encode_sd(te, tokenize(tok, [caption], None), None)
    assert states.shape == (1, 227, te.config.hidden_size) and short.shape[1] == 77
    assert not torch.allclose(states, skip2)


def test_out_of_memory_stops_with_advice(tiny_ckpt, dataset, tmp_path, monkeypatch):
    from trainer.run.step import StepModel

    def oom(self, batch):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(StepModel, "loss", oom)
    events = []
    from trainer.run.trainer import Trainer

    with pytest.raises(UserError, match="out of memory"):
        Trainer(quick_config(tiny_ckpt("sd1"), dataset, tmp_path), events.append).run()
    assert events[-1].kind == "oom" and "gradient_checkpointing" in events[-1].advice


@pytest.mark.parametrize("options", [
    dict(multires_noise_iterations=6, multires_noise_discount=0.3, gradient_checkpointing=True,
         max_token_length=150, clip_skip=2, flip_aug=True, random_crop=True, caption_dropout_rate=0.3),
    dict(noise_offset=0.1, adaptive_noise_scale=0.01, min_snr_gamma=5.0, mixed_precision="bf16",
         full_bf16=True, optimizer_type="AdamW8bit", lr_scheduler="cosine_with_restarts",
         lr_scheduler_num_cycles=2, gradient_accumulation_steps=2, enable_bucket=True, min_bucket_reso=64,
         max_bucket_reso=128, bucket_reso_steps=32),
    dict(network_module="lycoris.kohya", network_args=["algo=lokr", "factor=4", "preset=attn-mlp"],
         optimizer_type="Prodigy", learning_rate=1.0, lr_scheduler="cosine_annealing_warmup_restarts",
         lr_scheduler_args=["T_0=2", "warmup_steps=1", "cycle_warmup=1", "down_factor=0.5"], network_dropout=0.1),
])
def test_options_train_on_the_real_loop(tiny_ckpt, dataset, tmp_path, options):
    path, events = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path, **options))
    steps = [e for e in events if isinstance(e, ev.Step)]
    assert len(steps) == 3 and all(e.loss == e.loss for e in steps) and os.path.getsize(path) > 0


def test_zero_terminal_snr_v_prediction(tiny_ckpt, dataset, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    plain, _ = run_training(quick_config(tiny_ckpt("sd2"), dataset, tmp_path / "a", v_parameterization=True,
                                         max_train_steps=2))
    path, events = run_training(quick_config(tiny_ckpt("sd2"), dataset, tmp_path / "b", v_parameterization=True,
                                             zero_terminal_snr=True, scale_v_pred_loss_like_noise_pred=True,
                                             v_pred_like_loss=0.1, max_train_steps=2))
    steps = [e for e in events if isinstance(e, ev.Step)]
    assert [e.step for e in steps] == [1, 2] and all(math.isfinite(e.loss) for e in steps)
    a, b = load_file(plain), load_file(path)
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)  # the options changed training
    with safe_open(path, "pt") as f:
        md = f.metadata()
    assert md["ss_zero_terminal_snr"] == "True" and md["ss_v_parameterization"] == "True"


def test_loader_worker_processes_give_the_same_file_as_the_training_thread(tiny_ckpt, dataset, tmp_path):
    from safetensors.torch import load_file

    a, _ = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "a", max_train_steps=2))
    b, _ = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "b", max_train_steps=2,
                                     max_data_loader_n_workers=2, persistent_data_loader_workers=True,
                                     shuffle_caption=False))
    sa, sb = load_file(a), load_file(b)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_small_images_in_a_big_bucket_are_reported(tiny_ckpt, tmp_path):
    from conftest import make_dataset

    data = make_dataset(tmp_path / "d", {"1_a": 2}, size=(48, 48))
    _, events = run_training(quick_config(tiny_ckpt("sd1"), data, tmp_path / "o", max_train_steps=1))
    assert any("upscaled" in e.message for e in events if isinstance(e, ev.Log))
    _, events = run_training(quick_config(tiny_ckpt("sd1"), data, tmp_path / "p", max_train_steps=1,
                                          enable_bucket=True, bucket_no_upscale=True, min_bucket_reso=32,
                                          bucket_reso_steps=16))
    assert not any("upscaled" in e.message for e in events if isinstance(e, ev.Log))
