"""Sample images while training on the tiny SD 1.x model: sd-scripts' names at the asked epochs, the A1111
parameters text, events, training unchanged by sampling, and stopping during a round."""
import re
from pathlib import Path
import threading

import pytest
import torch
from conftest import make_dataset, quick_config, run_training
from PIL import Image
from safetensors.torch import load_file

from trainer import events as ev

PROMPTS = "# two prompts\nred circle, (simple:1.2) background --n blurry --w 64 --h 64 --d 5 --s 1 --l 6\n" \
          "blue square --w 72 --h 64 --s 1 --ss euler_a\n"


def _config(tiny_ckpt, tmp_path, **kw):
    data = make_dataset(tmp_path / "data", {"1_redcircle": 2})  # batch 2: one step per epoch
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(PROMPTS, encoding="utf-8")
    base = dict(max_train_epochs=2, max_train_steps=100, sample_prompts=str(prompts), sample_every_n_epochs=1,
                sample_at_first=True)
    base.update(kw)
    return quick_config(tiny_ckpt("sd1"), data, tmp_path / "out", **base)


def test_samples_at_first_and_every_epoch_named_as_sd_scripts_with_parameters(tiny_ckpt, tmp_path):
    path, events = run_training(_config(tiny_ckpt, tmp_path))
    samples = [e for e in events if isinstance(e, ev.Sample)]
    assert [(e.epoch, e.prompt_index, e.step) for e in samples] == [(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 1),
                                                                    (2, 0, 2), (2, 1, 2)]
    files = sorted(p.name for p in (tmp_path / "out" / "sample").iterdir())
    assert [p.rsplit("/", 1)[-1] for p in sorted(e.path for e in samples)] == files
    pattern = re.compile(r"lora_e00000([012])_0([01])_\d{14}(_5)?\.png")
    for name in files:
        m = pattern.fullmatch(name)
        assert m and bool(m.group(3)) == (m.group(2) == "0"), name  # only the seeded prompt has a seed suffix
    first = Image.open(samples[2].path)
    assert first.size == (64, 64)
    text = first.text["parameters"]
    assert text.startswith("red circle, (simple:1.2) background <lora:lora:1>\nNegative prompt: blurry\n")
    assert "Steps: 1, Sampler: DDIM, CFG scale: 6, Seed: 5, Size: 64x64, Model: tiny-sd1" in text
    second = Image.open(samples[3].path)
    assert second.size == (72, 64) and "Sampler: Euler a, CFG scale: 7.5" in second.text["parameters"]
    assert not any(e.level == "warning" for e in events if isinstance(e, ev.Log))


@pytest.mark.slow
def test_sampling_leaves_training_unchanged_and_stops_with_the_run(tiny_ckpt, tmp_path):
    with_samples, _ = run_training(_config(tiny_ckpt, tmp_path / "a"))
    without, _ = run_training(_config(tiny_ckpt, tmp_path / "b", sample_prompts="", sample_every_n_epochs=None,
                                      sample_at_first=False))
    a, b = load_file(with_samples), load_file(without)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    stop = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.Sample) and e.epoch == 1:  # stop during the first epoch-end round
            stop.set()

    from trainer.run.trainer import Trainer

    cfg = _config(tiny_ckpt, tmp_path / "c")
    final = Trainer(cfg, on_event, stop).run()
    assert final and Path(final).is_file()
    done = next(e for e in events if isinstance(e, ev.Finished))
    assert done.stopped and done.steps == 1
    assert [(e.epoch, e.prompt_index) for e in events if isinstance(e, ev.Sample)] == [(0, 0), (0, 1), (1, 0)]
