"""Name maps between the original single-file (LDM) layout and diffusers / transformers module names.

Every map is a list of (ldm_prefix, diffusers_prefix) pairs built from a small layout description, so the same
pairs serve both directions. Keys are renamed by their longest matching prefix. Tensors whose *shape* differs
between the layouts (VAE attention 1x1 convs, OpenCLIP fused q/k/v, text_projection) are handled by the
converters, not here.

UNet upsamplers: in LDM files the upsampler of decoder level u sits in output block ``u*(L+1)+L`` at position
1 when that level has no attention and 2 when it has: SD 1.x/2.x ``output_blocks.2.1.conv``, ``5.2``, ``8.2``;
SDXL ``output_blocks.2.2.conv`` and ``5.2.conv`` (diffusers' SDXL-to-original script writes ``2.1``, wrongly).
"""

from __future__ import annotations

from dataclasses import dataclass

_RESNET = [
    ("in_layers.0.", "norm1."),
    ("in_layers.2.", "conv1."),
    ("out_layers.0.", "norm2."),
    ("out_layers.3.", "conv2."),
    ("emb_layers.1.", "time_emb_proj."),
    ("skip_connection.", "conv_shortcut."),
]


@dataclass(frozen=True)
class UNetLayout:
    levels: int
    layers_per_block: int
    down_attention: tuple  # per level, encoder side
    addition_embed: bool = False

    @classmethod
    def from_spec(cls, spec) -> UNetLayout:
        return cls(len(spec.block_out_channels), spec.layers_per_block, spec.attention_levels,
                   bool(spec.adm_in_channels))

    @classmethod
    def from_config(cls, cfg) -> UNetLayout:
        return cls(
            len(cfg["block_out_channels"]),
            cfg["layers_per_block"],
            tuple("CrossAttn" in t for t in cfg["down_block_types"]),
            cfg.get("addition_embed_type") == "text_time",
        )


def unet_pairs(lay: UNetLayout) -> list:
    n, L = lay.levels, lay.layers_per_block
    pairs = [
        ("time_embed.0.", "time_embedding.linear_1."),
        ("time_embed.2.", "time_embedding.linear_2."),
        ("input_blocks.0.0.", "conv_in."),
        ("out.0.", "conv_norm_out."),
        ("out.2.", "conv_out."),
    ]
    if lay.addition_embed:
        pairs += [("label_emb.0.0.", "add_embedding.linear_1."), ("label_emb.0.2.", "add_embedding.linear_2.")]
    resnets = []
    for i in range(n):
        for j in range(L):
            k = 1 + i * (L + 1) + j
            resnets.append((f"input_blocks.{k}.0.", f"down_blocks.{i}.resnets.{j}."))
            if lay.down_attention[i]:
                pairs.append((f"input_blocks.{k}.1.", f"down_blocks.{i}.attentions.{j}."))
        if i < n - 1:
            pairs.append((f"input_blocks.{(i + 1) * (L + 1)}.0.op.", f"down_blocks.{i}.downsamplers.0.conv."))
    resnets += [("middle_block.0.", "mid_block.resnets.0."), ("middle_block.2.", "mid_block.resnets.1.")]
    pairs.append(("middle_block.1.", "mid_block.attentions.0."))
    up_attention = tuple(reversed(lay.down_attention))
    for u in range(n):
        for j in range(L + 1):
            k = u * (L + 1) + j
            resnets.append((f"output_blocks.{k}.0.", f"up_blocks.{u}.resnets.{j}."))
            if up_attention[u]:
                pairs.append((f"output_blocks.{k}.1.", f"up_blocks.{u}.attentions.{j}."))
        if u < n - 1:
            pos = 2 if up_attention[u] else 1
            pairs.append((f"output_blocks.{u * (L + 1) + L}.{pos}.conv.", f"up_blocks.{u}.upsamplers.0.conv."))
    for ldm, hf in resnets:
        pairs += [(ldm + a, hf + b) for a, b in _RESNET]
    return pairs


def vae_pairs(levels: int, layers_per_block: int) -> list:
    pairs = [
        ("encoder.norm_out.", "encoder.conv_norm_out."),
        ("decoder.norm_out.", "decoder.conv_norm_out."),
    ]
    for side in ("encoder", "decoder"):
        pairs += [
            (f"{side}.conv_in.", f"{side}.conv_in."),
            (f"{side}.conv_out.", f"{side}.conv_out."),
            (f"{side}.mid.block_1.", f"{side}.mid_block.resnets.0."),
            (f"{side}.mid.block_2.", f"{side}.mid_block.resnets.1."),
            (f"{side}.mid.attn_1.norm.", f"{side}.mid_block.attentions.0.group_norm."),
            (f"{side}.mid.attn_1.q.", f"{side}.mid_block.attentions.0.to_q."),
            (f"{side}.mid.attn_1.k.", f"{side}.mid_block.attentions.0.to_k."),
            (f"{side}.mid.attn_1.v.", f"{side}.mid_block.attentions.0.to_v."),
            (f"{side}.mid.attn_1.proj_out.", f"{side}.mid_block.attentions.0.to_out.0."),
        ]
    pairs += [("quant_conv.", "quant_conv."), ("post_quant_conv.", "post_quant_conv.")]
    resnets = []
    for i in range(levels):
        for j in range(layers_per_block):
            resnets.append((f"encoder.down.{i}.block.{j}.", f"encoder.down_blocks.{i}.resnets.{j}."))
        if i < levels - 1:
            pairs.append((f"encoder.down.{i}.downsample.conv.", f"encoder.down_blocks.{i}.downsamplers.0.conv."))
        u = levels - 1 - i
        for j in range(layers_per_block + 1):
            resnets.append((f"decoder.up.{i}.block.{j}.", f"decoder.up_blocks.{u}.resnets.{j}."))
        if i > 0:
            pairs.append((f"decoder.up.{i}.upsample.conv.", f"decoder.up_blocks.{u}.upsamplers.0.conv."))
    for ldm, hf in resnets:
        pairs.append((ldm, hf))  # norm1/conv1/norm2/conv2 keep their names
        pairs.append((ldm + "nin_shortcut.", hf + "conv_shortcut."))
    for side in ("encoder", "decoder"):
        for b in ("block_1", "block_2"):
            r = 0 if b == "block_1" else 1
            pairs.append((f"{side}.mid.{b}.nin_shortcut.", f"{side}.mid_block.resnets.{r}.conv_shortcut."))
    return pairs


VAE_ATTN_LDM = ("mid.attn_1.q.weight", "mid.attn_1.k.weight", "mid.attn_1.v.weight", "mid.attn_1.proj_out.weight")


def open_clip_pairs(layers: int) -> list:
    """OpenCLIP text tower -> CLIPTextModel (names relative to ``text_model``); in_proj is split elsewhere."""
    pairs = [
        ("token_embedding.", "embeddings.token_embedding."),
        ("ln_final.", "final_layer_norm."),
    ]
    for i in range(layers):
        a, b = f"transformer.resblocks.{i}.", f"encoder.layers.{i}."
        pairs += [
            (a + "ln_1.", b + "layer_norm1."),
            (a + "ln_2.", b + "layer_norm2."),
            (a + "mlp.c_fc.", b + "mlp.fc1."),
            (a + "mlp.c_proj.", b + "mlp.fc2."),
            (a + "attn.out_proj.", b + "self_attn.out_proj."),
        ]
    return pairs


class PrefixMap:
    """Rename keys by their longest matching prefix (whole dot-separated segments)."""

    def __init__(self, pairs, reverse: bool = False):
        self.map = {(b if reverse else a): (a if reverse else b) for a, b in pairs}

    def __call__(self, key: str) -> str | None:
        parts = key.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:cut]) + "."
            hit = self.map.get(head)
            if hit is not None:
                return hit + key[len(head):]
        return None
