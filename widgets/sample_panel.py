"""The sample-grid panel of the Tools page: base model x LoRA files x weights x seeds, drawn as the images
arrive; a click on a cell opens that image large with its generation parameters."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QDialog, QDoubleSpinBox, QLabel, QLineEdit, QScrollArea, QSpinBox, QVBoxLayout

from app.i18n import tr

from .file_inputs import MODEL_FILTER, FileField, FileList
from .tool_panel import ToolPanel, need


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
        self.prompt, self.negative = QLineEdit(), QLineEdit()
        self.weights, self.seeds = QLineEdit("0.6 0.8 1.0"), QLineEdit("1")
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
                         (tr("Prompt"), self.prompt), (tr("Negative prompt"), self.negative),
                         (tr("Weights (columns)"), self.weights), (tr("Seeds"), self.seeds), (tr("Steps"), self.steps),
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
        prompt = need(self.prompt.text().strip(), tr("a prompt"))
        from_text = lambda t, f: [f(x) for x in t.replace(",", " ").split()]  # noqa: E731
        kw = dict(prompt=prompt, negative=self.negative.text(), weights=from_text(self.weights.text(), float),
                  seeds=from_text(self.seeds.text(), int), steps=self.steps.value(), cfg=self.cfg.value(),
                  sampler=self.sampler.currentText(), width=self.width_.value(), height=self.height_.value())
        loras = self.loras.paths()
        self.view.cells.clear()
        self._shape = (max(1, len(loras)), len(kw["seeds"]) * (len(kw["weights"]) if loras else 1))
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
            n=len(r.images), s=r.seconds, path=r.grid_path) + (" " + tr("(stopped)") if r.stopped else ""))
