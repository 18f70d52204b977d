"""The real SD 1.5, SD 2.x and SDXL architectures at full size, for the VRAM estimate's tests and its GPU
calibration, and for the shapes ``check``/``merge`` assume when no checkpoint is given.

``full_size_models(family)`` builds them on the meta device (shapes only, no memory); ``write_full_size_checkpoint``
writes them as a single-file original-layout ``.safetensors`` - header only (a sparse file: the estimate reads
only shapes) or with random weights that train without NaN for a few steps (a GPU benchmark needs real numbers,
and no real checkpoint can be downloaded here). Weights are written tensor by tensor: SDXL never sits in memory.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

CLIP_VOCAB, CLIP_POSITIONS = 49408, 77


def full_size_models(family: str):
    """(unet, vae, [text encoders]) of SD 1.5 (``sd1``), SD 2.x (``sd2``) or SDXL (``sdxl``), on the meta
    device.

    SD 2.x's OpenCLIP tower has 23 of its 24 layers here, as sd-scripts loads it (the last one is never used);
    ``to_ldm_state_dict`` writes sd-scripts' dummy 24th block."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def te(hidden, layers, inter, act, proj=None):
        cfg = CLIPTextConfig(vocab_size=CLIP_VOCAB, hidden_size=hidden, intermediate_size=inter,
                             num_hidden_layers=layers, num_attention_heads=hidden // 64,
                             max_position_embeddings=CLIP_POSITIONS, hidden_act=act,
                             **({"projection_dim": proj} if proj else {}))
        return (CLIPTextModelWithProjection if proj else CLIPTextModel)(cfg)

    if family not in ("sd1", "sd2", "sdxl"):
        raise ValueError(f"family must be sd1, sd2 or sdxl, not {family!r}")
    with torch.device("meta"):
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
        if family == "sd1":
            unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)
            tes = [te(768, 12, 3072, "quick_gelu")]
        elif family == "sd2":
            unet = UNet2DConditionModel(sample_size=96, cross_attention_dim=1024,
                                        attention_head_dim=[5, 10, 20, 20], use_linear_projection=True)
            tes = [te(1024, 23, 4096, "gelu")]
        else:
            unet = UNet2DConditionModel(
                sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                cross_attention_dim=2048, attention_head_dim=[5, 10, 20], use_linear_projection=True,
                transformer_layers_per_block=[1, 2, 10], addition_embed_type="text_time",
                addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816)
            tes = [te(768, 12, 3072, "quick_gelu"), te(1280, 32, 5120, "gelu", proj=1280)]
    return unet, vae, tes


def _random_tensor(name: str, shape, dtype, gen):
    """A plausible value for one tensor: norms 1, biases 0, weights scaled by fan-in, ids counted up."""
    import torch

    if not dtype.is_floating_point:
        return torch.arange(math.prod(shape), dtype=dtype).reshape(shape) % CLIP_POSITIONS
    if len(shape) == 1:
        norm = any(k in name for k in ("norm", "ln_", "layer_norm", "final_layer_norm"))
        return (torch.ones if norm and name.endswith("weight") else torch.zeros)(shape, dtype=torch.float16)
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    return (torch.randn(shape, generator=gen) / math.sqrt(max(fan_in, 1))).to(torch.float16)


def write_full_size_checkpoint(path, family: str, *, weights: bool = False, seed: int = 0) -> Path:
    """A full-size original-layout ``.safetensors`` (fp16): header only, or with random weights."""
    import torch

    from .diffusers_to_ldm import to_ldm_state_dict

    unet, vae, tes = full_size_models(family)
    sd = to_ldm_state_dict(family, unet, vae, tes)
    header, offset = {}, 0
    for k, v in sd.items():
        dt = v.dtype if not v.dtype.is_floating_point else torch.float16
        n = dt.itemsize * v.numel()
        header[k] = {"dtype": {torch.float16: "F16", torch.int64: "I64", torch.int32: "I32"}[dt],
                     "shape": list(v.shape), "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt", "lora_desk": f"random full-size {family}"}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path = Path(path)
    gen = torch.Generator().manual_seed(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        if not weights:
            f.truncate(8 + len(raw) + offset)
            return path
        for k, v in sd.items():
            f.write(tensor_bytes(_random_tensor(k, tuple(v.shape), v.dtype, gen)))
    return path


def tensor_bytes(t) -> bytes:
    """The raw little-endian bytes of a tensor as safetensors stores them. Flattened first: a 0-dimensional
    tensor (SDXL's second text encoder has ``logit_scale``) cannot be viewed as bytes."""
    import torch

    return t.detach().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
