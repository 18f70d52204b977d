"""The VRAM bar: the estimated peak GPU memory of the current settings (trainer/vram.py, pure arithmetic on the
checkpoint's header) as stacked parts, beside the GPU's total and free memory from NVML (trainer/gpu_info.py).
A legend under the bar names the five kinds of memory (model, network, optimizer, activations, CUDA context)
with their sizes; a marker labelled with the card's memory stands where the card ends, when a card is known.

``update_config(cfg)`` is cheap (the model analysis is cached per file), so it runs on the GUI thread; the
training page calls it through a short single-shot timer so a burst of edits costs one estimate.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.core_text import tr_core
from app.i18n import tr
from app.numbers import trf

# the legend's kinds of memory, in bar order: key -> colour
COLOURS = {"model": "#5b8def", "network": "#3fa77a", "optimizer": "#e39b3b", "activations": "#d9534f",
           "context": "#8e6cc0"}


def kind_names() -> dict[str, str]:
    return {"model": tr("model"), "network": tr("network"), "optimizer": tr("optimizer"),
            "activations": tr("activations"), "context": tr("CUDA context")}
GiB = 1024 ** 3


def kind_of(part) -> str:
    """The legend kind of an estimate part (trainer/vram/report.py Part: group and key)."""
    if part.group == "weights":
        return "model"
    if part.group == "training":
        return "optimizer" if part.key.startswith("optimizer") else "network"
    if part.group == "activations":
        return "activations"
    return "context"  # the CUDA context and the allocator's reserve


def breakdown_html(est) -> str:
    """The estimate's breakdown (the CLI's ``est.format()`` table) as the label's tooltip, in the interface
    language: every part with its size and note, the other peaks and the notes."""
    from html import escape

    def row(label, gib, note=""):
        note = escape(tr_core(note)) if note else ""
        return (f"<tr><td>{escape(tr_core(label))}</td><td align='right' style='padding-left:8px'>"
                f"{trf('{gib:.3f} GiB', gib=gib).replace(' ', '&nbsp;')}</td>"
                f"<td style='padding-left:8px; color:#555'>{note}</td></tr>")

    groups = {"weights": tr("Weights"), "training": tr("Training"), "activations": tr("Activations"),
              "overhead": tr("Overhead")}
    w, h = est.resolution
    head = [trf("Estimate for {family} {model}, {w}x{h}, batch {b}", family=est.family.upper(),
                model=escape(Path(est.model).name), w=w, h=h, b=est.batch_size),
            trf("LoRA: {n} modules, {params} trainable parameters", n=est.lora_modules,
                params=est.trainable_params),
            trf("Calibration: {status} (checked against measured GPU rows)", status=tr_core(est.calibration))]
    rows, group = [], None
    for p in est.parts:
        if p.group != group:
            group = p.group
            rows.append(f"<tr><td colspan=3><b>{escape(groups.get(group, group))}</b></td></tr>")
        rows.append(row(p.label, p.gib, p.note))
    if est.not_added:
        title = tr("Not added (a smaller transient at another moment of the step)")
        rows.append(f"<tr><td colspan=3><b>{title}</b></td></tr>")
        rows += [row(p.label, p.gib, p.note) for p in est.not_added]
    tail = [trf("Live tensors at the peak: {gib:.3f} GiB", gib=est.allocated_bytes / GiB)]
    if est.caching_peak_bytes is not None:
        tail.append(trf("Latent caching: {gib:.3f} GiB", gib=est.caching_peak_bytes / GiB))
    if est.sampling_peak_bytes is not None:
        tail.append(trf("Sample images: {gib:.3f} GiB", gib=est.sampling_peak_bytes / GiB))
    tail += [escape(tr_core(n)) for n in est.notes]
    tail.append("<b>" + trf("Peak: {gib:.2f} GiB", gib=est.peak_gib) + "</b>")
    return ("<br>".join(head) + "<table cellspacing=0>" + "".join(rows) + "</table>" + "<br>".join(tail))


class _Bar(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.parts: list = []  # (bytes, colour)
        self.total: int | None = None
        self.free: int | None = None
        self.peak = 0
        self.marker_text = ""
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
        if self.total:  # the card's size written beside its marker (inside the bar, left of the line)
            gx = r.left() + r.width() * self.total / scale
            text = self.marker_text
            w = self.fontMetrics().horizontalAdvance(text) + 8
            box = QRectF(max(r.left(), gx - w - 2), r.top(), w, r.height())
            p.setPen(QPen(QColor("#111")))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
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
        self.legend = QLabel()
        self.legend.setObjectName("vramLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.gpu_label = QLabel()
        self.gpu_label.setObjectName("hint")
        self.gpu_label.setWordWrap(True)
        lay.addWidget(self.title)
        lay.addWidget(self.bar)
        lay.addWidget(self.legend)
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
            est, err = None, tr_core(str(e))
        self.estimate = est
        self.legend.setText(self.legend_html(est))
        if est is None:
            self.bar.parts, self.bar.peak = [], 0
            self.label.setText(err)
        else:
            order = list(COLOURS)
            parts = sorted(est.parts, key=lambda p: order.index(kind_of(p)))
            self.bar.parts = [(p.bytes, COLOURS[kind_of(p)]) for p in parts]
            self.bar.peak = est.peak_bytes
            d = est.dominant
            share = 100 * d.bytes / max(1, est.training_peak_bytes)
            text = trf("Peak about {peak:.2f} GiB at {w}x{h}, batch {b}; largest part: {part} ({gib:.2f} GiB, "
                       "{share:.0f} %).", peak=est.peak_gib, w=est.resolution[0], h=est.resolution[1],
                       b=est.batch_size, part=tr_core(d.label), gib=d.gib, share=share)
            if gpu is not None:
                if est.peak_bytes <= gpu.free_bytes:
                    text += " " + tr("Fits in the free memory.")
                elif est.peak_bytes <= gpu.total_bytes:
                    text += " " + tr("Fits only when other programs free GPU memory.")
                else:
                    text += " " + tr("Does not fit: see the advice in the tooltip.")
            self.label.setText(text)
            self.label.setToolTip(breakdown_html(est))
        self.bar.total = gpu.total_bytes if gpu else None
        self.bar.free = gpu.free_bytes if gpu else None
        self.bar.marker_text = trf("card {total:.0f} GiB", total=gpu.total_gib) if gpu else ""
        if gpu is None:
            self.gpu_label.setText(tr("No NVIDIA GPU found: the estimate cannot be compared with a card."))
        else:
            self.gpu_label.setText(trf("GPU {i} {name}: {total:.1f} GiB total, {free:.1f} GiB free (black line: "
                                       "total; dashed: in use by other programs)",
                                       i=gpu.index, name=gpu.name, total=gpu.total_gib, free=gpu.free_gib))
        self.bar.update()
        self.updated_at = time.perf_counter()

    @staticmethod
    def legend_html(est) -> str:
        """The legend: a coloured square, the kind's name and (with an estimate) its size."""
        sizes = dict.fromkeys(COLOURS, 0)
        for p in (est.parts if est is not None else []):
            sizes[kind_of(p)] += p.bytes
        items = []
        for key, name in kind_names().items():
            size = " " + trf("{gib:.2f} GiB", gib=sizes[key] / GiB) if est is not None else ""
            items.append(f"<span style='color:{COLOURS[key]}; font-size:13pt'>■</span>&nbsp;{name}{size}")
        return " &nbsp; ".join(items)
