"""The plain LoRA forward (trainer/network/lean.py) computes what lycoris' own forward computes."""
import torch

from conftest import quick_config


def test_lean_forward_matches_lycoris_forward(tiny_ckpt, tmp_path):
    from trainer.models.loader import load_base_model
    from trainer.network.build import build_network

    base = load_base_model(tiny_ckpt("sd1"))
    cfg = quick_config(tiny_ckpt("sd1"), tmp_path, tmp_path / "out", network_dim=4, network_alpha=2.0,
                       network_module="lycoris.kohya", network_args=["algo=locon", "conv_dim=4", "conv_alpha=1"])
    net = build_network(cfg, base.unet, base.text_encoders)
    lean = [m for m in net.net.loras if hasattr(m, "_lycoris_forward")]
    assert {m.isconv for m in lean} == {True, False}  # linear and conv layers both take the plain path
    torch.manual_seed(0)
    net.set_multiplier(0.7)
    for m in lean:
        with torch.no_grad():
            m.lora_up.weight.normal_()
        w = m.org_module[0].weight
        x = torch.randn(2, w.shape[1], 8, 8) if m.isconv else torch.randn(2, 5, w.shape[1])
        assert m.org_module[0].forward == m.forward
        torch.testing.assert_close(m.forward(x), m._lycoris_forward(x), rtol=1e-5, atol=1e-5)
