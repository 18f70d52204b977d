"""The step size adaptive optimizers really take (d*lr per group) on the tiny model: in the Step events, in
TensorBoard under sd-scripts' tag, equal to the optimizer's own state, and the closing figure."""
import pytest
from conftest import quick_config

from trainer import events as ev
from trainer.run.trainer import Trainer


def test_prodigy_d_times_lr_is_the_optimizer_state(tiny_ckpt, dataset, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "out", optimizer_type="Prodigy", learning_rate=1.0,
                       lr_scheduler="linear", logging_dir=str(tmp_path / "logs"))
    events, states = [], []

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.Step):  # the optimizer as it is when the step is reported
            states.append({g["name"]: g["d"] * g["lr"] for g in trainer.watch.opt.param_groups})

    trainer = Trainer(cfg, on_event)
    trainer.run()
    steps = [e for e in events if isinstance(e, ev.Step)]
    assert len(steps) == 3 and [e.dlrs for e in steps] == states
    assert set(steps[0].dlrs) == {"unet", "textencoder"}
    assert steps[0].dlrs["unet"] != steps[-1].dlrs["unet"]  # d adapts (and the linear schedule lowers lr)
    assert steps[-1].dlrs["unet"] == pytest.approx(steps[-1].lrs["unet"] * trainer.watch.opt.param_groups[0]["d"])
    last = f"{steps[-1].dlrs['unet']:.3g} (unet)"
    assert any(isinstance(e, ev.Log) and e.message.startswith("Prodigy settled at d*lr = ") and last in e.message
               for e in events)
    (run,) = list((tmp_path / "logs").iterdir())
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert [s.value for s in acc.Scalars("lr/d*lr/unet")] == pytest.approx([e.dlrs["unet"] for e in steps])


def test_other_optimizers_report_no_d():
    from trainer.run.watch import d_times_lr

    class Opt:
        param_groups = [{"lr": 1e-4}]

    assert d_times_lr(Opt(), ["unet"], "AdamW") == {}
    assert d_times_lr(type("P", (), {"param_groups": [{"lr": 0.5, "d": 2e-4}]})(), ["unet"], "DAdaptAdam") == \
        {"unet": pytest.approx(1e-4)}
