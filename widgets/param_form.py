"""The training parameter forms, generated from ``TrainConfig``'s field metadata (trainer/config.py).

One tab per group; each field gets an editor chosen by its type and metadata (check box for bools, combo box
for choices, spin box with the range for whole numbers, a text line for numbers that may be written as 1e-4,
for text and for lists), its unit, the recommended value, a help line (English or Russian) and a line for the
validation sentence. Fields marked ``advanced`` sit in a collapsed "Advanced" section of their tab. Fields
that do not apply to the other settings are disabled with the reason.

No torch here: the form only knows ``trainer.config`` (plain dataclasses).
"""
from __future__ import annotations

import json
import shlex
import typing
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel,
                               QLineEdit, QScrollArea, QSpinBox, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from app import i18n
from app.i18n import tr

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


def _fmt_number(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def field_kind(name: str) -> tuple[str, bool]:
    """(kind, nullable) with kind one of bool, int, float, str, list."""
    from trainer.config import TrainConfig

    hint = typing.get_type_hints(TrainConfig)[name]
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
            tip += "<br><i>" + tr("Recommended: {value}").format(value=meta["recommended"]) + "</i>"
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
        bits = []
        if meta.get("unit"):
            bits.append(translate(meta["unit"]))
        if meta.get("recommended") not in (None, ""):
            bits.append(tr("recommended: {value}").format(value=meta["recommended"]))
        self.hint = QLabel(" · ".join(bits))
        self.hint.setObjectName("hint")
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
                w.setText(_fmt_number(value) if self.kind == "float" else ("" if value is None else str(value)))
        finally:
            w.blockSignals(False)

    def value(self):
        """The editor's value for the config; ValueError with a sentence when the text is not valid."""
        from trainer.config_io import coerce
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
            if meta.get("min") is not None and v < meta["min"]:
                raise ValueError(tr("The smallest allowed value is {value}.").format(value=_fmt_number(meta["min"])))
            if meta.get("max") is not None and v > meta["max"]:
                raise ValueError(tr("The largest allowed value is {value}.").format(value=_fmt_number(meta["max"])))
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


def not_applicable(cfg) -> dict[str, str]:
    """Fields that have no effect with the other settings -> the reason (only while they hold no value that
    conflicts: a conflicting value stays editable and its validation sentence says what to change)."""
    from trainer.validate import is_adaptive

    out: dict[str, str] = {}
    if cfg.network_train_unet_only:
        out["text_encoder_lr"] = tr("Not used: network_train_unet_only keeps the text encoder frozen.")
    elif is_adaptive(cfg.optimizer_type):
        for name in ("unet_lr", "text_encoder_lr"):
            if getattr(cfg, name) in (None, cfg.learning_rate):
                out[name] = tr("{optimizer} adapts one learning rate for every part: only learning_rate is used."
                               ).format(optimizer=cfg.optimizer_type)
    if cfg.network_train_text_encoder_only and cfg.unet_lr is None:
        out["unet_lr"] = tr("Not used: only the text encoder is trained.")
    if cfg.lr_scheduler != "cosine_with_restarts" and cfg.lr_scheduler_num_cycles == 1:
        out["lr_scheduler_num_cycles"] = tr("Only used by the cosine_with_restarts scheduler.")
    if cfg.lr_scheduler != "polynomial" and cfg.lr_scheduler_power == 1.0:
        out["lr_scheduler_power"] = tr("Only used by the polynomial scheduler.")
    if not cfg.enable_bucket:
        for name in ("min_bucket_reso", "max_bucket_reso", "bucket_reso_steps", "bucket_no_upscale"):
            out[name] = tr("Only used with enable_bucket.")
    if cfg.multires_noise_iterations is None:
        out["multires_noise_discount"] = tr("Only used with multires_noise_iterations.")
    if cfg.max_train_epochs is not None:
        out["max_train_steps"] = tr("max_train_epochs is set and decides the length.")
    if cfg.mixed_precision != "bf16" and not cfg.full_bf16:
        out["full_bf16"] = tr("Needs mixed_precision bf16.")
    if cfg.mixed_precision != "fp16" and not cfg.full_fp16:
        out["full_fp16"] = tr("Needs mixed_precision fp16.")
    if not cfg.network_weights and not cfg.dim_from_weights:
        out["dim_from_weights"] = tr("Only used with network_weights.")
    if cfg.save_every_n_epochs is None and cfg.save_last_n_epochs is None:
        out["save_last_n_epochs"] = tr("Only used with save_every_n_epochs.")
    return out


FORM_STYLE = """
QLabel#fieldLabel { font-family: monospace; }
QLabel#fieldHelp { color: #666; font-size: 8.5pt; }
QLabel#fieldMessage[level="error"] { color: #a31515; font-weight: bold; }
QLabel#fieldMessage[level="warning"] { color: #8a5a00; }
QLabel#fieldMessage[level="note"] { color: #777; font-style: italic; }
"""


class ParamForm(QWidget):
    """Edits a TrainConfig. ``changed(name)`` after every edit; :meth:`config` gives the current config,
    :meth:`form_errors` the fields whose text is not a valid value."""

    changed = Signal(str)

    def __init__(self, config=None, parent=None):
        super().__init__(parent)
        from trainer.config import FIELDS, GROUPS, TrainConfig

        self._cfg = config if config is not None else TrainConfig()
        self.rows: dict[str, FieldRow] = {}
        self.advanced_toggles: dict[str, QToolButton] = {}
        self._parse_errors: dict[str, str] = {}
        self.setStyleSheet(FORM_STYLE)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs)
        self.group_tabs: dict[str, int] = {}
        for group, title in GROUPS.items():
            names = [n for n, f in FIELDS.items() if f.metadata.get("group") == group]
            page = QWidget()
            v = QVBoxLayout(page)
            v.setContentsMargins(8, 8, 8, 8)
            v.addLayout(self._grid([n for n in names if not FIELDS[n].metadata.get("advanced")]))
            adv = [n for n in names if FIELDS[n].metadata.get("advanced")]
            if adv:
                toggle = QToolButton()
                toggle.setText(tr("Advanced ({n})").format(n=len(adv)))
                toggle.setCheckable(True)
                toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
                toggle.setArrowType(Qt.ArrowType.RightArrow)
                toggle.setObjectName("advancedToggle")
                box = QFrame()
                box.setLayout(self._grid(adv))
                box.hide()

                def flip(on, t=toggle, b=box):
                    b.setVisible(on)
                    t.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

                toggle.toggled.connect(flip)
                v.addWidget(toggle)
                v.addWidget(box)
                self.advanced_toggles[group] = toggle
            v.addStretch(1)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(page)
            self.group_tabs[group] = self.tabs.addTab(scroll, translate(title))
        self.set_config(self._cfg)

    def _grid(self, names) -> QGridLayout:
        from trainer.config import FIELDS

        g = QGridLayout()
        g.setHorizontalSpacing(10)
        g.setVerticalSpacing(2)
        g.setColumnStretch(1, 1)
        r = 0
        for n in names:
            row = FieldRow(n, dict(FIELDS[n].metadata), self)
            self.rows[n] = row
            g.addWidget(row.label, r, 0, Qt.AlignmentFlag.AlignTop)
            g.addWidget(row.container, r, 1)
            g.addWidget(row.help, r + 1, 1)
            g.addWidget(row.message, r + 2, 1)
            sep = QFrame()
            sep.setFixedHeight(6)
            g.addWidget(sep, r + 3, 0, 1, 2)
            r += 4
        return g

    # ------------------------------------------------------------------ values
    def set_config(self, cfg) -> None:
        """Show ``cfg`` (no ``changed`` signals)."""
        self._cfg = cfg
        self._parse_errors.clear()
        for name, row in self.rows.items():
            row.set_value(getattr(cfg, name))
        self._update_applicable()

    def config(self):
        """The config the form shows; fields whose text is invalid keep their last valid value."""
        return self._cfg

    def form_errors(self) -> dict[str, str]:
        return dict(self._parse_errors)

    def _edited(self, name: str) -> None:
        row = self.rows[name]
        try:
            value = row.value()
        except ValueError as e:
            self._parse_errors[name] = str(e)
        else:
            self._parse_errors.pop(name, None)
            if value != getattr(self._cfg, name):
                self._cfg = self._cfg.replace(**{name: value})
        self._update_applicable()
        self.changed.emit(name)

    def set_value(self, name: str, value) -> None:
        """Change one field as if the user had (the editor shows it; ``changed`` is emitted)."""
        row = self.rows[name]
        row.set_value(value)
        self._edited(name)

    def _update_applicable(self) -> None:
        reasons = not_applicable(self._cfg)
        for name, row in self.rows.items():
            row.set_applicable(reasons.get(name, ""))

    def show_issues(self, issues) -> None:
        """Validation sentences next to their fields (errors first); form text errors win."""
        msgs: dict[str, tuple[str, str]] = {}
        for i in issues:
            if i.field in msgs and msgs[i.field][1] == "error":
                continue
            msgs[i.field] = (i.message, "error" if i.error else "warning")
        for name, text in self._parse_errors.items():
            msgs[name] = (text, "error")
        for name, row in self.rows.items():
            text, level = msgs.get(name, ("", ""))
            if not text and row.disabled_reason:
                text, level = row.disabled_reason, "note"
            row.set_message(text, level)

    def focus_field(self, name: str) -> None:
        from trainer.config import FIELDS

        row = self.rows.get(name)
        if row is None:
            return
        group = FIELDS[name].metadata.get("group")
        self.tabs.setCurrentIndex(self.group_tabs[group])
        toggle = self.advanced_toggles.get(group)
        if FIELDS[name].metadata.get("advanced") and toggle is not None:
            toggle.setChecked(True)
        row.editor.setFocus()

    def set_read_only(self, read_only: bool) -> None:
        for row in self.rows.values():
            row.container.setEnabled(not read_only)
