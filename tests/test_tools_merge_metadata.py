"""Merge writes metadata that describes the merged file, as sd-scripts' merge scripts do (issue 14): the
minimum ss_* keys with the new rank, modelspec with the inputs' titles in merged_from; nothing of the first
file's training run (ss_epoch, its network_args). Resize keeps the modelspec of its input."""
import json

from safetensors import safe_open
from tools_fixtures import make_lora, one_torch_thread, tools_files  # noqa: F401

from trainer.network.lora_file import load_lora
from trainer.tools.merge import merge_into_checkpoint, merge_loras


def test_lora_merge_to_a_new_rank_describes_the_merged_file(tools_files, tmp_path):
    stale = {"ss_epoch": "7", "ss_steps": "700", "ss_network_args": json.dumps({"conv_dim": "4"}),
             "ss_tag_frequency": "{}", "modelspec.title": "First LoRA", "modelspec.date": "2020-01-01T00:00:00",
             "modelspec.architecture": "stable-diffusion-v1/lora", "ss_v2": "False"}
    first = make_lora(tmp_path / "first.safetensors", "sd1", seed=5, dim=8, alpha=4.0, metadata=stale)
    r = merge_loras([first, tools_files["lora_b"]], [1.0, 0.5], tmp_path / "both.safetensors", new_rank=2)
    _, md = load_lora(r.path)
    assert not {"ss_epoch", "ss_steps", "ss_tag_frequency", "ss_network_args"} & set(md)  # all linear: no conv
    assert (md["ss_network_dim"], md["ss_network_alpha"], md["ss_network_module"]) == ("2", "2", "networks.lora")
    assert md["ss_base_model_version"] == "sd_v1" and md["ss_v2"] == "False"
    assert md["modelspec.title"] == "both"
    assert md["modelspec.merged_from"] == "First LoRA, lora-b"
    assert md["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert md["modelspec.date"] != "2020-01-01T00:00:00"


def test_locon_merge_names_its_conv_rank(tools_files, tmp_path):
    r = merge_loras([tools_files["locon"], tools_files["lora"]], [1.0, 1.0], tmp_path / "c.safetensors")
    _, md = load_lora(r.path)
    args = json.loads(md["ss_network_args"])
    assert args == {"conv_dim": "4", "conv_alpha": "4"} and md["ss_network_dim"] == "Dynamic"


def test_checkpoint_merge_writes_checkpoint_modelspec(tools_files, tmp_path):
    out = tmp_path / "model-plus.safetensors"
    merge_into_checkpoint(tools_files["base"], [tools_files["lora"]], [0.5], out)
    with safe_open(str(out), "pt") as f:
        md = f.metadata()
    assert md["modelspec.architecture"] == "stable-diffusion-v1"
    assert md["modelspec.implementation"] == "https://github.com/Stability-AI/generative-models"
    assert md["modelspec.title"] == "model-plus"
    assert md["modelspec.merged_from"].endswith(", lora-a")
