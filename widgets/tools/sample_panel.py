"""The sample-grid panel of the Tools page: prompts x LoRA files x weights x seeds (weight ranges like
``0.4-1.2 [5]``, seed -1 for a random one, a prompt file, a second LoRA at a fixed weight; read by
``trainer.tools.sample_axes``), drawn as the images arrive; a click on a cell opens that image large with its
generation parameters."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from app.i18n import tr

from widgets.common.file_inputs import LORA_FILTER, MODEL_FILTER, FileField, FileList
from widgets.tools.tool_panel import ToolPanel, need


class _GridSignal(QObject):
    image = Signal(object, object)  # SampleImage, PIL grid copy


def pil_to_pixmap(im) -> QPixmap:
    im = im.convert("RGB")
    data = im.tobytes("raw", "RGB")
    qim = QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qim)


class GridView(QLabel):
    """Shows the grid as it fills; a click on a cell opens that image large."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.cells: dict[tuple[int, int], object] = {}
        self.geometry_info = None  # (left, top, cell w, cell h)

    def mousePressEvent(self, ev):
        if not self.geometry_info:
            return
        left, top, w, h = self.geometry_info
        x, y = ev.position().x() - left, ev.position().y() - top
        if x < 0 or y < 0:
            return
        item = self.cells.get((int(y // h), int(x // w)))
        if item is None:
            return
        dlg = QDialog(self)
        dlg.setWindowTitle(Path(item.path).name)
        lab = QLabel()
        lab.setPixmap(pil_to_pixmap(item.image).scaled(max(512, item.image.width), max(512, item.image.height),
                                                       Qt.AspectRatioMode.KeepAspectRatio))
        text = QLabel(item.parameters)
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(dlg)
        lay.addWidget(lab)
        lay.addWidget(text)
        dlg.show()


class SamplePanel(ToolPanel):

    def __init__(self, parent=None):
        super().__init__(parent)
        self.base = FileField(MODEL_FILTER)
        self.loras = FileList()
        self.prompt, self.negative = QPlainTextEdit(), QLineEdit()
        self.prompt.setPlaceholderText(tr("One prompt per line, each a group of rows; --n starts a line's own "
                                          "negative prompt"))
        self.prompt.setFixedHeight(3 * self.prompt.fontMetrics().lineSpacing() + 12)
        self.prompt_file = FileField(tr("Text files (*.txt)"))
        self.weights, self.seeds = QLineEdit("0.6 0.8 1.0"), QLineEdit("1")
        for field_, hint in ((self.weights, tr("0.6 0.8 1.0 or a range: 0.4-1.2 [5]")),
                             (self.seeds, tr("1 2 3; -1 for a random seed"))):
            field_.setPlaceholderText(hint)
            field_.setToolTip(hint)  # the field starts filled, so the placeholder alone would never show
        self.fixed_lora = FileField(LORA_FILTER)
        self.fixed_weight = QDoubleSpinBox()
        self.fixed_weight.setRange(-4.0, 4.0)
        self.fixed_weight.setSingleStep(0.1)
        self.fixed_weight.setValue(1.0)
        fixed = QWidget()
        fixed_row = QHBoxLayout(fixed)
        fixed_row.setContentsMargins(0, 0, 0, 0)
        fixed_row.addWidget(self.fixed_lora, 1)
        fixed_row.addWidget(QLabel(tr("weight")))
        fixed_row.addWidget(self.fixed_weight)
        self.steps = QSpinBox()
        self.steps.setRange(1, 200)
        self.steps.setValue(28)
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(1.0, 30.0)
        self.cfg.setValue(7.0)
        self.sampler = QComboBox()
        from_names = ["euler_a", "euler", "dpmsolver++", "dpm++_2m_karras", "ddim", "heun", "lms", "unipc"]
        self.sampler.addItems(from_names)
        self.width_, self.height_ = QSpinBox(), QSpinBox()
        for s, v in ((self.width_, 512), (self.height_, 512)):
            s.setRange(64, 2048)
            s.setSingleStep(64)
            s.setValue(v)
        self.out = FileField("PNG (*.png)", save=True)
        for label, w in [(tr("Base model"), self.base), (tr("LoRA files (rows)"), self.loras),
                         (tr("Prompts"), self.prompt), (tr("Prompt file (optional)"), self.prompt_file),
                         (tr("Negative prompt"), self.negative), (tr("Weights (columns)"), self.weights),
                         (tr("Seeds"), self.seeds), (tr("Second LoRA in every image"), fixed), (tr("Steps"), self.steps),
                         (tr("CFG scale"), self.cfg), (tr("Sampler"), self.sampler), (tr("Width"), self.width_),
                         (tr("Height"), self.height_), (tr("Save grid to"), self.out)]:
            self.form.addRow(label, w)
        self.view = GridView()
        scroll = QScrollArea()
        scroll.setWidget(self.view)
        scroll.setWidgetResizable(True)
        self.result_area.addWidget(scroll, 1)
        self.signal = _GridSignal()
        self.signal.image.connect(self._image)

    def job(self):
        base = need(self.base.path(), tr("a base model"))
        out = need(self.out.path(), tr("where to save the grid"))
        from trainer.errors import UserError
        from trainer.tools.sample_axes import parse_seeds, parse_values, prompt_lines, read_prompt_file

        try:  # torch-free: a typo is answered before anything loads
            prompts = prompt_lines(self.prompt.toPlainText().splitlines(), self.negative.text(), tr("prompt"))
            if self.prompt_file.path():
                prompts += read_prompt_file(self.prompt_file.path(), self.negative.text())
            weights, seeds = parse_values(self.weights.text()), parse_seeds(self.seeds.text())
        except UserError as e:
            raise ValueError(str(e)) from None
        if not prompts:
            need("", tr("a prompt"))
        kw = dict(prompts=prompts, weights=weights, seeds=seeds, steps=self.steps.value(), cfg=self.cfg.value(),
                  sampler=self.sampler.currentText(), width=self.width_.value(), height=self.height_.value(),
                  fixed_lora=self.fixed_lora.path() or None, fixed_weight=self.fixed_weight.value())
        loras = self.loras.paths()
        self.view.cells.clear()
        self._shape = (max(1, len(loras)) * len(prompts), len(seeds) * (len(weights) if loras else 1))
        signal = self.signal

        def run(on_progress, stop):
            from trainer.tools.sample import SampleSettings, sample_grid

            s = SampleSettings(device="auto", **kw)
            return sample_grid(base, loras, s, out, on_progress=on_progress, stop=stop,
                               on_image=lambda item, grid: signal.image.emit(item, grid.copy()))

        return run

    def _image(self, item, grid):
        self.view.cells[(item.row, item.column)] = item
        self.view.setPixmap(pil_to_pixmap(grid))
        rows, cols = self._shape
        w, h = item.image.size
        self.view.geometry_info = (grid.width - w * cols, grid.height - h * rows, w, h)

    def show_result(self, r):
        if r.grid is not None:
            self.view.setPixmap(pil_to_pixmap(r.grid))
            w, h = r.images[0].image.size if r.images else (1, 1)
            left = r.grid.width - w * r.columns
            top = r.grid.height - h * r.rows
            self.view.geometry_info = (left, top, w, h)
        self.status.setText(tr("{n} images in {s:.0f} s; grid saved to {path}. Click a cell to view it large.").format(
            n=len(r.images), s=r.seconds, path=r.grid_path) + " " + tr("Seeds: {seeds}.").format(
            seeds=" ".join(map(str, r.seeds))) + (" " + tr("(stopped)") if r.stopped else ""))
