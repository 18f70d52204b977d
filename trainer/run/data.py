"""The torch side of the dataset: bucketed batches, image tensors, captions per step, latent cache.

Batches are a pure function of (seed, epoch), so loader worker processes, resumed runs and several GPUs
all see the same order. An image that fails to decode is replaced by another image of its bucket and
reported once; training goes on."""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from trainer.run.augment import color_aug, face_crop, face_info, parse_face_range, resample_filter
from trainer.dataset.buckets import BucketAssignment, crop_for
from trainer.dataset.captions import process_caption
from trainer.dataset.images import ImageReadError, open_image_rgb
from trainer.dataset.scan import ImageEntry
from trainer.dataset.subsets import SubsetView, item_option


@dataclass
class TrainItem:
    entry: ImageEntry
    assignment: BucketAssignment

    @property
    def bucket(self) -> tuple[int, int]:
        return self.assignment.bucket

    @property
    def group(self) -> tuple[int, tuple[int, int]]:
        """(its [[datasets]], its bucket): a batch holds items of one group only."""
        return self.entry.concept.dataset, self.assignment.bucket


def _rng(*parts) -> random.Random:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def batches_for_epoch(buckets: dict, batch_size, seed: int, epoch: int) -> list[list[int]]:
    """Every item `repeats` times, shuffled within its bucket, cut into batches, batch order shuffled (the
    batches of every dataset together, as sd-scripts' DatasetGroup). ``buckets``: key -> item indices, the
    key a bucket or a (dataset, bucket) pair; ``batch_size``: an int, or dataset -> its batch size."""
    rng = _rng("batches", seed, epoch)
    batches = []
    for key in sorted(buckets):
        items = list(buckets[key])
        rng.shuffle(items)
        size = batch_size if isinstance(batch_size, int) else batch_size[key[0]]
        batches.extend(items[i:i + size] for i in range(0, len(items), size))
    rng.shuffle(batches)
    return batches


class TrainData(torch.utils.data.Dataset):
    """Index = epoch * batches_per_epoch + batch number; returns one collated batch."""

    last_flip = False  # whether the image (or cached latent) just loaded was mirrored: its mask follows

    def __init__(self, items: list[TrainItem], repeats: list[int], cfg, seed: int, num_processes: int = 1,
                 process_index: int = 0, batch_sizes: dict[int, int] | None = None):
        self.items = items
        self.repeats = list(repeats)
        self.cfg = cfg
        self.seed = seed
        self.latents: list[torch.Tensor] | None = None
        self.latents_flipped: list[torch.Tensor | None] | None = None  # mirrored latents (flip_aug)
        self.num_processes = num_processes
        self.process_index = process_index
        # (dataset, bucket) -> item indices x repeats; batch_sizes: dataset -> its batch size (several
        # [[datasets]]; every dataset at cfg.train_batch_size when not given)
        self.batch_sizes = batch_sizes or {}
        self.buckets: dict[tuple[int, tuple[int, int]], list[int]] = {}
        for i, (item, rep) in enumerate(zip(items, repeats)):
            self.buckets.setdefault(item.group, []).extend([i] * rep)
        self._epoch_cache: tuple[int, list[list[int]]] | None = None
        self.bad: set[int] = set()  # items whose file failed to decode
        self._latent_masks: dict[int, torch.Tensor] = {}  # masked_loss with cached latents: made once each
        # without masked_loss, a batch holding an alpha_mask folder's image still gets masks (the others all
        # ones) and a masked loss, as sd-scripts collates alpha_masks; mask images are then not read
        self._alpha = [bool(item_option(it.entry, cfg, "alpha_mask")) for it in items]
        self.cached_crops: list[tuple[int, int]] = []
        self.batches_per_epoch = len(self._all_batches(0))
        self.local_batches_per_epoch = len(self._batches(0))
        self.total_steps = cfg.max_train_steps  # the trainer sets the planned count (token warm-up ratio)
        self.full_captions = full_captions(items, cfg)  # for the folders with enable_wildcard

    def _all_batches(self, epoch: int) -> list[list[int]]:
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            self._epoch_cache = (epoch, batches_for_epoch(self.buckets, self.batch_size_of, self.seed, epoch))
        return self._epoch_cache[1]

    @property
    def batch_size_of(self) -> dict[int, int]:
        return {d: self.batch_sizes.get(d, self.cfg.train_batch_size) for d, _ in self.buckets}

    def plan_counts(self):
        """Items per bucket as trainer.config.plan.resolve takes them: {bucket: n} for one dataset, else
        [(batch size, {bucket: n})] per dataset (the same as trainer.dataset.groups.plan_counts)."""
        datasets = sorted({d for d, _ in self.buckets})
        if len(datasets) == 1:
            return self.bucket_counts(datasets[0])
        return [(self.batch_size_of[d], self.bucket_counts(d)) for d in datasets]

    def bucket_counts(self, dataset: int) -> dict[tuple[int, int], int]:
        """Samples per epoch of each bucket of one [[datasets]] ({bucket: items x repeats}), bucket order."""
        return {b: len(v) for (d, b), v in sorted(self.buckets.items()) if d == dataset}

    def _batches(self, epoch: int) -> list[list[int]]:
        """This process's share: batch b goes to process b % num_processes (data-parallel). Every process
        gets the same count (the last ones wrap around, as accelerate's even_batches does), otherwise the
        gradient all-reduce of the process with fewer batches would never come and the others would hang."""
        every = self._all_batches(epoch)
        n = self.num_processes
        per = -(-len(every) // n)
        return [every[(self.process_index + k * n) % len(every)] for k in range(per)]

    def __len__(self) -> int:
        return 1 << 62  # indices are computed by EpochSampler; the length is not used

    # --- one image
    def load_pixels(self, item: TrainItem, rng: random.Random, *, allow_flip: bool = True) -> tuple[torch.Tensor, tuple]:
        img = open_image_rgb(item.entry.path)
        a = item.assignment
        c = SubsetView(self.cfg, item.entry.concept)  # a folder's own options first
        face = face_info(item.entry.path) if c.face_crop_aug_range and not c.enable_bucket else None
        if face and img.width >= a.bucket[0] and img.height >= a.bucket[1]:  # sd-scripts: unbucketed images only
            img, (top, left) = face_crop(img, a.bucket, face, parse_face_range(c.face_crop_aug_range),
                                         c.random_crop, rng, c.resize_interpolation)
            return self._finish(img, rng, allow_flip, item), (top, left)
        if img.size != a.resized:
            img = img.resize(a.resized, resample_filter(c.resize_interpolation, a.resized[0] < img.size[0]))
        left, top, right, bottom = crop_for(a, c.random_crop, rng)
        img = img.crop((left, top, right, bottom))
        return self._finish(img, rng, allow_flip, item), (top, left)

    def _finish(self, img: Image.Image, rng: random.Random, allow_flip: bool, item: TrainItem) -> torch.Tensor:
        """Colour and flip augmentation, then the [-1, 1] CHW tensor."""
        if item_option(item.entry, self.cfg, "color_aug"):
            img = color_aug(img, rng)
        self.last_flip = bool(allow_flip and item_option(item.entry, self.cfg, "flip_aug") and rng.random() < 0.5)
        if self.last_flip:  # remembered: the item's mask is flipped with it (trainer.run.masks)
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous()

    def caption(self, index: int, epoch: int, rng: random.Random, step: int = 0) -> str:
        """epoch is 0-based here (sd-scripts counts from 1); step: the optimizer step this batch belongs to."""
        c = SubsetView(self.cfg, self.items[index].entry.concept)  # a folder's own caption options first
        text = self.full_captions.get(index, self.items[index].entry.caption)
        return process_caption(text, shuffle_caption=c.shuffle_caption,
                               keep_tokens=c.keep_tokens, caption_dropout_rate=c.caption_dropout_rate,
                               caption_tag_dropout_rate=c.caption_tag_dropout_rate,
                               keep_tokens_separator=c.keep_tokens_separator, epoch=epoch + 1, rng=rng,
                               caption_separator=c.caption_separator, secondary_separator=c.secondary_separator,
                               caption_prefix=c.caption_prefix, caption_suffix=c.caption_suffix,
                               caption_dropout_every_n_epochs=c.caption_dropout_every_n_epochs,
                               enable_wildcard=c.enable_wildcard, token_warmup_min=c.token_warmup_min,
                               token_warmup_step=self.warmup_steps(c.token_warmup_step), step=step)

    def warmup_steps(self, w: float) -> int:
        """token_warmup_step in steps: a value below 1 is a share of the run's steps, as in sd-scripts."""
        return int(w) if w >= 1 else math.floor(w * self.total_steps)

    def __getitem__(self, flat_index: int) -> dict:
        epoch, b = divmod(flat_index, self.local_batches_per_epoch)
        indices = self._batches(epoch)[b]
        pixels, latents, captions, sizes, crops, paths, skipped, used = [], [], [], [], [], [], [], []
        masks = []  # masked_loss
        use_masks = self.cfg.masked_loss or any(self._alpha[i] for i in indices)
        for n, index in enumerate(indices):
            rng = _rng("item", self.seed, epoch, b, n, self.process_index)
            while True:
                item = self.items[index]
                if self.latents is not None:
                    latents.append(self._cached_latent(index, rng))
                    crops.append(self.cached_crops[index])
                    break
                try:
                    px, crop = self.load_pixels(item, rng)
                except ImageReadError as e:
                    self.bad.add(index)
                    skipped.append(str(e))  # names the file and the reason
                    index = self._replacement(index, rng)
                    continue
                pixels.append(px)
                crops.append(crop)
                break
            used.append(index)
            if use_masks:
                masks.append(self.mask(index, crops[-1]))
            step = (epoch * self.local_batches_per_epoch + b) // self.cfg.gradient_accumulation_steps
            captions.append(self.caption(index, epoch, rng, step))
            sizes.append((item.assignment.image_size[1], item.assignment.image_size[0]))  # (h, w) like SDXL
            paths.append(str(item.entry.path))
        bw, bh = self.items[used[0]].bucket
        batch = {"indices": used, "captions": captions, "original_sizes": sizes, "crops": crops,
                 "target_size": (bh, bw), "paths": paths, "skipped": skipped,
                 "loss_weights": [self.loss_weight(i) for i in used]}
        if masks:
            batch["masks"] = torch.stack(masks)
        if latents:
            batch["latents"] = torch.stack(latents)
        else:
            batch["pixels"] = torch.stack(pixels)
        return batch

    def loss_weight(self, index: int) -> float:
        """prior_loss_weight for a regularization image, 1 for a training image (sd-scripts' loss_weights)."""
        return float(self.cfg.prior_loss_weight) if self.items[index].entry.concept.is_reg else 1.0

    def _cached_latent(self, index: int, rng: random.Random) -> torch.Tensor:
        """The cached latent, or with flip_aug its mirrored twin half of the time (sd-scripts' choice)."""
        flipped = self.latents_flipped[index] if self.latents_flipped is not None else None
        self.last_flip = flipped is not None and rng.random() < 0.5
        return flipped if self.last_flip else self.latents[index]

    def mask(self, index: int, top_left: tuple[int, int]) -> torch.Tensor:
        """The item's masked_loss mask, cut and flipped like its image; all ones when its folder has none.
        With cached latents (one fixed crop) it is made once, already at the latent size."""
        from trainer.run.masks import latent_mask, load_mask

        item = self.items[index]
        if self.latents is not None:
            if index not in self._latent_masks:
                self._latent_masks[index] = latent_mask(item, self.cfg, self.cached_crops[index],
                                                        tuple(self.latents[index].shape[-2:]))
            m = self._latent_masks[index]
            return torch.flip(m, dims=[-1]) if self.last_flip else m
        m = load_mask(item, self.cfg, top_left, self.last_flip)
        return m if m is not None else torch.ones(item.bucket[1], item.bucket[0])

    def _replacement(self, index: int, rng: random.Random) -> int:
        """Another readable item of the same bucket for an image that cannot be decoded."""
        candidates = sorted(i for i in set(self.buckets[self.items[index].group]) if i not in self.bad)
        if not candidates:
            raise ImageReadError(self.items[index].entry.path, "no readable image is left in its bucket")
        return rng.choice(candidates)


class EpochSampler(torch.utils.data.Sampler):
    """Yields flat indices of one epoch; `epoch` and `start` are set from the main process between epochs,
    so persistent loader workers follow along."""

    def __init__(self, data: TrainData):
        self.data = data
        self.epoch = 0
        self.start = 0

    def __iter__(self):
        n = self.data.local_batches_per_epoch
        return iter(range(self.epoch * n + self.start, (self.epoch + 1) * n))

    def __len__(self) -> int:
        return self.data.local_batches_per_epoch - self.start


def _as_is(batch):
    return batch  # TrainData already returns whole batches; a module-level function pickles on Windows


def make_loader(data: TrainData, workers: int, persistent: bool) -> tuple[torch.utils.data.DataLoader, EpochSampler]:
    sampler = EpochSampler(data)
    # an own generator: otherwise every new iterator draws its workers' base seed from the global torch RNG,
    # and a resumed run (its iterator made after the state is restored) would draw once more than the
    # uninterrupted one; batches do not depend on it (they are a function of seed and epoch)
    loader = torch.utils.data.DataLoader(data, batch_size=None, sampler=sampler, num_workers=workers,
                                         persistent_workers=persistent and workers > 0, collate_fn=_as_is,
                                         generator=torch.Generator().manual_seed(data.seed))
    return loader, sampler


def build_group_items(groups) -> tuple[list[TrainItem], list[int]]:
    """Usable images and their repeats per epoch of the [[datasets]] of trainer.dataset.groups, each bucketed
    and balanced on its own (regularization images as sd-scripts balances them)."""
    from trainer.dataset.groups import group_items

    chosen = group_items(groups)
    return [TrainItem(e, a) for e, a, _ in chosen], [r for _, _, r in chosen]


def full_captions(items: list[TrainItem], cfg) -> dict[int, str]:
    """Every line of each caption file whose folder has enable_wildcard (the scan keeps only the first line)."""
    from trainer.dataset.captions import read_caption

    out = {}
    for i, item in enumerate(items):
        if not item_option(item.entry, cfg, "enable_wildcard"):
            continue
        path = item.entry.caption_path
        if path is not None and not item.entry.caption_unreadable:
            lines = read_caption(path).text.split("\n")
            out[i] = "\n".join(line.strip() for line in lines if line.strip())  # empty lines dropped
    return out
