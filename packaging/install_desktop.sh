#!/usr/bin/env bash
# Add LoRA Desk to the desktop's application menu (and, with --desktop, put a launcher on the desktop).
# Works for a checkout (starts start.sh: the first start sets up .venv in a terminal) and for the bundle
# (this script and lora-desk.desktop are copied into dist/LoRADesk/ by build.sh: starts LoRADesk).
#
#   packaging/install_desktop.sh [--desktop]        or, in the bundle:  ./install_desktop.sh [--desktop]
set -euo pipefail
HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
if [ -x "$HERE/LoRADesk" ]; then             # the bundle
    APP="$HERE"; EXEC="$HERE/LoRADesk"; ICON="$HERE/resources/icons/lora_desk.png"; TEMPLATE="$HERE/lora-desk.desktop"
else                                         # a checkout: this file is packaging/install_desktop.sh
    APP="$(dirname "$HERE")"; EXEC="$APP/start.sh"; ICON="$APP/resources/icons/lora_desk.png"
    TEMPLATE="$HERE/lora-desk.desktop"
fi
DEST="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$DEST"
# Exec paths with spaces must be quoted in a .desktop file
sed -e "s|^Exec=.*|Exec=\"$EXEC\"|" -e "s|^Icon=.*|Icon=$ICON|" -e "s|^Path=.*|Path=$APP|" \
    "$TEMPLATE" >"$DEST/lora-desk.desktop"
chmod +x "$DEST/lora-desk.desktop"
echo "installed $DEST/lora-desk.desktop (starts $EXEC)"
if [ "${1:-}" = "--desktop" ]; then
    DESK="$(xdg-user-dir DESKTOP 2>/dev/null || echo "$HOME/Desktop")"
    mkdir -p "$DESK"
    cp "$DEST/lora-desk.desktop" "$DESK/"
    chmod +x "$DESK/lora-desk.desktop"
    gio set "$DESK/lora-desk.desktop" metadata::trusted true 2>/dev/null || true
    echo "and $DESK/lora-desk.desktop"
fi
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$DEST" 2>/dev/null || true
