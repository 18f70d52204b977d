"""Which images are held out for the validation loss (torch-free): per concept folder, never shared with
training, seeded, restored from a saved state."""
from pathlib import Path
from types import SimpleNamespace

from trainer.config.fields import TrainConfig
from trainer.config.validate import validate
from trainer.validation.split import held_out_paths, save_split, split_items


def _items(counts: dict) -> list:
    out = []
    for folder, n in counts.items():
        concept = SimpleNamespace(folder_name=folder)
        out += [SimpleNamespace(entry=SimpleNamespace(path=Path(f"/d/{folder}/img{i}.png"), concept=concept))
                for i in range(n)]
    return out


def test_each_concept_is_split_on_its_own_and_keeps_training_images():
    items = _items({"10_a": 10, "3_b": 3, "1_c": 1})
    out = held_out_paths(items, 0.2, seed=1)
    per = {f: sum(1 for p in out if f"/{f}/" in p) for f in ("10_a", "3_b", "1_c")}
    assert per == {"10_a": 2, "3_b": 1, "1_c": 0}  # a one-image concept keeps its image for training
    assert held_out_paths(items, 0.2, seed=1) == out
    assert any(held_out_paths(items, 0.2, seed=s) != out for s in range(2, 6))
    assert len(held_out_paths(items, 0.99, seed=1)) == 9 + 2  # every concept keeps one training image


def test_split_items_removes_the_held_out_images_and_their_repeats(tmp_path):
    items = _items({"2_a": 4, "1_b": 2})
    repeats = [2] * 4 + [1] * 2
    cfg = TrainConfig(validation_split=0.25, seed=3)
    train, train_repeats, held = split_items(items, repeats, cfg, seed=3)
    assert len(held) == 2 and len(train) == 4 and len(train_repeats) == 4
    assert not {id(i) for i in held} & {id(i) for i in train}
    assert [i for i in items if i in held] == held
    other = split_items(items, repeats, cfg.replace(validation_seed=99), seed=3)[2]
    # a saved state names the held-out images: a resumed run uses them, whatever the seeds say now
    save_split(tmp_path, [str(i.entry.path) for i in other])
    resumed = split_items(items, repeats, cfg.replace(resume=str(tmp_path), seed=5), seed=5)[2]
    assert [str(i.entry.path) for i in resumed] == [str(i.entry.path) for i in other]
    assert split_items(items, repeats, TrainConfig(), seed=3) == (items, repeats, [])


def test_validate_checks_the_split_settings():
    issues = {i.field: i for i in validate(TrainConfig(validation_split=1.0), need_paths=False)}
    assert issues["validation_split"].error
    issues = {i.field: i for i in validate(TrainConfig(validate_every_n_steps=10), need_paths=False)}
    assert not issues["validate_every_n_steps"].error and "validation_split" in issues["validate_every_n_steps"].message


def test_metadata_records_the_validation_settings_as_sd_scripts_does():
    from types import SimpleNamespace as NS

    from trainer.network.metadata import run_metadata

    cfg = TrainConfig(validation_split=0.1, validate_every_n_steps=50, output_name="x")
    plan = NS(buckets={(64, 64): 3}, samples_per_epoch=3, epochs=1, total_steps=3)
    scan = NS(concepts=[], images=[])
    md = run_metadata(cfg, plan, NS(model_version="sd_v1"), scan, NS(mean_ar_error=0.0),
                      NS(batches_per_epoch=3, items=[], repeats=[], cfg=cfg), 1, 1, "AdamW", 1)
    assert (md["ss_validation_split"], md["ss_validate_every_n_steps"], md["ss_validation_seed"]) == \
        ("0.1", "50", "None")
