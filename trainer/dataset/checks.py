"""Checks of the dataset-source settings (dataset_config, reg_data_dir, prior_loss_weight, masked loss) as
(field, sentence, is_error) triples for trainer.config.validate. No torch."""
from __future__ import annotations

import os

from .config_file import SUBSET_KEYS


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
    if not cfg.masked_loss:  # mask images are read only then (sd-scripts takes the key only with masked_loss)
        for folder in ([""] if cfg.conditioning_data_dir else []) + \
                [f for f, o in _folder_options(cfg) if o.get("conditioning_data_dir")]:
            where = f" of the folder '{folder}' in the dataset config" if folder else ""
            out.append(("masked_loss", f"The mask images of conditioning_data_dir{where} are used only with "
                        "masked_loss; turn it on to train with them.", False))
    if need_paths and cfg.conditioning_data_dir and not os.path.isdir(cfg.conditioning_data_dir):
        err("conditioning_data_dir", f"Mask folder (conditioning_data_dir) '{cfg.conditioning_data_dir}' does not "
            "exist.")
    return out + (dataset_config_issues(cfg) if need_paths else [])


def dataset_config_issues(cfg) -> list[tuple[str, str, bool]]:
    """A dataset config that cannot be read, as one sentence; a folder's own value out of its range."""
    from trainer.errors import ConfigError

    from .config_file import read_dataset_config

    if not cfg.dataset_config or not os.path.isfile(cfg.dataset_config):
        return []
    try:
        read_dataset_config(cfg.dataset_config)
    except ConfigError as e:
        return [("dataset_config", str(e), True)]
    return [(field, sentence, True) for field, sentence in folder_value_issues(cfg)]


def _folder_options(cfg) -> list[tuple[str, dict]]:
    """(folder name, its keys as the run's fields) for each subset of cfg's dataset config; [] without one or
    when it cannot be read (dataset_config_issues says so)."""
    from trainer.errors import ConfigError

    from .config_file import read_dataset_config, run_values, subset_options

    if not cfg.dataset_config or not os.path.isfile(cfg.dataset_config):
        return []
    try:
        subsets = subset_options(read_dataset_config(cfg.dataset_config))
    except ConfigError:
        return []
    return [(os.path.basename(str(s.get("image_dir", "")).rstrip("/\\")), run_values(s)) for s in subsets]


def _folder_views(cfg) -> list[tuple[str, object]]:
    """(folder name, the settings as that folder sees them) for each subset of cfg's dataset config."""
    from types import SimpleNamespace

    from .subsets import SubsetView

    return [(folder, SubsetView(cfg, SimpleNamespace(options=o))) for folder, o in _folder_options(cfg)]


def caching_issues(cfg) -> list[tuple[str, str]]:
    """What the latent and text-encoder caches cannot give (sd-scripts refuses the same): the run's
    options and every dataset-config folder's own ones, by the same rules; (field, sentence) once each."""
    out: list[tuple[str, str]] = []
    said: set[tuple[str, str]] = set()  # (field, what): the run's sentence, or the first folder's, covers all
    views = [("", cfg)] + _folder_views(cfg)

    def add(field: str, what: str, folder: str, why: str) -> None:
        where = f" (set for the folder '{folder}' of the dataset config)" if folder else ""
        if (field, what) not in said:
            said.add((field, what))
            out.append((field, f"{field} cannot be used with {what}{where}: {why}."))

    if cfg.cache_text_encoder_outputs or cfg.cache_text_encoder_outputs_to_disk:
        for folder, v in views:
            if v.shuffle_caption:
                add("cache_text_encoder_outputs", "shuffle_caption", folder, "the captions change every step")
            elif (v.caption_dropout_rate or 0) > 0 or (v.caption_tag_dropout_rate or 0) > 0:
                add("cache_text_encoder_outputs", "caption dropout", folder, "the captions change every step")
            if v.enable_wildcard or (v.token_warmup_step or 0) > 0 or (v.caption_dropout_every_n_epochs or 0) > 0:
                add("cache_text_encoder_outputs", "wildcards, token warm-up or caption_dropout_every_n_epochs",
                    folder, "the captions change during training")
        if not out and not cfg.network_train_unet_only:  # one reason at a time, the captions' first
            add("cache_text_encoder_outputs", "a trained text encoder", "",
                "its outputs change every step (set network_train_unet_only)")
    if cfg.cache_latents or cfg.cache_latents_to_disk:
        # flip_aug is fine: the mirrored image is cached too (trainer.run.caching), as sd-scripts does
        for folder, v in views:
            if getattr(v, "color_aug", False):
                add("cache_latents", "color_aug", folder,
                    "a cached latent has one fixed colouring. Turn one of them off")
            if v.random_crop:
                add("cache_latents", "random_crop", folder,
                    "a cached latent has one fixed crop. Turn one of them off")
            if v.face_crop_aug_range:
                add("cache_latents", "face_crop_aug_range", folder,
                    "a cached latent has one fixed crop. Turn one of them off")
    return out


def folder_value_issues(cfg) -> list[tuple[str, str]]:
    """A dataset-config folder's own value outside the range the run's setting would have (the field's
    range check, or face_crop_aug_range not two numbers), naming the folder; (field, sentence)."""
    from trainer.config.fields import TrainConfig
    from trainer.config.ranges import range_sentence

    fields = set(TrainConfig.__dataclass_fields__)
    out = []
    for folder, options in _folder_options(cfg):
        for field, value in options.items():
            if field not in fields or field not in SUBSET_KEYS or value is None:
                continue
            if field == "face_crop_aug_range":
                sentence = face_range_problem(value)
            else:
                sentence = range_sentence(field, value)
            if sentence:
                out.append((field, f"Folder '{folder}' of the dataset config: {sentence}"))
    return out


def face_range_problem(value) -> str | None:
    """The sentence for a face_crop_aug_range that is not two numbers above 0 in order (the run's field, text
    like "2.0,4.0", or a folder's in a dataset config); None when it is right or empty."""
    from trainer.run.augment import parse_face_range

    if not value:
        return None
    try:
        lo, hi = parse_face_range(value)
    except ValueError:
        lo, hi = 0, 0
    if 0 < lo <= hi:
        return None
    return ("face_crop_aug_range must be two numbers above 0, the first not above the second: 2.0,4.0 in the "
            "settings, [2.0, 4.0] in a dataset config.")
