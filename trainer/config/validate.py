"""Checks of a TrainConfig before training, as sentences a user understands.

Errors block training; warnings are shown and training goes on. The GUI shows each next to its field.
No torch here (the forms call this on every change)."""
from __future__ import annotations

from dataclasses import dataclass

from trainer.config.fields import NETWORK_MODULES, SAVE_PRECISION_ALIASES, SAVE_PRECISIONS, TrainConfig
from trainer.config.ranges import range_problems
from trainer.config.compat import note as compat_note
from trainer.config.validate_options import option_issues
from trainer.dataset.checks import caching_issues, dataset_source_issues
from trainer.errors import ConfigError
from trainer.config.netargs import parse_network_args
from trainer.network.spec import fp8_problem, network_spec, unsupported
from trainer.optim.checks import optimizer_arg_problems, scheduler_problems
from trainer.config.plan import is_adaptive


@dataclass(frozen=True)
class Issue:
    field: str
    message: str
    error: bool = True


def parse_resolution(text: str) -> tuple[int, int]:
    parts = [p.strip() for p in str(text).replace("x", ",").split(",") if p.strip()]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"resolution must be one or two whole numbers like 512 or 512,768, got '{text}'")
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) < 64:
        raise ValueError(f"resolution must be one or two numbers of at least 64, got '{text}'")
    return nums[0], nums[1]


def validate(cfg: TrainConfig, *, need_paths: bool = True) -> list[Issue]:
    out: list[Issue] = []

    def err(field: str, msg: str) -> None:
        out.append(Issue(field, msg, True))

    def warn(field: str, msg: str) -> None:
        out.append(Issue(field, msg, False))

    if need_paths:
        if not cfg.pretrained_model_name_or_path:
            err("pretrained_model_name_or_path", "Choose a base model (a .safetensors or .ckpt checkpoint).")
        if not cfg.train_data_dir and not cfg.dataset_config:
            err("train_data_dir", "Choose a training folder with <repeats>_<name> concept folders.")
        if not cfg.output_dir:
            err("output_dir", "Choose an output folder for the LoRA files.")
    from trainer.run.output_plan import input_problem, output_name_problem

    name_problem = output_name_problem(cfg.output_name)
    if name_problem:
        err("output_name", name_problem)
    collision = input_problem(cfg) if need_paths else None  # e.g. output_name = the base model's name
    if collision:
        err("output_name", collision)
    for field, sentence in range_problems(cfg):  # every min/max/choices of the field metadata
        err(field, sentence)
    try:
        parse_resolution(cfg.resolution)
    except ValueError as e:
        err("resolution", str(e)[0].upper() + str(e)[1:] + ".")
    if cfg.enable_bucket and cfg.min_bucket_reso > cfg.max_bucket_reso:
        err("min_bucket_reso", "min_bucket_reso is larger than max_bucket_reso.")
    if cfg.enable_bucket and (cfg.min_bucket_reso % cfg.bucket_reso_steps or
                              cfg.max_bucket_reso % cfg.bucket_reso_steps):
        warn("bucket_reso_steps", f"Bucket limits are rounded to multiples of {cfg.bucket_reso_steps} px.")
    for issue in dataset_source_issues(cfg, need_paths):
        out.append(Issue(*issue))
    if cfg.max_token_length not in (None, 75, 150, 225):
        err("max_token_length", "max_token_length must be 75, 150 or 225.")

    # caching that cannot see per-step changes: the run's options and each dataset-config folder's
    for field, sentence in caching_issues(cfg):
        err(field, sentence)
    if cfg.cache_latents_to_disk and not cfg.cache_latents:
        warn("cache_latents_to_disk", "cache_latents_to_disk also turns on cache_latents.")

    # network
    if cfg.network_train_unet_only and cfg.network_train_text_encoder_only:
        err("network_train_unet_only", "network_train_unet_only and network_train_text_encoder_only "
                                       "exclude each other: nothing would be trained.")
    if cfg.network_module not in NETWORK_MODULES:
        err("network_module", f"network_module '{cfg.network_module}' is not supported; use networks.lora, "
                              "networks.dylora or lycoris.kohya.")
        try:
            args = parse_network_args(cfg.network_args)
        except ValueError as e:
            err("network_args", str(e))
            args = {}
    else:  # what build_network would refuse once the model is loaded
        try:
            spec = network_spec(cfg)
        except ConfigError as e:
            err("network_args", str(e))
            spec = None
        args = spec.args if spec else {}
        if spec:
            for msg in unsupported(spec):
                err("network_args", msg)
            problem = fp8_problem(cfg, spec)
            if problem:
                err("fp8_base", problem)
            dropout = cfg.network_dropout
            if "dropout" in args and dropout is not None and float(args["dropout"]) != dropout:
                err("network_args", f"network_args dropout={args['dropout']} and network_dropout {dropout:g} "
                                    "set the same dropout; keep one of them.")
    if cfg.network_module == "networks.lora" and "algo" in args:
        warn("network_args", "algo= is a LyCORIS option; it is ignored unless network_module is "
                             "lycoris.kohya.")
    if cfg.network_alpha and cfg.network_dim and cfg.network_alpha > cfg.network_dim:
        warn("network_alpha", f"network_alpha ({cfg.network_alpha:g}) above network_dim ({cfg.network_dim}) "
                              "multiplies the learning rate; usually alpha <= dim.")

    # learning rates
    if is_adaptive(cfg.optimizer_type):
        lrs = {lr for lr in (cfg.learning_rate, cfg.unet_lr, cfg.text_encoder_lr) if lr is not None}
        if len(lrs) > 1:
            warn("text_encoder_lr", f"{cfg.optimizer_type} adapts one learning rate for every part; set "
                                    "unet_lr and text_encoder_lr to the same value as learning_rate.")
        if max(lrs or {1.0}) < 0.1:
            warn("learning_rate", f"{cfg.optimizer_type} finds the step size itself and expects "
                                  "learning_rate around 1.0.")
    for msg in optimizer_arg_problems(cfg.optimizer_type, cfg.optimizer_args):
        err("optimizer_args", msg)
    for field, msg in scheduler_problems(cfg):
        err(field, msg)
    if cfg.lr_warmup_steps and (cfg.lr_scheduler in ("constant", "adafactor") and not cfg.lr_scheduler_type):
        err("lr_warmup_steps", f"The {cfg.lr_scheduler} scheduler has no warm-up; use constant_with_warmup or "
                               "set lr_warmup_steps to 0.")

    # precision
    if cfg.full_bf16 and cfg.mixed_precision != "bf16":
        err("full_bf16", "full_bf16 needs mixed_precision = bf16.")
    if cfg.full_fp16 and cfg.mixed_precision != "fp16":
        err("full_fp16", "full_fp16 needs mixed_precision = fp16.")
    if cfg.full_fp16 and cfg.full_bf16:
        err("full_bf16", "full_fp16 and full_bf16 exclude each other.")
    if cfg.save_precision not in (None, *SAVE_PRECISIONS, *SAVE_PRECISION_ALIASES):
        err("save_precision", "save_precision must be fp16, bf16 or fp32 (sd-scripts calls it float).")
    if cfg.v2 and cfg.sdxl:
        err("v2", "v2 and sdxl exclude each other: a model is either SD 2.x or SDXL.")
    if cfg.zero_terminal_snr and not cfg.v_parameterization:
        warn("zero_terminal_snr", "zero_terminal_snr is meant for v-prediction models.")
    if cfg.scale_v_pred_loss_like_noise_pred and not cfg.v_parameterization:
        err("scale_v_pred_loss_like_noise_pred", "scale_v_pred_loss_like_noise_pred needs "
                                                 "v_parameterization.")
    if cfg.lowram:
        warn("lowram", "lowram changes nothing here: models are read tensor by tensor and moved to the GPU "
                       "once, which already keeps RAM use low.")
    if cfg.mem_eff_attn:
        warn("mem_eff_attn", "mem_eff_attn: PyTorch's memory-efficient attention (SDPA) is always used.")
    if cfg.dim_from_weights and not cfg.network_weights:
        err("dim_from_weights", "dim_from_weights needs network_weights: the file to take the rank from.")
    if cfg.resume and not cfg.save_state:
        warn("resume", "Resuming without save_state: later files will not be resumable.")
    if cfg.max_train_epochs is None and cfg.max_train_steps < 1:
        err("max_train_steps", "max_train_steps must be at least 1.")
    out.extend(option_issues(cfg, need_paths))
    for name, value in cfg.accepted_only.items():  # sd-scripts options that change nothing here: say so
        text = compat_note(name, value)
        if text:
            warn(name, text)
    from trainer.config.validate_watch import watch_issues  # samples, validation, EMA

    out += [Issue(*issue) for issue in watch_issues(cfg, need_paths)]
    return out


def errors(cfg: TrainConfig, **kw) -> list[Issue]:
    return [i for i in validate(cfg, **kw) if i.error]
