"""The Dataset page's training settings (TrainConfig fields with kohya names): batch size, accumulation,
resolution, buckets, keep_tokens, caption extension; shown in the totals bar, the bucket preview, the image
preview and the hygiene check. A mixin of :class:`widgets.dataset.dataset_page.DatasetPage`.

The page keeps no copy and no defaults of its own: it reads the shared :class:`trainer.config.model.ConfigModel`
(the window's, which the Training page edits too) and writes its edits there; every change, wherever it was
made, comes back through :meth:`_config_changed`.
"""
from __future__ import annotations

import dataclasses
import os

from app.i18n import tr

from widgets.dataset.bucket_preview import BUCKET_FIELDS as BUCKET_PREVIEW_FIELDS
from widgets.dataset.dataset_opening import is_dataset_config

DATASET_FIELDS = ("resolution", "enable_bucket", "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps",
                  "bucket_no_upscale", "train_batch_size", "gradient_accumulation_steps", "keep_tokens",
                  "caption_extension", "alpha_mask", "conditioning_data_dir", "masked_loss")
MASK_FIELDS = {"alpha_mask", "conditioning_data_dir", "masked_loss"}  # what the preview's mask depends on
BUCKET_FIELDS = set(BUCKET_PREVIEW_FIELDS)


def run_source(cfg) -> str | None:
    """What a run of ``cfg`` trains from, as the trainer picks it: its dataset config when it names one (None
    while that is not a file yet), else its training folder (None while that is not a folder)."""
    if cfg.dataset_config:
        return cfg.dataset_config if is_dataset_config(cfg.dataset_config) else None
    return cfg.train_data_dir if cfg.train_data_dir and os.path.isdir(cfg.train_data_dir) else None


def same_path(a, b) -> bool:
    if not a or not b:
        return False
    return os.fspath(a) == os.fspath(b) or os.path.realpath(a) == os.path.realpath(b)


class DatasetSettings:
    @property
    def values(self) -> dict:
        """The dataset fields of the shared config (read-only: edits go through :meth:`edit_settings`)."""
        cfg = self.config_model.get()
        return {k: getattr(cfg, k) for k in DATASET_FIELDS}

    def edit_settings(self, **changes) -> None:
        """The user changed these fields here: into the shared config (the other pages follow)."""
        self.config_model.update(source=self, **changes)

    def set_config(self, cfg) -> None:
        """Take the dataset fields of a TrainConfig, or the fields of a dict, into the shared config."""
        changes = {k: getattr(cfg, k) for k in DATASET_FIELDS} if dataclasses.is_dataclass(cfg) else dict(cfg)
        self.config_model.update(**changes)

    def _config_changed(self, cfg, changed, source) -> None:
        names = changed & set(DATASET_FIELDS)
        if names:
            self._show_settings(cfg, names)
        if changed & {"dataset_config", "train_data_dir"} and source is not self:
            self._follow_timer.start()  # a path typed a key at a time: once the typing pauses
        if source is self:  # what the user changed on this page (tests and the window may listen)
            self.settingsEdited.emit({k: getattr(cfg, k) for k in changed})

    def _show_settings(self, cfg, names) -> None:
        # the widgets show the config (those the user is editing already do; they are left alone)
        self.totals_bar.show_settings(cfg)
        self.editor.keep_tokens = int(cfg.keep_tokens)
        if names & BUCKET_FIELDS:  # only these re-sort the images into buckets
            self.buckets.set_settings(cfg)
            self._update_bucketer()
        self._update_totals()
        if "caption_extension" in names and self.root is not None:
            self._rescan_timer.start()  # captions are other files now: read the folder again
        if names & MASK_FIELDS:  # the shown image's mask, as trained now (redrawn only if it changed)
            self.preview.update_mask(self.editor.entry, cfg)

    def train_what_is_shown(self, root) -> None:
        """The one rule of what the run trains once the page opened ``root``: a dataset config file names
        itself in dataset_config; a training folder clears dataset_config (else the run would keep training
        the config's folders) and becomes train_data_dir (the same folder written differently is left).
        While a run is on, its source (shown on the Training page) stays: ``root`` is trained once it ends."""
        path = os.fspath(root)
        if self._training:
            self._train_after_run = path
            self.status.emit(tr("Training is running: the next run trains {path}.").format(path=path))
            return
        if is_dataset_config(path):
            self.edit_settings(dataset_config=path)
        elif not same_path(self.config_model.get().train_data_dir, path):
            self.edit_settings(dataset_config="", train_data_dir=path)
        else:
            self.edit_settings(dataset_config="")

    def set_training(self, on: bool) -> None:
        """A run started or ended (the window's Training page): what the page opened meanwhile is trained
        next, if the page still shows it."""
        self._training = bool(on)
        if not on and self._train_after_run is not None:
            path, self._train_after_run = self._train_after_run, None
            if same_path(path, self.root):
                self.train_what_is_shown(path)

    def _follow_run_source(self) -> None:
        """dataset_config or train_data_dir changed on another page (a run config opened, a path typed):
        show what the run trains now (a dataset config before the training folder, as the trainer reads)."""
        target = run_source(self.config_model.get())
        if target is not None and not same_path(self.root, target):
            self.open_dataset(target, train=False)  # it is the run's source already: nothing to write back

    def dataset_cfgs(self) -> list | None:
        """The run's settings per [[datasets]] of the dataset config the page shows (None for a training
        folder, or a config that cannot be read now). Kept until the root or the config changes (asked for
        on every selection, totals and bucket update: the TOML is read once); :meth:`forget_dataset_cfgs`
        drops it when the file itself changes."""
        cfg = self.config_model.get()
        if self._cfgs_cache is not None and self._cfgs_cache[0] == self.root and self._cfgs_cache[1] is cfg:
            return self._cfgs_cache[2]
        cfgs = None
        if is_dataset_config(self.root):
            from trainer.dataset.config_file import dataset_configs
            from trainer.errors import UserError

            try:
                cfgs = dataset_configs(cfg.replace(dataset_config=str(self.root)))
            except UserError:
                pass
        self._cfgs_cache = (self.root, cfg, cfgs)
        return cfgs

    def forget_dataset_cfgs(self) -> None:
        """The dataset config is read again on next use (opened again, or written by the page)."""
        self._cfgs_cache = None

    def dataset_groups(self) -> list:
        """The scan shown as the trainer groups it (trainer.dataset.groups): one group at the run's settings
        for a training folder, one per [[datasets]] of a dataset config, batch sizes as set now; each with
        the Buckets tab's report of it when there is one."""
        from trainer.dataset.groups import split_groups

        groups = split_groups(self.scan, self.dataset_cfgs() or [self.config_model.get()])
        if self.buckets.groups is not None:  # a dataset config: bucketed per dataset
            reports = {g.index: g.report for g in self.buckets.groups}
            for g in groups:
                g.report = reports.get(g.index)
        elif len(groups) == 1:
            groups[0].report = self.bucket_report
        return groups

    def bucketer_for(self, entry):
        """The bucketer an image trains with: its dataset's resolution and bucket keys in a dataset config."""
        cfgs = self.dataset_cfgs() if entry is not None else None
        if cfgs and entry.concept.dataset < len(cfgs):
            from trainer.dataset.groups import bucketer_of

            try:
                return bucketer_of(cfgs[entry.concept.dataset])
            except Exception:  # a resolution being typed: as the page's bucket settings
                pass
        return self.bucketer()

    def _set_value(self, key, value) -> None:
        self.edit_settings(**{key: value})

    def _bucket_settings_changed(self, values: dict) -> None:
        self.edit_settings(**values)

    def bucketer(self):
        try:
            return self.buckets.bucketer()
        except Exception:
            return None

    def _update_bucketer(self) -> None:
        self.preview.set_bucketer(self.bucketer_for(self.editor.entry))
        try:
            from trainer.config.validate import parse_resolution

            res = parse_resolution(self.values["resolution"])
        except Exception:
            return
        self.hygiene.set_training_size(res, int(self.values["min_bucket_reso"]))

    def _resolution(self):
        from trainer.config.validate import parse_resolution

        try:
            return parse_resolution(self.values["resolution"])
        except ValueError:  # text being typed: TrainConfig's resolution meanwhile
            from trainer.config.fields import TrainConfig

            return parse_resolution(TrainConfig().resolution)
