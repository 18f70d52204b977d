"""validate() says before training what the network, optimizer and scheduler builders would refuse after the
model has loaded; options the builder accepts reach the lycoris network, the others are refused by name."""
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.config.fields import TrainConfig
from trainer.config.kohya_ss import import_config
from trainer.config.files import from_dict
from trainer.config.validate import validate

ROOT = Path(__file__).resolve().parents[1]


def _errors(cfg, field=None):
    return [i.message for i in validate(cfg, need_paths=False)
            if i.error and (field is None or i.field == field)]


def _lyco(*args, **kw):
    return TrainConfig(network_module="lycoris.kohya", network_args=list(args), **kw)


# ----------------------------------------------------------------------------------------------- network_args
@pytest.mark.parametrize("cfg,words", [
    (_lyco("algo=lohaa"), ["algo='lohaa' is not known", "loha"]),
    (_lyco("preset=bogus"), ["preset='bogus' is not known", "attn-mlp"]),
    (_lyco("algo=lokr", "factor=abc"), ["factor=abc", "must be a number"]),
    (_lyco("rank_dropout=often"), ["rank_dropout=often", "must be a number"]),
    (_lyco("module_dropout=1.5"), ["module_dropout=1.5", "at least 0 and below 1"]),
    (_lyco("dora_wd=maybe"), ["dora_wd=maybe", "True or False"]),
    (TrainConfig(network_args=["conv_dim=wide"]), ["conv_dim=wide", "must be a number"]),
])
def test_bad_network_args_are_named(cfg, words):
    msgs = _errors(cfg, "network_args")
    assert len(msgs) == 1 and all(w in msgs[0] for w in words), msgs
    assert msgs[0].startswith("network_args") and msgs[0].endswith(".")


def test_good_network_args_pass():
    for cfg in (_lyco("algo=lokr", "factor=4", "preset=attn-mlp", "use_scalar=True", "rank_dropout=0.1",
                      "rank_dropout_scale=True", "use_conv_cp=true", "dropout=0.1"),
                _lyco("algo=loha", "dora_wd=True", "wd_on_output=False", "disable_conv_cp=False"),
                TrainConfig(network_args=["conv_dim=8", "conv_alpha=4"], network_dropout=0.1)):
        assert not _errors(cfg), _errors(cfg)


@pytest.mark.parametrize("module,item,words", [
    ("networks.lora", "loraplus_lr_ratio=16", ["loraplus_lr_ratio", "LoRA+", "not supported"]),
    ("lycoris.kohya", "loraplus_unet_lr_ratio=16", ["loraplus_unet_lr_ratio", "not supported"]),
    ("lycoris.kohya", "loraplus_text_encoder_lr_ratio=4", ["loraplus_text_encoder_lr_ratio", "LoRA+"]),
    ("networks.lora", "down_lr_weight=sine", ["down_lr_weight", "block learning-rate weights"]),
    ("networks.lora", "mid_lr_weight=2", ["mid_lr_weight", "not supported"]),
    ("lycoris.kohya", "up_lr_weight=cosine", ["up_lr_weight", "not supported"]),
    ("networks.lora", "preset=attn-mlp", ["preset=attn-mlp", "networks.lora", "lycoris.kohya"]),
    ("networks.dylora", "preset=full", ["preset=full", "networks.dylora"]),
])
def test_options_the_builder_would_ignore_are_refused(module, item, words):
    msgs = _errors(TrainConfig(network_module=module, network_args=[item]), "network_args")
    assert len(msgs) == 1 and all(w in msgs[0] for w in words), msgs


def test_dropout_given_twice_must_agree():
    assert _errors(_lyco("dropout=0.1", network_dropout=0.2), "network_args")
    assert not _errors(_lyco("dropout=0.1", network_dropout=0.1))


@pytest.mark.parametrize("args,bad", [
    (["algo=loha"], True), (["algo=lokr"], True), (["algo=locon", "dora_wd=True"], True),
    (["algo=lora"], False), (["algo=locon"], False), (["algo=loha", "bypass_mode=True"], False),
])
def test_fp8_base_with_a_full_weight_network_is_refused_before_loading(args, bad):
    msgs = _errors(_lyco(*args, fp8_base=True), "fp8_base")
    assert bool(msgs) == bad
    if bad:
        assert msgs[0].startswith("fp8_base works with LoRA and LoCon")
    assert not _errors(TrainConfig(fp8_base=True))


# --------------------------------------------------------------------------------------------- optimizer_args
@pytest.mark.parametrize("opt,args,words", [
    ("AdamW", ["foo"], ["'foo'", "key=value"]),
    ("AdamW8bit", ["betas=(0.9,0.99"], ["betas=(0.9,0.99", "cannot be read"]),
    ("AdamW8bit", ["weight_decay=1e-2x"], ["weight_decay=1e-2x", "cannot be read"]),
    ("Prodigy", ["d_coef=big"], ["d_coef=big", "Prodigy takes numbers"]),
    ("AdamW", ["lr=1e-4"], ["must not set lr"]),
    ("SGDNesterov", ["nesterov=False"], ["nesterov"]),
    ("AdamW", ["weight_decay="], ["no value"]),
])
def test_bad_optimizer_args_are_named(opt, args, words):
    msgs = _errors(TrainConfig(optimizer_type=opt, optimizer_args=args), "optimizer_args")
    assert len(msgs) == 1 and all(w in msgs[0] for w in words), msgs


def test_good_optimizer_args_pass():
    for opt, args in (("AdamW8bit", ["weight_decay=0.01", "betas=0.9,0.99"]),
                      ("DAdaptAdam", ["decouple=True", "weight_decay=0.01", "betas=(0.9, 0.99)"]),
                      ("AdaFactor", ["scale_parameter=False", "relative_step=False", "warmup_init=false"]),
                      ("mypackage.MyOptimizer", ["mode=fast"])):  # other optimizers may take text
        assert not _errors(TrainConfig(optimizer_type=opt, optimizer_args=args)), (opt, args)


@pytest.mark.parametrize("opt,args", [
    ("AdamW", ["foo"]), ("AdamW", ["betas=(0.9,0.99"]), ("AdamW", ["weight_decay=abc"]), ("AdamW", ["lr=1"]),
    ("SGDNesterov", ["nesterov=False"]),
    ("AdamW", ["weight_decay=0.01", "betas=0.9,0.99"]), ("SGDNesterov", ["momentum=0.8"]),
])
def test_optimizer_checks_agree_with_build_optimizer(opt, args):
    import torch

    from trainer.errors import ConfigError
    from trainer.optim import build_optimizer

    refused = bool(_errors(TrainConfig(optimizer_type=opt, optimizer_args=args), "optimizer_args"))
    params = [torch.nn.Parameter(torch.zeros(2))]
    try:
        build_optimizer(opt, params, 1e-4, args)
        built = True
    except ConfigError:
        built = False
    assert refused != built


# ------------------------------------------------------------------------------------------------- schedulers
@pytest.mark.parametrize("kw,field,words", [
    (dict(lr_scheduler="cosine_annealing_warmup_restarts", lr_scheduler_args=["T_0=abc"]),
     "lr_scheduler_args", ["T_0", "must be a number", "'abc'"]),
    (dict(lr_scheduler="cosine_annealing_warmup_restarts", lr_scheduler_args=["T_0=100", "warmup_steps=150"]),
     "lr_scheduler_args", ["warmup_steps=150", "T_0=100"]),
    (dict(lr_scheduler="cosine_annealing_warmup_restarts", lr_scheduler_args=["T_zero=100"]),
     "lr_scheduler_args", ["T_zero", "not known"]),
    (dict(lr_scheduler_type="cosine_annealing_warmup.CosineAnnealingWarmupRestarts",
          lr_scheduler_args=["first_cycle_steps=ten"]), "lr_scheduler_args", ["T_0", "'ten'"]),
    (dict(lr_scheduler_type="CosineAnnealingWarmRestarts", lr_scheduler_args=["T_0=abc"]),
     "lr_scheduler_args", ["T_0=abc", "CosineAnnealingWarmRestarts takes a number"]),
    (dict(lr_scheduler_type="torch.optim.lr_scheduler.StepLR", lr_scheduler_args=["step_size=(10"]),
     "lr_scheduler_args", ["step_size=(10", "cannot be read"]),
    (dict(lr_scheduler="cosine", lr_scheduler_args=["T_0=100"]), "lr_scheduler_args", ["not used", "cosine"]),
    (dict(lr_scheduler_args=["bogus"]), "lr_scheduler_args", ["'bogus'", "key=value"]),
    (dict(lr_scheduler_type="torch.optim.lr_scheduler.StepLR", lr_scheduler_args=["step_size=10"],
          lr_warmup_steps=10), "lr_warmup_steps", ["lr_warmup_steps", "StepLR"]),
    (dict(lr_scheduler="cosine_with_restart"), "lr_scheduler", ["Did you mean cosine_with_restarts"]),
])
def test_bad_scheduler_settings_are_named(kw, field, words):
    msgs = _errors(TrainConfig(**kw), field)
    assert len(msgs) == 1 and all(w in msgs[0] for w in words), msgs


def test_good_scheduler_settings_pass():
    for kw in (dict(lr_scheduler="cosine_annealing_warmup_restarts",
                    lr_scheduler_args=["T_0=400", "gamma_min_lr=0.999", "down_factor=0.5", "warmup_steps=100",
                                       "cycle_warmup=50", "init_lr_ground=true"]),
               dict(lr_scheduler_type="torch.optim.lr_scheduler.CyclicLR",
                    lr_scheduler_args=["base_lr=1e-5", "max_lr=1e-4", "mode=triangular2"]),
               dict(lr_scheduler="cosine", lr_warmup_steps=0.05),
               dict(optimizer_type="AdaFactor", lr_scheduler="adafactor"),
               dict(optimizer_type="AdaFactor", optimizer_args=["relative_step=False"], lr_scheduler="cosine",
                    lr_warmup_steps=10)):
        assert not _errors(TrainConfig(**kw)), kw


def test_adafactor_scheduler_needs_the_adafactor_optimizer():
    msgs = _errors(TrainConfig(lr_scheduler="adafactor", optimizer_type="AdamW8bit"), "lr_scheduler")
    assert msgs == ["lr_scheduler adafactor works only with optimizer_type AdaFactor."]
    # AdaFactor with relative_step=True (its default) makes the scheduler adafactor, which has no warm-up
    msgs = _errors(TrainConfig(optimizer_type="AdaFactor", lr_scheduler="cosine", lr_warmup_steps=100),
                   "lr_warmup_steps")
    assert len(msgs) == 1 and "relative_step=False" in msgs[0]


@pytest.mark.parametrize("kw", [
    dict(lr_scheduler="cosine_annealing_warmup_restarts", lr_scheduler_args=["T_0=abc"]),
    dict(lr_scheduler="cosine_annealing_warmup_restarts", lr_scheduler_args=["T_0=10", "cycle_warmup=10"]),
    dict(lr_scheduler="cosine_annealing_warmup_restarts", lr_scheduler_args=["T_0=100", "decay=0.5"]),
    dict(lr_scheduler_type="CosineAnnealingWarmRestarts", lr_scheduler_args=["T_0=abc"]),
    dict(lr_scheduler_type="CosineAnnealingWarmRestarts", lr_scheduler_args=["T_0=100"]),
    dict(lr_scheduler="cosine", lr_scheduler_args=["T_0=100"]),
    dict(lr_scheduler="linear"),
    dict(lr_scheduler="cosine_annealing_warmup_restarts", lr_scheduler_args=["T_0=10"], lr_warmup_steps=20),
    dict(lr_scheduler="cosine_annealing_warmup_restarts", lr_scheduler_args=["T_0=10"], lr_warmup_steps=5),
    dict(lr_scheduler_type="StepLR", lr_scheduler_args=["step_size=10"], lr_warmup_steps=5),
])
def test_scheduler_checks_agree_with_build_scheduler(kw):
    import torch

    from trainer.errors import ConfigError
    from trainer.optim import build_scheduler

    cfg = TrainConfig(**kw)
    refused = bool(_errors(cfg))
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1e-4)
    try:
        build_scheduler(opt, lr_scheduler=cfg.lr_scheduler, num_training_steps=1000,
                        lr_warmup_steps=cfg.lr_warmup_steps, lr_scheduler_type=cfg.lr_scheduler_type,
                        lr_scheduler_args=cfg.lr_scheduler_args)
        built = True
    except ConfigError:
        built = False
    assert refused != built


def test_the_torch_free_lists_match_the_builders():
    from trainer.optim import OPTIMIZERS, SCHEDULERS
    from trainer.optim.checks import BUILT_IN_OPTIMIZERS, SCHEDULER_NAMES

    assert set(BUILT_IN_OPTIMIZERS) == set(OPTIMIZERS)
    assert set(SCHEDULER_NAMES) == set(SCHEDULERS)


# --------------------------------------------------------------------------------------------- save_precision
def test_save_precision_fp32_is_float():
    assert TrainConfig(save_precision="fp32").save_precision == "float"
    assert from_dict({"save_precision": "FP32"}).save_precision == "float"
    assert TrainConfig(save_precision="float").save_precision == "float"
    assert TrainConfig(save_precision="").save_precision is None
    for value in ("fp32", "float", "fp16", "bf16", None):
        assert not _errors(TrainConfig(save_precision=value)), value
    cfg = TrainConfig()
    cfg.save_precision = "fp32"  # set after construction: still accepted
    assert not _errors(cfg)
    assert _errors(TrainConfig(save_precision="half"), "save_precision") == [
        "save_precision must be fp16, bf16 or fp32 (sd-scripts calls it float)."]
    from trainer.network.lora_file import SAVE_DTYPES

    assert {None, "float", "fp32", "fp16", "bf16"} <= set(SAVE_DTYPES)


# ---------------------------------------------------------------------------------------------- config import
def test_bmaltais_rank_dropout_scale_becomes_a_usable_network_arg():
    res = import_config({"LoRA_type": "LyCORIS/LoCon", "network_dim": 8, "conv_dim": 4, "rank_dropout": 0.1,
                         "rank_dropout_scale": True, "use_scalar": True, "loraplus_lr_ratio": 16,
                         "down_lr_weight": "1,1,1"})
    assert "rank_dropout_scale=True" in res.config.network_args
    assert "use_scalar=True" in res.config.network_args
    unknown = " ".join(res.unknown)
    assert "loraplus_lr_ratio" in unknown and "down_lr_weight" in unknown  # listed, not dropped silently
    assert not _errors(res.config)


# --------------------------------------------------------------------------------------------------- no torch
def test_validate_imports_no_torch():
    code = (
        "import sys\n"
        "from trainer.config.fields import TrainConfig\n"
        "from trainer.config.validate import validate\n"
        "lyco = dict(network_module='lycoris.kohya', fp8_base=True)\n"
        "cfgs = [TrainConfig(network_args=['algo=loha', 'factor=x'], **lyco),\n"
        "        TrainConfig(network_args=['algo=loha'], **lyco),\n"
        "        TrainConfig(network_args=['loraplus_lr_ratio=4', 'preset=full']),\n"
        "        TrainConfig(optimizer_type='Prodigy', optimizer_args=['foo=(1', 'd_coef=x']),\n"
        "        TrainConfig(lr_scheduler='cosine_annealing_warmup_restarts',\n"
        "                    lr_scheduler_args=['T_0=abc', 'warmup_steps=1.5']),\n"
        "        TrainConfig(lr_scheduler_type='StepLR', lr_scheduler_args=['step_size=x']),\n"
        "        TrainConfig(lr_scheduler='adafactor', save_precision='fp32')]\n"
        "n = sum(len(validate(c, need_paths=False)) for c in cfgs)\n"
        "print(n, sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    n, mods = out.stdout.split(" ", 1)
    assert int(n) >= 7 and mods.strip() == "[]"


# ----------------------------------------------------------------------------------------------- pass-through
def test_network_args_reach_the_lycoris_modules(tiny_ckpt):
    from torch import nn

    from trainer.models.loader import load_base_model
    from trainer.network.build import build_network

    base = load_base_model(tiny_ckpt("sd1"))
    net = build_network(_lyco("algo=locon", "conv_dim=4", "use_scalar=True", "rank_dropout=0.1",
                              "rank_dropout_scale=True", "use_conv_cp=True", "dropout=0.2", network_dim=4),
                        base.unet, base.text_encoders)
    mods = net.net.loras
    assert all(isinstance(m.scalar, nn.Parameter) for m in mods)
    assert all(m.rank_dropout_scale for m in mods)
    assert all(isinstance(m.dropout, nn.Dropout) and m.dropout.p == 0.2 for m in mods)
    assert any(m.tucker for m in mods)  # use_conv_cp: Tucker for the 3x3 convolutions
    assert not any(k.endswith("scalar") for k in net.state_dict())  # folded into lora_up in the file

    net = build_network(_lyco("algo=locon", "dora_wd=True", "wd_on_output=False", "preset=attn-mlp",
                              network_dim=4), base.unet, base.text_encoders)
    assert net.net.loras and all(m.wd and m.wd_on_out is False for m in net.net.loras)
    net = build_network(TrainConfig(network_dim=4, network_dropout=0.3), base.unet, base.text_encoders)
    assert all(m.dropout.p == 0.3 for m in net.net.loras)
    for cfg in (TrainConfig(network_args=["loraplus_lr_ratio=4"]),
                _lyco("algo=loha", fp8_base=True)):  # refused, also when validate() was skipped
        from trainer.errors import ConfigError

        with pytest.raises(ConfigError):
            build_network(cfg, base.unet, base.text_encoders)
