"""One field of the training parameter form: its editor (chosen by type and metadata), label, unit and
recommended value, help line (English or Russian) and validation message line (widgets/training/param_form.py lays
the rows out).

No torch here: only ``trainer.config.fields`` (plain dataclasses).
"""
from __future__ import annotations

import functools
import json
import shlex
import typing
from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QSpinBox,
                               QToolButton, QWidget)

from app import i18n
from app.i18n import tr
from trainer.config.ranges import fmt_number  # torch-free, as the form needs

HELP_RU_FILE = i18n.I18N_DIR / "help_ru.json"
_help_ru: dict[str, str] | None = None

# fields edited as a path, with a "…" button: field -> (kind, file filter)
PATH_FIELDS = {
    "pretrained_model_name_or_path": ("file", "Models (*.safetensors *.ckpt);;All files (*)"),
    "vae": ("file", "Models (*.safetensors *.ckpt *.pt);;All files (*)"),
    "network_weights": ("file", "LoRA (*.safetensors);;All files (*)"),
    "train_data_dir": ("dir", ""),
    "dataset_config": ("file", "Dataset config (*.toml);;All files (*)"),
    "reg_data_dir": ("dir", ""),
    "conditioning_data_dir": ("dir", ""),
    "output_dir": ("dir", ""),
    "logging_dir": ("dir", ""),
    "sample_prompts": ("file", "Prompt files (*.txt *.toml *.json);;All files (*)"),
    "resume": ("dir", ""),
}


def help_text(name: str, meta: dict) -> str:
    """The field's help in the interface language (Russian texts live in resources/i18n/help_ru.json)."""
    global _help_ru
    if i18n.language() == "ru":
        if _help_ru is None:
            try:
                _help_ru = json.loads(HELP_RU_FILE.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                _help_ru = {}
        if name in _help_ru:
            return _help_ru[name]
    return meta.get("help", "")


def translate(text: str) -> str:
    """A catalogue lookup for texts that come from data (group names), not from literals in the code."""
    return i18n.tr(text)


@functools.cache
def _config_hints() -> dict:
    """TrainConfig's annotations, evaluated once (each get_type_hints call compiles every string annotation
    again: ~10 ms per field, most of the form's build time)."""
    from trainer.config.fields import TrainConfig

    return typing.get_type_hints(TrainConfig)


def field_kind(name: str) -> tuple[str, bool]:
    """(kind, nullable) with kind one of bool, int, float, str, list."""
    hint = _config_hints()[name]
    args = typing.get_args(hint) or (hint,)
    nullable = type(None) in args
    base = [a for a in args if a is not type(None)][0]
    base = typing.get_origin(base) or base
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list"}[base], nullable


class FieldRow:
    """The widgets of one field: label, editor, unit/recommendation, help line and the message line."""

    def __init__(self, name: str, meta: dict, form: "ParamForm"):
        self.name, self.meta, self.form = name, meta, form
        self.kind, self.nullable = field_kind(name)
        self.disabled_reason = ""
        label = meta.get("label")
        self.label = QLabel(f"{translate(label)}" if label else name)
        self.label.setObjectName("fieldLabel")
        help_ = help_text(name, meta)
        tip = f"<b>{name}</b><br>{help_}"
        if meta.get("recommended") not in (None, ""):
            tip += "<br><i>" + tr("Recommended: {value}").format(value=translate(str(meta["recommended"]))) + "</i>"
        self.label.setToolTip(tip)
        self.editor = self._make_editor()
        self.editor.setToolTip(tip)
        self.editor.setObjectName(f"field_{name}")
        self.container = QWidget()
        lay = QHBoxLayout(self.container)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.editor, 1)
        if name in PATH_FIELDS:
            btn = QToolButton()
            btn.setText("…")
            btn.setToolTip(tr("Choose…"))
            btn.clicked.connect(self._browse)
            lay.addWidget(btn)
            self.browse_button = btn
        if name == "sample_prompts":
            from widgets.training.prompt_editor import add_edit_button

            add_edit_button(self, lay)
        bits = []
        if meta.get("unit"):
            bits.append(translate(meta["unit"]))
        if meta.get("recommended") not in (None, ""):
            bits.append(tr("recommended: {value}").format(value=translate(str(meta["recommended"]))))
        self.hint = QLabel(" · ".join(bits))
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)  # a long recommendation wraps instead of widening the form
        lay.addWidget(self.hint)
        self.help = QLabel(help_)
        self.help.setObjectName("fieldHelp")
        self.help.setWordWrap(True)
        self.message = QLabel()
        self.message.setObjectName("fieldMessage")
        self.message.setWordWrap(True)
        self.message.hide()

    # -- editors
    def _make_editor(self) -> QWidget:
        meta, kind = self.meta, self.kind
        if meta.get("choices"):
            w = QComboBox()
            for c in meta["choices"]:
                w.addItem(tr("(empty)") if c is None else str(c), c)
            w.currentIndexChanged.connect(lambda _i: self.form._edited(self.name))
            return w
        if kind == "bool":
            w = QCheckBox()
            w.toggled.connect(lambda _b: self.form._edited(self.name))
            return w
        if kind == "int":
            w = QSpinBox()
            lo = int(meta["min"]) if meta.get("min") is not None else 0
            hi = int(meta["max"]) if meta.get("max") is not None else 2_000_000_000
            if self.nullable:  # one below the minimum means "empty"
                lo -= 1
                w.setSpecialValueText(tr("(empty)"))
            w.setRange(lo, hi)
            w.setAccelerated(True)
            w.valueChanged.connect(lambda _v: self.form._edited(self.name))
            return w
        w = QLineEdit()
        if kind == "list":
            w.setPlaceholderText(tr("key=value key=value …"))
        elif kind == "float":
            w.setPlaceholderText(tr("(empty)") if self.nullable else "")
        w.textEdited.connect(lambda _t: self.form._edited(self.name))
        return w

    def set_value(self, value) -> None:
        w = self.editor
        w.blockSignals(True)
        try:
            if isinstance(w, QComboBox):
                i = w.findData(value)
                if i < 0:  # a value outside the choices (from a file): shown as it is
                    w.addItem(str(value), value)
                    i = w.count() - 1
                w.setCurrentIndex(i)
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QSpinBox):
                w.setValue(w.minimum() if value is None else int(value))
            elif self.kind == "list":
                w.setText(" ".join(shlex.quote(str(x)) if (" " in str(x) or not str(x)) else str(x)
                                   for x in (value or [])))
            else:
                w.setText(fmt_number(value) if self.kind == "float" else ("" if value is None else str(value)))
        finally:
            w.blockSignals(False)

    def value(self):
        """The editor's value for the config; ValueError with a sentence when the text is not valid."""
        from trainer.config.files import coerce
        from trainer.config.ranges import LARGEST, SMALLEST, range_problem
        from trainer.errors import ConfigError

        w, meta = self.editor, self.meta
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return None if self.nullable and w.value() == w.minimum() else w.value()
        text = w.text().strip()
        if self.kind == "list":
            try:
                return shlex.split(text)
            except ValueError:
                raise ValueError(tr("Close the quotes: items are separated by spaces.")) from None
        if self.kind == "float":
            if not text:
                if self.nullable:
                    return None
                raise ValueError(tr("Enter a number."))
            try:
                v = coerce(self.name, text, from_text=True)
            except ConfigError:
                raise ValueError(tr("Enter a number like 0.0001 or 1e-4.")) from None
            problem = range_problem(self.name, v)  # the core's range check (validate() uses it too)
            if problem:
                words = {SMALLEST: tr("The smallest allowed value is {value}."),
                         LARGEST: tr("The largest allowed value is {value}.")}
                raise ValueError(words.get(problem[0], problem[0]).format(value=problem[1]))
            return v
        return text

    def set_message(self, text: str, level: str) -> None:
        if (text, level) == getattr(self, "_shown", ("", "")):
            return
        self._shown = (text, level)
        self.message.setText(text)
        self.message.setProperty("level", level)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setVisible(bool(text))

    def set_applicable(self, reason: str) -> None:
        self.disabled_reason = reason
        enabled = not reason
        for w in (self.editor, self.label, getattr(self, "browse_button", None)):
            if w is not None:
                w.setEnabled(enabled)

    def _browse(self) -> None:
        kind, filt = PATH_FIELDS[self.name]
        start = self.editor.text() or str(Path.home())
        if kind == "dir":
            path = QFileDialog.getExistingDirectory(self.form, self.name, start)
        else:
            path, _ = QFileDialog.getOpenFileName(self.form, self.name, start, filt)
        if path:
            self.editor.setText(path)
            self.form._edited(self.name)
