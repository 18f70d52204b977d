"""Shared fixtures: tiny real models in the original single-file layout, small generated datasets,
and a quick training config. Nothing is downloaded."""
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """family -> path of a tiny single-file checkpoint (made once per session)."""
    made = {}

    def get(family: str = "sd1") -> Path:
        if family not in made:
            from trainer.imports import ml_imports
            from trainer.models.tiny import make_tiny_checkpoint

            ml_imports()  # a page under test may be importing the same libraries in a pool thread

            path = tmp_path_factory.mktemp("models") / f"tiny-{family}.safetensors"
            made[family] = make_tiny_checkpoint(path, family=family, seed=0)
        return made[family]

    return get


def make_dataset(root: Path, concepts=None, size=(64, 64)) -> Path:
    """concept folder name -> number of images; each image a coloured shape with a booru caption."""
    from PIL import Image, ImageDraw

    concepts = concepts or {"2_redcircle": 3, "1_bluesquare": 2}
    for c, (folder, n) in enumerate(concepts.items()):
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            im = Image.new("RGB", size, (200 + 10 * i, 220, 230))
            draw = ImageDraw.Draw(im)
            box = [8 + 4 * i, 8, 40 + 4 * i, 40]
            (draw.ellipse if c % 2 == 0 else draw.rectangle)(box, fill=(200, 30, 30) if c % 2 == 0 else (30, 30, 200))
            im.save(d / f"img{i}.png")
            (d / f"img{i}.txt").write_text(f"{folder.split('_', 1)[1]}, simple background, tag{i}\n",
                                           encoding="utf-8")
    return root


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "data")


def quick_config(model: Path, data: Path, out: Path, **kw):
    from trainer.config.fields import TrainConfig

    base = dict(pretrained_model_name_or_path=str(model), train_data_dir=str(data), output_dir=str(out),
                output_name="lora", resolution="64,64", train_batch_size=2, max_train_steps=3, seed=1,
                max_data_loader_n_workers=0, network_dim=4, network_alpha=2.0, learning_rate=1e-3,
                optimizer_type="AdamW")
    base.update(kw)
    return TrainConfig(**base)


def train_data(cfg):
    """cfg's images as the trainer holds them: each [[datasets]] bucketed at its own settings, regularization
    images balanced per dataset (trainer.run.trainer's _scan and _prepare_data, without a model)."""
    from trainer.dataset.config_file import dataset_configs, effective_config
    from trainer.dataset.groups import bucket_groups, split_groups
    from trainer.dataset.sources import scan_sources
    from trainer.run.data import TrainData, build_group_items

    groups = split_groups(scan_sources(effective_config(cfg)), dataset_configs(cfg))
    bucket_groups(groups)
    items, repeats = build_group_items(groups)
    sizes = {g.index: g.batch_size for g in groups}
    return TrainData(items, repeats, effective_config(cfg), 1, batch_sizes=sizes)


def run_training(cfg, stop=None):
    """Train and return (final path, events)."""
    from trainer.run.trainer import Trainer

    events = []
    path = Trainer(cfg, events.append, stop).run()
    return path, events
