"""Checks of the dataset-source settings (dataset_config, reg_data_dir, prior_loss_weight, masked loss) as
(field, sentence, is_error) triples for trainer.validate. No torch."""
from __future__ import annotations

import os


def dataset_source_issues(cfg, need_paths: bool = True) -> list[tuple[str, str, bool]]:
    out = []
    if need_paths and cfg.reg_data_dir and not os.path.isdir(cfg.reg_data_dir):
        out.append(("reg_data_dir", f"Regularization folder (reg_data_dir) '{cfg.reg_data_dir}' does not exist.",
                    True))
    if need_paths and cfg.dataset_config and not os.path.isfile(cfg.dataset_config):
        out.append(("dataset_config", f"Dataset config '{cfg.dataset_config}' does not exist.", True))
    if cfg.dataset_config and (cfg.train_data_dir or cfg.reg_data_dir):
        out.append(("dataset_config", "dataset_config is set, so train_data_dir and reg_data_dir are not used "
                                      "(the config lists the folders).", False))
    if cfg.prior_loss_weight is not None and cfg.prior_loss_weight < 0:
        out.append(("prior_loss_weight", "prior_loss_weight cannot be negative.", True))
    if cfg.masked_loss and not (cfg.alpha_mask or cfg.conditioning_data_dir or cfg.dataset_config):
        out.append(("masked_loss", "masked_loss needs masks: turn on alpha_mask or choose a "
                                   "conditioning_data_dir with mask images.", True))
    if need_paths and cfg.conditioning_data_dir and not os.path.isdir(cfg.conditioning_data_dir):
        out.append(("conditioning_data_dir", f"Mask folder (conditioning_data_dir) '{cfg.conditioning_data_dir}' "
                                             "does not exist.", True))
    return out
