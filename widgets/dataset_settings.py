"""The Dataset page's training settings (TrainConfig fields with kohya names): batch size, accumulation,
resolution, buckets, keep_tokens, caption extension; shown in the totals bar, the bucket preview, the image
preview and the hygiene check. A mixin of :class:`widgets.dataset_page.DatasetPage`."""
from __future__ import annotations

import dataclasses

DATASET_FIELDS = ("resolution", "enable_bucket", "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps",
                  "bucket_no_upscale", "train_batch_size", "gradient_accumulation_steps", "keep_tokens",
                  "caption_extension", "alpha_mask", "conditioning_data_dir")


class DatasetSettings:
    @staticmethod
    def _defaults() -> dict:
        return {"resolution": "512,512", "enable_bucket": True, "min_bucket_reso": 256, "max_bucket_reso": 1024,
                "bucket_reso_steps": 64, "bucket_no_upscale": False, "train_batch_size": 1,
                "gradient_accumulation_steps": 1, "keep_tokens": 0, "caption_extension": ".txt"}

    def set_config(self, cfg, update_widgets: bool = True) -> None:
        """Take the dataset-related fields of a TrainConfig (a dataclass with kohya names)."""
        d = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
        changed = {k: d[k] for k in DATASET_FIELDS if d.get(k) is not None and d[k] != self.values.get(k)}
        if not changed:  # the Training page sends its config on every edit
            return
        self.values.update(changed)
        if update_widgets:
            self.buckets.set_settings(self.values)
            self.batch.setValue(int(self.values["train_batch_size"]))
            self.accum.setValue(int(self.values["gradient_accumulation_steps"]))
            self.editor.keep_tokens = int(self.values["keep_tokens"])
            self._update_bucketer()
            if "caption_extension" in changed and self.root is not None:
                self._rescan_timer.start()  # captions are other files now: read the folder again

    def _set_value(self, key, value) -> None:
        self.values[key] = value
        self._update_totals()
        self.settingsEdited.emit({key: value})

    def _bucket_settings_changed(self, values: dict) -> None:
        self.values.update(values)
        self._update_bucketer()
        self.settingsEdited.emit(dict(values))

    def bucketer(self):
        try:
            return self.buckets.bucketer()
        except Exception:
            return None

    def _update_bucketer(self) -> None:
        self.preview.set_bucketer(self.bucketer())
        try:
            from trainer.validate import parse_resolution

            res = parse_resolution(self.values["resolution"])
        except Exception:
            return
        self.hygiene.set_training_size(res, int(self.values["min_bucket_reso"]))

    def _resolution(self):
        from trainer.validate import parse_resolution

        try:
            return parse_resolution(self.values["resolution"])
        except ValueError:
            return (512, 512)
