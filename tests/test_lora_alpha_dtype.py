"""The `.alpha` tensors and ss_network_alpha as sd-scripts writes them, and every reader of int64 alphas.

sd-scripts (networks/lora.py) registers `torch.tensor(alpha)`: a TOML int (and the default 1) stays an int
(int64), a float or a command-line value (argparse type=float) is float32, conv_alpha is always a float, and
save_precision converts every tensor, alphas included. LyCORIS' LoCon/LoHa/LoKr store alpha * (dim / dim)
(float32); its DyLoRA keeps the type like sd-scripts' networks.dylora."""
from __future__ import annotations

import pytest
import torch

from tests.conftest import quick_config, run_training
from tests.tools_fixtures import make_lora, one_torch_thread, tiny_config  # noqa: F401
from trainer.config.fields import TrainConfig
from trainer.config.files import from_dict


def _alphas(module="networks.lora", alpha=4, args=()):
    """(linear/1x1 alpha tensors, 3x3 conv alpha tensors) of a network built on the tiny SD 1.x model."""
    from trainer.models.tiny import make_tiny_models
    from trainer.network.build import build_network

    unet, _, tes = make_tiny_models("sd1")
    net = build_network(tiny_config(module, 8, alpha, args), unet, tes)
    lin, conv = [], []
    for m in net.net.loras:
        org = m.org_module[0]
        is3 = isinstance(org, torch.nn.Conv2d) and org.kernel_size != (1, 1)
        (conv if is3 else lin).append(m.alpha)
    return lin, conv


def test_config_keeps_a_toml_int_and_reads_command_line_text_as_float():
    assert TrainConfig().network_alpha == 1 and isinstance(TrainConfig().network_alpha, int)
    assert isinstance(from_dict({"network_alpha": 4}).network_alpha, int)
    assert isinstance(from_dict({"network_alpha": 4.0}).network_alpha, float)
    from trainer.config.files import coerce

    assert coerce("network_alpha", "4", from_text=True) == 4.0
    assert isinstance(coerce("network_alpha", "4", from_text=True), float)  # argparse type=float


def test_networks_lora_alpha_dtypes_follow_sd_scripts():
    lin, conv = _alphas(alpha=4, args=["conv_dim=4", "conv_alpha=2"])
    assert lin and conv
    assert all(a.dtype == torch.int64 and int(a) == 4 for a in lin)
    assert all(a.dtype == torch.float32 and float(a) == 2.0 for a in conv)  # float(conv_alpha)
    lin, _ = _alphas(alpha=4.0)
    assert all(a.dtype == torch.float32 and float(a) == 4.0 for a in lin)
    lin, conv = _alphas(alpha=0, args=["conv_dim=4", "conv_alpha=0"])  # 0 means the rank (an int)
    assert all(a.dtype == torch.int64 and int(a) == 8 for a in lin)
    assert all(a.dtype == torch.int64 and int(a) == 4 for a in conv)


def test_lycoris_and_dylora_alpha_dtypes_follow_their_modules():
    lin, conv = _alphas("lycoris.kohya", alpha=4, args=["algo=locon", "conv_dim=4", "conv_alpha=2"])
    assert all(a.dtype == torch.float32 for a in lin + conv)  # LoCon: alpha * (dim / dim)
    _, conv = _alphas("lycoris.kohya", alpha=4, args=["algo=locon", "conv_dim=4"])
    assert conv and all(float(a) == 4.0 for a in conv)  # lycoris' create_network: conv_alpha = network_alpha
    lin, _ = _alphas("networks.dylora", alpha=4, args=["unit=4"])
    assert all(a.dtype == torch.int64 and int(a) == 4 for a in lin)  # torch.tensor(alpha), as sd-scripts



def test_an_int_alpha_keeps_its_value_through_full_bf16():
    """full_bf16/full_fp16 cast the network's float buffers; an int alpha is an int64 buffer, so 257 stays 257
    (as a float32 buffer it would come back from bf16 as 256)."""
    from trainer.models.tiny import make_tiny_models
    from trainer.network.build import build_network

    unet, _, tes = make_tiny_models("sd1")
    net = build_network(tiny_config("networks.lora", 8, 257), unet, tes).to("cpu", dtype=torch.bfloat16)
    alphas = [v for k, v in net.state_dict().items() if k.endswith(".alpha")]
    assert alphas and all(a.dtype == torch.int64 and int(a) == 257 for a in alphas)

@pytest.mark.parametrize("alpha,precision,dtype,text", [
    (4, None, torch.int64, "4"),
    (4, "fp16", torch.float16, "4"),     # save_precision converts every tensor, the int alpha too
    (4.0, None, torch.float32, "4.0"),
])
def test_trained_file_alpha_and_metadata(tiny_ckpt, dataset, tmp_path, alpha, precision, dtype, text):
    from trainer.network.lora_file import read_lora

    cfg = quick_config(tiny_ckpt(), dataset, tmp_path / "out", network_alpha=alpha, save_precision=precision,
                       max_train_steps=1)
    path, _ = run_training(cfg)
    sd, md = read_lora(path)
    alphas = [v for k, v in sd.items() if k.endswith(".alpha")]
    assert alphas and all(a.dtype == dtype and float(a) == 4.0 for a in alphas)
    assert md["ss_network_alpha"] == text


def test_every_reader_takes_int64_alphas(tiny_ckpt, dataset, tmp_path):
    """check, resize, merge, network_weights and diffusers read a file whose alphas are int64."""
    from safetensors.torch import load_file

    from trainer.tools.check import check_lora
    from trainer.tools.merge import merge_loras
    from trainer.tools.resize import resize_lora

    src = make_lora(tmp_path / "int.safetensors", alpha=4, args=["conv_dim=4", "conv_alpha=2"])
    assert load_file(str(src))["lora_unet_mid_block_attentions_0_proj_in.alpha"].dtype == torch.int64
    assert check_lora(src, sd_model=tiny_ckpt()).healthy
    resized = load_file(str(resize_lora(src, tmp_path / "r.safetensors", 4).path))
    assert float(resized["lora_unet_mid_block_attentions_0_proj_in.alpha"]) == pytest.approx(2.0)
    merge_loras([src, src], [0.5, 0.5], tmp_path / "m.safetensors")
    merged = load_file(str(tmp_path / "m.safetensors"))
    a = merged["lora_unet_mid_block_attentions_0_proj_in.alpha"]
    assert a.dtype == torch.int64 and int(a) == 16  # alpha = rank, as svd_merge_lora.py writes it
    cfg = quick_config(tiny_ckpt(), dataset, tmp_path / "out", network_dim=8, network_alpha=4,
                       network_args=["conv_dim=4", "conv_alpha=2"], network_weights=str(src),
                       learning_rate=0.0, max_train_steps=1)
    path, _ = run_training(cfg)
    out = load_file(str(path))
    key = "lora_unet_mid_block_attentions_0_proj_in.lora_down.weight"
    assert torch.equal(out[key], load_file(str(src))[key])  # continued from the file (lr 0)


def test_diffusers_applies_an_int64_alpha_like_the_float_one(tiny_ckpt, tmp_path):
    """What A1111/ComfyUI/diffusers do (alpha.item()): the same weights with alpha 4 (int64) and 4.0 act alike
    (diffusers' int path rounds differently in the last float32 bit)."""
    from tests.diffusers_check import outputs, pipeline_for
    from trainer.models.loader import load_base_model

    _, unet_base = outputs(pipeline_for(load_base_model(tiny_ckpt())))
    results = []
    for alpha in (4, 4.0):
        path = make_lora(tmp_path / f"a{alpha!r}.safetensors", alpha=alpha,
                         args=["conv_dim=4", "conv_alpha=2"])
        pipe = pipeline_for(load_base_model(tiny_ckpt()))
        pipe.load_lora_weights(str(path), adapter_name="a")
        results.append(outputs(pipe))
    (te_int, unet_int), (te_float, unet_float) = results
    assert (unet_float - unet_base).abs().max() > 1e-3  # the LoRA acts
    assert torch.allclose(te_int, te_float, atol=1e-5) and torch.allclose(unet_int, unet_float, atol=1e-5)
