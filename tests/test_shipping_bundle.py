"""The built bundle (slow): start, screenshot and demo training from dist/LoRADesk, through bench/bundle.py.

Build it first (minutes): ``packaging/build.sh``; then ``pytest -m slow tests/test_shipping_bundle.py``.
Skipped when dist/LoRADesk does not exist (building inside a test run would take ~10 minutes and ~2 GB)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / "dist" / "LoRADesk" / ("LoRADesk.exe" if sys.platform == "win32" else "LoRADesk")


@pytest.mark.slow
@pytest.mark.skipif(not EXE.exists(), reason="no bundle: build it with packaging/build.sh")
def test_bundle_starts_screenshots_and_trains_the_demo():
    r = subprocess.run([sys.executable, "bench/bundle.py", "--skip-build", "--runs", "1", "--epochs", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "screenshot" in r.stdout and "FAILED" not in r.stdout
    assert "made on first use" in r.stdout
