"""Latent cache (cache_latents, cache_latents_to_disk) and text-encoder output cache.

Disk caches sit next to the image (`img.npz`, `img_te_outputs.npz`, as sd-scripts names them) and hold
what they were made for (bucket, resized size, crop; caption and model); they are reused only when all of
it still matches, so changing the resolution or the caption never trains on stale data.

Both loops look at an optional `stop` Event before each batch (caption) and raise InterruptedError when it is
set; disk cache files already written are complete (each is written to a temporary name, then renamed)."""
from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import torch

from trainer.run.data import TrainItem
from trainer.dataset.buckets import crop_for
from trainer.dataset.images import ImageReadError
from trainer.models.spec import VAE_SCALING



def _latent_meta(item: TrainItem, crop: tuple[int, int]) -> np.ndarray:
    a = item.assignment
    return np.array([*a.bucket, *a.resized, *crop], dtype=np.int64)


def npz_paths(items: list[TrainItem]) -> list[Path]:
    """Each item's latent cache file: ``img.npz``; an image that two [[datasets]] train at different sizes
    gets ``img_<w>x<h>.npz`` per bucket instead (sd-scripts' newer naming), so neither overwrites the other."""
    sizes: dict[Path, set] = {}
    for item in items:
        sizes.setdefault(item.entry.path, set()).add(item.bucket)
    out = []
    for item in items:
        p = item.entry.path
        if len(sizes[p]) > 1:
            w, h = item.bucket
            out.append(p.with_name(f"{p.stem}_{w:04d}x{h:04d}.npz"))
        else:
            out.append(p.with_suffix(".npz"))
    return out


def _load_npz(path: Path, meta: np.ndarray, flipped: bool = False):
    """(latents, mirrored latents or None), or None when the file is missing, stale or lacks the mirrored
    latents that flip_aug needs."""
    try:
        with np.load(path) as z:
            if "lora_desk_meta" in z and np.array_equal(z["lora_desk_meta"], meta):
                if flipped and "latents_flipped" not in z:
                    return None  # cached before flip_aug was on: encode both again
                flip = torch.from_numpy(z["latents_flipped"].copy()) if flipped else None
                return torch.from_numpy(z["latents"].copy()), flip
    except (OSError, ValueError, KeyError):
        return None  # unreadable cache: encode again
    return None


def _save_npz(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


@torch.no_grad()
def cache_latents(data, vae, family: str, device, *, to_disk: bool, batch_size: int,
                  on_progress=None, stop=None) -> tuple[list[torch.Tensor], list[tuple[int, int]], list[str]]:
    """Encode every item once. Returns (latents per item, crop per item, paths that failed to decode).
    Items with flip_aug also get the encoding of their mirrored image, as sd-scripts caches it, in
    ``data.latents_flipped`` (None for the others); a step then picks one of the two.
    InterruptedError when `stop` (a threading.Event) is set."""
    from trainer.dataset.subsets import item_option

    items: list[TrainItem] = data.items
    latents: list[torch.Tensor | None] = [None] * len(items)
    flips = [bool(item_option(item.entry, data.cfg, "flip_aug")) for item in items]
    flipped: list[torch.Tensor | None] = [None] * len(items)
    data.latents_flipped = flipped if any(flips) else None
    crops: list[tuple[int, int]] = [(0, 0)] * len(items)
    paths = npz_paths(items) if to_disk else []
    failed: list[str] = []
    todo: dict[tuple[int, int], list[int]] = {}
    for i, item in enumerate(items):
        rng = random.Random(i)
        left, top, _, _ = crop_for(item.assignment, False, rng)  # cached latents use the centre crop
        crops[i] = (top, left)
        if to_disk:
            cached = _load_npz(paths[i], _latent_meta(item, crops[i]), flips[i])
            if cached is not None:
                latents[i], flipped[i] = cached
                continue
        todo.setdefault(item.bucket, []).append(i)
    total = sum(len(v) for v in todo.values())
    done = 0
    vae.to(device)
    scale = VAE_SCALING[family]
    for bucket in sorted(todo):
        idx = todo[bucket]
        for start in range(0, len(idx), batch_size):
            if stop is not None and stop.is_set():
                raise InterruptedError("stopped while caching latents")
            chunk, pixels = [], []
            for i in idx[start:start + batch_size]:
                try:
                    px, _ = data.load_pixels(items[i], random.Random(i), allow_flip=False)
                except ImageReadError as e:
                    failed.append(str(e))  # names the file and the reason
                    continue
                chunk.append(i)
                pixels.append(px)
            if chunk:
                x = torch.stack(pixels).to(device, dtype=vae.dtype)
                lat = vae.encode(x).latent_dist.sample() * scale
                for i, z in zip(chunk, lat.float().cpu()):
                    latents[i] = z
                mirrored = [n for n, i in enumerate(chunk) if flips[i]]
                if mirrored:  # a separate encode: the VAE's peak memory stays at vae_batch_size images
                    lat = vae.encode(torch.flip(x[mirrored], dims=[3])).latent_dist.sample() * scale
                    for n, z in zip(mirrored, lat.float().cpu()):
                        flipped[chunk[n]] = z
                if to_disk:
                    for i in chunk:
                        extra = {} if flipped[i] is None else {"latents_flipped": flipped[i].numpy()}
                        _save_npz(paths[i], latents=latents[i].numpy(),
                                  lora_desk_meta=_latent_meta(items[i], crops[i]), **extra)
            done += len(idx[start:start + batch_size])
            if on_progress:
                on_progress(done, total)
    return latents, crops, failed


def te_cache_key(caption: str, model_tag: str, max_token_length, clip_skip) -> str:
    return hashlib.sha256(f"{model_tag}|{max_token_length}|{clip_skip}|{caption}".encode()).hexdigest()


@torch.no_grad()
def cache_text_outputs(data, encode, model_tag: str, *, to_disk: bool, max_token_length, clip_skip,
                       on_progress=None, stop=None, batch_size: int = 1) -> list[tuple]:
    """Encode each item's (fixed) caption once, `batch_size` captions at a time (text_encoder_batch_size):
    a (states, pooled or None) pair per item.
    `encode(captions) -> (states [B,T,D], pooled [B,P] or None)`. The caption is the one training would see
    (caption_prefix/suffix and secondary_separator applied; validate() refuses the options that change it
    per step). InterruptedError when `stop` (a threading.Event) is set."""
    n = len(data.items)
    captions = [data.caption(i, 0, random.Random(0)) for i in range(n)]
    keys = [te_cache_key(c, model_tag, max_token_length, clip_skip) for c in captions]
    paths = [item.entry.path.with_name(item.entry.path.stem + "_te_outputs.npz") for item in data.items]
    by_key: dict[str, tuple] = {}
    if to_disk:
        for key, path in zip(keys, paths):
            if key not in by_key and path.exists():
                loaded = _load_te_npz(path, key)
                if loaded is not None:
                    by_key[key] = loaded
    missing = list(dict.fromkeys(k for k in keys if k not in by_key))
    caption_of = dict(zip(keys, captions))
    fresh = set(missing)
    for start in range(0, len(missing), max(1, batch_size)):
        if stop is not None and stop.is_set():
            raise InterruptedError("stopped while caching text-encoder outputs")
        chunk = missing[start:start + max(1, batch_size)]
        states, pooled = encode([caption_of[k] for k in chunk])
        for j, key in enumerate(chunk):
            by_key[key] = (states[j].float().cpu(), None if pooled is None else pooled[j].float().cpu())
        if on_progress:
            on_progress(min(start + len(chunk), len(missing)), len(missing))
    out = [by_key[k] for k in keys]
    if to_disk:
        for key, path, (s, p) in zip(keys, paths, out):
            if key in fresh or not path.exists():
                arrays = {"states": s.numpy(), "key": np.array(key)}
                if p is not None:
                    arrays["pooled"] = p.numpy()
                _save_npz(path, **arrays)
    return out


def _load_te_npz(path: Path, key: str):
    try:
        with np.load(path) as z:
            if str(z["key"]) == key:
                pooled = torch.from_numpy(z["pooled"].copy()) if "pooled" in z else None
                return torch.from_numpy(z["states"].copy()), pooled
    except (OSError, ValueError, KeyError):
        pass
    return None
