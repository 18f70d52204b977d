"""The demo a newcomer can run without downloading anything: a tiny random-weight SD 1.x-shaped model,
made on first use, trained on the small generated dataset in examples/. `main.py demo` is
trainer.cli.train.main_demo; this module imports nothing of the command line (no import cycle)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository (or the bundle) root
DEMO_CONFIG = ROOT / "examples" / "demo.toml"
DEMO_MODEL = ROOT / "examples" / "demo_model" / "tiny-sd1.safetensors"


def ensure_demo_model(path: str | Path) -> bool:
    """Create the demo model when `path` names it and it is missing. True when `path` is the demo model."""
    p = Path(path)
    if p.resolve() != DEMO_MODEL.resolve():
        return False
    if not p.exists():
        from trainer.models.tiny import make_tiny_checkpoint

        p.parent.mkdir(parents=True, exist_ok=True)
        make_tiny_checkpoint(p, family="sd1", seed=0)
    return True
