"""The core's sentence literals, found in its source, and the parts of a text the Russian catalogue has no
template for (tests/test_app_russian.py): a new English sentence in a checked module fails a test until
resources/i18n/ru.json translates it."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = re.compile(r"[a-z]{3,} [a-z]{2,} [a-z]{2,}")  # three words of prose, not an option name or a path


def _render(node) -> list[str] | None:
    """A literal's texts with every {placeholder} written as 7 (a value both kinds of template field match);
    ``a + (b if c else d)`` gives both texts, ``a + f(x)`` writes the call as a placeholder too."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "7" for v in node.values)]
    if isinstance(node, ast.IfExp):
        a, b = _render(node.body), _render(node.orelse)
        return None if a is None or b is None else a + b
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _render(node.left), _render(node.right)
        if a is None and b is None:
            return None
        return [x + y for x in (a or ["7"]) for y in (b or ["7"])]  # text + a call: the call is a placeholder
    return None


def sentence_literals(relpath: str) -> list[tuple[int, str]]:
    """(line, text) of every string (or f-string, or + of them) in the module that reads as a sentence;
    docstrings are left out."""
    tree = ast.parse((ROOT / relpath).read_text(encoding="utf-8"))
    skip = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body \
                and isinstance(n.body[0], ast.Expr):
            skip.add(id(n.body[0].value))
    out = []
    for n in ast.walk(tree):
        if id(n) in skip:
            continue
        texts = _render(n) if isinstance(n, (ast.Constant, ast.JoinedStr, ast.BinOp)) else None
        if texts is None:
            continue
        skip.update(id(c) for c in ast.walk(n))  # a joined literal's pieces are not sentences of their own
        out += [(n.lineno, t) for t in texts if SENTENCE.search(t) and t.rstrip().endswith((".", "?"))]
    return out


def untranslated(text: str) -> list[str]:
    """The pieces of a core text (split as app.core_text.tr_core splits it) with no catalogue entry."""
    from app.core_text import _SPLIT, _one

    if _one(text, 0) is not None:
        return []
    parts = _SPLIT.split(text)
    return [p for i, p in enumerate(parts)
            if not i % 2 and re.search("[A-Za-z]{3}", p) and _one(p, 0) is None]


def english_prose(text: str) -> list[str]:
    """Runs of three or more plain English words left in a translated text (option names, paths, numbers and
    brand names do not count: they hold _ . / = digits or capitals)."""
    plain = re.sub(r"<[^>]+>", " ", text).replace("&nbsp;", " ")
    return re.findall(r"(?<![\w./=-])[a-z]{2,}(?: [a-z]{2,}){2,}(?![\w./=-])", plain)
