"""Build the PyInstaller bundle (packaging/build.sh) and exercise it: size, start time, a screenshot of the
window and the demo training, all run from dist/LoRADesk/LoRADesk -- no Python environment involved.

    python bench/bundle.py [--skip-build] [--runs 5] [--epochs 1] [--keep-demo]

Steps and what is printed:
  build       packaging/build.sh (minutes: PyInstaller walks torch) and its wall time
  size        dist/LoRADesk on disk, file count, the largest parts
  start       median wall time of fresh processes: `LoRADesk --version`, the window shown, the window with its
              pages built (LORA_DESK_QUIT_AFTER_SHOW, as bench/startup.py), each against `python main.py`
  screenshot  `LoRADesk --screenshot out.png --config_file examples/demo.toml` (cwd: repository root)
  train       `./LoRADesk train --config_file examples/demo.toml` run inside dist/LoRADesk, as the README
              tells users: the demo model is made there on first use (examples/demo_model and demo_output are
              removed first unless --keep-demo); --epochs N (default 1; 0: the config's 10) shortens it.
              The LoRA file is checked: its header names ss_lora_desk_version.
Settings, cache and the data folder go to a temporary folder. Exit code 0 when every step passed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist" / "LoRADesk"
EXE = DIST / ("LoRADesk.exe" if sys.platform == "win32" else "LoRADesk")


def tree_size(folder: Path) -> tuple[int, int, dict[str, int]]:
    total, count, parts = 0, 0, {}
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            n = p.stat().st_size
            total += n
            count += 1
            top = p.relative_to(folder).parts[0]
            parts[top] = parts.get(top, 0) + n
    return total, count, parts


def timed(cmd, env, cwd=ROOT, timeout=300) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=timeout)
    return time.perf_counter() - t


def median_time(cmd, env, runs, cwd=ROOT) -> float:
    timed(cmd, env, cwd)  # warm the file cache: the first run after a build reads 1+ GB from disk
    return statistics.median(timed(cmd, env, cwd) for _ in range(runs))


def safetensors_metadata(path: Path) -> dict:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-build", action="store_true", help="use the dist/LoRADesk already built")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=1, help="max_train_epochs for the demo (0: the config's)")
    ap.add_argument("--keep-demo", action="store_true", help="keep a demo model already made in the bundle")
    a = ap.parse_args(argv)
    results: dict[str, str] = {}
    ok = True

    if not a.skip_build:
        print("== build: packaging/build.sh (takes minutes)", flush=True)
        t = time.perf_counter()
        subprocess.run(["bash", str(ROOT / "packaging" / "build.sh")], cwd=ROOT, check=True)
        results["build time"] = f"{time.perf_counter() - t:.0f} s"
    if not EXE.exists():
        print(f"error: {EXE} does not exist (build it: packaging/build.sh)", file=sys.stderr)
        return 1

    total, count, parts = tree_size(DIST)
    results["bundle size"] = f"{total / 1e9:.2f} GB ({total / 2**30:.2f} GiB), {count} files"
    biggest = sorted(parts.items(), key=lambda kv: -kv[1])[:6]
    results["largest parts"] = ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in biggest)

    with tempfile.TemporaryDirectory(prefix="lora-desk-bundle-") as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LORA_DESK_CONFIG_DIR=f"{tmp}/cfg",
                   LORA_DESK_CACHE_DIR=f"{tmp}/cache", LORA_DESK_DATA_DIR=f"{tmp}/data",
                   HF_HUB_OFFLINE="1")
        version = subprocess.run([str(EXE), "--version"], env=env, capture_output=True, text=True,
                                 timeout=120).stdout.strip()
        results["--version"] = version
        from trainer.version import APP_VERSION  # noqa: E402  (the source tree's, to compare)

        ok &= version == f"LoRA Desk {APP_VERSION}"

        print(f"== start time (median of {a.runs} fresh processes)", flush=True)
        py = [sys.executable, str(ROOT / "main.py")]
        for label, extra in (("--version", {}), ("window shown", {"LORA_DESK_QUIT_AFTER_SHOW": "shown"}),
                             ("window built", {"LORA_DESK_QUIT_AFTER_SHOW": "built"})):
            e = dict(env, **extra)
            args = ["--version"] if label == "--version" else []
            tb = median_time([str(EXE), *args], e, a.runs)
            ts = median_time([*py, *args], e, a.runs)
            results[f"start: {label}"] = f"bundle {tb:.2f} s, python main.py {ts:.2f} s"

        print("== screenshot", flush=True)
        shot = Path(tmp) / "out.png"
        t = time.perf_counter()
        r = subprocess.run([str(EXE), "--screenshot", str(shot), "--config_file", "examples/demo.toml"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        good = r.returncode == 0 and shot.exists() and shot.read_bytes()[:4] == b"\x89PNG"
        ok &= good
        results["screenshot"] = (f"{'ok' if good else 'FAILED'} in {time.perf_counter() - t:.1f} s "
                                 f"({shot.stat().st_size // 1024} KiB)" if shot.exists() else "FAILED")
        if not good:
            print(r.stdout + r.stderr, file=sys.stderr)
        if shot.exists():
            shutil.copy(shot, ROOT / "dist" / "bundle-screenshot.png")

        print("== demo training from the bundle (cwd dist/LoRADesk)", flush=True)
        made = DIST / "examples" / "demo_model"
        if not a.keep_demo:
            shutil.rmtree(made, ignore_errors=True)
            shutil.rmtree(DIST / "examples" / "demo_output", ignore_errors=True)
        cmd = [str(EXE), "train", "--config_file", "examples/demo.toml"]
        if a.epochs:
            cmd += ["--max_train_epochs", str(a.epochs), "--save_every_n_epochs", str(a.epochs)]
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=DIST, env=env, capture_output=True, text=True, timeout=3600)
        took = time.perf_counter() - t
        out = DIST / "examples" / "demo_output" / "demo.safetensors"
        good = r.returncode == 0 and out.exists()
        if good:
            meta = safetensors_metadata(out)
            good = meta.get("ss_lora_desk_version") == APP_VERSION
            results["trained file"] = (f"{out.relative_to(ROOT)} {out.stat().st_size // 1024} KiB, "
                                       f"ss_lora_desk_version={meta.get('ss_lora_desk_version')}, "
                                       f"ss_training_comment={meta.get('ss_training_comment')!r}")
        logs = list((DIST / "examples" / "demo_output" / "logs").rglob("events.out.tfevents*"))
        results["train"] = (f"{'ok' if good else 'FAILED'} in {took:.0f} s (rc {r.returncode}); demo model "
                            f"{'made on first use' if (made / 'tiny-sd1.safetensors').exists() else 'MISSING'}; "
                            f"{len(logs)} TensorBoard event file(s)")
        ok &= good
        if not good:
            print(r.stdout[-4000:] + r.stderr[-4000:], file=sys.stderr)
        else:
            tail = [ln for ln in r.stderr.replace("\r", "\n").splitlines() if ln.strip()][-3:]
            results["train (last lines)"] = " | ".join(tail)[:300]

    print()
    width = max(map(len, results))
    for k, v in results.items():
        print(f"{k:<{width}}  {v}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
