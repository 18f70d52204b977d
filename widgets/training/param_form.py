"""The training parameter forms, generated from ``TrainConfig``'s field metadata (trainer/config/fields.py).

A side list of sections (one or more config groups each, see SECTIONS) beside the fields of the chosen one;
each field gets an editor chosen by its type and metadata (widgets/training/field_row.py: check box for bools, combo box
for choices, spin box with the range for whole numbers, a text line for numbers that may be written as 1e-4,
for text and for lists), its unit, the recommended value, a help line (English or Russian) and a line for the
validation sentence. Fields marked ``advanced`` sit in a collapsed "Advanced" part of their group. Fields
that do not apply to the other settings are disabled with the reason.

Only the section shown first is made with the form; the others when chosen, when one of their rows is asked
for (``form.rows`` is a widgets/training/form_rows.RowMap), or one per idle turn once the form is shown.

No torch here: the form only knows ``trainer.config.fields`` (plain dataclasses).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QScrollArea,
                               QStackedWidget, QToolButton, QVBoxLayout, QWidget)

from app.i18n import tr

from widgets.training.field_row import FieldRow, translate
from widgets.training.form_rows import RowMap


# the side list's sections: a title and the config groups (trainer/config/fields.py GROUPS) it shows, in order; a
# group named nowhere here gets a section of its own, so new groups and fields appear without code here
SECTIONS = (
    ("Model and network", ("model", "network")),
    ("Dataset and captions", ("dataset",)),
    ("Optimizer and scheduler", ("optimizer",)),
    ("Loss and noise", ("loss",)),
    ("Precision and memory", ("memory",)),
    ("Length, saving and logging", ("saving",)),
)


def group_title(group: str) -> str:
    from trainer.config.fields import GROUPS

    return GROUPS.get(group, group)


def sections() -> list[tuple[str, tuple]]:
    """(title, groups) of every section: SECTIONS with the groups that exist, then any other group alone."""
    from trainer.config.fields import GROUPS

    out, seen = [], set()
    for title, groups in SECTIONS:
        present = tuple(g for g in groups if g in GROUPS)
        if present:
            out.append((title if len(present) > 1 else group_title(present[0]), present))
            seen.update(present)
    out += [(group_title(g), (g,)) for g in GROUPS if g not in seen]
    return out


def not_applicable(cfg) -> dict[str, str]:
    """Fields that have no effect with the other settings -> the reason (only while they hold no value that
    conflicts: a conflicting value stays editable and its validation sentence says what to change)."""
    from trainer.config.validate import is_adaptive

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
    from widgets.training.option_notes import option_notes

    out.update(option_notes(cfg))
    return out


IDLE_BUILD_MS = 10  # between two hidden sections made after the form is shown (each takes ~20-40 ms)

FORM_STYLE = """
QLabel#fieldLabel { font-family: monospace; }
QLabel#fieldHelp { color: #666; font-size: 8.5pt; }
QLabel#fieldMessage[level="error"] { color: #a31515; font-weight: bold; }
QLabel#fieldMessage[level="warning"] { color: #8a5a00; }
QLabel#fieldMessage[level="note"] { color: #777; font-style: italic; }
QLabel#groupTitle { font-weight: bold; font-size: 10.5pt; color: #345; margin-top: 6px; }
QListWidget#sectionList::item { padding: 6px 4px; }
"""


class ParamForm(QWidget):
    """Edits a TrainConfig. ``changed(name)`` after every edit; :meth:`config` gives the current config,
    :meth:`form_errors` the fields whose text is not a valid value."""

    changed = Signal(str)

    def __init__(self, config=None, parent=None):
        super().__init__(parent)
        from trainer.config.fields import FIELDS, TrainConfig

        self._cfg = config if config is not None else TrainConfig()
        # only the shown section is made now (~200 rows at once took most of the page's build time); the
        # others when first shown or when one of their rows is asked for (form_rows.RowMap)
        self.rows = RowMap(FIELDS, self._build_section_of)
        self.advanced_toggles: dict[str, QToolButton] = {}
        self._parse_errors: dict[str, str] = {}
        self._messages: dict[str, tuple[str, str]] = {}  # the last show_issues, for sections made later
        self._read_only = False
        self.setStyleSheet(FORM_STYLE)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        # a side list instead of tabs: any number of sections fits, each name is read in full
        self.sections = QListWidget()
        self.sections.setObjectName("sectionList")
        self.stack = QStackedWidget()
        lay.addWidget(self.sections)
        lay.addWidget(self.stack, 1)
        self.group_tabs: dict[str, int] = {}  # group -> index of its section
        self._section_groups: list[tuple] = []
        self._pages: list[QWidget] = []
        for title, groups in sections():
            page = QWidget()
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # help lines wrap instead
            scroll.setWidget(page)
            self.stack.addWidget(scroll)
            self._pages.append(page)
            self._section_groups.append(groups)
            for group in groups:
                self.group_tabs[group] = self.stack.count() - 1
            count = sum(f.metadata.get("group") in groups for f in FIELDS.values())
            item = QListWidgetItem(translate(title))
            item.setToolTip(tr("{n} settings").format(n=count))
            self.sections.addItem(item)
        self._built: set[int] = set()
        self._build_section(0)
        # the rest are made one per event-loop turn once the form has been shown, so a later click on a
        # section (or an edit from another page) finds it ready
        self._idle_build = QTimer(self)
        self._idle_build.setInterval(IDLE_BUILD_MS)
        self._idle_build.timeout.connect(self._build_next)
        self.sections.currentRowChanged.connect(self._section_chosen)
        self.sections.setCurrentRow(0)
        fm = self.sections.fontMetrics()
        widest = max((fm.horizontalAdvance(self.sections.item(i).text()) for i in range(self.sections.count())),
                     default=100)
        self.sections.setWordWrap(True)  # a long name takes two lines rather than the form's width
        self.sections.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.sections.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sections.setFixedWidth(min(widest + 28, 236))

    def showEvent(self, e) -> None:
        super().showEvent(e)
        if len(self._built) < self.stack.count():
            self._idle_build.start()

    def pending(self) -> bool:
        """True while hidden sections are being made (after the form was first shown)."""
        return self._idle_build.isActive()

    def _build_next(self) -> None:
        todo = [i for i in range(self.stack.count()) if i not in self._built]
        if todo:
            self._build_section(todo[0])
        if len(todo) <= 1:
            self._idle_build.stop()

    def _section_chosen(self, index: int) -> None:
        if index >= 0:
            self._build_section(index)  # before it is shown: its widgets appear with it
        self.stack.setCurrentIndex(index)

    def _build_section_of(self, name: str) -> None:
        from trainer.config.fields import FIELDS

        self._build_section(self.group_tabs[FIELDS[name].metadata.get("group")])

    def _build_section(self, index: int) -> None:
        """Make section ``index``'s rows (once) and give them the form's current values, checks and state."""
        from trainer.config.fields import FIELDS

        if index in self._built:
            return
        self._built.add(index)
        groups, page = self._section_groups[index], self._pages[index]
        before = set(self.rows.built())
        # the page is in its scroll area before its rows are made: each widget is then styled once, not
        # again at every level a finished page would be inserted into
        v = QVBoxLayout(page)
        v.setContentsMargins(8, 4, 8, 8)
        for group in groups:
            names = [n for n, f in FIELDS.items() if f.metadata.get("group") == group]
            if len(groups) > 1:
                head = QLabel(translate(group_title(group)))
                head.setObjectName("groupTitle")
                v.addWidget(head)
            v.addLayout(self._grid([n for n in names if not FIELDS[n].metadata.get("advanced")]))
            adv = [n for n in names if FIELDS[n].metadata.get("advanced")]
            if adv:
                self._advanced(group, adv, v)
        v.addStretch(1)
        new = {n: r for n, r in self.rows.built().items() if n not in before}
        reasons = not_applicable(self._cfg)
        for name, row in new.items():
            row.set_value(getattr(self._cfg, name))
            row.set_applicable(reasons.get(name, ""))
            self._show_message(name, row)
            if self._read_only:
                row.container.setEnabled(False)

    def _advanced(self, group: str, names: list, v: QVBoxLayout) -> None:
        """A collapsed "Advanced (n)" section of a group."""
        toggle = QToolButton()
        toggle.setText(tr("Advanced ({n})").format(n=len(names)))
        toggle.setCheckable(True)
        toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toggle.setArrowType(Qt.ArrowType.RightArrow)
        toggle.setObjectName("advancedToggle")
        box = QFrame()
        box.setLayout(self._grid(names))
        box.hide()

        def flip(on, t=toggle, b=box):
            b.setVisible(on)
            t.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

        toggle.toggled.connect(flip)
        v.addWidget(toggle)
        v.addWidget(box)
        self.advanced_toggles[group] = toggle

    def _grid(self, names) -> QGridLayout:
        from trainer.config.fields import FIELDS

        g = QGridLayout()
        g.setHorizontalSpacing(10)
        g.setVerticalSpacing(2)
        g.setColumnStretch(1, 1)
        r = 0
        for n in names:
            row = FieldRow(n, dict(FIELDS[n].metadata), self)
            self.rows.add(n, row)
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
        """Show ``cfg`` (no ``changed`` signals). Only the fields whose value differs are written again (and a
        field whose text did not parse, which now shows the config's value); sections not made yet read the
        config when they are."""
        old, self._cfg = self._cfg, cfg
        stale = set(self._parse_errors)
        self._parse_errors.clear()
        for name, row in self.rows.built().items():
            if name in stale or getattr(cfg, name) != getattr(old, name):
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
        for name, row in self.rows.built().items():
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
        self._messages = msgs
        for name, row in self.rows.built().items():
            self._show_message(name, row)

    def _show_message(self, name: str, row: FieldRow) -> None:
        text, level = self._messages.get(name, ("", ""))
        if not text and row.disabled_reason:
            text, level = row.disabled_reason, "note"
        row.set_message(text, level)

    def focus_field(self, name: str) -> None:
        from trainer.config.fields import FIELDS

        if name not in self.rows:
            return
        row = self.rows[name]
        group = FIELDS[name].metadata.get("group")
        self.sections.setCurrentRow(self.group_tabs[group])
        toggle = self.advanced_toggles.get(group)
        if FIELDS[name].metadata.get("advanced") and toggle is not None:
            toggle.setChecked(True)
        row.editor.setFocus()

    def set_read_only(self, read_only: bool) -> None:
        self._read_only = read_only
        for row in self.rows.built().values():
            row.container.setEnabled(not read_only)
