"""When sd-scripts samples (library/train_util.py sample_images_common): at the start with sample_at_first;
at epoch ends when sample_every_n_epochs is set (then sample_every_n_steps is ignored); otherwise every
sample_every_n_steps optimizer steps, but not at an epoch end. Zero or less turns an option off."""
from __future__ import annotations


def asks_for_samples(cfg) -> bool:
    """Some option makes sample images at some point (sample_prompts aside)."""
    return (cfg.sample_every_n_steps or 0) > 0 or (cfg.sample_every_n_epochs or 0) > 0 or bool(cfg.sample_at_first)


def sample_due(cfg, step: int, epoch: int | None, *, first: bool = False) -> bool:
    """``epoch`` is the epoch just finished at an epoch end, None after an optimizer step."""
    if not cfg.sample_prompts:
        return False
    if first:
        return bool(cfg.sample_at_first)
    every_epochs = cfg.sample_every_n_epochs if (cfg.sample_every_n_epochs or 0) > 0 else None
    every_steps = cfg.sample_every_n_steps if (cfg.sample_every_n_steps or 0) > 0 else None
    if every_epochs is not None:
        return epoch is not None and epoch % every_epochs == 0
    if every_steps is not None:
        return epoch is None and step % every_steps == 0
    return False


def sample_file_name(output_name: str, prompt_index: int, seed: int | None, *, step: int, epoch: int | None,
                     timestamp: str) -> str:
    """sd-scripts' name: {output_name}_{e000001 | 000010}_{index:02d}_{YYYYmmddHHMMSS}[_{seed}].png."""
    number = f"e{epoch:06d}" if epoch is not None else f"{step:06d}"
    prefix = f"{output_name}_" if output_name else ""
    return f"{prefix}{number}_{prompt_index:02d}_{timestamp}{'' if seed is None else f'_{seed}'}.png"
