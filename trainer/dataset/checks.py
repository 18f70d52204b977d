"""Checks of the dataset-source settings (dataset_config, reg_data_dir, prior_loss_weight, masked loss) as
(field, sentence, is_error) triples for trainer.config.validate. No torch."""
from __future__ import annotations

import os


def dataset_source_issues(cfg, need_paths: bool = True) -> list[tuple[str, str, bool]]:
    out: list[tuple[str, str, bool]] = []

    def err(field: str, msg: str) -> None:
        out.append((field, msg, True))

    if need_paths and cfg.reg_data_dir and not os.path.isdir(cfg.reg_data_dir):
        err("reg_data_dir", f"Regularization folder (reg_data_dir) '{cfg.reg_data_dir}' does not exist.")
    if need_paths and cfg.dataset_config and not os.path.isfile(cfg.dataset_config):
        err("dataset_config", f"Dataset config '{cfg.dataset_config}' does not exist.")
    if cfg.dataset_config and (cfg.train_data_dir or cfg.reg_data_dir):
        note = "dataset_config is set, so train_data_dir and reg_data_dir are not used (the config lists the folders)."
        out.append(("dataset_config", note, False))
    if cfg.prior_loss_weight is not None and cfg.prior_loss_weight < 0:
        err("prior_loss_weight", "prior_loss_weight cannot be negative.")
    if cfg.masked_loss and not (cfg.alpha_mask or cfg.conditioning_data_dir or cfg.dataset_config):
        err("masked_loss", "masked_loss needs masks: turn on alpha_mask or choose a conditioning_data_dir with "
            "mask images.")
    if need_paths and cfg.conditioning_data_dir and not os.path.isdir(cfg.conditioning_data_dir):
        err("conditioning_data_dir", f"Mask folder (conditioning_data_dir) '{cfg.conditioning_data_dir}' does not "
            "exist.")
    return out + (dataset_config_issues(cfg) if need_paths else [])


def dataset_config_issues(cfg) -> list[tuple[str, str, bool]]:
    """What the dataset config's folders ask for that the run's caches cannot give (sd-scripts refuses the
    same), and a config that cannot be read, as one sentence."""
    from trainer.errors import ConfigError

    from .config_file import read_dataset_config, subset_options

    if not cfg.dataset_config or not os.path.isfile(cfg.dataset_config):
        return []
    try:
        subsets = subset_options(read_dataset_config(cfg.dataset_config))
    except ConfigError as e:
        return [("dataset_config", str(e), True)]
    out = []
    if cfg.cache_latents or cfg.cache_latents_to_disk:
        for key in ("random_crop", "color_aug"):
            if any(s.get(key) for s in subsets):
                msg = f"cache_latents cannot be used with {key} set for a folder of the dataset config. Turn one off."
                out.append(("cache_latents", msg, True))
    if cfg.cache_text_encoder_outputs or cfg.cache_text_encoder_outputs_to_disk:
        for key in ("shuffle_caption", "caption_dropout_rate", "caption_tag_dropout_rate"):
            if any(s.get(key) for s in subsets):
                msg = (f"cache_text_encoder_outputs cannot be used with {key} set for a folder of the dataset "
                       "config: its captions change every step.")
                out.append(("cache_text_encoder_outputs", msg, True))
    return out
