"""GPU memory of the sample-image rounds during training (sample_prompts): the model being trained
renders them, so nothing is copied, but everything is on the GPU at once. A VAE or text encoder that
caching sent to the CPU comes back for the round; the UNet runs without grad at batch 2 (CFG: prompt and
negative) at the largest sample size; the VAE decodes one image. The optimizer state and LoRA weights stay;
gradients are already freed (zero_grad set_to_none)."""
from __future__ import annotations

from .activations import unet_activation_bytes, vae_encode_bytes
from .calibration import ALLOCATOR_FRAGMENTATION, CUDA_CONTEXT_BYTES, TOKENS_PER_CHUNK

DEFAULT_SIZE = (512, 512)  # sd-scripts' sample size when a prompt gives none


def sample_size(cfg) -> tuple[int, int]:
    """The largest image of the prompt file (512x512 when it cannot be read: validate() says why)."""
    from ..errors import ConfigError
    from ..sampling.prompts import load_prompts

    try:
        sizes = [p.size() for p in load_prompts(cfg.sample_prompts)]
    except ConfigError:
        return DEFAULT_SIZE
    return max(sizes, key=lambda s: s[0] * s[1])


def sampling_peak_bytes(cfg, info, parts: dict, *, e: int, f: int, te_numel: int, vae_numel: int,
                        conv_lora: bool) -> int | None:
    """None when the run makes no sample images. ``parts``: the estimate's Part bytes by key."""
    from trainer.sampling.schedule import asks_for_samples

    if not cfg.sample_prompts or not asks_for_samples(cfg):
        return None
    width, height = sample_size(cfg)
    live = parts["unet_weights"] + parts["lora_weights"] + parts["optimizer_state"] + parts.get("autocast_copies", 0)
    live += parts["text_encoder_weights"] or te_numel * e  # cached outputs: the encoders come back
    live += parts["vae_weights"] or vae_numel * 4
    chunks = max(1, -(-(cfg.max_token_length or 75) // 75))
    # without grad nothing is kept for a backward pass: the checkpointed figure (block inputs plus one block's
    # working set) is a generous stand-in for the layer-by-layer inference working set
    unet = unet_activation_bytes(info.spec, width, height, 2, e=e, f=f, checkpointing=True,
                                 naive_attention=False, context_tokens=TOKENS_PER_CHUNK * chunks, conv_lora=conv_lora)
    decode = vae_encode_bytes(info.vae_channels0, width, height, 1)  # the decoder mirrors the encoder
    return int((live + max(unet, decode)) * (1 + ALLOCATOR_FRAGMENTATION)) + CUDA_CONTEXT_BYTES
