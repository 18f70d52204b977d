"""What a run may write, checked before anything is loaded (no torch here).

A run writes, all inside output_dir: `<name>.safetensors`, `<name>-000001.safetensors` (epochs),
`<name>-step00000001.safetensors` (steps), a `-state` folder next to each when save_state is on, and
`sample/` when it samples; TensorBoard logs go under logging_dir. Before the model loads,
:func:`prepare_outputs` refuses, in one sentence:

* an output_name that is not a plain file name (separators, '.', '..', empty, Windows device names);
* an output file or folder that is an input (the base model, the VAE, network_weights, the resume folder;
  compared by resolved path) or holds one, an output_dir or logging_dir inside an input folder (a
  diffusers model, the resume folder; logs also not inside the training folder). Files of the training
  folder are never .safetensors LoRAs, so the next rule keeps them too;
* an existing file under one of the run's names that is not a LoRA (no ss_* metadata): a LoRA is replaced
  as sd-scripts does, anything else is not ours to replace; a state-named folder that is not a state;
* an output_dir that cannot be created or written (a probe file is written and removed).

Then it puts right what an interrupted earlier run with this output_name left: half-written `.tmp` files
and state folder pairs (trainer.run.state_folders)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from trainer.errors import ConfigError

_BAD_CHARS = set('<>:"/\\|?*') | {chr(c) for c in range(32)}
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def output_name_problem(name: str) -> str | None:
    """One sentence when output_name cannot be used as a plain file name in output_dir, else None."""
    if not name or not name.strip():
        return "output_name is empty; give the LoRA a file name such as my_lora."
    if name in (".", "..") or any(ch in _BAD_CHARS for ch in name):
        return (f"output_name '{name}' must be a plain file name: no folders, no / \\ : * ? \" < > | "
                "(choose the folder with output_dir).")
    if name.startswith("."):
        return f"output_name '{name}' starts with a dot, which would hide the file; remove the dot."
    if name != name.strip() or name.endswith("."):
        return (f"output_name '{name}' starts or ends with a space or ends with a dot; Windows would change "
                "such a file name.")
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        return f"output_name '{name}' is a device name on Windows; choose another name."
    return None


def _own_file(name: str) -> re.Pattern:
    return re.compile(re.escape(name) + r"(-\d{6}|-step\d{8})?\.safetensors")


def _own_tmp(name: str) -> re.Pattern:  # fileio.write_atomic's temp files for the run's files
    return re.compile(r"\." + re.escape(name) + r"(-\d{6}|-step\d{8})?\.safetensors\.[^.]+\.tmp")


def _resolved(path: str) -> Path | None:
    if not path:
        return None
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: not an input we could overwrite through its name
        return None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def is_lora_file(path: Path) -> bool:
    """A .safetensors file whose metadata has sd-scripts' ss_* keys (ours have them too)."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 2 <= n <= 100_000_000:
                return False
            header = json.loads(f.read(n))
    except (OSError, ValueError):
        return False
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return isinstance(meta, dict) and any(str(k).startswith("ss_") for k in meta)


def _inputs(cfg) -> list[tuple[str, Path]]:
    named = [("the base model", cfg.pretrained_model_name_or_path), ("the VAE", cfg.vae),
             ("network_weights", cfg.network_weights), ("the resume folder", cfg.resume)]
    return [(what, p) for what, raw in named if (p := _resolved(raw)) is not None]


def _check_against_inputs(cfg, out_dir: Path) -> None:
    name = cfg.output_name
    own = _own_file(name)
    # folders the run replaces whole (the final state) or writes into (samples): no input may lie in them
    replaced = [out_dir / f"{name}-state"] if cfg.save_state else []
    if _samples_planned(cfg):
        replaced.append(out_dir / "sample")
    for what, src in _inputs(cfg):
        if src.is_dir() and _inside(out_dir, src):
            raise ConfigError(f"output_dir {out_dir} is inside {what} {src}; choose a folder of its own.")
        if src.parent == out_dir and own.fullmatch(src.name):
            raise ConfigError(f"output_name '{name}' would overwrite {what} {src}; choose another output_name "
                              "or output_dir.")
        for folder in replaced:
            if _inside(src, folder):
                raise ConfigError(f"The run would replace {folder}, which holds {what} {src}; choose another "
                                  "output_name or output_dir.")
    log_dir = _resolved(getattr(cfg, "logging_dir", ""))
    data_dir = _resolved(cfg.train_data_dir)
    if log_dir is not None:
        for what, src in _inputs(cfg) + ([("the training folder", data_dir)] if data_dir else []):
            if _inside(log_dir, src):
                raise ConfigError(f"logging_dir {log_dir} is inside {what} {src}; choose a folder of its own "
                                  "for the logs.")


def input_problem(cfg) -> str | None:
    """The sentence prepare_outputs would refuse an input collision with, without touching the disk beyond
    resolving paths (cheap enough for the form's checks on every change); None when there is none."""
    out_dir = _resolved(cfg.output_dir)
    if out_dir is None or output_name_problem(cfg.output_name):
        return None
    try:
        _check_against_inputs(cfg, out_dir)
    except ConfigError as e:
        return str(e)
    return None


def _samples_planned(cfg) -> bool:
    return bool(getattr(cfg, "sample_every_n_steps", None) or getattr(cfg, "sample_every_n_epochs", None))


def _check_existing(cfg, out_dir: Path) -> None:
    """Refuses a file or folder under one of the run's names that is not ours to replace."""
    from trainer.run.state_folders import own_state_name

    name = cfg.output_name
    own, states = _own_file(name), own_state_name(name)
    for entry in sorted(out_dir.iterdir()):
        if own.fullmatch(entry.name):
            if entry.is_dir() or not is_lora_file(entry):
                raise ConfigError(f"{entry} already exists and is not a LoRA file (no ss_* metadata); the run "
                                  "would replace it. Move it away or choose another output_name.")
        elif states.fullmatch(entry.name):
            if not entry.is_dir() or (any(entry.iterdir()) and not (entry / "progress.json").is_file()):
                raise ConfigError(f"{entry} already exists and is not a training state folder; the run would "
                                  "replace it. Move it away or choose another output_name.")


def _probe(out_dir: Path) -> None:
    from trainer.run.save_guard import os_reason

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"output_dir {out_dir} is a file, not a folder.") from None
    except OSError as e:
        raise ConfigError(f"output_dir {out_dir} cannot be created ({os_reason(e)}).") from None
    if not out_dir.is_dir():
        raise ConfigError(f"output_dir {out_dir} is a file, not a folder.")
    probe = out_dir / f".lora-desk-probe-{os.getpid()}.tmp"
    try:
        with open(probe, "wb") as f:
            f.write(b"probe")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise ConfigError(f"output_dir {out_dir} cannot be written to ({os_reason(e)}).") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


def prepare_outputs(cfg, *, main: bool = True) -> list[str]:
    """Check the run's output plan (see the module docstring); ConfigError with one sentence. On the main
    process, also clean up after an interrupted run. Returns notes for the log."""
    problem = output_name_problem(cfg.output_name)
    if problem:
        raise ConfigError(problem)
    out_dir = _resolved(cfg.output_dir)
    if out_dir is None:
        raise ConfigError("Choose an output folder for the LoRA files.")
    _check_against_inputs(cfg, out_dir)  # first: a refused plan creates no folder
    _probe(out_dir)
    _check_existing(cfg, out_dir)
    if not main:
        return []
    return cleanup_leftovers(out_dir, cfg.output_name)


def cleanup_leftovers(out_dir: Path, name: str) -> list[str]:
    """Remove our own half-written files of this output_name and recover interrupted state swaps."""
    from trainer.run.state_folders import recover_state_folders

    notes = recover_state_folders(out_dir, name)
    pattern = _own_tmp(name)
    removed = []
    for entry in out_dir.iterdir():
        if pattern.fullmatch(entry.name) and entry.is_file():
            try:
                entry.unlink()
                removed.append(entry.name)
            except OSError:
                pass
    if removed:
        notes.append(f"Removed {len(removed)} half-written file(s) an interrupted run left in {out_dir}, "
                     f"for example {removed[0]}.")
    return notes
