"""Loading a WD14-style tagger: ``selected_tags.csv`` (SmilingWolf's format: ``tag_id,name,category,count``;
category 0 general, 4 character, 9 rating) and the ONNX model, run with onnxruntime.

The model must take images as ``[batch, height, width, 3]`` float32 and give one sigmoid probability per row
of the CSV (``[batch, tags]``); the height and width are read from the model, so taggers of any input size
work (448 when an export leaves them open). A GPU provider (CUDA, ROCm, DirectML) is used when the installed
onnxruntime has one, else the CPU.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.errors import UserError

GENERAL, CHARACTER, RATING = 0, 4, 9
WD14_SIZE = 448  # the input size of every SmilingWolf tagger, for an export that leaves it open
# the first that the installed onnxruntime offers is used; the CPU is always the fallback
GPU_PROVIDERS = ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider")


@dataclass(frozen=True)
class TagTable:
    """The tag of each model output, in output order, and its category."""

    path: Path
    names: tuple[str, ...]
    categories: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.names)


def load_tag_table(path: str | os.PathLike) -> TagTable:
    """Read a ``selected_tags.csv``; a missing file or one of the wrong shape is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Tag list '{path}' does not exist." if not path.exists()
                        else f"Tag list '{path}' is a folder, not a selected_tags.csv file.")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"Tag list '{path}' cannot be read as UTF-8 CSV ({e}).") from None
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if header[:3] != ["tag_id", "name", "category"]:
        found = ",".join(rows[0])[:60] if rows else "an empty file"
        raise UserError(f"Tag list '{path}' is not a WD14 selected_tags.csv: its first line must start with "
                        f"'tag_id,name,category' (found '{found}').")
    names, cats = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 3 or not row[1].strip():
            raise UserError(f"Tag list '{path}' line {line} has no tag name and category.")
        try:
            cats.append(int(row[2]))
        except ValueError:
            raise UserError(f"Tag list '{path}' line {line}: category '{row[2]}' is not a number.") from None
        names.append(row[1].strip())
    if not any(c in (GENERAL, CHARACTER) for c in cats):
        raise UserError(f"Tag list '{path}' holds no general (0) or character (4) tags.")
    return TagTable(path, tuple(names), tuple(cats))


def pick_providers(available: list[str]) -> list[str]:
    """The execution providers to ask for, best first: one GPU provider when present, then the CPU."""
    gpu = [p for p in GPU_PROVIDERS if p in available][:1]
    return [*gpu, "CPUExecutionProvider"]


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("Auto-tagging needs onnxruntime: install it with 'pip install onnxruntime' "
                        "(or onnxruntime-gpu / onnxruntime-directml for a graphics card).") from None
    ort.set_default_logger_severity(3)  # errors only: a missing CUDA library is handled by falling back
    return ort


def _session(ort, model: Path, providers: list[str]):
    opts = ort.SessionOptions()
    if "DmlExecutionProvider" in providers:  # DirectML runs neither memory patterns nor parallel execution
        opts.enable_mem_pattern = False
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(model), sess_options=opts, providers=providers)


def _first_line(e: Exception) -> str:
    """onnxruntime's reason without its prefix ('[ONNXRuntimeError] : 7 : ... Load model from X failed:')."""
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    return (line.rsplit("failed:", 1)[-1].strip() or line)[:200].rstrip(".")


class WDTagger:
    """A loaded tagger: ``predict(batch)`` maps ``[n, height, width, 3]`` BGR 0-255 images to scores."""

    def __init__(self, model: str | os.PathLike, tags: str | os.PathLike, providers: list[str] | None = None):
        self.model_path, self.table = Path(model), load_tag_table(tags)
        path = self.model_path
        if not path.is_file():
            raise UserError(f"Tagger model '{path}' does not exist." if not path.exists()
                            else f"Tagger model '{path}' is a folder, not an .onnx file.")
        ort = _import_ort()
        wanted = providers or pick_providers(ort.get_available_providers())
        try:
            try:
                self.session = _session(ort, self.model_path, wanted)
            except Exception:
                if wanted == ["CPUExecutionProvider"]:
                    raise
                # the GPU provider's libraries are missing or do not fit: the CPU always works
                self.session = _session(ort, self.model_path, ["CPUExecutionProvider"])
        except Exception as e:
            raise UserError(f"Tagger model '{self.model_path}' cannot be loaded by onnxruntime "
                            f"({_first_line(e)}).") from None
        self.provider = self.session.get_providers()[0]
        self._check_signature()

    def _check_signature(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        inp = inputs[0] if len(inputs) == 1 else None
        shape = list(inp.shape) if inp is not None else []
        name = self.model_path.name
        if inp is None or len(shape) != 4 or shape[3] != 3 or inp.type != "tensor(float)":
            got = f"{len(inputs)} inputs" if inp is None else f"{inp.type} {shape}"
            raise UserError(f"Tagger model '{name}' is not a WD14-style tagger: it must take one float image "
                            f"input shaped [batch, height, width, 3] (it takes {got}).")
        self.input_name = inp.name
        self.height, self.width = (int(s) if isinstance(s, int) and s > 0 else WD14_SIZE for s in shape[1:3])
        # a fixed batch dimension (most v2 exports: 1) limits the batch; a named one ('N', 'batch') is free
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        out = outputs[0].shape if outputs else []
        n_out = out[-1] if out else None
        if isinstance(n_out, int) and n_out != len(self.table):
            raise UserError(f"Tagger model '{name}' gives {n_out} scores but '{self.table.path.name}' lists "
                            f"{len(self.table)} tags; use the selected_tags.csv that came with this model.")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        try:
            out = self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})
        except Exception as e:  # out of memory on the card, an operator the provider lacks...
            name = self.model_path.name
            raise UserError(f"Tagger model '{name}' failed while tagging ({_first_line(e)}).") from None
        probs = np.asarray(out[0])
        if probs.ndim != 2 or probs.shape[1] != len(self.table):
            raise UserError(f"Tagger model '{self.model_path.name}' gave scores shaped {list(probs.shape)}; "
                            f"'{self.table.path.name}' needs [batch, {len(self.table)}].")
        return probs
