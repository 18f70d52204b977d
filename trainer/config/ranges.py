"""The allowed range of every config field, from its metadata (min, max, choices in trainer.config.fields), in
the words the form shows next to a field (widgets.training.param_form) and validate() puts before the model loads.
No torch, no Qt."""
from __future__ import annotations

from trainer.config.fields import FIELDS

SMALLEST = "The smallest allowed value is {value}."
LARGEST = "The largest allowed value is {value}."
ONE_OF = "Choose one of: {value}."

# fields whose choices validate() checks itself, with names sd-scripts also accepts (aliases, class paths,
# any letter case) or a sentence of their own
OWN_CHECKS = frozenset({"optimizer_type", "lr_scheduler", "save_precision", "network_module",
                        "max_token_length"})


def fmt_number(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def range_problem(name: str, value) -> tuple[str, str] | None:
    """(template, value text) when `value` is outside the field's range or choices; None when allowed or
    empty (None means "not set" for optional fields). The template has one {value} placeholder."""
    meta = FIELDS[name].metadata
    if value is None or isinstance(value, bool):
        return None
    choices = meta.get("choices")
    if choices and name not in OWN_CHECKS and value not in choices:
        return ONE_OF, ", ".join(str(c) for c in choices if c is not None)
    if not isinstance(value, (int, float)):
        return None
    if meta.get("min") is not None and value < meta["min"]:
        return SMALLEST, fmt_number(meta["min"])
    if meta.get("max") is not None and value > meta["max"]:
        return LARGEST, fmt_number(meta["max"])
    return None


def range_sentence(name: str, value) -> str | None:
    """The sentence for the command line and the start check: 'train_batch_size = 0: the smallest allowed
    value is 1.'"""
    found = range_problem(name, value)
    if found is None:
        return None
    template, text = found
    message = template.format(value=text)
    return f"{name} = {fmt_number(value)}: {message[0].lower()}{message[1:]}"


# validate() words these itself: max_train_steps matters only without max_train_epochs
OWN_RANGE_CHECKS = frozenset({"max_train_steps"})


def range_problems(cfg) -> list[tuple[str, str]]:
    """(field, sentence) for every field of `cfg` outside its range."""
    out = []
    for name in FIELDS:
        if name in OWN_RANGE_CHECKS:
            continue
        sentence = range_sentence(name, getattr(cfg, name))
        if sentence:
            out.append((name, sentence))
    return out
