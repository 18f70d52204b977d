"""Shipping: no-GPU banner, version, the start scripts' torch choice, the PyInstaller spec,
the .desktop file.  (The crash handler: test_shipping_crash.py; the bundle build itself: bench/bundle.py and the slow test in test_shipping_bundle.py.)"""
import configparser
import os
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path
from unittest import mock

import pytest

from app_fixtures import app_env  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))

import pick_torch  # noqa: E402


# ---------------------------------------------------------------------------------------------- first run
def _window(qtbot, monkeypatch, gpus, settings=None):
    from app.main_window import MainWindow
    from app.settings import make_settings
    from trainer import gpu_info

    monkeypatch.setattr(gpu_info, "query_gpus", lambda: gpus)
    w = MainWindow(settings or make_settings(), None)
    qtbot.addWidget(w)
    w.show()
    return w


def test_no_gpu_shows_the_cpu_banner(qtbot, app_env, monkeypatch):
    w = _window(qtbot, monkeypatch, None)
    assert w.gpu_banner is not None and w.gpu_banner.isVisible()
    assert "training on the CPU is very slow" in w.gpu_banner.banner.label.text()
    w.gpu_banner.banner.hide_button.click()
    assert not w.gpu_banner.isVisible()
    assert w.settings.value("ui/hide_cpu_banner") is None  # "Hide" is for this session only


def test_banner_dont_show_again_is_remembered(qtbot, app_env, monkeypatch):
    w = _window(qtbot, monkeypatch, None)
    w.gpu_banner.banner.never_button.click()
    assert not w.gpu_banner.isVisible()
    w2 = _window(qtbot, monkeypatch, None, settings=w.settings)
    assert w2.gpu_banner is None


def test_no_banner_with_an_nvidia_gpu(qtbot, app_env, monkeypatch):
    from trainer.gpu_info import GpuMemory

    gpu = GpuMemory(0, "NVIDIA GeForce RTX 3060", 12 * 1024 ** 3, 11 * 1024 ** 3, 1024 ** 3)
    w = _window(qtbot, monkeypatch, [gpu])
    assert w.gpu_banner is None


def test_title_shows_config_and_dataset(qtbot, app_env, monkeypatch):
    from app_fixtures import wait_loaded
    from conftest import make_dataset

    w = _window(qtbot, monkeypatch, [])
    assert w.windowTitle() == "LoRA Desk"
    w.set_config_path(app_env / "my_lora.toml")
    assert w.windowTitle() == "my_lora.toml · LoRA Desk"
    w.open_dataset(make_dataset(app_env / "chars"))
    wait_loaded(qtbot, w.dataset_page)
    assert w.windowTitle() == "my_lora.toml · chars — LoRA Desk"
    w.set_config_path(None)
    assert w.windowTitle() == "chars — LoRA Desk"


def test_window_icon_is_set(qtbot, app_env):
    from PySide6.QtWidgets import QApplication

    from app.launch import _set_icon

    app = QApplication.instance()
    _set_icon(app)
    assert not app.windowIcon().isNull()
    for name in ("lora_desk.svg", "lora_desk.png", "lora_desk_48.png", "lora_desk.ico"):
        assert (ROOT / "resources" / "icons" / name).stat().st_size > 0


# ---------------------------------------------------------------------------------------------- version
def test_version_in_one_place():
    from trainer.network import metadata
    from trainer.version import APP_VERSION

    r = subprocess.run([sys.executable, "main.py", "--version"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"LoRA Desk {APP_VERSION}"
    assert metadata.APP_VERSION is APP_VERSION  # ss_lora_desk_version / modelspec read it
    # pyproject.toml repeats it (a static field); keep the two equal
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == APP_VERSION
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{APP_VERSION}]" in changelog


def test_about_shows_the_version(qtbot, app_env, monkeypatch):
    from trainer.version import APP_VERSION

    w = _window(qtbot, monkeypatch, [])
    assert f"LoRA Desk {APP_VERSION}" in w.about_text()


# ---------------------------------------------------------------------------------------------- torch choice
SMI_RTX = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.86.15              Driver Version: 570.86.15      CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
|   0  NVIDIA GeForce RTX 3060        Off |   00000000:01:00.0  On |                  N/A |
+-----------------------------------------------------------------------------------------+

GPU 0: NVIDIA GeForce RTX 3060 (UUID: GPU-8f0b2c1e-0000-0000-0000-000000000000)
"""


@pytest.mark.parametrize("out,platform,kind,index", [
    (None, "linux", "cpu", "https://download.pytorch.org/whl/cpu"),
    (None, "win32", "cpu", None),  # PyPI's Windows wheel is the CPU build
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "linux", "cpu",
     "https://download.pytorch.org/whl/cpu"),
    ("No devices were found", "win32", "cpu", None),
    (SMI_RTX, "linux", "cu128", "https://download.pytorch.org/whl/cu128"),
    (SMI_RTX, "win32", "cu128", "https://download.pytorch.org/whl/cu128"),
    (SMI_RTX.replace("12.8", "13.1"), "win32", "cu130", "https://download.pytorch.org/whl/cu130"),
    (SMI_RTX.replace("12.8", "12.6"), "linux", "cu126", "https://download.pytorch.org/whl/cu126"),
    (SMI_RTX.replace("12.8", "12.7"), "linux", "cu126", "https://download.pytorch.org/whl/cu126"),
    (SMI_RTX.replace("12.8", "12.2"), "win32", "cpu", None),  # driver too old for any CUDA build
    (SMI_RTX.replace("CUDA Version: 12.8", "CUDA Version: N/A"), "linux", "cpu",
     "https://download.pytorch.org/whl/cpu"),
])
def test_pick_torch(out, platform, kind, index):
    c = pick_torch.pick_torch(out, platform)
    assert (c.kind, c.index_url) == (kind, index)
    assert c.pip_args()[0] == f"torch=={pick_torch.TORCH_VERSION}"
    assert ("--index-url" in c.pip_args()) == (index is not None)
    if out and kind == "cpu" and "N/A" not in out and "failed" not in out and "No devices" not in out:
        assert "update the NVIDIA driver" in c.reason
    if kind.startswith("cu"):
        assert "RTX 3060" in c.reason


def test_pick_torch_version_matches_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"torch=={pick_torch.TORCH_VERSION}" in readme


def test_pick_torch_shell_output_evaluates_in_bash(tmp_path):
    smi = tmp_path / "smi.txt"
    smi.write_text(SMI_RTX)
    script = (f'eval "$({sys.executable} packaging/pick_torch.py --smi-output {smi} --platform linux)"; '
              'echo "$TORCH_KIND|$TORCH_PIP_ARGS|$TORCH_REASON"')
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    kind, args, reason = r.stdout.strip().split("|")
    assert kind == "cu128"
    assert args.split() == pick_torch.pick_torch(SMI_RTX, "linux").pip_args()
    assert "RTX 3060" in reason
    r = subprocess.run([sys.executable, "packaging/pick_torch.py", "--smi-output", str(smi), "--platform",
                        "win32", "--pip-args"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().startswith(f"torch=={pick_torch.TORCH_VERSION} --index-url ")


def test_start_sh_later_runs_start_the_app_directly(tmp_path):
    subprocess.run(["bash", "-n", "start.sh"], cwd=ROOT, check=True)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text("#!/bin/sh\necho \"RAN $*\"\n")
    fake.chmod(0o755)
    (venv / ".lora-desk-ready").write_text("cpu\n")
    env = dict(os.environ, LORA_DESK_VENV=str(venv))
    r = subprocess.run([str(ROOT / "start.sh"), "train", "--config_file", "x.toml"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"RAN {ROOT / 'main.py'} train --config_file x.toml"  # no set-up steps


def test_windows_scripts_have_crlf_and_call_pick_torch():
    for name in ("start.bat", "packaging/build_windows.bat"):
        data = (ROOT / name).read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n"), f"{name} needs CRLF line ends for cmd.exe"
        assert b"pick_torch" in data
    assert b"LoRADesk.exe" in (ROOT / "packaging/build_windows.bat").read_bytes()


# ---------------------------------------------------------------------------------------------- spec, .desktop
def _exec_spec():
    """Run the spec with PyInstaller's build objects replaced by recorders (no build)."""
    calls = {}

    def recorder(name):
        def f(*args, **kwargs):
            calls[name] = (args, kwargs)
            return type(name, (), {"pure": [], "scripts": [], "binaries": [], "datas": [],
                                   "zipped_data": []})()
        return f

    spec = ROOT / "packaging" / "lora_desk.spec"
    ns = {name: recorder(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT")}
    ns.update(SPECPATH=str(spec.parent), SPEC=str(spec), __file__=str(spec), __name__="__main__")
    # PyInstaller's hook helpers: collect_submodules runs an isolated interpreter per package (slow) and
    # PyInstaller need not be installed for this test
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package, **kw: [package + ".submodules"]
    hooks.copy_metadata = lambda dist, **kw: [(f"/site-packages/{dist}.dist-info", f"{dist}.dist-info")]
    fakes = {"PyInstaller": types.ModuleType("PyInstaller"), "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
             "PyInstaller.utils.hooks": hooks}
    saved_path = list(sys.path)
    with mock.patch.dict(sys.modules, fakes):
        exec(compile(spec.read_text(encoding="utf-8"), str(spec), "exec"), ns)
    sys.path[:] = saved_path
    return calls, ns


def test_spec_parses_and_names_what_the_bundle_needs():
    spec = ROOT / "packaging" / "lora_desk.spec"
    compile(spec.read_text(encoding="utf-8"), str(spec), "exec")
    calls, ns = _exec_spec()
    (scripts,), a = calls["Analysis"]
    assert scripts == [str(ROOT / "main.py")]
    dests = {Path(src).relative_to(ROOT).as_posix(): dest for src, dest in a["datas"]
             if Path(src).is_relative_to(ROOT)}
    assert dests["resources"] == "resources"
    assert dests["examples/demo.toml"] == "examples"
    assert not any(k.startswith("tests") or "demo_model" in k or "demo_output" in k for k in dests)
    for sub in ("tokenizers", "presets", "i18n", "icons"):
        assert (ROOT / "resources" / sub).is_dir()
    hidden = set(a["hiddenimports"])
    for mod in ("trainer.cli.train", "trainer.cli.demo", "app.crash", "widgets.common.gpu_banner", "lycoris.kohya",
                "bitsandbytes", "prodigyopt", "dadaptation", "transformers.models.clip.modeling_clip",
                "diffusers.models.unets.unet_2d_condition", "torch.utils.tensorboard"):
        assert mod in hidden, mod
    assert "pytest" in a["excludes"] and "peft" in a["excludes"]
    _, exe = calls["EXE"]
    assert exe["name"] == "LoRADesk" and exe["contents_directory"] == "."
    assert calls["COLLECT"][1]["name"] == "LoRADesk"


def test_spec_hidden_imports_exist_in_the_installed_packages():
    """Every hidden import names a real module of the installed version (a renamed module fails here)."""
    from importlib import metadata

    calls, _ = _exec_spec()
    hidden = calls["Analysis"][1]["hiddenimports"]
    files_of = {}
    dist_of = {"diffusers": "diffusers", "transformers": "transformers", "lycoris": "lycoris-lora",
               "bitsandbytes": "bitsandbytes", "prodigyopt": "prodigyopt", "dadaptation": "dadaptation",
               "tensorboard": "tensorboard", "torch": "torch", "pynvml": "nvidia-ml-py"}
    missing = []
    for mod in hidden:
        if mod.endswith(".submodules"):  # collect_submodules(...) (faked)
            continue
        top = mod.split(".")[0]
        rel = mod.replace(".", "/")
        if top in ("trainer", "app", "widgets"):
            ok = (ROOT / f"{rel}.py").exists() or (ROOT / rel / "__init__.py").exists()
        else:
            if top not in files_of:
                files_of[top] = {str(f).replace("\\", "/") for f in metadata.distribution(dist_of[top]).files}
            ok = f"{rel}.py" in files_of[top] or f"{rel}/__init__.py" in files_of[top]
        if not ok:
            missing.append(mod)
    assert not missing, missing


def test_desktop_file():
    p = configparser.ConfigParser(interpolation=None)
    p.optionxform = str
    p.read(ROOT / "packaging" / "lora-desk.desktop", encoding="utf-8")
    e = p["Desktop Entry"]
    assert e["Type"] == "Application" and e["Name"] == "LoRA Desk" and e["Terminal"] == "false"
    assert e["Exec"].split()[0] and e["Icon"]
    assert re.fullmatch(r"([A-Za-z]+;)+", e["Categories"])


def test_install_desktop_writes_real_paths(tmp_path):
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "share"))
    r = subprocess.run(["bash", str(ROOT / "packaging" / "install_desktop.sh")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    p = configparser.ConfigParser(interpolation=None)
    p.optionxform = str
    p.read(tmp_path / "share" / "applications" / "lora-desk.desktop", encoding="utf-8")
    e = p["Desktop Entry"]
    assert e["Exec"] == f'"{ROOT / "start.sh"}"'  # a checkout: start.sh (sets up .venv on the first start)
    assert Path(e["Icon"]) == ROOT / "resources" / "icons" / "lora_desk.png" and Path(e["Icon"]).exists()
    assert Path(e["Path"]) == ROOT
