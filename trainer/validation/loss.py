"""The validation loss: the held-out images through the model being trained, without grad, at sd-scripts'
four fixed timesteps (200, 400, 600, 800 of 1000) and with noise fixed per image and timestep, so values
from different steps of a run are comparable. Captions are used as written (no shuffle or dropout), images
centre-cropped and not flipped or colour-shifted, whether the run or a dataset-config folder of its own asks
for it (:data:`UNAUGMENTED` overrides both). Latents (and, with cached text-encoder outputs, the conditioning)
are made once, at the first measurement; the random generators are left as they were."""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..placement import on_device

NUM_TIMESTEPS = 4  # sd-scripts' NUM_VALIDATION_TIMESTEPS
# the options that make a training image or caption vary from step to step, at their "off" values
UNAUGMENTED = {"flip_aug": False, "random_crop": False, "color_aug": False, "face_crop_aug_range": "",
               "shuffle_caption": False, "caption_dropout_rate": 0.0, "caption_tag_dropout_rate": 0.0,
               "caption_dropout_every_n_epochs": 0, "token_warmup_step": 0.0}


def _seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") % 2**63


def unaugmented(items: list) -> list:
    """The held-out items with their folders' own augmentation options turned off too (a dataset-config
    folder's flip_aug = true would otherwise mirror its validation images): copies, the training's
    concepts are left as they are."""
    from dataclasses import replace

    plain: dict = {}  # one copy per concept folder
    out = []
    for item in items:
        c = item.entry.concept
        if id(c) not in plain:
            plain[id(c)] = replace(c, images=[], options={**(c.options or {}), **UNAUGMENTED})
        out.append(replace(item, entry=replace(item.entry, concept=plain[id(c)])))
    return out


class Validator:
    def __init__(self, items: list, cfg, seed: int):
        self.items, self.cfg = unaugmented(items), cfg
        self.seed = cfg.validation_seed if cfg.validation_seed is not None else seed
        self.paths = [str(i.entry.path) for i in items]
        # noise keys: concept folder and file name, so a copied or moved dataset gives the same values
        self.keys = [f"{i.entry.concept.folder_name}/{i.entry.path.name}" for i in items]
        self.model = self.network = self.rt = None
        self._batches: list[dict] | None = None

    def bind(self, model, network, rt) -> "Validator":
        self.model, self.network, self.rt = model, network, rt
        return self

    def due(self, step: int, epoch: int, at_epoch_end: bool) -> bool:
        cfg = self.cfg
        if at_epoch_end:
            return cfg.validate_every_n_epochs is None or epoch % cfg.validate_every_n_epochs == 0
        return bool(cfg.validate_every_n_steps) and step % cfg.validate_every_n_steps == 0

    # --- the fixed inputs, made once
    def data(self):
        """The held-out images one per batch, unaugmented (no torch model needed)."""
        from trainer.run.data import TrainData

        # the items' own options (unaugmented()) turn the augmentations off: TrainData reads them per folder
        cfg = self.cfg.replace(train_batch_size=1)
        return TrainData(self.items, [1] * len(self.items), cfg, self.seed)

    def _prepare(self) -> list[dict]:
        data = self.data()
        limit = min(len(self.items), self.cfg.max_validation_steps or len(self.items))
        model, rt = self.model, self.rt
        batches = [data[b] for b in range(limit)]
        vae = model.vae
        # the encoders only when their outputs are cached: otherwise the training keeps them on the device
        frozen = [vae, *(model.tes if model.te_cache is not None else [])]
        with on_device(frozen, rt.device), torch.no_grad():
            for batch in batches:
                index = batch["indices"][0]
                g = torch.Generator(rt.device.type).manual_seed(_seed("latent", self.seed, self.keys[index]))
                if "pixels" in batch:
                    x = batch.pop("pixels").to(rt.device, dtype=vae.dtype)
                    from ..models.spec import VAE_SCALING

                    z = vae.encode(x).latent_dist.sample(generator=g).float() * VAE_SCALING[model.family]
                    batch["latents"] = z.cpu().contiguous()
                if model.te_cache is not None:  # frozen encoders: the conditioning never changes
                    with rt.autocast():
                        batch["cond"] = model.encode_captions(batch["captions"])
        return batches

    def loss(self) -> float:
        model, rt = self.model, self.rt
        if self._batches is None:
            self._batches = self._prepare()
        n = model.sched.config.num_train_timesteps
        timesteps = np.linspace(0, n, NUM_TIMESTEPS + 2, dtype=int)[1:-1]
        self.network.train(False)
        total, count = 0.0, 0
        try:
            with torch.no_grad():
                for batch in self._batches:
                    cond = batch.get("cond")
                    if cond is None:
                        with rt.autocast():
                            cond = model.encode_captions(batch["captions"])
                    key = self.keys[batch["indices"][0]]
                    shape = batch["latents"].shape
                    for t in timesteps:
                        g = torch.Generator().manual_seed(_seed("noise", self.seed, key, int(t)))
                        noise = torch.randn(shape, generator=g).to(rt.device)
                        ts = torch.full((shape[0],), int(t), device=rt.device, dtype=torch.long)
                        total += float(model.loss(batch, noise=noise, timesteps=ts, cond=cond))
                        count += 1
        finally:
            self.network.train(True)
        return total / max(1, count)
