"""The dataset part of a run's ss_* metadata, as sd-scripts fills it for train_data_dir + reg_data_dir:
training folders in ss_dataset_dirs, regularization folders in ss_reg_dataset_dirs, ss_num_train_images
without and ss_num_reg_images with only the regularization samples (before balancing)."""
from __future__ import annotations

from .reg import reg_summary
from .tags import tag_frequency


def train_samples(data) -> int:
    """Training (not regularization) samples per epoch of a TrainData: sd-scripts' num_train_images."""
    return sum(r for item, r in zip(data.items, data.repeats) if not item.entry.concept.is_reg)


def dataset_metadata(scan, data) -> dict:
    """RunInfo fields: num_train_images, dataset_dirs, reg_dataset_dirs, num_reg_images, tag_frequency."""
    def dirs(reg: bool) -> dict:
        return {c.folder_name: {"n_repeats": c.repeats, "img_count": len(c.images)}
                for c in scan.concepts if c.is_reg == reg}

    return {"num_train_images": train_samples(data), "dataset_dirs": dirs(False), "reg_dataset_dirs": dirs(True),
            "num_reg_images": reg_summary(scan.concepts)[1], "tag_frequency": tag_frequency(scan)}
