"""Estimate the peak GPU memory of a LoRA training run from the checkpoint's tensor shapes and the settings.

Pure arithmetic, no torch: the GUI calls ``estimate(cfg)`` on every change of a field. Shapes come from the
safetensors header only (``checkpoint_io.read_shapes``; no weights are read) and the model analysis is cached
per file (path, size, modification time), so later calls take well under a millisecond.

Calibration against real GPUs is PENDING: the constants in the CALIBRATION block below are first-principles
guesses (what autograd saves, what autocast casts), sanity-checked only against rough published numbers (SD 1.5
LoRA with checkpointing in ~6 GB; SDXL with fp8_base, cached text-encoder outputs, checkpointing and Adafactor
in 8 GB; SDXL without fp8 with checkpointing and AdamW8bit ~12 GB as nvidia-smi reports it). The parameter and
optimizer-state parts are exact (tested against the real network and optimizers).

The model (bytes; B = train_batch_size, W x H the resolution, latent h x w = H/8 x W/8; UNet level l has C_l
channels and N_l = ceil(h/2^l) * ceil(w/2^l) tokens; e = bytes of the compute dtype: 2 with mixed precision
fp16/bf16, else 4; f = 4, the fp32 in which autocast runs group/layer norms and softmax)

resident for the whole step
    unet weights     numel(UNet) * e; with fp8_base Linear/Conv weights and biases take 1 byte (models/fp8.py)
    text encoders    numel(TE) * (4 when trained, else e); 0 when cache_text_encoder_outputs (the outputs are
                     cached and the encoders moved to the CPU)
    VAE              numel(VAE) * 4 (fp32, as sd-scripts); 0 when cache_latents (moved to the CPU after caching)
    LoRA weights     P * p, P trainable parameters counted per targeted layer from its shape (below),
                     p = 2 with full_bf16/full_fp16, else 4
    LoRA gradients   P * p
    optimizer state  per LoRA tensor: AdamW 8 B/param, AdamW8bit 2 + 2*4/256 (tensors under 4096 values keep
                     32-bit state, as bitsandbytes does), Lion 4, Prodigy 16 (12 for the zero-initialised up
                     weights of a new network), Adafactor factored: rows+cols
                     values per matrix (+ a full first moment with beta1) ... (``OPTIMIZER_STATE``; non-8-bit
                     state has the parameter's dtype)
    autocast copies  P * 2 with mixed precision and fp32 LoRA weights (autocast caches half copies of them)
transient (the larger of the two)
    training         UNet activations + text-encoder activations (when trained) + fp8 upcast copies
    VAE encode       B * W * H * C_vae0 * 4 * VAE_ENCODE_LIVE_TENSORS (fp32, no grad), when latents are not cached
overhead
    allocator        ALLOCATOR_FRAGMENTATION * (resident + transient)
    CUDA context     CUDA_CONTEXT_BYTES
peak = resident + transient + overhead   (the listed parts sum to it). With cache_latents the caching phase
(UNet + text encoders + VAE + a VAE encode of vae_batch_size images) is estimated too; peak is the larger.

LoRA parameters per targeted layer (in -> out features, kernel k; r = network_dim for linear and 1x1 layers,
conv_dim for k x k convolutions, which are only trained when conv layers are enabled):
    LoRA/LoCon/DyLoRA  r * (in*k*k + out)      (Tucker: r*in + r*r*k*k + r*out)
    LoHa               2 * r * (in*k*k + out)  (Tucker: 2 * (r*r*k*k + r*in + r*out))
    LoKr               Kronecker factors as lycoris builds them (factorization of in and out by ``factor``)
    IA3                out;  full: in*out*k*k + out;  DoRA (dora_wd) adds out per layer
    diag-oft, boft, glora are approximated as LoCon.
Targets follow trainer/network/presets.py: sd-scripts' LoRA trains the UNet's transformer blocks (attention,
feed-forward, proj_in/out) and, with conv_dim, its ResNet blocks and up/down samplers; the text encoders'
attention and MLP layers unless network_train_unet_only.

Activations per sample, summed over every block of the UNet (bytes per token at the block's level):
    ResNet block (C_in -> C)      (2f + e)(C_in + C) + e*C_in [1x1 skip conv] (+ e(C_in + C) with conv LoRA)
    transformer block (C)         (3f + 26e) * C   + attention: SDPA/xformers (memory-efficient) heads * 4,
                                  naive: heads * (N + M) * (f + e)  (the N x N and N x M score matrices)
    Transformer2D wrapper (C)     (f + 2e) * C     (group norm, proj_in/proj_out LoRA inputs)
    down/up sampler (C)           e * C (+ e * C with conv LoRA)
    + BACKWARD_WORKSPACE * the largest block (gradients in flight)
With gradient checkpointing (diffusers checkpoints each ResNet and each transformer block): every checkpointed
block keeps only its input (e * C_in per token), the wrappers and samplers keep theirs, and one block at a time
is recomputed: sum(inputs) + (1 + BACKWARD_WORKSPACE) * largest block.
Text encoders (trained, T = 77 * max_token_length/75 tokens per caption): (2f + 18e) * width per token and
layer (checkpointed: one layer plus the inputs). fp8_base: autocast casts each frozen fp8 weight to the compute
dtype and autograd keeps that copy for the backward pass: all UNet matrices * e without checkpointing, the
largest checkpointed block's plus the never-checkpointed layers' with it.
"""
from .calibration import *  # noqa: F401,F403
from .estimate import estimate, estimate_text  # noqa: F401
from .model import ModelInfo, Layer, _CACHE, _detection_subset, analyze_model, analyze_shapes, read_header_shapes  # noqa: F401
from .network import NetSettings, factorization, net_settings, network_tensors  # noqa: F401
from .optimizer import optimizer_key, optimizer_state_bytes  # noqa: F401
from .report import Estimate, Part  # noqa: F401
