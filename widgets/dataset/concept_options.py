"""Per-concept options (sd-scripts' [[datasets.subsets]] keys): a dialog to edit one concept's repeats, keep
tokens, shuffle, caption extension, flip, caption dropout and is-regularization, the short summary the concept
list shows (options_parts), and the Dataset page's "Open dataset config…" / "Save dataset config…" buttons
that read and write them (trainer.dataset.config_file, config_edit) and point the Training page at the file.

An option left "as the run" is not stored: the concept then follows the Training page's setting."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.i18n import tr

INHERIT = Qt.CheckState.PartiallyChecked


def options_parts(concept) -> list[str]:
    """What differs from the run, for the concept list: ``["keep 1", "shuffle", "flip", "drop 10%",
    ".caption", "reg"]``; the list joins them with " · " and wraps between them."""
    o = getattr(concept, "options", None) or {}
    parts = []
    if o.get("keep_tokens") is not None:
        parts.append(tr("keep {n}").format(n=o["keep_tokens"]))
    for key, on, off in (("shuffle_caption", tr("shuffle"), tr("no shuffle")), ("flip_aug", tr("flip"), tr("no flip"))):
        if o.get(key) is not None:
            parts.append(on if o[key] else off)
    if o.get("caption_dropout_rate") is not None:
        parts.append(tr("drop {p}%").format(p=round(100 * float(o["caption_dropout_rate"]))))
    if o.get("caption_extension"):
        parts.append(o["caption_extension"])
    if o.get("caption_prefix"):  # a dataset config's trigger word in front, say
        parts.append(tr("prefix “{t}”").format(t=o["caption_prefix"]))
    if o.get("alpha_mask"):
        parts.append(tr("alpha mask"))
    if o.get("conditioning_data_dir"):
        parts.append(tr("mask images"))
    if getattr(concept, "is_reg", False):
        parts.append(tr("reg"))
    return parts


def _tristate(value) -> QCheckBox:
    box = QCheckBox()
    box.setTristate(True)
    box.setCheckState(INHERIT if value is None else (Qt.CheckState.Checked if value else Qt.CheckState.Unchecked))
    box.setToolTip(tr("Grey: as set on the Training page"))
    return box


class ConceptOptionsDialog(QDialog):
    def __init__(self, concept, parent=None):
        super().__init__(parent)
        self.concept = concept
        o = dict(concept.options or {})
        self.setWindowTitle(tr("Options of {name}").format(name=concept.folder_name))
        form = QFormLayout(self)
        self.repeats = QSpinBox()
        self.repeats.setRange(1, 10000)
        self.repeats.setValue(int(concept.repeats))
        self.keep = QSpinBox()
        self.keep.setRange(-1, 75)
        self.keep.setSpecialValueText(tr("as the run"))
        self.keep.setValue(-1 if o.get("keep_tokens") is None else int(o["keep_tokens"]))
        self.shuffle = _tristate(o.get("shuffle_caption"))
        self.ext = QLineEdit(o.get("caption_extension") or "")
        self.ext.setPlaceholderText(tr("as the run"))
        self.flip = _tristate(o.get("flip_aug"))
        self.dropout = QDoubleSpinBox()
        self.dropout.setRange(-0.01, 1.0)
        self.dropout.setSingleStep(0.05)
        self.dropout.setSpecialValueText(tr("as the run"))
        self.dropout.setValue(-0.01 if o.get("caption_dropout_rate") is None else float(o["caption_dropout_rate"]))
        self.reg = QCheckBox()
        self.reg.setChecked(bool(concept.is_reg))
        form.addRow(tr("Repeats"), self.repeats)
        form.addRow(tr("Keep tokens"), self.keep)
        form.addRow(tr("Shuffle tags"), self.shuffle)
        form.addRow(tr("Caption extension"), self.ext)
        form.addRow(tr("Mirror (flip)"), self.flip)
        form.addRow(tr("Caption dropout"), self.dropout)
        form.addRow(tr("Regularization images"), self.reg)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[int, dict, bool]:
        """(repeats, options that differ from the run, is_reg) as the dialog shows them."""
        def tri(box):
            return None if box.checkState() == INHERIT else box.isChecked()

        ext = self.ext.text().strip()
        opts = {"keep_tokens": None if self.keep.value() < 0 else self.keep.value(),
                "shuffle_caption": tri(self.shuffle), "flip_aug": tri(self.flip),
                "caption_dropout_rate": None if self.dropout.value() < 0 else round(self.dropout.value(), 4),
                "caption_extension": (ext if ext.startswith(".") else "." + ext) if ext else None}
        keep = {k: v for k, v in (self.concept.options or {}).items() if k not in opts}  # e.g. class_tokens
        keep.update({k: v for k, v in opts.items() if v is not None})
        return self.repeats.value(), keep, self.reg.isChecked()

    def apply(self) -> None:
        self.concept.repeats, self.concept.options, self.concept.is_reg = self.values()


def edit_concept_options(concept, parent) -> bool:
    """Open the dialog; True when the user changed the concept."""
    dlg = ConceptOptionsDialog(concept, parent)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return False
    dlg.apply()
    return True


def dataset_config_buttons(page) -> QWidget:
    """The Dataset page's "Open dataset config…" and "Save dataset config…": a dataset config's subsets as the
    concepts, and the concepts with their options written back (or to a new file) for the run to train from."""
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    page.open_config_btn = QPushButton(tr("Open dataset config…"))
    page.open_config_btn.setToolTip(tr("Show the folders of an sd-scripts dataset config TOML as the concepts, "
                                       "with their own options; training then uses it"))
    page.open_config_btn.clicked.connect(page.choose_dataset_config)
    btn = QPushButton(tr("Save dataset config…"))
    btn.setToolTip(tr("Write the concepts with their own options (double-click a concept) to a dataset config "
                      "TOML that sd-scripts reads too; training then uses it"))
    btn.clicked.connect(lambda: save_dataset_config_from(page))
    page.concepts.optionsChanged.connect(lambda _c: page._update_totals())  # repeats change the totals
    lay.addWidget(page.open_config_btn)
    lay.addWidget(btn)
    return row


def save_dataset_config_from(page, path: str | None = None) -> str | None:
    """Save the concepts: into the dataset config the page opened (keys it does not show are kept), or as a
    new one for a training folder. Returns the path written, None when nothing was."""
    from types import SimpleNamespace

    from trainer.dataset.config_file import concepts_to_dataset_config, save_dataset_config
    from trainer.dataset.config_edit import save_concepts_into
    from trainer.errors import UserError

    from widgets.dataset.dataset_opening import is_dataset_config

    if page.scan is None:
        page.status.emit(tr("Open a training folder first."))
        return None
    opened = page.root if is_dataset_config(page.root) else None
    if path is None:
        start = str(opened or page.root.parent / (page.root.name + ".dataset.toml"))
        path, _ = QFileDialog.getSaveFileName(page, tr("Save dataset config"), start, tr("TOML (*.toml)"))
        if not path:
            return None
    try:
        if opened is not None:
            save_concepts_into(opened, page.scan.concepts, path)
            page.root = Path(path)  # the page shows the file written (the same subsets)
            page.path_label.setText(path)
        else:
            save_dataset_config(concepts_to_dataset_config(page.scan.concepts, SimpleNamespace(**page.values)), path)
    except (OSError, UserError) as e:
        QMessageBox.warning(page, tr("Cannot save the dataset config"), str(e))
        return None
    page.forget_dataset_cfgs()  # the file shown may be the one written
    page.status.emit(tr("Saved {path}").format(path=path))
    page.train_what_is_shown(path)  # the run reads this file, with the concepts' own options
    if opened is None:  # the page shows what the run trains: the file written, its subsets as the concepts
        page.show_again(path)
    return path
