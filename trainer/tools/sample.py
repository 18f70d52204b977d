"""Sample grid: images for every (prompt, LoRA file, weight, seed), one labelled grid, each image with A1111
parameters; optionally a second LoRA at a fixed weight in every image (a style with a character, as the guide's
testing does).

The pipeline is diffusers' ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline`` built from the models our
loader made from the single-file checkpoint, with a scheduler built from the base's ``scheduler_config`` (nothing
is downloaded). Each LoRA file is loaded with ``load_lora_weights`` and set to each weight with ``set_adapters``.
The prompt is encoded with the training code's own text encoding (``trainer.run.text``), so ``clip_skip`` and
``max_token_length`` (read from the LoRA's metadata unless given) mean what they meant in training.

Grid layout: rows = LoRA files (in the order given), one group of them per prompt; columns = seeds side by side,
each seed a block of weights. Seed -1 is drawn at random when the grid runs and shown in the labels and PNG text.
Weight ranges, seeds and prompt files are read by ``sample_axes``.
"""
from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UserError
from .grid_canvas import GridCanvas
from .sample_axes import RANDOM_SEED, PromptLine, resolve_seeds

log = logging.getLogger(__name__)

# name -> (diffusers scheduler class, extra config, A1111 name)
SAMPLERS = {
    "ddim": ("DDIMScheduler", {}, "DDIM"),
    "pndm": ("PNDMScheduler", {}, "PLMS"),
    "lms": ("LMSDiscreteScheduler", {}, "LMS"),
    "euler": ("EulerDiscreteScheduler", {}, "Euler"),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}, "Euler a"),
    "heun": ("HeunDiscreteScheduler", {}, "Heun"),
    "dpm_2": ("KDPM2DiscreteScheduler", {}, "DPM2"),
    "dpm_2_a": ("KDPM2AncestralDiscreteScheduler", {}, "DPM2 a"),
    "dpmsolver": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver"}, "DPM2"),
    "dpmsolver++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}, "DPM++ 2M"),
    "dpmsingle": ("DPMSolverSinglestepScheduler", {}, "DPM++ SDE"),
    "dpm++_2m_karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
                        "DPM++ 2M Karras"),
    "unipc": ("UniPCMultistepScheduler", {}, "UniPC"),
}
ALIASES = {"k_euler": "euler", "k_euler_a": "euler_a", "k_lms": "lms", "plms": "pndm", "k_dpm_2": "dpm_2",
           "k_dpm_2_a": "dpm_2_a"}


@dataclass
class SampleSettings:
    prompt: str = ""
    negative: str = ""
    prompts: list = field(default_factory=list)  # PromptLine per row group; empty: [prompt, negative]
    weights: list = field(default_factory=lambda: [1.0])
    seeds: list = field(default_factory=lambda: [1])
    steps: int = 28
    cfg: float = 7.0
    sampler: str = "euler_a"
    width: int = 512
    height: int = 512
    clip_skip: int | None = None  # None: from the first LoRA's ss_clip_skip
    max_token_length: int | None = None  # None: from the first LoRA's ss_max_token_length
    device: str = "auto"  # auto: the first CUDA GPU when there is one, else the CPU
    precision: str | None = None  # fp32 | fp16 | bf16; None: fp32 on the CPU, fp16 on a GPU
    fixed_lora: str | None = None  # a second LoRA applied to every image at fixed_weight
    fixed_weight: float = 1.0

    def prompt_lines(self) -> list[PromptLine]:
        return list(self.prompts) or [PromptLine(self.prompt, self.negative)]


@dataclass
class SampleImage:
    row: int
    column: int
    lora: str | None  # file name (None: the base model)
    weight: float
    seed: int
    path: Path
    parameters: str  # A1111 "parameters" text
    image: object = None  # PIL image
    prompt: str = ""


@dataclass
class SampleResult:
    grid_path: Path
    image_dir: Path
    images: list[SampleImage]
    rows: int
    columns: int
    row_labels: list[str]
    column_labels: list[str]
    seconds: float
    grid: object = None  # PIL image
    stopped: bool = False
    seeds: list = field(default_factory=list)  # the seeds used (-1 replaced by the random one drawn)


def _scheduler(name: str, config: dict):
    import diffusers

    key = ALIASES.get(name.lower(), name.lower())
    if key not in SAMPLERS:
        raise UserError(f"Unknown sampler '{name}'; use one of {', '.join(SAMPLERS)}.")
    cls_name, extra, a1111 = SAMPLERS[key]
    cls = getattr(diffusers, cls_name)
    # steps_offset 1 as in the SD 1.x/2.x scheduler configs (diffusers warns about 0)
    return cls.from_config({"steps_offset": 1, **config, **extra}), a1111


def _load_lora(pipe, path: Path, adapter: str) -> None:
    """``load_lora_weights`` without transformers' per-weight load report, progress bars and peft's warning
    about several adapters."""
    import transformers.utils.logging as tlog

    level = tlog.get_verbosity()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        with warnings.catch_warnings():  # a second adapter (the fixed LoRA) is what we ask for, not a mistake
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            pipe.load_lora_weights(str(path), adapter_name=adapter)
    finally:
        tlog.set_verbosity(level)
        tlog.enable_progress_bar()


def build_pipeline(base, scheduler):
    if base.family == "sdxl":
        from diffusers import StableDiffusionXLPipeline

        return StableDiffusionXLPipeline(vae=base.vae, text_encoder=base.text_encoders[0],
                                         text_encoder_2=base.text_encoders[1], tokenizer=base.tokenizers[0],
                                         tokenizer_2=base.tokenizers[1], unet=base.unet, scheduler=scheduler)
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(vae=base.vae, text_encoder=base.text_encoders[0], tokenizer=base.tokenizers[0],
                                   unet=base.unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def encode_prompts(pipe, family: str, prompt: str, negative: str, clip_skip, max_token_length) -> dict:
    """Pipeline keyword arguments with the prompt embeddings made as in training (trainer.run.text)."""
    import torch

    from trainer.run.text import encode_sd, encode_sdxl, tokenize
    from .prompt_weights import apply_weights, has_emphasis, weighted_tokens

    texts = [prompt, negative]
    emphasis = any(has_emphasis(t) for t in texts)  # (tag:1.2) and friends, as in the WebUI

    def ids_of(tokenizer):
        if not emphasis:
            return tokenize(tokenizer, texts, max_token_length), None
        pairs = [weighted_tokens(tokenizer, t, max_token_length) for t in texts]
        return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])

    with torch.no_grad():
        if family == "sdxl":
            ids1, weights = ids_of(pipe.tokenizer)
            ids2, _ = ids_of(pipe.tokenizer_2)
            states, pooled = encode_sdxl(pipe.text_encoder, pipe.text_encoder_2, ids1, ids2,
                                         pipe.tokenizer_2.eos_token_id)
            if weights is not None:
                states = apply_weights(states, weights)
            dt = pipe.unet.dtype
            return {"prompt_embeds": states[:1].to(dt), "negative_prompt_embeds": states[1:].to(dt),
                    "pooled_prompt_embeds": pooled[:1].to(dt), "negative_pooled_prompt_embeds": pooled[1:].to(dt)}
        ids, weights = ids_of(pipe.tokenizer)
        states = encode_sd(pipe.text_encoder, ids, clip_skip)
        if weights is not None:
            states = apply_weights(states, weights)
        states = states.to(pipe.unet.dtype)
        return {"prompt_embeds": states[:1], "negative_prompt_embeds": states[1:]}


def a1111_parameters(s: SampleSettings, prompt: PromptLine, sampler_name: str, seed: int, model: str,
                     loras: list[tuple[str, float, str]], clip_skip) -> str:
    """``loras``: (name, weight, short hash) of each LoRA applied, written as A1111 ``<lora:name:weight>``."""
    lines = [prompt.prompt + "".join(f" <lora:{name}:{weight:g}>" for name, weight, _ in loras)]
    if prompt.negative:
        lines.append(f"Negative prompt: {prompt.negative}")
    parts = [f"Steps: {s.steps}", f"Sampler: {sampler_name}", f"CFG scale: {s.cfg:g}", f"Seed: {seed}",
             f"Size: {s.width}x{s.height}", f"Model: {model}"]
    if clip_skip and clip_skip > 1:
        parts.append(f"Clip skip: {clip_skip}")
    hashes = [f"{name}: {h}" for name, _, h in loras if h]
    if hashes:
        parts.append(f'Lora hashes: "{", ".join(hashes)}"')
    parts.append("Version: LoRA Desk")
    lines.append(", ".join(parts))
    return "\n".join(lines)


def sample_grid(sd_model, loras: list, settings: SampleSettings, out, *, vae=None, v_parameterization=None,
                on_progress: Callable[[int, int], None] | None = None,
                on_image: Callable[[SampleImage, object], None] | None = None,
                stop: threading.Event | None = None) -> SampleResult:
    """Generate the grid; ``on_image(sample_image, grid_pil)`` is called after each image (the GUI fills its view)."""
    import torch
    from PIL.PngImagePlugin import PngInfo

    from ..models.loader import load_base_model
    from ..network.lora_file import read_metadata

    t0 = time.monotonic()
    s = settings
    if not s.weights or not s.seeds:
        raise UserError("Give at least one weight and one seed.")
    prompts = s.prompt_lines()
    if not all(pl.prompt.strip() for pl in prompts):
        raise UserError("Give a prompt (an empty one makes the same image for every file).")
    if s.width % 8 or s.height % 8 or s.width < 64 or s.height < 64:
        raise UserError(f"Image size {s.width}x{s.height} must be a multiple of 8, at least 64.")
    if s.steps < 1:
        raise UserError("steps must be 1 or more.")
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise UserError(f"Save the grid as .png (or .jpg/.webp), not {out.name}.")
    lora_paths = [Path(p) for p in loras]
    metas = []
    for p in lora_paths:
        if not p.is_file():
            raise UserError(f"LoRA file not found: {p}")
        metas.append(read_metadata(p))
    fixed = Path(s.fixed_lora) if s.fixed_lora else None
    if fixed is not None and not fixed.is_file():
        raise UserError(f"LoRA file not found: {fixed}")
    fixed_meta = read_metadata(fixed) if fixed is not None else {}
    _, sampler_name = _scheduler(s.sampler, {})  # validate the name before loading the model
    device = s.device if s.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device '{device}' is not available on this machine; use cpu.")
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(
        s.precision or ("fp32" if device == "cpu" else "fp16"))

    def from_meta(key):
        for md in [*metas, fixed_meta]:
            v = md.get(key)
            if v not in (None, "", "None"):
                try:
                    return int(float(v))
                except ValueError:
                    pass
        return None

    clip_skip = s.clip_skip if s.clip_skip is not None else from_meta("ss_clip_skip")
    max_tokens = s.max_token_length if s.max_token_length is not None else from_meta("ss_max_token_length")

    base = load_base_model(sd_model, vae=vae, v_parameterization=v_parameterization, dtype=dtype)
    scheduler, sampler_name = _scheduler(s.sampler, base.scheduler_config)
    pipe = build_pipeline(base, scheduler).to(device)
    pipe.set_progress_bar_config(disable=True)

    seeds = resolve_seeds(s.seeds)
    files = lora_paths or [None]
    rows = [_row_label(f, pl, len(prompts)) for pl in prompts for f in files]
    show_seed = len(seeds) > 1 or RANDOM_SEED in s.seeds
    col_keys = [(seed, w) for seed in seeds for w in s.weights]
    columns = [f"w {w:g}" + (f"\nseed {seed}" if show_seed else "") for seed, w in col_keys]
    if not lora_paths:
        col_keys = [(seed, 0.0) for seed in seeds]
        columns = [f"seed {seed}" for seed in seeds]
    title = f"+ {fixed.stem} at {s.fixed_weight:g} in every image" if fixed is not None else ""
    grid = GridCanvas(rows, columns, (s.width, s.height), title)
    image_dir = out.with_name(out.stem + "_images")
    image_dir.mkdir(parents=True, exist_ok=True)
    total = len(rows) * len(col_keys) * s.steps
    done = 0
    images: list[SampleImage] = []
    stopped = False
    model_name = Path(sd_model).stem

    def step_cb(pipeline, i, t, kwargs):
        nonlocal done
        done += 1
        if on_progress:
            on_progress(done, total)
        if stop is not None and stop.is_set():
            pipeline._interrupt = True
        return kwargs

    def load(path: Path, adapter: str) -> None:
        try:
            _load_lora(pipe, path, adapter)
        except (ValueError, KeyError, RuntimeError) as e:
            raise UserError(f"{path.name} cannot be loaded onto {Path(sd_model).name} "
                            f"({str(e).splitlines()[0][:200]}).") from None

    applied_fixed = []  # (name, weight, hash) of the fixed LoRA, in every image's parameters
    try:
        if fixed is not None:
            load(fixed, "fixed")
            applied_fixed = [(fixed.stem, float(s.fixed_weight), fixed_meta.get("sshs_model_hash", "")[:12])]
        for f_i, path in enumerate(files):  # each file is loaded once, for all its rows
            if stopped:
                break
            adapter = None
            if path is not None:
                adapter = f"lora{f_i}"
                load(path, adapter)
            for p_i, pl in enumerate(prompts):
                r = p_i * len(files) + f_i
                for c, (seed, weight) in enumerate(col_keys):
                    if stop is not None and stop.is_set():
                        stopped = True
                        break
                    names = ([adapter] if adapter else []) + (["fixed"] if fixed is not None else [])
                    if names:
                        pipe.set_adapters(names, ([float(weight)] if adapter else []) +
                                          ([float(s.fixed_weight)] if fixed is not None else []))
                    kw = encode_prompts(pipe, base.family, pl.prompt, pl.negative, clip_skip, max_tokens)
                    g = torch.Generator("cpu").manual_seed(int(seed))
                    result = pipe(num_inference_steps=s.steps, guidance_scale=s.cfg, width=s.width, height=s.height,
                                  generator=g, callback_on_step_end=step_cb, **kw)
                    if stop is not None and stop.is_set():
                        stopped = True
                        break
                    im = result.images[0]
                    applied = ([(path.stem, float(weight), metas[f_i].get("sshs_model_hash", "")[:12])]
                               if path is not None else []) + applied_fixed
                    params = a1111_parameters(s, pl, sampler_name, seed, model_name, applied, clip_skip)
                    info = PngInfo()
                    info.add_text("parameters", params)
                    stem = f"{path.stem}-w{weight:g}" if path is not None else "base"
                    ipath = image_dir / (f"{r:02d}-{stem}" + (f"-p{p_i + 1}" if len(prompts) > 1 else "") +
                                         f"-s{seed}.png")
                    im.save(ipath, pnginfo=info)
                    grid.paste(r, c, im)
                    item = SampleImage(r, c, path.stem if path is not None else None, float(weight), int(seed),
                                       ipath, params, im, pl.prompt)
                    images.append(item)
                    if on_image:
                        on_image(item, grid.image)
                if stopped:
                    break
            if adapter:
                pipe.delete_adapters(adapter)
    finally:
        del pipe
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.image.save(out)
    return SampleResult(out, image_dir, images, len(rows), len(columns), rows, columns, time.monotonic() - t0,
                        grid.image, stopped, seeds)


def _row_label(path: Path | None, prompt: PromptLine, n_prompts: int) -> str:
    """The file's name; with several prompts a second line with the prompt (the canvas shortens it)."""
    name = path.stem if path is not None else "base model"
    return f"{name}\n{prompt.prompt}" if n_prompts > 1 else name
