"""Interface languages: English strings are the keys; ``resources/i18n/<lang>.json`` maps them to a translation.

``tr("Open dataset…")`` returns the text in the current language (the English text when no translation
exists). Strings with fields are translated first and formatted after: ``tr("{n} images").format(n=3)``.
No Qt here, so widgets, the app and tests can all use it.
"""
from __future__ import annotations

import json
from pathlib import Path

I18N_DIR = Path(__file__).resolve().parent.parent / "resources" / "i18n"

#: language code -> its own name, as shown in the Language menu
LANGUAGES: dict[str, str] = {"en": "English", "ru": "Русский"}

_current = "en"
_catalogue: dict[str, str] = {}


def load_catalogue(lang: str) -> dict[str, str]:
    """The translations of one language ({} for English or a missing/broken file)."""
    if lang == "en":
        return {}
    path = I18N_DIR / f"{lang}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items() if not str(k).startswith("_")}


def set_language(lang: str) -> str:
    """Switch the catalogue; unknown codes fall back to English. Returns the language now in use."""
    global _current, _catalogue
    if lang not in LANGUAGES:
        lang = "en"
    _current = lang
    _catalogue = load_catalogue(lang)
    return lang


def language() -> str:
    return _current


def tr(text: str) -> str:
    """``text`` in the current language."""
    return _catalogue.get(text, text)
