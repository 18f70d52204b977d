"""The estimate's result: named parts, what dominates, the peak."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .calibration import CALIBRATION_STATUS, GiB

# ------------------------------------------------------------------------------------------------ results


@dataclass
class Part:
    key: str
    label: str
    bytes: int
    group: str  # "weights", "training", "activations", "overhead"
    note: str = ""

    @property
    def gib(self) -> float:
        return self.bytes / GiB


@dataclass
class Estimate:
    family: str
    model: str
    resolution: tuple
    batch_size: int
    parts: list  # [Part]; they sum to training_peak_bytes
    trainable_params: int
    lora_modules: int
    peak_bytes: int
    allocated_bytes: int  # live tensors at the peak (compare with torch.cuda.max_memory_allocated)
    caching_peak_bytes: int | None = None  # the latent-caching phase, when cache_latents
    not_added: list = field(default_factory=list)  # [Part] transients smaller than the one counted
    notes: list = field(default_factory=list)
    calibration: str = CALIBRATION_STATUS
    sampling_peak_bytes: int | None = None  # the sample-image rounds, when sample_prompts is used
    latent_cache_bytes_per_image: int | None = None  # RAM/disk per image when cache_latents (x2 with flip_aug)

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GiB

    @property
    def training_peak_bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    @property
    def dominant(self) -> Part:
        """The largest part (what to change first to save memory)."""
        return max(self.parts, key=lambda p: p.bytes)

    def to_dict(self) -> dict:
        def part(p: Part) -> dict:
            d = asdict(p)
            d["gib"] = round(p.gib, 4)
            return d

        return {
            "family": self.family,
            "model": self.model,
            "resolution": list(self.resolution),
            "batch_size": self.batch_size,
            "parts": [part(p) for p in self.parts],
            "not_added": [part(p) for p in self.not_added],
            "dominant": self.dominant.key,
            "trainable_params": self.trainable_params,
            "lora_modules": self.lora_modules,
            "allocated_gib": round(self.allocated_bytes / GiB, 4),
            "caching_peak_gib": None if self.caching_peak_bytes is None else round(self.caching_peak_bytes / GiB, 4),
            "sampling_peak_gib": None if self.sampling_peak_bytes is None else round(self.sampling_peak_bytes / GiB, 4),
            "latent_cache_bytes_per_image": self.latent_cache_bytes_per_image,
            "peak_bytes": self.peak_bytes,
            "peak_gib": round(self.peak_gib, 4),
            "calibration": self.calibration,
            "notes": list(self.notes),
        }

    def format(self) -> str:
        """The breakdown as text lines; the last line is ``peak: <GiB> GiB``."""
        w, h = self.resolution
        lines = [f"VRAM estimate for {self.family.upper()} {Path(self.model).name}, {w}x{h}, batch {self.batch_size}",
                 f"calibration {self.calibration}: checked against the GPU rows in trainer/vram/calibration.py",
                 f"LoRA: {self.lora_modules} modules, {self.trainable_params:,} trainable parameters"]
        width = max(len(p.label) for p in self.parts + self.not_added)
        group = None
        for p in self.parts:
            if p.group != group:
                group = p.group
                lines.append(f"{group}:")
            lines.append(f"  {p.label:<{width}}  {p.gib:8.3f} GiB" + (f"  ({p.note})" if p.note else ""))
        if self.not_added:
            lines.append("not added (a smaller transient at another moment of the step):")
        for p in self.not_added:
            lines.append(f"  {p.label:<{width}}  {p.gib:8.3f} GiB  ({p.note})")
        lines.append(f"live tensors at the peak (torch max_memory_allocated): {self.allocated_bytes / GiB:.3f} GiB")
        if self.caching_peak_bytes is not None:
            lines.append(f"latent caching phase: {self.caching_peak_bytes / GiB:.3f} GiB")
        if self.sampling_peak_bytes is not None:
            lines.append(f"sample images: {self.sampling_peak_bytes / GiB:.3f} GiB")
        d = self.dominant
        lines.append(f"largest part: {d.label} ({100 * d.bytes / max(1, self.training_peak_bytes):.0f} %)")
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"peak: {self.peak_gib:.2f} GiB")
        return "\n".join(lines)
