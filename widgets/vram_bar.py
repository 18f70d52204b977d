"""The VRAM bar: the estimated peak GPU memory of the current settings (trainer/vram.py, pure arithmetic on the
checkpoint's header) as stacked parts, beside the GPU's total and free memory from NVML (trainer/gpu_info.py).

``update_config(cfg)`` is cheap (the model analysis is cached per file), so it runs on the GUI thread; the
training page calls it through a short single-shot timer so a burst of edits costs one estimate.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.i18n import tr

GROUP_COLOURS = {"weights": "#5b8def", "training": "#e39b3b", "activations": "#d9534f", "overhead": "#9a9a9a"}
GiB = 1024 ** 3


class _Bar(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.parts: list = []  # (bytes, colour)
        self.total: int | None = None
        self.free: int | None = None
        self.peak = 0
        self.setMinimumHeight(22)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def paintEvent(self, _e) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        p.setPen(QPen(QColor("#888")))
        p.setBrush(QColor("#f2f2f2"))
        p.drawRoundedRect(r, 3, 3)
        scale = max(self.peak, self.total or 0, 1) * 1.05
        x = r.left()
        p.setPen(Qt.PenStyle.NoPen)
        for b, colour in self.parts:
            w = r.width() * b / scale
            p.setBrush(QColor(colour))
            p.drawRect(QRectF(x, r.top() + 2, w, r.height() - 4))
            x += w
        for value, colour in ((self.total, "#111"), (None if self.free is None or self.total is None
                                                     else self.total - self.free, "#2a7a2a")):
            if value:
                gx = r.left() + r.width() * value / scale
                p.setPen(QPen(QColor(colour), 2, Qt.PenStyle.SolidLine if colour == "#111" else Qt.PenStyle.DashLine))
                p.drawLine(int(gx), int(r.top()), int(gx), int(r.bottom()))
        p.end()


class VramBar(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        self.title = QLabel(tr("Estimated GPU memory"))
        self.title.setObjectName("subTitle")
        self.bar = _Bar()
        self.label = QLabel(tr("Choose a base model to estimate GPU memory."))
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.gpu_label = QLabel()
        self.gpu_label.setObjectName("hint")
        self.gpu_label.setWordWrap(True)
        lay.addWidget(self.title)
        lay.addWidget(self.bar)
        lay.addWidget(self.label)
        lay.addWidget(self.gpu_label)
        self.estimate = None
        self.updated_at = 0.0  # time.perf_counter() of the last update (tests measure latency with it)
        self._gpus = None
        self._gpus_at = -1e9

    def gpus(self):
        """NVML answers in a millisecond, but there is no need to ask more than once a second."""
        now = time.monotonic()
        if now - self._gpus_at > 1.0:
            from trainer.gpu_info import query_gpus

            self._gpus = query_gpus()
            self._gpus_at = now
        return self._gpus

    def update_config(self, cfg) -> None:
        from trainer.errors import UserError
        from trainer.vram import estimate

        gpus = self.gpus()
        gpu = gpus[0] if gpus else None
        try:
            est = estimate(cfg) if cfg.pretrained_model_name_or_path else None
            err = None if est is not None else tr("Choose a base model to estimate GPU memory.")
        except (UserError, OSError, ValueError) as e:
            est, err = None, str(e)
        self.estimate = est
        if est is None:
            self.bar.parts, self.bar.peak = [], 0
            self.label.setText(err)
        else:
            self.bar.parts = [(p.bytes, GROUP_COLOURS.get(p.group, "#999")) for p in est.parts]
            self.bar.peak = est.peak_bytes
            d = est.dominant
            share = 100 * d.bytes / max(1, est.training_peak_bytes)
            text = tr("Peak about {peak:.2f} GiB at {w}x{h}, batch {b}; largest part: {part} ({gib:.2f} GiB, "
                      "{share:.0f} %).").format(peak=est.peak_gib, w=est.resolution[0], h=est.resolution[1],
                                                b=est.batch_size, part=d.label, gib=d.gib, share=share)
            if gpu is not None:
                if est.peak_bytes <= gpu.free_bytes:
                    text += " " + tr("Fits in the free memory.")
                elif est.peak_bytes <= gpu.total_bytes:
                    text += " " + tr("Fits only when other programs free GPU memory.")
                else:
                    text += " " + tr("Does not fit: see the advice in the tooltip.")
            self.label.setText(text)
            self.label.setToolTip("<pre>" + est.format() + "</pre>")
        self.bar.total = gpu.total_bytes if gpu else None
        self.bar.free = gpu.free_bytes if gpu else None
        if gpu is None:
            self.gpu_label.setText(tr("No NVIDIA GPU found: the estimate cannot be compared with a card."))
        else:
            self.gpu_label.setText(tr("GPU {i} {name}: {total:.1f} GiB total, {free:.1f} GiB free (black line: "
                                      "total; dashed: in use by other programs)").format(
                i=gpu.index, name=gpu.name, total=gpu.total_gib, free=gpu.free_gib))
        self.bar.update()
        self.updated_at = time.perf_counter()
