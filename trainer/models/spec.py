"""What a Stable Diffusion checkpoint is made of, as inferred from its tensors (no config files needed).

The dataclasses here know how to turn themselves into diffusers / transformers configs. ``family.py``
fills them from a state dict; ``spec_from_models`` fills them from already built models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

FAMILIES = ("sd1", "sd2", "sdxl")
FAMILY_NAMES = {"sd1": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x", "sdxl": "SDXL"}

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_TE_PREFIX = "cond_stage_model.transformer."
SD2_TE_PREFIX = "cond_stage_model.model."
SDXL_TE1_PREFIX = "conditioner.embedders.0.transformer."
SDXL_TE2_PREFIX = "conditioner.embedders.1.model."

VAE_SCALING = {"sd1": 0.18215, "sd2": 0.18215, "sdxl": 0.13025}
HEAD_WIDTH = 64  # SD 2.x / SDXL UNet attention and all CLIP text encoders use 64-wide heads
SD1_UNET_HEADS = 8


@dataclass(frozen=True)
class UNetSpec:
    in_channels: int
    out_channels: int
    block_out_channels: tuple
    layers_per_block: int
    transformer_depth: tuple  # per level, 0 where the level has no attention (SDXL: (0, 2, 10))
    mid_transformer_depth: int
    cross_attention_dim: int
    num_heads: tuple  # attention heads per level (SD1: 8 everywhere; SD2/SDXL: channels / 64)
    use_linear_projection: bool
    adm_in_channels: int | None = None  # SDXL: pooled text embedding + 6 size/crop embeddings (2816)
    addition_time_embed_dim: int | None = None  # SDXL: 256
    head_rule: str = "heads8"  # "heads8" (SD 1.x) or "width64" (SD 2.x, SDXL)

    @property
    def attention_levels(self) -> tuple:
        return tuple(d > 0 for d in self.transformer_depth)

    def diffusers_config(self, **overrides) -> dict:
        levels = len(self.block_out_channels)
        attn = self.attention_levels
        # diffusers reads one depth per level; a level without attention ignores its value, except the last,
        # whose value the mid block uses.
        depth = [d if d else 1 for d in self.transformer_depth]
        depth[-1] = self.mid_transformer_depth
        if any(a and d != self.transformer_depth[i] for i, (a, d) in enumerate(zip(attn, depth))):
            raise ValueError("the mid block's transformer depth differs from the last attention level's")
        if self.head_rule == "heads8":
            head_dim = SD1_UNET_HEADS
        else:
            head_dim = list(self.num_heads)
        cfg = {
            "sample_size": 128 if self.adm_in_channels else 64,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attn],
            "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)],
            "mid_block_type": "UNetMidBlock2DCrossAttn",
            "block_out_channels": list(self.block_out_channels),
            "layers_per_block": self.layers_per_block,
            "cross_attention_dim": self.cross_attention_dim,
            "attention_head_dim": head_dim,
            "use_linear_projection": self.use_linear_projection,
            "transformer_layers_per_block": depth[0] if len(set(depth)) == 1 else depth,
            "norm_num_groups": 32,
            "upcast_attention": False,
        }
        if self.adm_in_channels:
            cfg.update(
                addition_embed_type="text_time",
                addition_time_embed_dim=self.addition_time_embed_dim,
                projection_class_embeddings_input_dim=self.adm_in_channels,
            )
        assert len(cfg["down_block_types"]) == levels
        cfg.update(overrides)
        return cfg


@dataclass(frozen=True)
class VAESpec:
    in_channels: int
    out_channels: int
    block_out_channels: tuple
    layers_per_block: int
    latent_channels: int
    scaling_factor: float
    attn_conv: bool = True  # LDM files store the mid attention's q/k/v/proj as 1x1 convs (4-D)

    def diffusers_config(self, **overrides) -> dict:
        n = len(self.block_out_channels)
        cfg = {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "down_block_types": ["DownEncoderBlock2D"] * n,
            "up_block_types": ["UpDecoderBlock2D"] * n,
            "block_out_channels": list(self.block_out_channels),
            "layers_per_block": self.layers_per_block,
            "latent_channels": self.latent_channels,
            "norm_num_groups": 32,
            "scaling_factor": self.scaling_factor,
            "sample_size": 1024 if self.scaling_factor == VAE_SCALING["sdxl"] else 512,
        }
        cfg.update(overrides)
        return cfg


@dataclass(frozen=True)
class TextEncoderSpec:
    layout: str  # "clip" (HF names, OpenAI CLIP-L) or "open_clip" (resblocks with fused in_proj)
    prefix: str  # where it lives in the single file, e.g. "cond_stage_model.transformer."
    hidden_size: int
    num_layers: int  # layers the diffusers-side model gets
    file_layers: int  # blocks stored in the file (SD 2.x: num_layers + 1, the last is unused)
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    hidden_act: str  # "quick_gelu" (OpenAI CLIP) or "gelu" (OpenCLIP)
    projection_dim: int | None = None  # set -> CLIPTextModelWithProjection (SDXL's second encoder)
    text_model_prefix: bool = True  # CLIP layout: keys carry "text_model." after the prefix (old SD1 files don't)

    def transformers_config(self):
        from transformers import CLIPTextConfig

        kwargs = dict(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            max_position_embeddings=self.max_position_embeddings,
            hidden_act=self.hidden_act,
            layer_norm_eps=1e-5,
            attention_dropout=0.0,
            dropout=0.0,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407 if self.layout == "clip" else 0,
        )
        if self.projection_dim:
            kwargs["projection_dim"] = self.projection_dim
        if self.vocab_size <= 49407:  # unusual vocabulary: fall back to CLIP's legacy "argmax is EOS" pooling
            kwargs.update(bos_token_id=0, eos_token_id=2, pad_token_id=1)
        return CLIPTextConfig(**kwargs)


@dataclass(frozen=True)
class ModelSpec:
    family: str
    unet: UNetSpec
    vae: VAESpec | None  # None: the file has no VAE (a separate VAE file is then required)
    text_encoders: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return asdict(self)
