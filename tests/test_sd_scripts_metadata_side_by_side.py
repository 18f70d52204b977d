"""Our LoRA metadata against a file sd-scripts wrote (tests/data/sd_scripts_48d368f_lora_metadata.json): the
same TOML and dataset, trained one step on the tiny model under the same file name, gives every key sd-scripts
wrote with the same value, except the keys that differ between any two runs (dates, session, hashes) and the
program's own identity; and each kind of tensor has the dtype it has in sd-scripts' file (int64 alphas)."""
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_training

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = json.loads((ROOT / "tests" / "data" / "sd_scripts_48d368f_lora_metadata.json").read_text("utf-8"))
PER_RUN = {"modelspec.date", "ss_session_id", "ss_training_started_at", "ss_training_finished_at",
           "ss_sd_model_hash", "ss_new_sd_model_hash", "sshs_model_hash", "sshs_legacy_hash"}
IDENTITY = {"modelspec.implementation_version", "ss_sd_scripts_commit_hash"}  # ours: lora-desk/..., no commit
OURS_ONLY = {"ss_lora_desk_version", "ss_full_bf16", "ss_masked_loss", "ss_v_parameterization"}


def _tensor_dtypes(path) -> dict:
    """"<suffix> (3x3 conv | linear / 1x1 conv)" -> the safetensors dtype name all such tensors share."""
    from safetensors import safe_open

    kinds: dict = {}
    with safe_open(str(path), "pt") as f:
        for k in f.keys():
            mod, _, suffix = k.partition(".")
            down = f.get_slice(mod + ".lora_down.weight").get_shape()
            conv3 = len(down) == 4 and list(down[2:]) == [3, 3]
            kinds.setdefault(f"{suffix} ({'3x3 conv' if conv3 else 'linear / 1x1 conv'})", set()).add(
                f.get_slice(k).get_dtype())
    assert all(len(v) == 1 for v in kinds.values()), kinds
    return {k: v.pop() for k, v in kinds.items()}


def test_metadata_equals_what_sd_scripts_wrote(tiny_ckpt, tmp_path):
    from trainer.config.files import from_dict, read_toml
    from trainer.network.lora_file import read_metadata

    model = tmp_path / "sd15-random.safetensors"  # the name sd-scripts' file records
    shutil.copyfile(tiny_ckpt(), model)
    toml = tmp_path / "run.toml"
    toml.write_text(FIXTURE["toml"], encoding="utf-8")
    cfg = from_dict({**read_toml(toml), "pretrained_model_name_or_path": str(model),
                     "train_data_dir": str(ROOT / "examples" / "demo_dataset"),
                     "output_dir": str(tmp_path / "out")})
    path, _ = run_training(cfg)
    assert _tensor_dtypes(path) == FIXTURE["tensor_dtypes"]
    ours, theirs = read_metadata(path), FIXTURE["metadata"]
    assert set(theirs) - set(ours) == {"ss_sd_scripts_commit_hash"}
    assert set(ours) - set(theirs) == OURS_ONLY
    for key in sorted(set(theirs) - PER_RUN - IDENTITY):
        a, b = theirs[key], ours[key]
        if a.startswith("{"):  # JSON objects: their key order is the folder listing's
            a, b = json.loads(a), json.loads(b)
            if key == "ss_bucket_info":  # numpy's mean and ours differ in the last bit
                assert b.pop("mean_img_ar_error") == pytest.approx(a.pop("mean_img_ar_error"), rel=1e-12)
        assert a == b, key
