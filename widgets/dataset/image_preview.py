"""The selected image, fitted into the panel, with its facts: pixel size, file size, and the bucket it lands
in for the current settings (the trainer's own bucketing code), with the crop drawn over the picture."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.i18n import tr

from widgets.common.worker import run_task


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _read_preview(path: str, box: int, mask=None) -> tuple[QImage | None, tuple[int, int] | None, QImage | None]:
    """(scaled image, true size after EXIF rotation, masked_loss tint or None) read off the GUI thread."""
    from widgets.dataset.mask_overlay import read_overlay

    from trainer.dataset.images import ImageReadError, image_size

    try:
        size = image_size(path)
    except ImageReadError:
        return None, None, None
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    s = reader.size()
    if s.isValid() and max(s.width(), s.height()) > box:
        reader.setScaledSize(s.scaled(box, box, Qt.AspectRatioMode.KeepAspectRatio))
    img = reader.read()
    if img.isNull():
        return None, size, None
    return img, size, read_overlay(mask, (img.width(), img.height()))


class _Picture(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.pixmap: QPixmap | None = None
        self.crop: tuple[float, float, float, float] | None = None  # fractions of the image (l, t, r, b)
        self.text = ""
        self.mask: QImage | None = None
        self.setMinimumSize(QSize(160, 160))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def paintEvent(self, e):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#2b2d31"))
        if self.pixmap is None or self.pixmap.isNull():
            p.setPen(QColor("#b0b3b8"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.text)
            return
        pm = self.pixmap
        scaled = pm.size().scaled(self.size() - QSize(8, 8), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - scaled.width()) / 2
        y = (self.height() - scaled.height()) / 2
        target = QRectF(x, y, scaled.width(), scaled.height())
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawPixmap(target, pm, QRectF(pm.rect()))
        if self.mask is not None:  # masked_loss: red where the loss ignores the image
            p.drawImage(target, self.mask)
        if self.crop is not None:
            l, t, r, b = self.crop
            inner = QRectF(x + l * target.width(), y + t * target.height(),
                           (r - l) * target.width(), (b - t) * target.height())
            shade = QColor(0, 0, 0, 120)
            p.fillRect(QRectF(target.left(), target.top(), target.width(), inner.top() - target.top()), shade)
            p.fillRect(QRectF(target.left(), inner.bottom(), target.width(), target.bottom() - inner.bottom()), shade)
            p.fillRect(QRectF(target.left(), inner.top(), inner.left() - target.left(), inner.height()), shade)
            p.fillRect(QRectF(inner.right(), inner.top(), target.right() - inner.right(), inner.height()), shade)
            p.setPen(QPen(QColor("#f1c40f"), 1.5, Qt.PenStyle.DashLine))
            p.drawRect(inner)


class ImagePreview(QWidget):
    """``show_entry(entry, bucketer)``; ``bucketer`` is a :class:`trainer.dataset.buckets.Bucketer` or None."""

    BOX = 1024

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.picture = _Picture()
        self.picture.text = tr("No image selected")
        lay.addWidget(self.picture, 1)
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.facts)
        self._path: str | None = None
        self._bucketer = None
        self._size = None
        self._task = None
        self._mask_task = None
        self._mask = None  # mask_source() of the shown image: ("alpha" | "file" | "missing", path)
        self._loading = False  # show_entry's image read is on its way

    def show_entry(self, entry, bucketer=None, cfg=None) -> None:
        """``cfg``: the run's TrainConfig; the image is shown with the mask it trains with (mask_source)."""
        from trainer.dataset.mask_files import mask_source

        self._bucketer = bucketer
        self.picture.mask = None
        if entry is None:
            self._path = None
            self.picture.pixmap = None
            self.picture.crop = None
            self.picture.text = tr("No image selected")
            self.facts.setText("")
            self.picture.update()
            return
        path = os.fspath(entry.path)
        self._path = path
        self._loading = True  # the pixmap shown until then is the previous image's
        self.picture.text = tr("Loading…")
        self.facts.setText(entry.path.name)
        self._mask = mask_source(entry, cfg) if cfg is not None else None
        self._task = run_task(_read_preview, path, self.BOX, self._mask, owner=self,
                              on_done=lambda r, p=path, m=self._mask: self._loaded(p, m, r),
                              on_error=lambda m: None)

    def update_mask(self, entry, cfg) -> None:
        """The run's mask settings changed: the shown image's tint is read again only when the mask it trains
        with changed (a conditioning_data_dir typed a key at a time mostly changes nothing), the image not."""
        from trainer.dataset.mask_files import mask_source

        if entry is None or self._path != os.fspath(entry.path):
            return
        source = mask_source(entry, cfg)
        if source == self._mask:
            return
        self._mask = source
        if self._loading or self.picture.pixmap is None:
            return  # the image is still loading (_loaded reads the new tint) or cannot be read
        if source is None or source[0] == "missing":  # no tint to read: only the facts change
            self.picture.mask = None
            self._update_facts()
        else:
            self._read_overlay()

    def _read_overlay(self) -> None:
        from widgets.dataset.mask_overlay import read_overlay

        path, source, pm = self._path, self._mask, self.picture.pixmap
        self._mask_task = run_task(read_overlay, source, (pm.width(), pm.height()), owner=self,
                                   on_done=lambda t, p=path, s=source: self._overlay_read(p, s, t),
                                   on_error=lambda m: None)

    def _overlay_read(self, path: str, source, tint) -> None:
        if path != self._path or source != self._mask:
            return  # the user moved on, or the mask changed again (its own read follows)
        self.picture.mask = tint
        self._update_facts()

    def set_bucketer(self, bucketer) -> None:
        self._bucketer = bucketer
        self._update_facts()

    def _loaded(self, path: str, source, result) -> None:
        if path != self._path:
            return  # the user moved on
        self._loading = False
        img, size, tint = result
        self._size = size
        self.picture.pixmap = QPixmap.fromImage(img) if img is not None else None
        self.picture.mask = tint if source == self._mask else None
        if img is None:
            self.picture.text = tr("This file cannot be read as an image.")
        elif source != self._mask:  # the mask settings changed while the image loaded: the tint at its size
            self._read_overlay()
        self._update_facts()

    def _update_facts(self) -> None:
        if self._path is None:
            return
        p = Path(self._path)
        try:
            fsize = human_size(p.stat().st_size)
        except OSError:
            fsize = "?"
        if self._size is None:
            self.picture.crop = None
            self.facts.setText(f"<b>{p.name}</b> · {fsize} · <span style='color:#c0392b'>"
                               f"{tr('unreadable or corrupt')}</span>")
            self.picture.update()
            return
        w, h = self._size
        parts = [f"<b>{p.name}</b>", f"{w}×{h} px", fsize]
        self.picture.crop = None
        if self._bucketer is not None:
            from trainer.dataset.buckets import crop_for

            a = self._bucketer.assign(w, h)
            if a.usable:
                l, t, r, b = crop_for(a)
                rw, rh = a.resized
                self.picture.crop = (l / rw, t / rh, r / rw, b / rh)
                parts.append(tr("bucket {bw}×{bh} (resized to {rw}×{rh}{up}, crop {l},{t}–{r},{b})").format(
                    bw=a.bucket[0], bh=a.bucket[1], rw=rw, rh=rh, l=l, t=t, r=r, b=b,
                    up=", " + tr("enlarged") if a.upscaled else ""))
            else:
                parts.append(tr("no usable bucket (too small for bucket_no_upscale)"))
        if self._mask is not None and self._mask[0] == "missing":  # as training would refuse the image
            parts.append("<span style='color:#c0392b'>" + tr("no mask image with this name in {folder}: "
                                                             "masked_loss cannot train it").format(
                folder=self._mask[1]) + "</span>")
        elif self.picture.mask is not None:
            parts.append(tr("mask: red is left out of the loss ({src})").format(
                src=tr("alpha channel") if self._mask[0] == "alpha" else self._mask[1].name))
        self.facts.setText(" · ".join(parts))
        self.picture.update()
