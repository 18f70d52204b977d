"""Learning-rate schedulers: curve shapes, warmup ratio, per-group lrs, built-in warm restarts, lr_curve."""

import math
import time
import warnings

import pytest
import torch

from trainer.errors import ConfigError
from trainer.optim import (
    CosineAnnealingWarmupRestarts,
    build_optimizer,
    build_scheduler,
    lr_curve,
    resolve_warmup_steps,
)

LR = 1e-4


def curve(name, steps=1000, lr=LR, **kw):
    return [row[0] for row in lr_curve(name, steps, lr, **kw)]


def peaks(values):
    return [i for i in range(1, len(values) - 1) if values[i - 1] < values[i] >= values[i + 1]]


def test_constant_is_flat():
    c = curve("constant")
    assert len(c) == 1000 and all(v == LR for v in c)


@pytest.mark.parametrize(
    "name", ["constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial"]
)
def test_warmup_ramps_from_zero_to_lr(name):
    c = curve(name, lr_warmup_steps=100)
    assert c[0] == 0.0
    assert c[50] == pytest.approx(LR / 2)
    assert all(c[i] < c[i + 1] for i in range(99))
    assert c[100] == pytest.approx(LR)


def test_constant_with_warmup_then_flat():
    c = curve("constant_with_warmup", lr_warmup_steps=100)
    assert all(v == pytest.approx(LR) for v in c[100:])


def test_warmup_ratio_of_total_steps():
    assert resolve_warmup_steps(0.1, 1000) == 100
    assert resolve_warmup_steps(100, 1000) == 100
    assert resolve_warmup_steps(0.05, 333) == 16  # int(), as sd-scripts
    c = curve("constant_with_warmup", lr_warmup_steps=0.1)
    assert c[99] < LR and c[100] == pytest.approx(LR)
    with pytest.raises(ConfigError, match="lr_warmup_steps"):
        resolve_warmup_steps(-1, 1000)
    with pytest.raises(ConfigError, match="lr_warmup_steps"):
        resolve_warmup_steps(1.5, 1000)


def test_linear_ends_at_zero():
    c = curve("linear", lr_warmup_steps=100)
    assert c[550] == pytest.approx(LR / 2)
    assert c[-1] == pytest.approx(LR / 900) and all(c[i] > c[i + 1] for i in range(100, 999))
    assert lr_curve("linear", 1001, LR)[-1][0] == pytest.approx(LR / 1001)


def test_cosine_half_way_is_half():
    c = curve("cosine", lr_warmup_steps=0)
    assert c[0] == pytest.approx(LR) and c[500] == pytest.approx(LR / 2) and c[-1] < LR * 1e-4
    w = curve("cosine", lr_warmup_steps=200)
    assert w[600] == pytest.approx(LR / 2)


@pytest.mark.parametrize("cycles", [1, 3, 4])
def test_cosine_with_restarts_has_num_cycles_peaks(cycles):
    c = curve("cosine_with_restarts", 1200, lr_scheduler_num_cycles=cycles)
    starts = [0] + [i for i in range(1, len(c)) if c[i] > c[i - 1] * 10]
    assert len(starts) == cycles
    assert all(c[s] == pytest.approx(LR) for s in starts)
    assert starts == [k * 1200 // cycles for k in range(cycles)]


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_polynomial_power_and_end_lr(power):
    c = curve("polynomial", 1000, lr_warmup_steps=0, lr_scheduler_power=power)
    end = 1e-7
    assert c[500] == pytest.approx((LR - end) * 0.5**power + end)
    assert c[-1] == pytest.approx((LR - end) * (1 / 1000) ** power + end)
    assert lr_curve("polynomial", 1000, LR)[-1][0] > end


def test_per_group_lrs_preserved_by_every_scheduler():
    lrs = [1e-4, 5e-5, 0.0]
    for name in ["constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial",
                 "cosine_annealing_warmup_restarts"]:
        rows = lr_curve(name, 500, lrs, lr_warmup_steps=50, lr_scheduler_num_cycles=2)
        for row in rows[1:]:
            assert row[1] == pytest.approx(row[0] / 2, rel=1e-9, abs=1e-20), name
            assert row[2] == 0.0
    rows = lr_curve("constant", 100, lrs)
    assert rows[0] == lrs
    rows = lr_curve("constant", 100, 1.0, group_lrs=[1e-4, 5e-5],
                    lr_scheduler_type="torch.optim.lr_scheduler.CosineAnnealingLR",
                    lr_scheduler_args=["T_max=100"])
    assert rows[50] == pytest.approx([5e-5, 2.5e-5])


def test_lr_curve_matches_stepping_the_real_scheduler():
    model = torch.nn.Linear(4, 4)
    groups = [{"params": [model.weight], "lr": 1e-4}, {"params": [model.bias], "lr": 3e-5}]
    kw = dict(lr_warmup_steps=30, lr_scheduler_args=["T_0=100", "gamma_min_lr=0.999", "down_factor=0.5",
                                                     "cycle_warmup=10"])
    opt = build_optimizer("AdamW", groups, 1e-4).optimizer
    sched = build_scheduler(opt, lr_scheduler="cosine_annealing_warmup_restarts", num_training_steps=300,
                            **kw)
    stepped = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(300):
            stepped.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
    preview = lr_curve("cosine_annealing_warmup_restarts", 300, 1e-4, group_lrs=[1e-4, 3e-5], **kw)
    assert len(preview) == len(stepped) == 300
    for a, b in zip(preview, stepped):
        assert a == pytest.approx(b, rel=1e-12, abs=0)


def test_scheduler_accepts_built_optimizer_and_state_dict_roundtrip():
    built = build_optimizer("AdamW", torch.nn.Linear(2, 2).parameters(), 1e-3)
    sched = build_scheduler(built, lr_scheduler="cosine", num_training_steps=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(4):
            sched.step()
    state = sched.state_dict()
    again = build_scheduler(build_optimizer("AdamW", torch.nn.Linear(2, 2).parameters(), 1e-3),
                            lr_scheduler="cosine", num_training_steps=10)
    again.load_state_dict(state)
    assert again.last_epoch == 4


def test_num_processes_like_sd_scripts():
    # sd-scripts builds the scheduler for max_train_steps * num_processes (accelerate steps it that often)
    c = curve("linear", 100, lr_warmup_steps=0.1, num_processes=2)
    assert c[20] == pytest.approx(LR) and c[19] < LR  # warmup int(0.1 * 200) = 20
    assert c[-1] == pytest.approx(LR * 101 / 180)


def test_adafactor_scheduler_with_adafactor():
    model = torch.nn.Linear(8, 8)
    built = build_optimizer("AdaFactor", model.parameters(), 1e-3)
    sched = build_scheduler(built.optimizer, lr_scheduler=built.lr_scheduler_override, num_training_steps=10)
    assert sched.get_last_lr() == [1e-3]
    for _ in range(3):
        built.optimizer.zero_grad()
        model(torch.randn(2, 8)).pow(2).sum().backward()
        built.optimizer.step()
        sched.step()
    lr = sched.get_last_lr()[0]
    assert 0 < lr < 1 and lr != 1e-3  # AdaFactor's own relative step
    assert curve("adafactor", 50, 1e-3) == [1e-3] * 50
    with pytest.raises(ConfigError, match="AdaFactor"):
        adamw = build_optimizer("AdamW", model.parameters(), 1e-3).optimizer
        build_scheduler(adamw, lr_scheduler="adafactor", num_training_steps=10)


def test_fully_qualified_torch_scheduler_with_args():
    c = curve("constant", 100, lr_scheduler_type="torch.optim.lr_scheduler.CosineAnnealingLR",
              lr_scheduler_args=["T_max=100", "eta_min=1e-6"])
    assert c[0] == pytest.approx(LR) and c[50] == pytest.approx((LR + 1e-6) / 2)
    s = curve("constant", 30, lr_scheduler_type="StepLR", lr_scheduler_args='"step_size=10" "gamma=0.5"')
    assert s[9] == pytest.approx(LR) and s[10] == pytest.approx(LR / 2) and s[25] == pytest.approx(LR / 4)


def test_torch_scheduler_errors():
    with pytest.raises(ConfigError, match="CosineAnnealingLR"):
        curve("constant", 10, lr_scheduler_type="torch.optim.lr_scheduler.CosineAnealingLR")
    with pytest.raises(ConfigError, match="lr_scheduler_args"):
        curve("constant", 10, lr_scheduler_type="torch.optim.lr_scheduler.CosineAnnealingLR",
              lr_scheduler_args=["T_maxx=10"])
    with pytest.raises(ConfigError, match="lr_warmup_steps"):
        curve("constant", 10, lr_warmup_steps=5, lr_scheduler_type="StepLR",
              lr_scheduler_args=["step_size=3"])
    with pytest.raises(ConfigError, match="cannot be imported"):
        curve("constant", 10, lr_scheduler_type="no_such_pkg.Sched")


@pytest.mark.parametrize("bad,suggest", [("cosine_with_restart", "cosine_with_restarts"),
                                         ("linera", "linear"), ("constant_warmup", "constant_with_warmup")])
def test_unknown_scheduler_suggests_closest(bad, suggest):
    with pytest.raises(ConfigError) as e:
        curve(bad)
    assert "lr_scheduler" in str(e.value) and f"Did you mean {suggest}?" in str(e.value)


def test_contradictions_like_sd_scripts():
    with pytest.raises(ConfigError, match="constant_with_warmup"):
        curve("constant", lr_warmup_steps=10)
    with pytest.raises(ConfigError, match="lr_scheduler_args"):
        curve("cosine", lr_scheduler_args=["T_0=10"])
    with pytest.raises(ConfigError, match="training steps"):
        curve("cosine", 0)


# --- built-in cosine annealing with warm restarts -------------------------------------------------------

GUIDE_ARGS = ['"T_0=549"', '"gamma_min_lr=0.99915"', '"decay=1"', '"down_factor=0.5"', '"warmup_steps=100"',
              '"cycle_warmup=50"', '"init_lr_ground=True"']


def test_warm_restarts_guide_args_shape():
    total = 549 * 4
    c = curve("cosine_annealing_warmup_restarts", total, lr_scheduler_args=GUIDE_ARGS)
    assert min(c) >= 0.0
    # first cycle: 100-step warmup from 0
    assert c[0] == 0.0 and all(c[i] < c[i + 1] for i in range(100))
    # restarts at multiples of T_0, each ramps up from 0 over 50 steps (init_lr_ground)
    for k in (1, 2, 3):
        s = k * 549
        assert c[s] == 0.0 and c[s - 1] < c[s - 2]
        assert all(c[i] < c[i + 1] for i in range(s, s + 50))
    # peaks: at the end of each warmup, each one down_factor * gamma^(T_0) of the previous
    tops = [c[100]] + [c[k * 549 + 50] for k in (1, 2, 3)]
    assert tops[0] == pytest.approx(LR * 0.99915**100)
    for k in (1, 2, 3):
        assert tops[k] == pytest.approx(tops[k - 1] * 0.5 * 0.99915 ** (549 + (50 - 100 if k == 1 else 0)))
    assert max(c[549:]) < max(c[:549]) * 0.5
    assert len(peaks(c)) == 4


def test_warm_restarts_without_decay_peaks_halve_exactly():
    args = ["T_0=100", "down_factor=0.5", "warmup_steps=10", "cycle_warmup=5"]
    c = curve("cosine_annealing_warmup_restarts", 400, lr_scheduler_args=args)
    assert c[10] == pytest.approx(LR) and c[105] == pytest.approx(LR / 2)
    assert c[205] == pytest.approx(LR / 4) and c[305] == pytest.approx(LR / 8)
    assert c[10 + 45] == pytest.approx(LR / 2)  # cosine half way through the first cycle's decay


def test_warm_restarts_min_lr_floor_and_ground():
    args = ["T_0=100", "warmup_steps=10", "cycle_warmup=10", "min_lr=1e-5"]
    c = curve("cosine_annealing_warmup_restarts", 300, lr_scheduler_args=args)
    assert c[0] == pytest.approx(1e-5) and c[99] > 1e-5 and c[99] == pytest.approx(1e-5, rel=0.01)
    assert c[100] == pytest.approx(1e-5)  # restart warms up from the floor
    g = curve("cosine_annealing_warmup_restarts", 300, lr_scheduler_args=args + ["init_lr_ground=True"])
    assert g[0] == 0.0 and g[100] == 0.0 and g[50] == pytest.approx(c[50])
    assert min(g) >= 0


def test_warm_restarts_gamma_lowers_the_curve_and_decay_zero_spares_peaks():
    base = ["T_0=100", "warmup_steps=0", "min_lr_ratio=0.2"]
    fast = curve("cosine_annealing_warmup_restarts", 300, lr_scheduler_args=base + ["gamma_min_lr=0.99"])
    slow = curve("cosine_annealing_warmup_restarts", 300, lr_scheduler_args=base + ["gamma_min_lr=0.999"])
    assert all(f <= s for f, s in zip(fast, slow)) and fast[250] < slow[250]
    spared = curve("cosine_annealing_warmup_restarts", 300,
                   lr_scheduler_args=base + ["gamma_min_lr=0.99", "decay=0"])
    assert spared[100] == pytest.approx(LR) and spared[200] == pytest.approx(LR)
    assert spared[99] < 0.2 * LR * 0.99**90  # the floor still decays


def test_warm_restarts_defaults_and_type_alias():
    # T_0 defaults to num_training_steps / lr_scheduler_num_cycles, warmup to lr_warmup_steps
    c = curve("cosine_annealing_warmup_restarts", 400, lr_warmup_steps=20, lr_scheduler_num_cycles=4)
    assert [i for i in range(1, 400) if c[i] < c[i - 1] * 0.5 and c[i] == 0.0] == [100, 200, 300]
    assert c[20] == pytest.approx(LR) and c[120] == pytest.approx(LR)
    via_type = curve("constant", 2196,
                     lr_scheduler_type="cosine_annealing_warmup.CosineAnnealingWarmupRestarts",
                     lr_scheduler_args=GUIDE_ARGS)
    assert via_type == curve("cosine_annealing_warmup_restarts", 2196, lr_scheduler_args=GUIDE_ARGS)
    alias = curve("cosine_annealing_warmup_restarts", 300,
                  lr_scheduler_args=["first_cycle_steps=100", "gamma=0.5"])
    assert alias[100] == pytest.approx(LR / 2)


@pytest.mark.parametrize("args,word", [
    (["T_0=0"], "T_0"), (["T_0=100", "warmup_steps=100"], "warmup_steps"), (["T_0=100", "cycle_warmup=-1"],
                                                                              "cycle_warmup"),
    (["T_0=100", "gamma_min_lr=1.5"], "gamma_min_lr"), (["T_0=100", "down_factor=0"], "down_factor"),
    (["T_0=100", "cycle_mult=2"], "cycle_mult"), (["T_0=100", "init_lr_ground=yes"], "init_lr_ground"),
    (["T_0=10.5"], "T_0"),
])
def test_warm_restarts_bad_args(args, word):
    with pytest.raises(ConfigError, match=word):
        curve("cosine_annealing_warmup_restarts", 300, lr_scheduler_args=args)


def test_class_is_a_torch_scheduler():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = CosineAnnealingWarmupRestarts(opt, T_0=10, warmup_steps=2)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler) and opt.param_groups[0]["lr"] == 0.0


def test_lr_curve_is_fast():
    lr_curve("cosine", 10, LR)  # warm up imports
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        rows = lr_curve("cosine_annealing_warmup_restarts", 10_000, LR, lr_scheduler_args=GUIDE_ARGS)
        best = min(best, time.perf_counter() - t)
    assert len(rows) == 10_000
    assert best < 0.2  # ~10 ms on a laptop CPU; generous for loaded CI machines
