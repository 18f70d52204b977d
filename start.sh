#!/usr/bin/env bash
# LoRA Desk, double-click start (Linux/macOS).  The first run creates .venv beside this file and installs the
# app into it -- torch's CUDA build when nvidia-smi reports an NVIDIA GPU, else the CPU build -- showing each
# step and pip's download progress; later runs start the app at once.  Arguments are passed to main.py
# (./start.sh train --config_file examples/demo.toml).  Delete .venv to install again.
set -euo pipefail
HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
cd "$HERE"
VENV="${LORA_DESK_VENV:-$HERE/.venv}"  # LORA_DESK_VENV: another place (tests)
READY="$VENV/.lora-desk-ready"

if [ -f "$READY" ]; then
    exec "$VENV/bin/python" "$HERE/main.py" "$@"
fi

# First run.  Started from a file manager or the .desktop entry (no terminal): show the set-up in one.
if [ ! -t 1 ] && [ -z "${LORA_DESK_IN_TERMINAL:-}" ]; then
    export LORA_DESK_IN_TERMINAL=1
    for term in x-terminal-emulator gnome-terminal konsole xfce4-terminal xterm; do
        if command -v "$term" >/dev/null 2>&1; then
            case "$term" in
                gnome-terminal) exec "$term" -- "$HERE/start.sh" "$@" ;;
                *) exec "$term" -e "$HERE/start.sh" "$@" ;;
            esac
        fi
    done
    # no terminal emulator: go on, writing to the log below
fi

LOG="$HERE/.venv-setup.log"
step() { printf '\n\033[1m[%s/4] %s\033[0m\n' "$1" "$2"; echo "[$1/4] $2" >>"$LOG"; }
fail() {
    printf '\n\033[31mSet-up failed: %s\033[0m\nThe log is %s. Fix the problem and run start.sh again.\n' "$1" "$LOG"
    if [ -n "${LORA_DESK_IN_TERMINAL:-}" ]; then read -r -p "Press Enter to close." _ || true; fi
    exit 1
}
: >"$LOG"
echo "LoRA Desk: first start, setting up (a few minutes; torch is a large download)."

step 1 "Finding Python 3.10 or newer"
PY=""
for cand in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
        "$cand" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
        PY="$(command -v "$cand")"; break
    fi
done
[ -n "$PY" ] || fail "no Python 3.10+ with venv found (install python3.11 and python3.11-venv)"
echo "using $PY ($("$PY" --version 2>&1))"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" >>"$LOG" 2>&1 || fail "could not create $VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip >>"$LOG" 2>&1 || true

step 2 "Choosing the torch build (nvidia-smi)"
eval "$("$VENV/bin/python" packaging/pick_torch.py)" || fail "could not choose a torch build"
echo "$TORCH_REASON"
echo "$TORCH_REASON" >>"$LOG"

step 3 "Installing torch ($TORCH_KIND)"
# shellcheck disable=SC2086  # TORCH_PIP_ARGS is a list of words
"$VENV/bin/python" -m pip install --progress-bar on $TORCH_PIP_ARGS 2>&1 | tee -a "$LOG" ||
    fail "pip could not install torch"

step 4 "Installing LoRA Desk and its libraries"
"$VENV/bin/python" -m pip install --progress-bar on -e . 2>&1 | tee -a "$LOG" ||
    fail "pip could not install the app's libraries"

"$VENV/bin/python" main.py --version >>"$LOG" 2>&1 || fail "the app does not start (main.py --version)"
echo "$TORCH_KIND" >"$READY"
echo "Set-up done. Starting LoRA Desk."
exec "$VENV/bin/python" "$HERE/main.py" "$@"
