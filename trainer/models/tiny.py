"""Tiny models of the real architectures with random weights, for tests and the demo (no downloads).

They follow each family's rules, so ``family.detect`` recovers exactly the config they were built with:
- sd1: UNet (32, 64), 8 heads, conv proj_in, attention on level 0 only (like SD 1.x's last level without
  attention), 2-layer CLIP text encoder of width 32 (quick_gelu, HF names).
- sd2: UNet (64, 128) with 64-wide heads and linear proj_in; OpenCLIP text tower of width 64 stored with 3
  blocks in the file, of which 2 are used (like SD 2.x's 24/23).
- sdxl: UNet (64, 128), transformer depth (0, 2), text_time addition embedding, cross attention 32 + 64 = 96
  from two text encoders (CLIP-L-like width 32, OpenCLIP-bigG-like width 64 with a projection).
- VAE: 4 levels (32, 32, 64, 64), one resnet each, 4 latent channels: the real 8x downscale, so a 64 px image
  gives the 8x8 latent the UNet is timed on.
The vocabulary is CLIP's real one (49408 tokens, 77 positions), so the shipped tokenizers work with them.
"""

from __future__ import annotations

from pathlib import Path

from trainer.errors import ModelError

from .spec import HEAD_WIDTH, VAE_SCALING

VOCAB = 49408
MAX_POS = 77


def _unet(family: str):
    from diffusers import UNet2DConditionModel

    if family == "sd1":
        return UNet2DConditionModel(
            sample_size=8, block_out_channels=(32, 64), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
        )
    if family == "sd2":
        return UNet2DConditionModel(
            sample_size=8, block_out_channels=(64, 128), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=64, attention_head_dim=[64 // HEAD_WIDTH, 128 // HEAD_WIDTH],
            use_linear_projection=True, norm_num_groups=32,
        )
    return UNet2DConditionModel(
        sample_size=8, block_out_channels=(64, 128), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=96, attention_head_dim=[1, 2], use_linear_projection=True,
        transformer_layers_per_block=[1, 2], norm_num_groups=32,
        addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=64 + 6 * 256,
    )


def _vae(family: str):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(32, 32, 64, 64), layers_per_block=1, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=32, sample_size=64, scaling_factor=VAE_SCALING[family],
    )


def _te(hidden: int, layers: int, act: str, projection: int | None = None):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(
        vocab_size=VOCAB, hidden_size=hidden, intermediate_size=hidden * 4, num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // HEAD_WIDTH), max_position_embeddings=MAX_POS, hidden_act=act,
        layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407,
        pad_token_id=49407 if act == "quick_gelu" else 0, **({"projection_dim": projection} if projection else {}),
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(cfg)


def make_tiny_models(family: str, seed: int = 0):
    """(unet, vae, [text encoders]) with random weights, float32, eval mode."""
    import torch

    if family not in ("sd1", "sd2", "sdxl"):
        raise ModelError(f"Unknown model family {family!r}; expected sd1, sd2 or sdxl.")
    torch.manual_seed(seed)
    unet, vae = _unet(family), _vae(family)
    if family == "sd1":
        tes = [_te(32, 2, "quick_gelu")]
    elif family == "sd2":
        tes = [_te(64, 2, "gelu")]
    else:
        tes = [_te(32, 2, "quick_gelu"), _te(64, 2, "gelu", projection=64)]
    # diffusers zero-initialises conv_out and some projections; give every tensor a random value so that
    # conversions that drop or swap a tensor cannot go unnoticed in output comparisons.
    with torch.no_grad():
        for m in [unet, vae, *tes]:
            for name, p in m.named_parameters():
                if p.abs().sum() == 0:
                    p.normal_(0.0, 0.02)
    for m in [unet, vae, *tes]:
        m.eval()
    return unet, vae, tes


def make_tiny_checkpoint(path, family: str = "sd1", seed: int = 0, dtype=None) -> Path:
    """Save tiny random models as a single-file checkpoint in the original layout (.safetensors or .ckpt).

    SD 2.x files get a distinct random last OpenCLIP block (unused, as in real files), ``text_projection`` and
    ``logit_scale``, so they look like real ones.
    """
    import torch

    from .diffusers_to_ldm import save_checkpoint
    from .spec import SD2_TE_PREFIX

    unet, vae, tes = make_tiny_models(family, seed)
    extras = None
    if family == "sd2":
        g = torch.Generator().manual_seed(seed + 1)
        n = tes[0].config.num_hidden_layers
        from .diffusers_to_ldm import open_clip_to_ldm

        te = open_clip_to_ldm(tes[0].state_dict(), n)
        extras = {}
        for k, v in te.items():
            if k.startswith(f"transformer.resblocks.{n - 1}."):
                new = f"{SD2_TE_PREFIX}transformer.resblocks.{n}." + k.split(".", 3)[3]
                extras[new] = torch.randn(v.shape, generator=g) * 0.02
        h = tes[0].config.hidden_size
        extras[SD2_TE_PREFIX + "text_projection"] = torch.randn((h, 512 // 8), generator=g) * 0.02
        extras[SD2_TE_PREFIX + "logit_scale"] = torch.tensor(4.6052)
    return save_checkpoint(path, family, unet, vae, tes, dtype=dtype, extras=extras)
