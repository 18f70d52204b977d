"""Where a run's images come from: the training folder's concept folders plus reg_data_dir's folders as
regularization concepts (or, with dataset_config, its subsets). The trainer and every preview call
:func:`scan_sources`, so they count the same images."""
from __future__ import annotations

from pathlib import Path

from trainer.errors import DatasetError

from .config_file import effective_config, scan_dataset_config  # noqa: F401  (effective_config: used via here)
from .mask_files import check_mask_files
from .reg import reg_notes
from .scan import DatasetScan, Problem, scan_dataset


def scan_sources(cfg) -> DatasetScan:
    """One scan of every image the run trains on; regularization concepts have ``is_reg`` set.
    DatasetError (one sentence) for a missing or empty folder, or an image without its mask."""
    if getattr(cfg, "dataset_config", ""):
        scan = scan_dataset_config(cfg)
    else:
        scan = scan_dataset(cfg.train_data_dir, cfg.caption_extension)
        if getattr(cfg, "reg_data_dir", ""):
            add_reg_folder(scan, cfg.reg_data_dir, cfg.caption_extension)
    check_mask_files(scan, cfg)
    return scan


def add_reg_folder(scan: DatasetScan, reg_data_dir, caption_extension: str) -> None:
    """Append reg_data_dir's <repeats>_<name> folders to ``scan`` as regularization concepts."""
    try:
        reg = scan_dataset(reg_data_dir, caption_extension)
    except DatasetError as e:  # the scan's sentence names a "Training folder"
        raise DatasetError(str(e).replace("Training folder", "Regularization folder (reg_data_dir)", 1)) from None
    for c in reg.concepts:
        c.is_reg = True
    scan.concepts.extend(reg.concepts)
    scan.problems.extend(reg.problems)
    for note in reg_notes(scan.concepts):
        scan.problems.append(Problem(Path(reg_data_dir), "reg_balance", note))
