"""TrainConfig: the single source of truth for a training run.

Field names are the kohya-ss sd-scripts names and defaults are sd-scripts' defaults, so a user's existing
TOML config loads unchanged. Each field carries metadata (group, help, choices, range, unit) from which the
GUI builds its forms and the CLI its options. No torch here: the GUI imports this before torch is loaded.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

GROUPS = {
    "model": "Model",
    "dataset": "Dataset and captions",
    "network": "Network",
    "optimizer": "Optimizer and scheduler",
    "loss": "Loss and noise",
    "memory": "Precision and memory",
    "saving": "Length, saving and logging",
}


def opt(default: Any, group: str, help: str, *, choices: tuple | None = None, min: float | None = None,
        max: float | None = None, unit: str = "", recommended: Any = None, label: str = "",
        advanced: bool = False) -> Any:
    """A config field with the metadata forms and the CLI are generated from."""
    meta = {"group": group, "help": help, "choices": choices, "min": min, "max": max, "unit": unit,
            "recommended": recommended, "label": label, "advanced": advanced}
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata=meta)
    return field(default=default, metadata=meta)


OPTIMIZER_CHOICES = (
    "AdamW", "AdamW8bit", "PagedAdamW8bit", "Lion", "Lion8bit", "PagedLion8bit", "SGDNesterov",
    "SGDNesterov8bit", "DAdaptation", "DAdaptAdamPreprint", "DAdaptAdaGrad", "DAdaptAdam", "DAdaptAdan",
    "DAdaptAdanIP", "DAdaptLion", "DAdaptSGD", "Prodigy", "AdaFactor",
)
SCHEDULER_CHOICES = (
    "constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial",
    "adafactor", "cosine_annealing_warmup_restarts",
)
NETWORK_MODULES = ("networks.lora", "networks.dylora", "lycoris.kohya")
DYNAMO_BACKENDS = ("inductor", "cudagraphs", "aot_eager", "eager")  # those of sd-scripts' list torch still has
SAVE_PRECISIONS = ("fp16", "bf16", "float")  # sd-scripts' names; "float" is fp32
SAVE_PRECISION_ALIASES = {"fp32": "float"}  # stored as sd-scripts' name: a saved config stays valid there


@dataclass
class TrainConfig:
    # --- model
    pretrained_model_name_or_path: str = opt(
        "", "model", "Base checkpoint to train on: a single .safetensors/.ckpt file (SD 1.x, 2.x or SDXL) "
        "or a diffusers folder. The family is detected from its tensors.", label="Base model")
    v2: bool = opt(False, "model", "The base model is Stable Diffusion 2.x. Detected automatically; "
                   "set it only to double-check.", advanced=True)
    v_parameterization: bool = opt(False, "model", "The model predicts velocity (v) instead of noise: "
                                   "SD 2.x 768-v models and v-pred fine-tunes. Cannot be read from the weights.")
    sdxl: bool = opt(False, "model", "The base model is SDXL. Detected automatically; accepted for "
                     "compatibility with sd-scripts configs.", advanced=True)
    vae: str = opt("", "model", "Optional separate VAE file used instead of the one inside the checkpoint.")

    # --- dataset and captions
    train_data_dir: str = opt("", "dataset", "Training folder holding concept folders named "
                              "<repeats>_<name>, for example 6_maid.", label="Training folder")
    caption_extension: str = opt(".txt", "dataset", "Extension of the caption file next to each image.")
    resolution: str = opt("512,512", "dataset", "Training resolution as 'width,height' or one number. "
                          "512 for SD 1.x, 768 for SD 2.x 768-v, 1024 for SDXL.", unit="px",
                          recommended="512 (SD 1.x), 1024 (SDXL)")
    enable_bucket: bool = opt(False, "dataset", "Group images by aspect ratio into buckets instead of "
                              "cropping everything square.", recommended=True)
    min_bucket_reso: int = opt(256, "dataset", "Smallest bucket side.", min=64, max=4096, unit="px")
    max_bucket_reso: int = opt(1024, "dataset", "Largest bucket side.", min=64, max=8192, unit="px")
    bucket_reso_steps: int = opt(64, "dataset", "Bucket sides are multiples of this.", min=8, max=256,
                                 unit="px", advanced=True)
    bucket_no_upscale: bool = opt(False, "dataset", "Never enlarge small images to fill a bucket; they get "
                                  "a bucket of their own size instead.")
    shuffle_caption: bool = opt(False, "dataset", "Shuffle the comma-separated tags every step so the model "
                                "does not learn their order.", recommended=True)
    keep_tokens: int = opt(0, "dataset", "Number of leading tags kept in place when shuffling "
                           "(your trigger word).", min=0, max=75, recommended=1)
    keep_tokens_separator: str = opt("", "dataset", "Alternative to keep_tokens: tags before this "
                                     "separator stay fixed.", advanced=True)
    caption_dropout_rate: float = opt(0.0, "dataset", "Share of steps trained with an empty caption.",
                                      min=0.0, max=1.0)
    caption_tag_dropout_rate: float = opt(0.0, "dataset", "Chance that each single tag is dropped from a "
                                          "caption (keep_tokens are never dropped).", min=0.0, max=1.0)
    flip_aug: bool = opt(False, "dataset", "Randomly mirror images left-right. Good for styles; bad for "
                         "asymmetric characters.")
    random_crop: bool = opt(False, "dataset", "Crop at a random position instead of the centre.")
    max_token_length: int | None = opt(None, "dataset", "Caption length in tokens: 75 (default), 150 or "
                                       "225 for long tag lists (processed in chunks of 75).",
                                       choices=(None, 75, 150, 225), unit="tokens", recommended=225)
    clip_skip: int | None = opt(None, "dataset", "Use the output of an earlier text-encoder layer. 2 for "
                                "anime models derived from NovelAI, 1 (empty) otherwise.", min=1, max=12,
                                recommended="2 for anime SD 1.x models")

    # --- network
    network_module: str = opt("networks.lora", "network", "Implementation: networks.lora (LoRA, LoCon with "
                              "conv_dim), networks.dylora, or lycoris.kohya (algo= in network_args).",
                              choices=NETWORK_MODULES)
    network_dim: int | None = opt(None, "network", "Rank of the adapter: its capacity and file size. "
                                  "Above 128 is rarely useful; 32-64 for SD 1.x, 8-16 for SDXL.",
                                  min=1, max=1024, recommended=32)
    network_alpha: float = opt(1.0, "network", "Scales the adapter by alpha/dim. Lower alpha trains slower "
                               "and needs a higher learning rate.", min=0.0, max=1024.0,
                               recommended="dim/4 to dim for styles, dim/16 or less for characters")
    network_args: list = opt([], "network", "Extra network options as key=value: conv_dim, conv_alpha, "
                             "algo, preset, dora_wd, use_tucker, factor, train_norm, constraint, "
                             "rank_dropout, module_dropout.")
    network_dropout: float | None = opt(None, "network", "Dropout on the adapter's hidden activations; "
                                        "makes the LoRA easier to steer.", min=0.0, max=1.0, recommended=0.1)
    network_train_unet_only: bool = opt(False, "network", "Train only the UNet; the text encoder stays "
                                        "frozen (usual for SDXL).")
    network_train_text_encoder_only: bool = opt(False, "network", "Train only the text encoder.",
                                                advanced=True)
    network_weights: str = opt("", "network", "Continue from an existing LoRA file.")
    dim_from_weights: bool = opt(False, "network", "Take network_dim from network_weights.", advanced=True)

    # --- optimizer and scheduler
    learning_rate: float = opt(2e-6, "optimizer", "Base learning rate, used where unet_lr or "
                               "text_encoder_lr are not set. Adaptive optimizers want 1.0.", min=0.0,
                               recommended="1e-4 (AdamW8bit), 1.0 (Prodigy/DAdapt)")
    unet_lr: float | None = opt(None, "optimizer", "Learning rate of the UNet part of the LoRA.", min=0.0,
                                recommended=1e-4)
    text_encoder_lr: float | None = opt(None, "optimizer", "Learning rate of the text-encoder part; "
                                        "about a half to a third of unet_lr.", min=0.0, recommended=5e-5)
    lr_warmup_steps: float = opt(0, "optimizer", "Steps during which the learning rate rises from 0. "
                                 "A value below 1 is a share of all steps (0.05 = 5 %).", min=0.0,
                                 recommended="0.05-0.1")
    optimizer_type: str = opt("AdamW", "optimizer", "Optimizer. AdamW8bit is the safe default; Prodigy and "
                              "DAdaptAdam find the learning rate themselves.", choices=OPTIMIZER_CHOICES,
                              recommended="AdamW8bit")
    optimizer_args: list = opt([], "optimizer", "Optimizer options as key=value, for example "
                               "weight_decay=0.01 betas=0.9,0.99 decouple=True.")
    lr_scheduler: str = opt("constant", "optimizer", "Shape of the learning-rate curve over training.",
                            choices=SCHEDULER_CHOICES)
    lr_scheduler_num_cycles: int = opt(1, "optimizer", "Number of cosine cycles for cosine_with_restarts.",
                                       min=1, max=1000)
    lr_scheduler_power: float = opt(1.0, "optimizer", "Power of the polynomial decay (1 = linear).",
                                    min=0.0, max=10.0)
    lr_scheduler_type: str = opt("", "optimizer", "Any scheduler class by full name, for example "
                                 "torch.optim.lr_scheduler.CosineAnnealingLR; overrides lr_scheduler.",
                                 advanced=True)
    lr_scheduler_args: list = opt([], "optimizer", "Scheduler options as key=value, for example T_0=400 "
                                  "gamma_min_lr=0.999 down_factor=0.5 warmup_steps=100 cycle_warmup=50.")
    max_grad_norm: float = opt(1.0, "optimizer", "Clip gradients to this norm (0 = no clipping).", min=0.0)

    # --- loss and noise
    min_snr_gamma: float | None = opt(None, "loss", "Min-SNR loss weighting: evens out the loss across "
                                      "noise levels and steadies training.", min=0.0, max=20.0, recommended=5)
    scale_weight_norms: float | None = opt(None, "loss", "Scale down LoRA weights whose norm grows past this "
                                           "value; keys scaled are reported.", min=0.0, recommended=1.0)
    noise_offset: float | None = opt(None, "loss", "Adds a per-channel offset to the noise so the model "
                                     "learns very dark and very bright images.", min=0.0, max=1.0,
                                     recommended="0.03-0.1")
    adaptive_noise_scale: float | None = opt(None, "loss", "Adds the latent mean times this to "
                                             "noise_offset.", advanced=True)
    multires_noise_iterations: int | None = opt(None, "loss", "Pyramid (multi-resolution) noise levels.",
                                                min=0, max=20, recommended="6-10")
    multires_noise_discount: float = opt(0.3, "loss", "Weight falloff of each pyramid-noise level.",
                                         min=0.0, max=1.0)
    zero_terminal_snr: bool = opt(False, "loss", "Rescale the noise schedule to reach pure noise at the "
                                  "last step (for v-prediction models).")
    scale_v_pred_loss_like_noise_pred: bool = opt(False, "loss", "Weight the v-prediction loss like a "
                                                  "noise-prediction loss.")
    v_pred_like_loss: float | None = opt(None, "loss", "Add a v-prediction-like loss term with this "
                                         "weight.", min=0.0, max=1.0, advanced=True)

    # --- precision and memory
    mixed_precision: str = opt("no", "memory", "Compute precision. bf16 on RTX 30xx and newer, fp16 on "
                               "older cards.", choices=("no", "fp16", "bf16"), recommended="bf16")
    full_fp16: bool = opt(False, "memory", "Keep the trained weights in fp16 too (saves memory, risks "
                          "underflow).", advanced=True)
    full_bf16: bool = opt(False, "memory", "Keep the trained weights and gradients in bf16 (needs "
                          "mixed_precision bf16).")
    fp8_base: bool = opt(False, "memory", "Store the frozen UNet in 8-bit floats: for SDXL on 8 GB cards "
                         "only; loses some precision.")
    gradient_checkpointing: bool = opt(False, "memory", "Recompute activations in the backward pass: much "
                                       "less memory, about 20-30 % slower.")
    gradient_accumulation_steps: int = opt(1, "memory", "Sum gradients over this many batches before each "
                                           "optimizer step (a bigger effective batch).", min=1, max=1024)
    train_batch_size: int = opt(1, "memory", "Images per step.", min=1, max=256)
    sdpa: bool = opt(False, "memory", "Memory-efficient attention with PyTorch's scaled_dot_product_"
                     "attention. Always used where available; kept for compatibility.", advanced=True)
    xformers: bool = opt(False, "memory", "Use xformers attention when installed (SDPA is used otherwise).",
                         advanced=True)
    mem_eff_attn: bool = opt(False, "memory", "Accepted for compatibility: SDPA is used.", advanced=True)
    lowram: bool = opt(False, "memory", "Accepted for compatibility.", advanced=True)
    cache_latents: bool = opt(False, "memory", "Encode every image with the VAE once and keep the result: "
                              "faster, less memory; disables flip and random crop per step.",
                              recommended=True)
    cache_latents_to_disk: bool = opt(False, "memory", "Save cached latents next to the images and reuse "
                                      "them in later runs.")
    vae_batch_size: int = opt(1, "memory", "Images encoded at once while caching latents.", min=1, max=64,
                              advanced=True)
    cache_text_encoder_outputs: bool = opt(False, "memory", "Encode each caption once (needs a frozen "
                                           "text encoder and fixed captions).")
    cache_text_encoder_outputs_to_disk: bool = opt(False, "memory", "Save cached text-encoder outputs to "
                                                   "disk.")
    max_data_loader_n_workers: int = opt(8, "memory", "Processes that load images in the background "
                                         "(0 = in the training thread).", min=0, max=64)
    persistent_data_loader_workers: bool = opt(False, "memory", "Keep loader processes alive between "
                                               "epochs.")
    torch_compile: bool = opt(False, "memory", "Compile the UNet (and the text encoders when trained) with "
                              "torch.compile: fewer, fused GPU kernels per step. The first step of each image "
                              "shape compiles (a minute or more): one graph per bucket shape, or one with "
                              "dynamic sizes when there are more than 8 shapes. Worth it for long runs.",
                              advanced=True)
    dynamo_backend: str = opt("inductor", "memory", "torch.compile backend: inductor (fused kernels, fastest), "
                              "cudagraphs (replays recorded CUDA graphs; only for fixed shapes: one bucket, "
                              "cached latents), aot_eager and eager (for finding compile problems). On a CPU inductor "
                              "is replaced by aot_eager.",
                              choices=DYNAMO_BACKENDS, advanced=True)

    # --- length, saving, logging
    seed: int | None = opt(None, "saving", "Random seed: the same seed and settings give the same file.",
                           min=0, recommended=42)
    max_train_epochs: int | None = opt(None, "saving", "Train for this many epochs (overrides "
                                       "max_train_steps).", min=1, max=100000, recommended=10)
    max_train_steps: int = opt(1600, "saving", "Train for this many optimizer steps when max_train_epochs "
                               "is empty.", min=1)
    save_every_n_epochs: int | None = opt(None, "saving", "Save a LoRA file every N epochs.", min=1,
                                          recommended=1)
    save_every_n_steps: int | None = opt(None, "saving", "Save a LoRA file every N steps.", min=1)
    save_last_n_epochs: int | None = opt(None, "saving", "Keep only the newest N epoch files.", min=1)
    save_state: bool = opt(False, "saving", "Also save optimizer and progress with every file so training "
                           "can be resumed.")
    resume: str = opt("", "saving", "Resume from a saved state folder.")
    output_dir: str = opt("", "saving", "Folder for the LoRA files.")
    output_name: str = opt("last", "saving", "File name of the LoRA without extension.")
    save_model_as: str = opt("safetensors", "saving", "File format.", choices=("safetensors",),
                             advanced=True)
    save_precision: str | None = opt(None, "saving", "Precision of the saved weights (empty = fp32).",
                                     choices=(None,) + SAVE_PRECISIONS, recommended="fp16 or bf16")
    training_comment: str = opt("", "saving", "Text stored in the file's metadata.")
    logging_dir: str = opt("", "saving", "Folder for TensorBoard logs (empty = no logs).")
    log_prefix: str = opt("", "saving", "Prefix of the TensorBoard run folder.")

    def __post_init__(self) -> None:
        # save_precision: fp32 (any case) is another name of sd-scripts' "float"; "" means empty (fp32)
        if isinstance(self.save_precision, str):
            value = self.save_precision.strip().lower()
            self.save_precision = SAVE_PRECISION_ALIASES.get(value, value) or None

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def field_meta(name: str) -> dict:
    return dict(FIELDS[name].metadata)


def to_dict(cfg: TrainConfig, *, only_changed: bool = False) -> dict:
    default = TrainConfig()
    out = {}
    for name in FIELDS:
        value = getattr(cfg, name)
        if only_changed and value == getattr(default, name):
            continue
        out[name] = list(value) if isinstance(value, list) else value
    return out
