"""base_weights: LoRA files merged into the base model before training (sd-scripts' train_network.py)."""
import pytest
import torch
from tools_fixtures import make_lora, one_torch_thread  # noqa: F401

from trainer.run.base_weights import merge_base_weights, module_targets
from trainer.errors import ConfigError
from trainer.models.loader import load_base_model
from trainer.network.lora_file import load_lora
from trainer.tools.lora_modules import lora_delta, parse_modules


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_every_module_lands_on_its_layer_at_its_multiplier(tiny_ckpt, tmp_path, family):
    lora = make_lora(tmp_path / "style.safetensors", family, seed=3, dim=4, alpha=2.0,
                     args=["conv_dim=2", "conv_alpha=1"])
    base = load_base_model(tiny_ckpt(family))
    targets = module_targets(base)
    before = {n: t.weight.detach().clone() for n, t in targets.items()}
    logs = []
    merge_base_weights(base, [str(lora), str(lora)], ["0.5"], logs.append)  # second file at 1.0
    sd, _ = load_lora(lora)
    if family == "sdxl":
        from trainer.models.lora_names import SdxlRenamer
        from trainer.network.naming import rename_modules

        sd = rename_modules(sd, SdxlRenamer(base.unet, to_original=False))
    mods = parse_modules(sd)
    assert len(logs) == 2 and "at 0.5" in logs[0].message
    for name, m in mods.items():
        w = targets[name].weight
        assert torch.allclose(w - before[name], 1.5 * lora_delta(m).reshape(w.shape), atol=1e-6), name
    untouched = [n for n in targets if n not in mods]
    assert untouched and all(torch.equal(targets[n].weight, before[n]) for n in untouched)


def test_a_file_for_another_model_is_named(tiny_ckpt, tmp_path):
    lora = make_lora(tmp_path / "xl.safetensors", "sdxl", seed=1, dim=2, alpha=1.0)
    with pytest.raises(ConfigError, match="xl.safetensors does not fit this SD1 model"):
        merge_base_weights(load_base_model(tiny_ckpt("sd1")), [str(lora)], [], lambda e: None)
