"""LoRA files for the tools tests, made without training: build the network on a tiny model with our own
builder, give every weight a random value (lora_up starts at zero), save with sd-scripts' names."""
from __future__ import annotations

from pathlib import Path

import torch


def tiny_config(module="networks.lora", dim=8, alpha=4.0, args=()):
    from trainer.config.fields import TrainConfig

    return TrainConfig(pretrained_model_name_or_path="x", train_data_dir="x", output_dir="x",
                       network_module=module, network_dim=dim, network_alpha=alpha, network_args=list(args))


def make_lora(path: Path, family="sd1", *, seed=0, module="networks.lora", dim=8, alpha=4.0, args=(), std=0.05,
              metadata=None, train_te=True) -> Path:
    """A LoRA for the tiny ``family`` model with random weights; returns its path."""
    from trainer.models.loader import model_version_string
    from trainer.models.tiny import make_tiny_models
    from trainer.network.build import build_network
    from trainer.network.lora_file import save_lora

    unet, vae, tes = make_tiny_models(family)  # fresh models: the network hooks into them

    cfg = tiny_config(module, dim, alpha, args)
    if not train_te:
        cfg.network_train_unet_only = True
    net = build_network(cfg, unet, tes)
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in net.state_dict().items():
        if k.endswith(".alpha") or not v.is_floating_point():
            sd[k] = v.clone()
        else:
            sd[k] = torch.randn(v.shape, generator=g) * std
    if family == "sdxl":
        from trainer.models.diffusers_to_ldm import to_ldm_state_dict
        from trainer.models.family import detect
        from trainer.tools.targets import target_map

        ldm = {k: tuple(v.shape) for k, v in to_ldm_state_dict("sdxl", unet, vae, tes).items()}
        tm = target_map(ldm, detect(ldm))
        by_key = {}
        for name, t in tm.items():
            if name.startswith("lora_unet_") and t.native:
                by_key[t.key] = name
        renamed = {}
        for k, v in sd.items():
            mod, _, rest = k.partition(".")
            if mod.startswith("lora_unet_"):
                alias = tm[mod]
                mod = by_key[alias.key]
            renamed[f"{mod}.{rest}"] = v
        sd = renamed
    md = {"ss_network_module": module, "ss_network_dim": str(dim), "ss_network_alpha": str(alpha),
          "ss_base_model_version": model_version_string(family, False)}
    md.update(metadata or {})
    save_lora(path, sd, md, "fp32")
    return path


# ------------------------------------------------------------------------------------------- pytest fixtures
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run much faster on one thread (no spinning worker threads on a shared CPU)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tools_files(tmp_path_factory, tiny_ckpt):
    """name -> path: the tiny SD 1.x checkpoint and LoRA files made for it (once per session)."""
    d = tmp_path_factory.mktemp("tools")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    files = {
        "base": tiny_ckpt("sd1"),
        "lora": make_lora(d / "lora-a.safetensors", "sd1", seed=1, dim=8, alpha=4.0),
        "lora_b": make_lora(d / "lora-b.safetensors", "sd1", seed=2, dim=4, alpha=1.0),
        "locon": make_lora(d / "locon.safetensors", "sd1", seed=3, dim=8, alpha=2.0,
                           args=["conv_dim=4", "conv_alpha=2"]),
    }
    torch.set_num_threads(n)
    return files
