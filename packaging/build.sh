#!/usr/bin/env bash
# Build the Linux one-folder bundle: dist/LoRADesk/LoRADesk (+ dist/LoRADesk-<version>-linux-x86_64.tar.gz
# with --archive).  Uses the project's virtual environment (.venv, or $VENV): the bundle gets whatever torch
# is installed there -- the CPU wheel, or a CUDA build installed from pytorch.org's index.
#
#   packaging/build.sh [--archive]
#
# Needs: `pip install -e ".[package]"` (PyInstaller >= 6) in that environment, ~5 GB free disk (CPU torch:
# build/ + dist/ about 2 GB; CUDA torch about 3x that).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "error: no Python at $PY (create the venv first, see README)" >&2; exit 1; }
"$PY" -c "import PyInstaller" 2>/dev/null || "$PY" -m pip install "pyinstaller>=6"
[ -f resources/icons/lora_desk.png ] || "$PY" packaging/make_icons.py
VERSION="$("$PY" -c 'from trainer.version import APP_VERSION; print(APP_VERSION)')"
echo "LoRA Desk $VERSION: building dist/LoRADesk with $("$PY" -c 'import torch; print("torch", torch.__version__)')"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/lora_desk.spec
install -m 644 packaging/lora-desk.desktop dist/LoRADesk/lora-desk.desktop
install -m 755 packaging/install_desktop.sh dist/LoRADesk/install_desktop.sh
echo "built dist/LoRADesk ($(du -sh dist/LoRADesk | cut -f1)); try: dist/LoRADesk/LoRADesk --version"
if [ "${1:-}" = "--archive" ]; then
    tar -C dist -czf "dist/LoRADesk-$VERSION-linux-x86_64.tar.gz" LoRADesk
    echo "archive: dist/LoRADesk-$VERSION-linux-x86_64.tar.gz"
fi
