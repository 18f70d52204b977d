"""The core's English sentences (validation, the step plan, memory estimates, tool results, log lines) in the
interface language, at display time: ``trainer/`` stays Qt-free and its English output stays as it is.

The Russian catalogue (resources/i18n/ru.json) holds the core's templates as keys, written as the core writes
them with ``{fields}`` for the variable parts, e.g. ``"{n} batches of {b}"``. :func:`tr_core` matches a text
against those templates (whole, or piece by piece between " -> ", "; " and sentence ends), translates what
was captured when it is itself a known phrase, and writes decimals the language's way. A text that matches
nothing is shown as it is.
"""
from __future__ import annotations

import re

from . import i18n
from .numbers import localize

_FIELD = re.compile(r"\{(\w+)(?:[:!][^}]*)?\}")
_SPLIT = re.compile(r"( -> |; |(?<=[.!?:]) (?=[A-Z(']))")
_patterns: tuple[str, list] | None = None
# fields that always hold a number: they match only digits, so "{n} steps" cannot swallow a longer sentence
NUMERIC = {"n", "b", "e", "i", "w", "h", "step", "steps", "total", "epoch", "epochs", "dim", "rank", "share",
           "peak", "gib", "avg", "low", "mb", "images", "samples", "u", "t"}


def _compile(template: str):
    names: list[str] = []
    out, pos = [], 0
    for m in _FIELD.finditer(template):
        out.append(re.escape(template[pos:m.start()]))
        name = m.group(1)
        if name in names:  # the same field twice: a back-reference
            out.append(f"(?P={name})")
        else:
            names.append(name)
            out.append(f"(?P<{name}>-?[0-9][0-9.,]*)" if name in NUMERIC else f"(?P<{name}>.+?)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def _templates() -> list:
    """(regex, translation) for every catalogue key with fields, the longest (most specific) first."""
    global _patterns
    lang = i18n.language()
    if _patterns is None or _patterns[0] != lang:
        items = []
        for key, value in i18n._catalogue.items():
            if "{" in key and _FIELD.search(key):
                rx = _compile(key)
                if rx is not None:
                    items.append((len(key) - 8 * len(_FIELD.findall(key)), rx, value))
        items.sort(key=lambda t: -t[0])
        _patterns = (lang, [(rx, value) for _, rx, value in items])
    return _patterns[1]


def _one(text: str, depth: int) -> str | None:
    cat = i18n._catalogue
    if text in cat:
        return cat[text]
    for rx, value in _templates():
        m = rx.fullmatch(text)
        if m:
            fields = {k: (_one(v, depth + 1) or v) if depth < 2 else v for k, v in m.groupdict().items()}
            try:  # the captured values are text already: format specs of the template do not apply
                return _FIELD.sub(lambda f: "{" + f.group(1) + "}", value).format(**fields)
            except (KeyError, IndexError, ValueError):
                return None
    return None


def tr_core(text: str) -> str:
    """A core sentence (or several) in the interface language; untranslatable parts are kept in English."""
    if not text or i18n.language() == "en":
        return text
    whole = _one(text, 0)
    if whole is not None:
        return localize(whole)
    parts = _SPLIT.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # a separator
            out.append(" → " if part == " -> " else part)
        else:
            out.append(_one(part, 0) or part)
    return localize("".join(out))


def localized_event(e):
    """A trainer event (trainer/events.py) with its sentences (message, advice, plan text) in the interface
    language; other fields and the event itself are left as they are (a copy is returned when anything
    changes)."""
    import dataclasses

    if i18n.language() == "en" or not dataclasses.is_dataclass(e):
        return e
    changes = {name: tr_core(getattr(e, name)) for name in ("message", "advice", "plan_text")
               if isinstance(getattr(e, name, None), str) and getattr(e, name)}
    return dataclasses.replace(e, **changes) if changes else e


def localized_progress(batch):
    """A worker's Progress batch (app/train_worker.py) with its log lines in the interface language."""
    import dataclasses

    if i18n.language() == "en" or not batch.logs:
        return batch
    return dataclasses.replace(batch, logs=[localized_event(e) for e in batch.logs])
