"""Every tuned constant of the estimate in one place (calibration against real GPUs is pending)."""
from __future__ import annotations



GiB = 1024 ** 3

# ----------------------------------------------------------------------------------------- CALIBRATION
# Every tunable constant of the estimate is here. Measured so far (torch.cuda.max_memory_allocated over the
# training steps, H200, torch 2.11 + CUDA 13, bench/vram_calibration.py, issue 11; see MEASURED below): three
# SD 1.5 512 px rows. The formula was 10-16 % low on all three; the two terms below close it. SDXL and the
# other resolutions are still to be measured (bench/vram_calibration.py runs all 12 rows in one command).
CALIBRATION_STATUS = "partial"  # pending -> partial (some rows measured) -> done (all 12)
# cuBLAS/cuBLASLt and cuDNN workspaces are allocated through PyTorch's caching allocator, so they count in
# max_memory_allocated (the CUDA context does not): the constant part of the gap on every measured row.
LIBRARY_WORKSPACE_BYTES = int(0.16 * GiB)
# Tensors autograd keeps that the per-block counts below leave out (the LoRA path's rank-r mid activations and
# its output before the add, GEGLU/attention temporaries alive together at the backward peak, cuDNN conv
# workspaces growing with the feature maps): the part of the gap that grows with batch and checkpointing.
# Fitted on the measured rows: 1.43-1.45 with and without checkpointing alike.
UNET_ACTIVATION_SCALE = 1.44
CUDA_CONTEXT_BYTES = int(0.5 * GiB)  # CUDA context + cuBLAS/cuDNN workspaces; 0.4-0.6 GiB on recent drivers
ALLOCATOR_FRAGMENTATION = 0.05       # memory the caching allocator reserves beyond live tensors
BACKWARD_WORKSPACE = 0.5             # gradients in flight during backward, as a share of the largest block
VAE_ENCODE_LIVE_TENSORS = 4          # full-resolution fp32 feature maps alive at once in the VAE encoder
FP32_NORM = 4                        # autocast runs group/layer norm, softmax in fp32 (bytes per value)
RESNET_NORM_ACTS = 2                 # group norm input + SiLU input, per norm (both fp32 under autocast)
TRANSFORMER_NORM_ACTS = 3            # three layer norms per transformer block (fp32 inputs saved)
TRANSFORMER_HALF_ACTS = 26           # per transformer block, in units of C compute-dtype values per token:
#   q/k/v LoRA input casts 3 + SDPA q,k,v,out 4 + attn2 q LoRA input + q + out 3 + ff proj LoRA input 1
#   + GEGLU (8C projection + 4C gelu) 12 + ff out LoRA input 4 - shared tensors 1
TRANSFORMER_WRAPPER_ACTS = (1, 2)    # (fp32 group norm input, compute-dtype proj_in/proj_out LoRA inputs)
TE_NORM_ACTS = 2                     # text encoder layer: two layer norms (fp32)
TE_HALF_ACTS = 18                    # q/k/v casts 3 + SDPA 4 + out 1 + fc1 input 1 + gelu 4 + fc2 input 4 + 1
TOKENS_PER_CHUNK = 77
# ---------------------------------------------------------------------------------------------------------

_BLOCK = 4 / 256  # one fp32 absmax per 256-value block of 8-bit state (bitsandbytes)
MIN_8BIT_SIZE = 4096  # bitsandbytes keeps smaller tensors in 32-bit state

# name -> (state bytes per fp32 parameter, is 8-bit, bytes per parameter of the 32-bit fallback for small
# tensors). Must agree with trainer.optim.optimizers.OPTIMIZERS (which imports torch; a test checks both).
OPTIMIZER_STATE: dict[str, tuple[float, bool, float]] = {
    "AdamW": (8, False, 8),
    "AdamW8bit": (2 + 2 * _BLOCK, True, 8),
    "PagedAdamW8bit": (2 + 2 * _BLOCK, True, 8),
    "PagedAdamW": (8, False, 8),
    "PagedAdamW32bit": (8, False, 8),
    "Lion": (4, False, 4),
    "Lion8bit": (1 + _BLOCK, True, 4),
    "PagedLion8bit": (1 + _BLOCK, True, 4),
    "SGDNesterov": (4, False, 4),
    "SGDNesterov8bit": (1 + _BLOCK, True, 4),
    "DAdaptation": (12, False, 12),
    "DAdaptAdamPreprint": (12, False, 12),
    "DAdaptAdaGrad": (12, False, 12),
    "DAdaptAdam": (12, False, 12),
    "DAdaptAdan": (20, False, 20),
    "DAdaptAdanIP": (20, False, 20),
    "DAdaptLion": (8, False, 8),
    "DAdaptSGD": (12, False, 12),
    "Prodigy": (16, False, 16),
    "AdaFactor": (0.5, False, 0.5),  # nominal; computed per matrix from the factored shapes below
}
_OPT_LOWER = {k.lower(): k for k in OPTIMIZER_STATE}


# (row of bench/vram_calibration.py, measured GiB, GPU) - tests keep the estimate within 10 % of these and never
# more than 5 % under them. Measured before the trainer kept its NaN-guard copy of the LoRA weights (the
# estimate counts it now: +1-3 % on these rows); the next calibration run measures it too.
MEASURED = [
    (1, 2.83, "H200"),  # SD 1.5 512px b1 ckpt AdamW8bit
    (2, 4.15, "H200"),  # SD 1.5 512px b4 ckpt AdamW
    (3, 4.15, "H200"),  # SD 1.5 512px b1 no ckpt AdamW8bit
]
