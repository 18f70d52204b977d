"""validate()'s checks of the sample, validation and EMA settings, as (field, sentence, is_error).
No torch here (the forms call this on every change)."""
from __future__ import annotations

from trainer.errors import ConfigError


def watch_issues(cfg, need_paths: bool = True) -> list[tuple[str, str, bool]]:
    out: list[tuple[str, str, bool]] = []
    from trainer.sampling.schedule import asks_for_samples

    sampling = asks_for_samples(cfg)
    if cfg.sample_prompts and need_paths:
        from trainer.sampling.prompts import load_prompts

        try:
            load_prompts(cfg.sample_prompts)
        except ConfigError as e:
            out.append(("sample_prompts", str(e), True))
    if cfg.sample_prompts and not sampling:
        out.append(("sample_every_n_epochs", "sample_prompts is set but no sample image will be made: set "
                    "sample_every_n_epochs, sample_every_n_steps or sample_at_first.", False))
    if sampling and not cfg.sample_prompts:
        out.append(("sample_prompts", "Sample images need a prompt file (sample_prompts).", False))
    # sample_sampler, validation_split, ema and ema_save: their choices and ranges are checked from the field
    # metadata (trainer.config.ranges); only what involves several fields is here
    asks = [n for n in ("validate_every_n_steps", "validate_every_n_epochs", "max_validation_steps",
                        "validation_seed") if getattr(cfg, n) is not None]
    if asks and not cfg.validation_split:
        out.append((asks[0], f"{asks[0]} does nothing without validation_split: no image is held out.", False))
    if str(cfg.ema).lower() in ("gpu", "cpu") and not 0.0 < cfg.ema_decay < 1.0:
        out.append(("ema_decay", "ema_decay must be between 0 and 1 (0.999 is usual).", True))
    return out
