"""Optimizers by sd-scripts name: every one builds and steps on CPU; sd-scripts' quirks and messages."""

import warnings

import pytest
import torch

from trainer.errors import ConfigError
from trainer.optim import OPTIMIZERS, build_optimizer, canonical_optimizer_name

ALL_NAMES = [
    "AdamW", "AdamW8bit", "PagedAdamW8bit", "Lion", "Lion8bit", "PagedLion8bit", "SGDNesterov",
    "SGDNesterov8bit", "DAdaptation", "DAdaptAdamPreprint", "DAdaptAdaGrad", "DAdaptAdam", "DAdaptAdan",
    "DAdaptAdanIP", "DAdaptLion", "DAdaptSGD", "Prodigy", "AdaFactor", "torch.optim.RMSprop",
]
ADAPTIVE = {"DAdaptation", "DAdaptAdamPreprint", "DAdaptAdaGrad", "DAdaptAdam", "DAdaptAdan", "DAdaptAdanIP",
            "DAdaptLion", "DAdaptSGD", "Prodigy", "AdaFactor"}


def _model():
    torch.manual_seed(0)
    # 64x64 = 4096 values: bitsandbytes keeps smaller tensors in 32-bit state, so this exercises 8-bit state
    return torch.nn.Linear(64, 64)


def _two_steps(optimizer, model):
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.randn(8, 64)).pow(2).mean().backward()
        optimizer.step()


@pytest.mark.parametrize("name", ALL_NAMES)
def test_each_optimizer_steps_on_cpu(name):
    model = _model()
    lr = 1.0 if name in ADAPTIVE else 1e-3
    spelled = name.lower() if name != "torch.optim.RMSprop" else name
    built = build_optimizer(spelled, model.parameters(), lr, [])
    w0 = model.weight.detach().clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bitsandbytes: "Paged optimizers are not supported on CPU"
        _two_steps(built.optimizer, model)
    assert not torch.equal(w0, model.weight), f"{name} did not change the weights"
    assert torch.isfinite(model.weight).all()
    assert built.is_adaptive == (name in ADAPTIVE)
    if name in OPTIMIZERS:
        assert built.info is OPTIMIZERS[name] and built.optimizer_type == name


def test_8bit_state_is_really_8bit_on_cpu():
    model = _model()
    built = build_optimizer("AdamW8bit", model.parameters(), 1e-3, [])
    _two_steps(built.optimizer, model)
    state = built.optimizer.state[model.weight]
    assert state["state1"].dtype == torch.uint8 and state["state2"].dtype == torch.uint8


def test_paged_on_cpu_warns():
    built = build_optimizer("PagedAdamW8bit", _model().parameters(), 1e-3, [])
    assert any("CUDA" in w for w in built.warnings)


def test_description_is_ss_optimizer_format():
    args = ["weight_decay=0.01", "betas=0.9,0.999"]
    built = build_optimizer("AdamW8bit", _model().parameters(), 1e-4, args)
    assert built.name == "bitsandbytes.optim.adamw.AdamW8bit"
    assert built.description == "bitsandbytes.optim.adamw.AdamW8bit(weight_decay=0.01,betas=(0.9, 0.999))"
    assert built.args == {"weight_decay": 0.01, "betas": (0.9, 0.999)}
    plain = build_optimizer("AdamW", _model().parameters(), 1e-4, [])
    assert plain.description == "torch.optim.adamw.AdamW"  # no "()" without args, as sd-scripts
    assert build_optimizer("", _model().parameters(), 1e-4).name == "torch.optim.adamw.AdamW"  # default


def test_sgd_nesterov_defaults_like_sd_scripts():
    built = build_optimizer("SGDNesterov", _model().parameters(), 1e-3, [])
    assert built.description == "torch.optim.sgd.SGD(momentum=0.9)"
    assert built.optimizer.param_groups[0]["nesterov"] is True
    with pytest.raises(ConfigError, match="nesterov"):
        build_optimizer("SGDNesterov", _model().parameters(), 1e-3, ["nesterov=False"])


def test_optimizer_args_reach_the_optimizer():
    built = build_optimizer("DAdaptAdam", _model().parameters(), 1.0, ["decouple=True", "weight_decay=0.01",
                                                                       "betas=0.9,0.99"])
    group = built.optimizer.param_groups[0]
    assert group["decouple"] is True and group["betas"] == (0.9, 0.99) and group["weight_decay"] == 0.01
    assert built.description.startswith("dadaptation.dadapt_adam.DAdaptAdam(decouple=True,")
    assert built.warnings == []  # lr 1.0, one group


def test_adaptive_warns_and_unifies_different_lrs():
    model = _model()
    groups = [{"params": [model.weight], "lr": 1.0}, {"params": [model.bias], "lr": 0.5}]
    built = build_optimizer("Prodigy", groups, 1.0, ["d_coef=1"])
    assert any("one learning rate" in w and "Prodigy" in w for w in built.warnings)
    assert [g["lr"] for g in built.optimizer.param_groups] == [1.0, 1.0]
    assert groups[1]["lr"] == 0.5  # caller's dicts untouched
    _two_steps(built.optimizer, model)  # prodigyopt raises on different group lrs; unified, it steps


def test_adaptive_low_lr_warning_and_zero_lr_group_kept():
    model = _model()
    groups = [{"params": [model.weight], "lr": 1e-4}, {"params": [model.bias], "lr": 0.0}]
    built = build_optimizer("DAdaptAdam", groups, 1e-4, [])
    assert any("around 1.0" in w for w in built.warnings)
    assert not any("one learning rate" in w for w in built.warnings)
    assert [g["lr"] for g in built.optimizer.param_groups] == [1e-4, 0.0]


def test_non_adaptive_keeps_group_lrs():
    model = _model()
    groups = [{"params": [model.weight], "lr": 1e-4}, {"params": [model.bias], "lr": 5e-5}]
    built = build_optimizer("AdamW", groups, 1e-4, [])
    assert [g["lr"] for g in built.optimizer.param_groups] == [1e-4, 5e-5] and built.warnings == []


def test_adafactor_relative_step_like_sd_scripts():
    model = _model()
    groups = [{"params": [model.weight], "lr": 1e-4}, {"params": [model.bias], "lr": 5e-5}]
    built = build_optimizer("adafactor", groups, 1e-3, [], lr_scheduler="cosine")
    assert built.description == "transformers.optimization.Adafactor(relative_step=True)"
    assert built.is_adaptive and built.lr_scheduler_override == "adafactor:0.001"
    assert all(g["lr"] is None for g in built.optimizer.param_groups)
    text = " ".join(built.warnings)
    assert "initial" in text and "ignores unet_lr" in text and "replaces lr_scheduler 'cosine'" in text
    _two_steps(built.optimizer, model)


def test_adafactor_fixed_lr():
    built = build_optimizer("AdaFactor", _model().parameters(), 1e-3,
                            ["relative_step=False", "scale_parameter=False", "warmup_init=False"],
                            lr_scheduler="cosine", max_grad_norm=1.0)
    assert not built.is_adaptive and built.lr_scheduler_override is None
    assert built.optimizer.param_groups[0]["lr"] == 1e-3
    assert any("constant_with_warmup" in w for w in built.warnings)
    assert any("max_grad_norm" in w for w in built.warnings)
    args = ["relative_step=False", "warmup_init=True"]
    warm = build_optimizer("AdaFactor", _model().parameters(), 0.0, args)
    assert warm.args["relative_step"] is True and warm.lr_scheduler_override == "adafactor:0.0"


def test_lion_falls_back_to_bitsandbytes_without_lion_pytorch():
    import importlib.util

    built = build_optimizer("Lion", _model().parameters(), 1e-4, [])
    if importlib.util.find_spec("lion_pytorch") is None:
        assert built.name == "bitsandbytes.optim.lion.Lion"
    else:
        assert built.name == "lion_pytorch.lion_pytorch.Lion"


def test_names_are_case_insensitive_and_torch_names_allowed():
    assert canonical_optimizer_name("adamw8bit") == "AdamW8bit"
    assert canonical_optimizer_name("DADAPTADAM") == "DAdaptAdam"
    assert canonical_optimizer_name("prodigy") == "Prodigy"
    assert canonical_optimizer_name("RMSprop") == "RMSprop"
    assert build_optimizer("RMSprop", _model().parameters(), 1e-3).name == "torch.optim.rmsprop.RMSprop"


@pytest.mark.parametrize("bad,suggest", [("AdamW8bitt", "AdamW8bit"), ("prodigi", "Prodigy"),
                                         ("DAdaptAdamm", "DAdaptAdam")])
def test_unknown_optimizer_suggests_closest(bad, suggest):
    with pytest.raises(ConfigError) as e:
        build_optimizer(bad, _model().parameters(), 1e-4)
    assert "optimizer_type" in str(e.value) and suggest in str(e.value)


def test_qualified_name_errors():
    with pytest.raises(ConfigError, match="not installed"):
        build_optimizer("no_such_module.Opt", _model().parameters(), 1e-4)
    with pytest.raises(ConfigError, match="no 'NoSuch'"):
        build_optimizer("torch.optim.NoSuch", _model().parameters(), 1e-4)


def test_bad_optimizer_args_are_config_errors():
    with pytest.raises(ConfigError, match="optimizer_args"):
        build_optimizer("AdamW", _model().parameters(), 1e-4, ["no_such_arg=1"])
    with pytest.raises(ConfigError, match="optimizer_args"):
        build_optimizer("AdamW", _model().parameters(), 1e-4, ["betas=0.9"])
    with pytest.raises(ConfigError, match="learning_rate"):
        build_optimizer("AdamW", _model().parameters(), 1e-4, ["lr=0.1"])


def test_catalogue_state_bytes():
    assert OPTIMIZERS["AdamW"].state_bytes_per_param == 8
    assert OPTIMIZERS["AdamW"].state_bytes(param_bytes=2) == 4
    assert 2 <= OPTIMIZERS["AdamW8bit"].state_bytes_per_param < 2.1
    assert OPTIMIZERS["AdamW8bit"].state_bytes(param_bytes=2) == OPTIMIZERS["AdamW8bit"].state_bytes_per_param
    assert OPTIMIZERS["Lion"].state_bytes_per_param == 4
    assert 1 <= OPTIMIZERS["Lion8bit"].state_bytes_per_param < 1.1
    assert OPTIMIZERS["SGDNesterov"].state_bytes_per_param == 4
    assert OPTIMIZERS["Prodigy"].state_bytes_per_param == 16
    assert OPTIMIZERS["DAdaptAdam"].state_bytes_per_param == 12
    assert OPTIMIZERS["AdaFactor"].state_bytes_per_param < 2
    assert all(OPTIMIZERS[n].is_adaptive for n in ADAPTIVE)
    assert {n for n, i in OPTIMIZERS.items() if i.is_8bit} >= {"AdamW8bit", "Lion8bit", "SGDNesterov8bit"}


def test_state_bytes_match_real_state():
    """The catalogue's numbers match what the optimizers really allocate (fp32 params, 4096 values)."""
    for name in ["AdamW", "Lion", "SGDNesterov", "DAdaptAdam", "DAdaptLion", "DAdaptSGD", "DAdaptAdan",
                 "Prodigy", "AdamW8bit", "Lion8bit", "SGDNesterov8bit"]:
        model = _model()
        built = build_optimizer(name, [model.weight], 1.0 if name in ADAPTIVE else 1e-3)
        _two_steps(built.optimizer, model)
        state = built.optimizer.state[model.weight]
        nbytes = sum(v.numel() * v.element_size() for k, v in state.items()
                     if torch.is_tensor(v) and v.numel() > 1 and not k.startswith("qmap"))
        per_param = nbytes / model.weight.numel()
        assert per_param == pytest.approx(OPTIMIZERS[name].state_bytes_per_param, rel=0.02), name
