"""sample: a 2x2 grid (2 LoRA files x 2 weights) from a tiny model, each image with A1111 parameters."""
import threading

from PIL import Image
from tools_fixtures import one_torch_thread, tools_files  # noqa: F401

from trainer.tools.cli import main_sample
from trainer.tools.sample import SampleSettings, sample_grid


def test_two_by_two_grid(tools_files, tmp_path):
    s = SampleSettings(prompt="redcircle, simple background", negative="blurry", weights=[0.5, 1.0], seeds=[3],
                       steps=2, cfg=5.0, width=64, height=64, clip_skip=2)
    seen, progress = [], []
    out = tmp_path / "grid.png"
    r = sample_grid(tools_files["base"], [tools_files["lora"], tools_files["locon"]], s, out,
                    on_progress=lambda d, t: progress.append((d, t)), on_image=lambda im, grid: seen.append(im))
    assert (r.rows, r.columns) == (2, 2) and len(r.images) == 4 and len(seen) == 4 and not r.stopped
    assert r.row_labels == ["lora-a", "locon"] and r.column_labels == ["w 0.5", "w 1"]
    assert progress[-1] == (8, 8)
    grid = Image.open(out)
    assert grid.width >= 2 * 64 and grid.height >= 2 * 64
    assert r.grid.size == grid.size
    first = Image.open(r.images[0].path)
    text = first.text["parameters"]
    assert text.startswith("redcircle, simple background <lora:lora-a:0.5>\nNegative prompt: blurry\n")
    assert "Steps: 2, Sampler: Euler a, CFG scale: 5, Seed: 3, Size: 64x64" in text and "Clip skip: 2" in text
    pixels = [r.images[i].image.tobytes() for i in range(4)]
    assert len(set(pixels)) == 4  # every file and weight changes the image


def test_stop_and_bad_input(tools_files, tmp_path, capsys):
    stop = threading.Event()
    stop.set()
    s = SampleSettings(prompt="x", weights=[1.0], seeds=[1], steps=2, width=64, height=64)
    r = sample_grid(tools_files["base"], [tools_files["lora"]], s, tmp_path / "g.png", stop=stop)
    assert r.stopped and r.images == [] and (tmp_path / "g.png").exists()
    assert main_sample(["--sd_model", str(tools_files["base"]), "--loras", str(tools_files["lora"]),
                        "--prompt", "x", "--sampler", "nonsense", "--out", str(tmp_path / "g.png")]) == 1
    err = capsys.readouterr().err
    assert "Unknown sampler 'nonsense'" in err and "Traceback" not in err
    assert main_sample(["--sd_model", str(tools_files["base"]), "--prompt", "x", "--width", "100",
                        "--out", str(tmp_path / "g.png")]) == 1


def test_prompt_groups_random_seed_and_a_fixed_second_lora(tools_files, tmp_path):
    from trainer.tools.sample_axes import PromptLine

    s = SampleSettings(prompts=[PromptLine("redcircle", "blurry"), PromptLine("(bluesquare:1.3)")], weights=[0.8],
                       seeds=[-1], steps=1, width=64, height=64, fixed_lora=str(tools_files["lora_b"]),
                       fixed_weight=0.5)
    r = sample_grid(tools_files["base"], [tools_files["lora"]], s, tmp_path / "grid.png")
    assert (r.rows, r.columns) == (2, 1) and len(r.images) == 2
    seed = r.seeds[0]
    assert seed >= 0 and r.column_labels == [f"w 0.8\nseed {seed}"]  # the drawn seed is shown and recorded
    assert r.row_labels == ["lora-a\nredcircle", "lora-a\n(bluesquare:1.3)"]
    first, second = (Image.open(im.path).text["parameters"] for im in r.images)
    assert first.startswith("redcircle <lora:lora-a:0.8> <lora:lora-b:0.5>\nNegative prompt: blurry\n")
    assert f"Seed: {seed}," in first and second.startswith("(bluesquare:1.3) <lora:lora-a:0.8> <lora:lora-b:0.5>\n")
    assert r.images[0].image.tobytes() != r.images[1].image.tobytes()
