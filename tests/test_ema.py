"""EMA of the network weights: OneTrainer's update rule by hand, the -ema file after a tiny-model run, the
ema_only choice, and resume restoring the average."""
import pytest
import torch
from conftest import quick_config, run_training
from safetensors.torch import load_file

from trainer import events as ev
from trainer.run.ema import WeightEMA, ema_path
from trainer.run.trainer import Trainer


def test_update_rule_with_warm_up_decay_and_interval():
    p = torch.nn.Parameter(torch.zeros(3))
    ema = WeightEMA([p], decay=0.9, interval=2, device="cpu")
    expected = torch.zeros(3)
    for step in range(1, 41):
        with torch.no_grad():
            p.fill_(float(step))
        ema.update(step)
        if step % 2 == 0:
            d = min(step / (step + 9), 0.9)
            expected = d * expected + (1 - d) * float(step)
    assert torch.allclose(ema.shadow[0], expected)
    assert ema.current_decay(1) == pytest.approx(0.1) and ema.current_decay(1000) == 0.9
    with ema.swapped_in():
        assert torch.equal(p.detach(), ema.shadow[0])
    assert torch.equal(p.detach(), torch.full((3,), 40.0))  # the trained weights are back


def test_one_update_of_many_tensors_is_the_formula_for_each_in_one_launch():
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape, generator=g)) for shape in ((4, 3), (7,), (2, 2, 3, 3))]
    params.append(torch.nn.Parameter(torch.randn(5, generator=g).to(torch.bfloat16)))  # the EMA keeps fp32
    ema = WeightEMA(iter(params), decay=0.95, interval=3, device="cpu")
    expected = [p.detach().float().clone() for p in params]
    for step in range(1, 31):
        with torch.no_grad():
            for p in params:
                p.add_(torch.randn(p.shape, generator=g).to(p.dtype))
        ema.update(step)
        if step % 3 == 0:
            d = min(step / (step + 9), 0.95)
            expected = [e + (1 - d) * (p.detach().float() - e) for e, p in zip(expected, params)]
    for s, e in zip(ema.shadow, expected, strict=True):
        assert s.dtype == torch.float32
        torch.testing.assert_close(s, e)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        ema.update(33)
    # the arithmetic is one call (on the CPU it loops inside; on CUDA it is one kernel launch)
    maths = [e.name for e in prof.events()
             if e.cpu_parent is None and e.name not in ("aten::detach", "aten::to")]
    assert maths == ["aten::_foreach_lerp_"]


def _weights(network) -> dict:
    return {k: v.detach().clone().float() for k, v in network.state_dict().items()}


@pytest.mark.slow
def test_ema_file_follows_the_formula_and_resume_restores_it(tiny_ckpt, dataset, tmp_path):
    start, _ = run_training(quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "start", max_train_steps=1))
    w0 = {k: v.float() for k, v in load_file(start).items()}
    cfg = quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "out", network_weights=start, max_train_steps=4,
                       ema="cpu", ema_decay=0.5, ema_update_step_interval=2, save_every_n_steps=2, save_state=True)
    seen, events = {}, []

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.Step):
            seen[e.step] = _weights(trainer.watch.network)

    trainer = Trainer(cfg, on_event)
    final = trainer.run()
    ema_file = load_file(ema_path(tmp_path / "out" / "lora.safetensors"))
    raw = load_file(final)
    d2, d4 = min(2 / 11, 0.5), min(4 / 13, 0.5)
    for key in ("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight",
                "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"):
        at2 = d2 * w0[key] + (1 - d2) * seen[2][key]
        at4 = d4 * at2 + (1 - d4) * seen[4][key]
        assert torch.allclose(ema_file[key].float(), at4, atol=1e-6), key
        assert torch.equal(raw[key].float(), seen[4][key])
    assert ema_path(tmp_path / "out" / "lora-step00000002.safetensors").is_file()
    assert (tmp_path / "out" / "lora-step00000002-state" / "ema.safetensors").is_file()

    # resume: the average continues from the saved one (step 3 makes no update with interval 2)
    shadow_at2 = load_file(tmp_path / "out" / "lora-step00000002-state" / "ema.safetensors")
    resumed_shadow = {}

    def on_resumed(e):
        if isinstance(e, ev.Step) and e.step == 3:
            resumed_shadow.update({str(i): s.clone() for i, s in enumerate(again.watch.ema.shadow)})

    again = Trainer(cfg.replace(resume=str(tmp_path / "out" / "lora-step00000002-state"), output_name="resumed",
                                ema_save="ema_only", save_every_n_steps=None), on_resumed)
    path = again.run()
    assert resumed_shadow.keys() == shadow_at2.keys()
    assert all(torch.equal(resumed_shadow[k], shadow_at2[k]) for k in shadow_at2)
    assert not ema_path(tmp_path / "out" / "resumed.safetensors").exists()  # ema_only: one file, the EMA
    only = load_file(path)
    assert not torch.equal(only["lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight"],
                           raw["lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight"])
