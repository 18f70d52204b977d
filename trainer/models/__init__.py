"""Base models: reading checkpoints, detecting SD 1.x / 2.x / SDXL, converting to diffusers and back.

Modules (import them directly; importing this package does not import torch):
checkpoint_io (safe reading), family (detection + config inference), spec (dataclasses), keymaps (name maps),
ldm_to_diffusers, diffusers_to_ldm (+ save_checkpoint), tokenizers, loader (load_base_model), tiny (test models).
"""
