"""Activation memory of the UNet, the text encoders and the VAE encoder."""
from __future__ import annotations

import math

from .calibration import (BACKWARD_WORKSPACE, RESNET_NORM_ACTS, TE_HALF_ACTS, TE_NORM_ACTS, TRANSFORMER_HALF_ACTS,
                          TRANSFORMER_NORM_ACTS, TRANSFORMER_WRAPPER_ACTS, UNET_ACTIVATION_SCALE,
                          VAE_ENCODE_LIVE_TENSORS)

# ------------------------------------------------------------------------------------------------ activations


def _levels(spec, width: int, height: int) -> list[tuple[int, int]]:
    """(channels, tokens) per UNet level for a W x H image."""
    h, w = max(1, math.ceil(height / 8)), max(1, math.ceil(width / 8))
    out = []
    for lvl, c in enumerate(spec.block_out_channels):
        out.append((c, h * w))
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return out


def unet_activation_bytes(spec, width: int, height: int, batch: int, *, e: int, f: int, checkpointing: bool,
                          naive_attention: bool, context_tokens: int, conv_lora: bool) -> int:
    """Activation memory of one UNet forward+backward pass (see the module docstring)."""
    u = spec.unet
    lv = _levels(u, width, height)
    L = u.layers_per_block
    n_levels = len(lv)
    blocks = []  # (activation bytes per sample, input bytes per sample, checkpointed)

    def resnet(cin, c, n):
        act = (RESNET_NORM_ACTS * f + e) * (cin + c) * n + (e * cin * n if cin != c else 0)
        if conv_lora:
            act += e * (cin + c) * n
        blocks.append((act, e * cin * n, True))

    def transformer(lvl, depth):
        c, n = lv[lvl]
        heads = u.num_heads[lvl] if lvl < len(u.num_heads) else max(1, c // 64)
        if naive_attention:
            attn = heads * (n + context_tokens) * n * (f + e)
        else:
            attn = heads * n * 4 * 2  # logsumexp of both attentions (fp32)
        for _ in range(depth):
            blocks.append(((TRANSFORMER_NORM_ACTS * f + TRANSFORMER_HALF_ACTS * e) * c * n + attn, e * c * n, True))
        wf, wh = TRANSFORMER_WRAPPER_ACTS
        blocks.append(((wf * f + wh * e) * c * n, 0, False))

    def sampler(c, n):
        blocks.append(((2 if conv_lora else 1) * e * c * n, 0, False))

    skips = [u.block_out_channels[0]]
    prev = u.block_out_channels[0]
    for lvl, (c, n) in enumerate(lv):
        for _ in range(L):
            resnet(prev, c, n)
            prev = c
            if u.transformer_depth[lvl]:
                transformer(lvl, u.transformer_depth[lvl])
            skips.append(c)
        if lvl < n_levels - 1:
            sampler(c, lv[lvl + 1][1])
            skips.append(c)
    c, n = lv[-1]
    resnet(c, c, n)
    transformer(n_levels - 1, u.mid_transformer_depth)
    resnet(c, c, n)
    prev = c
    for lvl in reversed(range(n_levels)):
        c, n = lv[lvl]
        for _ in range(L + 1):
            resnet(prev + skips.pop(), c, n)
            prev = c
            if u.transformer_depth[lvl]:
                transformer(lvl, u.transformer_depth[lvl])
        if lvl > 0:
            sampler(c, lv[lvl - 1][1])
    c0, n0 = lv[0]
    blocks.append(((RESNET_NORM_ACTS * f + e) * c0 * n0, 0, False))  # conv_norm_out, SiLU, conv_out

    largest = max(a for a, _, _ in blocks)
    if checkpointing:
        total = sum(i if ck else a for a, i, ck in blocks) + largest * (1 + BACKWARD_WORKSPACE)
    else:
        total = sum(a for a, _, _ in blocks) + largest * BACKWARD_WORKSPACE
    return int(total * batch * UNET_ACTIVATION_SCALE)


def te_activation_bytes(te_specs, tokens: int, batch: int, *, e: int, f: int, checkpointing: bool) -> int:
    total = 0
    for te in te_specs:
        per_layer = (TE_NORM_ACTS * f + TE_HALF_ACTS * e) * te.hidden_size * tokens
        per_layer += te.num_heads * tokens * 4  # logsumexp (SDPA)
        if checkpointing:
            total += e * te.hidden_size * tokens * te.num_layers + per_layer * (1 + BACKWARD_WORKSPACE)
        else:
            total += per_layer * (te.num_layers + BACKWARD_WORKSPACE)
    return int(total * batch)


def vae_encode_bytes(channels0: int, width: int, height: int, batch: int) -> int:
    return int(batch * width * height * channels0 * 4 * VAE_ENCODE_LIVE_TENSORS)
