"""Sample images from the model being trained: the base UNet, VAE and text encoders with the network
hooked in (no second copy), a diffusers pipeline built around them for the duration of one round, the
prompt encoded by the Tools page's code (emphasis syntax, clip_skip, max_token_length as in training).

The round saves and restores the random generators (training goes on exactly as without samples), puts
the network in eval mode (no dropout), moves a VAE / text encoder that caching sent to the CPU onto the
device and back, and stops between denoising steps when the stop Event is set."""
from __future__ import annotations

import io
import random
import time
from pathlib import Path

import torch

from .. import events as ev
from ..fileio import write_atomic
from ..models.spec import VAE_SCALING
from ..placement import on_device
from .prompts import SamplePrompt, load_prompts
from .schedule import sample_file_name


class SampleRenderer:
    def __init__(self, cfg, base, network, rt, emit, stop):
        self.cfg, self.base, self.network, self.rt = cfg, base, network, rt
        self.emit, self.stop = emit, stop
        self.out_dir = Path(cfg.output_dir) / "sample"
        self.model_name = Path(cfg.pretrained_model_name_or_path).stem

    def render(self, step: int, epoch: int | None) -> list[str]:
        """One round over the prompt file (read again each round, as sd-scripts does, so it can be edited
        during training). ``epoch`` names the files e{epoch:06d} (epoch ends, sample_at_first), None names
        them by step. Returns the written paths."""
        prompts = load_prompts(self.cfg.sample_prompts)
        where = f"epoch {epoch}" if epoch is not None else f"step {step}"
        self.emit(ev.Log(f"Sample images at {where}: {len(prompts)} prompt(s)"))
        cpu_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state() if self.rt.device.type == "cuda" else None
        self.network.train(False)
        written: list[str] = []
        try:
            # VAE and text encoders that caching left on the CPU visit the device for this round
            with on_device([self.base.vae, *self.base.text_encoders], self.rt.device):
                for p in prompts:
                    if self.stop.is_set():
                        break
                    path = self._one(p, step, epoch)
                    if path is not None:
                        written.append(path)
        finally:
            self.network.train(True)
            torch.set_rng_state(cpu_rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state(cuda_rng)
                torch.cuda.empty_cache()
        return written

    def _pipeline(self, sampler: str):
        from ..tools.sample import _scheduler, build_pipeline

        scheduler, a1111_name = _scheduler(sampler, self.base.scheduler_config)
        pipe = build_pipeline(self.base, scheduler)
        pipe.set_progress_bar_config(disable=True)
        return pipe, a1111_name

    def _one(self, p: SamplePrompt, step: int, epoch: int | None) -> str | None:
        from PIL.PngImagePlugin import PngInfo

        from ..tools.sample import SampleSettings, a1111_parameters, encode_prompts
        from ..tools.sample_axes import PromptLine

        cfg, base = self.cfg, self.base
        width, height = p.size()
        sampler = p.sampler or cfg.sample_sampler
        seed = p.seed if p.seed is not None else random.SystemRandom().randint(0, 2**31 - 1)
        pipe, a1111_name = self._pipeline(sampler)

        def on_step(pipeline, i, t, kwargs):
            if self.stop.is_set():
                pipeline._interrupt = True
            return kwargs

        dtype = self.rt.weight_dtype if self.rt.mixed_precision != "no" else torch.float32
        with torch.no_grad(), self.rt.autocast():
            kw = encode_prompts(pipe, base.family, p.prompt, p.negative, cfg.clip_skip, cfg.max_token_length)
            kw = {k: v.to(self.rt.device, dtype) for k, v in kw.items()}
            latents = pipe(num_inference_steps=p.steps, guidance_scale=p.scale, width=width, height=height,
                           generator=torch.Generator("cpu").manual_seed(seed), output_type="latent",
                           callback_on_step_end=on_step, **kw).images
        if self.stop.is_set():
            return None
        image = self._decode(latents)
        settings = SampleSettings(prompt=p.prompt, negative=p.negative, steps=p.steps, cfg=p.scale, width=width,
                                  height=height)
        # the LoRA being trained, at weight 1 (no hash: the file is not written yet)
        text = a1111_parameters(settings, PromptLine(p.prompt, p.negative), a1111_name, seed, self.model_name,
                                [(cfg.output_name, 1.0, "")], cfg.clip_skip)
        info = PngInfo()
        info.add_text("parameters", text)
        buf = io.BytesIO()
        image.save(buf, format="PNG", pnginfo=info)
        name = sample_file_name(cfg.output_name, p.index, p.seed, step=step, epoch=epoch,
                                timestamp=time.strftime("%Y%m%d%H%M%S", time.localtime()))
        path = self.out_dir / name
        write_atomic(path, buf.getvalue())
        self.emit(ev.Sample(str(path), p.index, step, epoch, p.prompt))
        return str(path)

    def _decode(self, latents):
        """The VAE in fp32 (as in training: it overflows in fp16) -> PIL image."""
        from PIL import Image

        vae = self.base.vae
        with torch.no_grad():
            x = vae.decode(latents.to(vae.device, torch.float32) / VAE_SCALING[self.base.family]).sample
        arr = ((x[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return Image.fromarray(arr)
