"""bench/sd_scripts_startup.py without sd-scripts: its TOML loads here, its tokenizer folder is what
sd-scripts' tokenizer_cache_dir reads, its first-step markers fire on the right lines, and our side of it
runs main.py train to the first step (on the tiny model: sd-scripts itself needs the full-size one)."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    path = ROOT / "bench" / "sd_scripts_startup.py"
    spec = importlib.util.spec_from_file_location("sd_scripts_startup", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_sd_scripts_marker_is_the_end_of_its_first_step():
    mark = _bench().SD_MARK
    # lines sd-scripts 48d368f printed on this bench (tqdm, "steps" bar, max_train_steps = 1)
    assert not mark.search("steps:   0%|          | 0/1 [00:00<?, ?it/s]\nepoch 1/1\n")
    assert mark.search("steps: 100%|██████████| 1/1 [00:05<00:00,  5.05s/it]")


def test_timed_run_stops_the_process_at_the_marker(tmp_path):
    bench = _bench()
    code = "import time; print('warming'); print('DONE', flush=True); time.sleep(600)"
    seconds, cpu = bench.timed_run([sys.executable, "-c", code], tmp_path, lambda t: "DONE" in t)
    assert seconds > 0 and (cpu is None or cpu >= 0)  # returned: the sleeping child was killed
    with pytest.raises(SystemExit, match="before its first step"):
        bench.timed_run([sys.executable, "-c", "print('no step')"], tmp_path, lambda t: "DONE" in t)


def test_our_side_trains_its_toml_to_the_first_step(tiny_ckpt, tmp_path):
    from transformers import CLIPTokenizer

    from trainer.config.files import load_toml

    bench = _bench()
    toml = bench.prepare(tmp_path, tiny_ckpt())
    cfg = load_toml(toml)
    assert cfg.max_train_steps == 1 and cfg.network_alpha == 4 and cfg.caption_extension == ".txt"
    assert set(cfg.accepted_only) == {"tokenizer_cache_dir"}
    tok = CLIPTokenizer.from_pretrained(str(tmp_path / "tokenizers" / "openai_clip-vit-large-patch14"))
    assert tok.model_max_length == 77 and tok("a cat").input_ids[0] == 49406
    code = bench.OURS.format(root=str(ROOT), mark=bench.MARK, toml=str(toml), out=str(tmp_path / "out"))
    seconds, _ = bench.timed_run([sys.executable, "-c", code], ROOT, lambda t: bench.MARK in t)
    assert seconds > 0
