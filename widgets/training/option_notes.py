"""Which of the sd-scripts options added by issue 17 have no effect with the other settings, for the Training
page's greyed-out rows (param_form.not_applicable): a table instead of one if per option."""
from __future__ import annotations

from app.i18n import tr


def option_notes(cfg) -> dict[str, str]:
    """field -> why it changes nothing now (only while it holds its default: a set value stays editable)."""
    from trainer.config.fields import TrainConfig

    out: dict[str, str] = {}
    default = TrainConfig()
    huber = cfg.loss_type in ("huber", "smooth_l1")
    sched = "" if cfg.lr_scheduler_type else cfg.lr_scheduler
    for names, unused, reason in (  # sd-scripts options of issue 17 that act only with another setting
            (("huber_schedule", "huber_c", "huber_scale"), not huber, tr("Only used with loss_type huber or smooth_l1.")),
            (("ip_noise_gamma_random_strength",), not cfg.ip_noise_gamma, tr("Only used with ip_noise_gamma.")),
            (("noise_offset_random_strength",), not cfg.noise_offset, tr("Only used with noise_offset.")),
            (("token_warmup_min",), not cfg.token_warmup_step, tr("Only used with token_warmup_step.")),
            (("lr_decay_steps",), sched != "warmup_stable_decay", tr("Only used by the warmup_stable_decay scheduler.")),
            (("lr_scheduler_min_lr_ratio",), sched not in ("cosine_with_min_lr", "warmup_stable_decay"),
             tr("Only used by the cosine_with_min_lr and warmup_stable_decay schedulers.")),
            (("lr_scheduler_timescale",), sched != "inverse_sqrt", tr("Only used by the inverse_sqrt scheduler.")),
            (("skip_until_initial_step",), cfg.initial_step is None and cfg.initial_epoch is None,
             tr("Only used with initial_step or initial_epoch.")),
            (("save_last_n_steps", "save_last_n_steps_state"), not cfg.save_every_n_steps,
             tr("Only used with save_every_n_steps.")),
            (("base_weights_multiplier",), not cfg.base_weights, tr("Only used with base_weights.")),
            (("text_encoder_batch_size",), not (cfg.cache_text_encoder_outputs or
                                                cfg.cache_text_encoder_outputs_to_disk),
             tr("Only used with cache_text_encoder_outputs.")),
            (("face_crop_aug_range",), cfg.enable_bucket, tr("Only used with enable_bucket off."))):
        for name in names:
            if unused and getattr(cfg, name) == getattr(default, name):
                out[name] = reason
    return out
