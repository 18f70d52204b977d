"""TrainConfig: the single source of truth for a training run.

Field names are the kohya-ss sd-scripts names and defaults are sd-scripts' defaults, so a user's existing
TOML config loads unchanged. Each field carries metadata (group, help, choices, range, unit) from which the
GUI builds its forms and the CLI its options. No torch here: the GUI imports this before torch is loaded.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

# re-exported: the groups and choice lists are read as trainer.config.fields.X
from .field_meta import (  # noqa: F401
    DYNAMO_BACKENDS, GROUPS, NETWORK_MODULES, OPTIMIZER_CHOICES, RESIZE_CHOICES, SAMPLE_SAMPLERS, SAVE_PRECISION_ALIASES,
    SAVE_PRECISIONS, SCHEDULER_CHOICES, opt,
)


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
    base_weights: list = opt([], "model", "LoRA files merged into the base model before training; they are "
                             "not trained and not saved with the result.", advanced=True)
    base_weights_multiplier: list = opt([], "model", "Strength of each base_weights file, in the same order "
                                        "(1.0 where left out).", advanced=True)

    # --- dataset and captions
    train_data_dir: str = opt("", "dataset", "Training folder holding concept folders named "
                              "<repeats>_<name>, for example 6_maid.", label="Training folder")
    caption_extension: str = opt(".txt", "dataset", "Caption file extension (sd-scripts' own default: .caption).")
    resolution: str = opt("512,512", "dataset", "Training resolution as 'width,height' or one number. "
                          "512 for SD 1.x, 768 for SD 2.x 768-v, 1024 for SDXL.", unit="px",
                          recommended="512 (SD 1.x), 1024 (SDXL)")
    enable_bucket: bool = opt(False, "dataset", "Group images by aspect ratio into buckets instead of "
                              "cropping everything square.", recommended=True)
    min_bucket_reso: int = opt(256, "dataset", "Smallest bucket side.", min=8, max=4096, unit="px")
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
    caption_prefix: str = opt("", "dataset", "Text put before every caption (a trigger word, for example).")
    caption_suffix: str = opt("", "dataset", "Text put after every caption.")
    caption_separator: str = opt(",", "dataset", "Separator between the tags of a caption, used by shuffling "
                                 "and tag dropout.", advanced=True)
    secondary_separator: str = opt("", "dataset", "A separator that keeps its tags together while shuffling; "
                                   "replaced by caption_separator afterwards (for example ;;;).", advanced=True)
    enable_wildcard: bool = opt(False, "dataset", "Captions may hold {a|b|c} choices, one picked per step, "
                                "and several lines, one picked per step.", advanced=True)
    caption_dropout_every_n_epochs: int = opt(0, "dataset", "Train every N-th epoch with empty captions "
                                              "(0 = never).", min=0, max=1000, advanced=True)
    token_warmup_min: int = opt(1, "dataset", "Tags used at the first step when token_warmup_step is set.",
                                min=0, max=225, advanced=True)
    token_warmup_step: float = opt(0.0, "dataset", "Step at which all tags are used; below it only the first "
                                   "tags are (a value below 1 is a share of all steps; 0 = off).", min=0.0,
                                   advanced=True)
    weighted_captions: bool = opt(False, "dataset", "Read (word:1.2), (word) and [word] emphasis in captions "
                                  "as AUTOMATIC1111 prompts do.", advanced=True)
    color_aug: bool = opt(False, "dataset", "Randomly shift the hue of each image a little (needs uncached "
                          "latents).", advanced=True)
    face_crop_aug_range: str = opt("", "dataset", "For images named name_cx_cy_w_h (face centre and size): "
                                   "crop around the face at a random zoom, e.g. 2.0,4.0 (bucketing off).",
                                   advanced=True)
    resize_interpolation: str | None = opt(None, "dataset", "How images are resized to their bucket (empty: "
                                           "Lanczos when shrinking, bicubic when enlarging).",
                                           choices=RESIZE_CHOICES, advanced=True)
    # per-folder settings, regularization images and masks (sd-scripts' names)
    dataset_config: str = opt("", "dataset", "A dataset config TOML in sd-scripts' format ([general], "
                              "[[datasets]], [[datasets.subsets]]): per-folder repeats and caption options. "
                              "Used instead of train_data_dir and reg_data_dir.", label="Dataset config")
    reg_data_dir: str = opt("", "dataset", "Folder of regularization images in <repeats>_<name> folders "
                            "(DreamBooth-style class images). They are repeated to match the training "
                            "images, so an epoch holds about twice as many samples.", label="Regularization folder")
    prior_loss_weight: float = opt(1.0, "dataset", "Loss weight of the regularization images (1.0 = the "
                                   "same as training images).", min=0.0, max=10.0)
    masked_loss: bool = opt(False, "dataset", "Train only where the mask is white: the loss is multiplied by "
                            "the mask (from alpha_mask or the mask images in conditioning_data_dir).")
    alpha_mask: bool = opt(False, "dataset", "Mask the loss by the image's transparency (alpha channel), with or "
                           "without masked_loss as in sd-scripts; an image without one counts as opaque.")
    conditioning_data_dir: str = opt("", "dataset", "Folder of mask images named like the training images "
                                     "(same name, any image extension; white = trained, black = ignored), "
                                     "for masked_loss. Sub-folders per concept folder are looked up too.",
                                     advanced=True)

    # --- network
    network_module: str = opt("networks.lora", "network", "Implementation: networks.lora (LoRA, LoCon with "
                              "conv_dim), networks.dylora, or lycoris.kohya (algo= in network_args).",
                              choices=NETWORK_MODULES)
    network_dim: int | None = opt(None, "network", "Rank of the adapter: its capacity and file size. "
                                  "Above 128 is rarely useful; 32-64 for SD 1.x, 8-16 for SDXL.",
                                  min=1, max=1024, recommended=32)
    # the int 1 like sd-scripts' default: its .alpha tensors are then int64 and ss_network_alpha "1"
    network_alpha: float = opt(1, "network", "Scales the adapter by alpha/dim. Lower alpha trains slower "
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
    lr_decay_steps: float = opt(0, "optimizer", "Length of the decay of warmup_stable_decay: steps, or a share "
                                "of all steps below 1 (0.2 = the last 20 %).", min=0.0, advanced=True)
    lr_scheduler_min_lr_ratio: float | None = opt(None, "optimizer", "Lowest learning rate of cosine_with_min_lr "
                                                  "and warmup_stable_decay, as a share of the learning rate.",
                                                  min=0.0, max=1.0, advanced=True)
    lr_scheduler_timescale: int | None = opt(None, "optimizer", "Time scale of inverse_sqrt in steps (empty: "
                                             "the warmup length).", min=1, advanced=True)
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
    loss_type: str = opt("l2", "loss", "Loss function: l2 (squared error, the usual one), l1, huber or "
                         "smooth_l1 (less pulled by outliers).", choices=("l1", "l2", "huber", "smooth_l1"))
    huber_schedule: str = opt("snr", "loss", "How the Huber threshold changes with the noise level (huber and "
                              "smooth_l1 only).", choices=("constant", "exponential", "snr"), advanced=True)
    huber_c: float = opt(0.1, "loss", "Huber threshold (huber and smooth_l1 only).", min=0.0, max=1.0,
                         advanced=True)
    huber_scale: float = opt(1.0, "loss", "Scale of the Huber threshold in the constant and exponential "
                             "schedules.", min=0.0, advanced=True)
    ip_noise_gamma: float | None = opt(None, "loss", "Input perturbation: extra noise on the noisy input only, "
                                       "a regulariser.", min=0.0, max=1.0, recommended=0.1, advanced=True)
    ip_noise_gamma_random_strength: bool = opt(False, "loss", "Use a random strength between 0 and "
                                               "ip_noise_gamma at each step.", advanced=True)
    noise_offset_random_strength: bool = opt(False, "loss", "Use a random noise offset between 0 and "
                                             "noise_offset at each step.", advanced=True)
    debiased_estimation_loss: bool = opt(False, "loss", "Weight the loss by 1/sqrt(SNR) (debiased "
                                         "estimation), which steadies training like min_snr_gamma.")
    min_timestep: int | None = opt(None, "loss", "Lowest noise timestep trained (empty = 0).", min=0, max=999,
                                   advanced=True)
    max_timestep: int | None = opt(None, "loss", "Timesteps up to but not including this one are trained "
                                   "(empty = 1000).", min=1, max=1000, advanced=True)

    # --- precision and memory
    mixed_precision: str = opt("no", "memory", "Compute precision. bf16 on RTX 30xx and newer, fp16 on "
                               "older cards.", choices=("no", "fp16", "bf16"), recommended="bf16")
    full_fp16: bool = opt(False, "memory", "Keep the trained weights in fp16 too (saves memory, risks "
                          "underflow).", advanced=True)
    full_bf16: bool = opt(False, "memory", "Keep the trained weights and gradients in bf16 (needs "
                          "mixed_precision bf16).")
    fp8_base: bool = opt(False, "memory", "Store the frozen UNet in 8-bit floats: for SDXL on 8 GB cards "
                         "only; loses some precision.")
    fp8_base_unet: bool = opt(False, "memory", "fp8_base for the UNet only: the text encoders keep their "
                              "precision.", advanced=True)
    no_half_vae: bool = opt(False, "memory", "Keep the VAE in fp32 under mixed precision. The VAE always "
                            "runs in fp32 here; kept for sd-scripts configs.", advanced=True)
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
    highvram: bool = opt(False, "memory", "Do not hand cached GPU memory back after caching latents (a "
                         "little faster when the card has room to spare).", advanced=True)
    disable_mmap_load_safetensors: bool = opt(False, "memory", "Read .safetensors files whole instead of "
                                              "memory-mapping them (faster on WSL and network drives).",
                                              advanced=True)
    cache_latents: bool = opt(False, "memory", "Encode every image with the VAE once and keep the result: "
                              "faster, less memory; cannot be used with random crop (flip_aug caches a mirrored copy too).",
                              recommended=True)
    cache_latents_to_disk: bool = opt(False, "memory", "Save cached latents next to the images and reuse "
                                      "them in later runs.")
    vae_batch_size: int = opt(1, "memory", "Images encoded at once while caching latents.", min=1, max=64,
                              advanced=True)
    cache_text_encoder_outputs: bool = opt(False, "memory", "Encode each caption once (needs a frozen "
                                           "text encoder and fixed captions).")
    cache_text_encoder_outputs_to_disk: bool = opt(False, "memory", "Save cached text-encoder outputs to "
                                                   "disk.")
    ddp_timeout: int | None = opt(None, "memory", "Minutes the processes of a multi-GPU run (accelerate launch) "
                                  "wait for each other before giving up (empty: torch's 30).", min=1,
                                  advanced=True)
    text_encoder_batch_size: int | None = opt(None, "memory", "Captions encoded at once while caching "
                                              "text-encoder outputs (empty = train_batch_size).", min=1,
                                              max=256, advanced=True)
    max_data_loader_n_workers: int = opt(8, "memory", "Processes that load images in the background "
                                         "(0 = in the training thread).", min=0, max=64)
    persistent_data_loader_workers: bool = opt(False, "memory", "Keep loader processes alive between epochs.")
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
    save_last_n_steps: int | None = opt(None, "saving", "Keep only the step files of the last N steps (with "
                                        "save_every_n_steps).", min=1, advanced=True)
    save_n_epoch_ratio: int | None = opt(None, "saving", "Save about N files over the whole run, spread "
                                         "evenly over the epochs (overrides save_every_n_epochs).", min=1,
                                         advanced=True)
    save_state: bool = opt(False, "saving", "Also save optimizer and progress with every file so training "
                           "can be resumed.")
    resume: str = opt("", "saving", "Resume from a saved state folder.")
    save_last_n_epochs_state: int | None = opt(None, "saving", "Keep the resumable states of the newest N "
                                               "epoch saves (default: like save_last_n_epochs).", min=1,
                                               advanced=True)
    save_last_n_steps_state: int | None = opt(None, "saving", "Keep the resumable states of the last N steps "
                                              "(default: like save_last_n_steps).", min=1, advanced=True)
    save_state_on_train_end: bool = opt(False, "saving", "Save a resumable state with the final file even "
                                        "without save_state.", advanced=True)
    initial_epoch: int | None = opt(None, "saving", "Start counting at this epoch (1 = the first); the run "
                                    "trains the remaining epochs.", min=1, advanced=True)
    initial_step: int | None = opt(None, "saving", "Start counting at this step (overrides initial_epoch); the "
                                   "run trains the remaining steps.", min=0, advanced=True)
    skip_until_initial_step: bool = opt(False, "saving", "With initial_step: pass over the batches of the "
                                        "earlier steps, so the data order goes on where it would be.",
                                        advanced=True)
    output_dir: str = opt("", "saving", "Folder for the LoRA files.")
    output_name: str = opt("last", "saving", "File name of the LoRA without extension.")
    save_model_as: str = opt("safetensors", "saving", "File format.", choices=("safetensors",),
                             advanced=True)
    save_precision: str | None = opt(None, "saving", "Precision of the saved weights (empty = fp32).",
                                     choices=(None,) + SAVE_PRECISIONS, recommended="fp16 or bf16")
    training_comment: str = opt("", "saving", "Text stored in the file's metadata.")
    logging_dir: str = opt("", "saving", "Folder for TensorBoard logs (empty = no logs).")
    log_prefix: str = opt("", "saving", "Prefix of the TensorBoard run folder.")
    no_metadata: bool = opt(False, "saving", "Write no training metadata into the LoRA files.", advanced=True)
    metadata_title: str = opt("", "saving", "Title stored in the file (modelspec.title; default: output_name).",
                              advanced=True)
    metadata_author: str = opt("", "saving", "Author stored in the file.", advanced=True)
    metadata_description: str = opt("", "saving", "Description stored in the file.", advanced=True)
    metadata_license: str = opt("", "saving", "License stored in the file.", advanced=True)
    metadata_tags: str = opt("", "saving", "Comma-separated tags stored in the file.", advanced=True)
    metadata_trigger_phrase: str = opt("", "saving", "Trigger phrase stored in the file.", advanced=True)
    metadata_usage_hint: str = opt("", "saving", "Usage hint stored in the file.", advanced=True)
    metadata_thumbnail: str = opt("", "saving", "Thumbnail stored in the file (a data: URL).", advanced=True)
    metadata_merged_from: str = opt("", "saving", "Source models stored in the file.", advanced=True)
    metadata_preprocessor: str = opt("", "saving", "Preprocessor stored in the file.", advanced=True)
    metadata_is_negative_embedding: str = opt("", "saving", "Stored as modelspec.is_negative_embedding "
                                              "(for embeddings; kept for sd-scripts configs).", advanced=True)

    # sd-scripts options accepted without effect (config_compat.ACCEPTED_ONLY) -> their values; not a field
    accepted_only: ClassVar[dict] = {}

    # --- samples while training (sd-scripts' names and prompt-file format)
    sample_prompts: str = opt("", "watch", "Prompt file for sample images made while training: .txt with one "
                              "prompt a line (--n negative, --w/--h size, --d seed, --l CFG scale, --s steps, "
                              "--ss sampler; # starts a comment), or sd-scripts' .toml/.json form. Images go to "
                              "<output_dir>/sample.", label="Sample prompts")
    sample_every_n_steps: int | None = opt(None, "watch", "Make sample images every N optimizer steps.", min=1)
    sample_every_n_epochs: int | None = opt(None, "watch", "Make sample images every N epochs; when set, "
                                            "sample_every_n_steps is ignored (as in sd-scripts).", min=1,
                                            recommended=1)
    sample_sampler: str = opt("ddim", "watch", "Sampler of the sample images; a prompt's --ss overrides it.",
                              choices=SAMPLE_SAMPLERS, recommended="euler_a")
    sample_at_first: bool = opt(False, "watch", "Also make sample images before the first step: the base "
                                "model's look to compare later samples with.")

    # --- validation loss (sd-scripts' names)
    validation_split: float = opt(0.0, "watch", "Share of the images held out of training to measure a "
                                  "validation loss on (0.1 = 10 %). Held-out images never train.", min=0.0,
                                  max=0.9, recommended="0.1")
    validation_seed: int | None = opt(None, "watch", "Seed that picks the held-out images and their fixed noise; "
                                      "empty = the training seed.", min=0, advanced=True)
    validate_every_n_steps: int | None = opt(None, "watch", "Measure the validation loss every N steps too "
                                             "(it is always measured at epoch ends).", min=1)
    validate_every_n_epochs: int | None = opt(None, "watch", "Measure the validation loss only every N epochs "
                                              "(empty = every epoch).", min=1)
    max_validation_steps: int | None = opt(None, "watch", "Use at most this many held-out images per "
                                           "measurement (empty = all).", min=1, advanced=True)

    # --- EMA of the network weights (no sd-scripts option: OneTrainer's names)
    ema: str = opt("off", "watch", "Keep an exponential moving average (EMA) of the LoRA weights, on the GPU "
                   "(fast) or the CPU (saves GPU memory): a smoother file, less tied to the last steps. The "
                   "names are OneTrainer's (SimpleTuner calls it use_ema); sd-scripts has no EMA.",
                   choices=("off", "gpu", "cpu"), label="EMA")
    ema_decay: float = opt(0.999, "watch", "How slowly the average follows the weights: 0.999 averages over "
                           "roughly the last thousand updates. Short runs want less (0.99).", min=0.0, max=1.0,
                           recommended="0.99-0.999")
    ema_update_step_interval: int = opt(5, "watch", "Update the average every N optimizer steps (OneTrainer's "
                                        "default 5); fewer updates cost less time.", min=1, max=1000)
    ema_save: str = opt("both", "watch", "What the saved files hold: 'both' keeps the trained weights and adds "
                        "a second file with the -ema suffix, 'ema_only' writes the EMA weights only.",
                        choices=("both", "ema_only"))

    def __post_init__(self) -> None:
        # save_precision: fp32 (any case) is another name of sd-scripts' "float"; "" means empty (fp32)
        if isinstance(self.save_precision, str):
            value = self.save_precision.strip().lower()
            self.save_precision = SAVE_PRECISION_ALIASES.get(value, value) or None

    def replace(self, **changes: Any) -> "TrainConfig":
        new = dataclasses.replace(self, **changes)
        if self.accepted_only:
            new.accepted_only = dict(self.accepted_only)
        return new


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def to_dict(cfg: TrainConfig, *, only_changed: bool = False) -> dict:
    default = TrainConfig()
    out = {}
    for name in FIELDS:
        value = getattr(cfg, name)
        if only_changed and value == getattr(default, name):
            continue
        out[name] = list(value) if isinstance(value, list) else value
    return out
