"""Sample images in the Progress view: the newest image of every prompt on the left, and beside it the
chosen prompt's images over the run (a strip, oldest left). Double-click enlarges an image; with two
images of the strip selected, Compare shows them side by side with their step or epoch.

Thumbnails are decoded in a pool thread, at thumbnail size where the format allows it (QImageReader's scaled
size: JPEG decodes at a fraction of the work), once per file: a run's 1024 px PNGs never stall the GUI thread,
and switching prompts reuses them."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QImageReader, QPixmap
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

from app.i18n import tr

THUMB = 112  # px
EVENT_ROLE = Qt.ItemDataRole.UserRole


def when_text(e) -> str:
    """'epoch 2' for epoch-end samples, 'step 120' for step samples, 'start' before the first step."""
    if e.epoch is not None and e.step == 0:
        return tr("start")
    if e.epoch is not None:
        return tr("epoch {epoch}").format(epoch=e.epoch)
    return tr("step {step}").format(step=e.step)


def thumbnail(path: str) -> QImage:
    """The image at ``path`` scaled to fit THUMB x THUMB (a null image when it cannot be read); safe off the
    GUI thread (QImage, not QPixmap)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and (size.width() > THUMB or size.height() > THUMB):
        reader.setScaledSize(size.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
    img = reader.read()
    if not img.isNull() and (img.width() > THUMB or img.height() > THUMB):  # a reader that ignores the size
        img = img.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
    return img


def _list(flow_height: int) -> QListWidget:
    w = QListWidget()
    w.setViewMode(QListWidget.ViewMode.IconMode)
    w.setFlow(QListWidget.Flow.LeftToRight)
    w.setWrapping(False)
    w.setIconSize(QSize(THUMB, THUMB))
    w.setMovement(QListWidget.Movement.Static)
    w.setResizeMode(QListWidget.ResizeMode.Adjust)
    w.setFixedHeight(flow_height)
    w.setHorizontalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
    return w


class ImageDialog(QDialog):
    """One or two sample images at full size, each with its prompt and when it was made."""

    def __init__(self, events: list, parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr("Sample images"))
        row = QHBoxLayout(self)
        for e in events:
            col = QVBoxLayout()
            img = QLabel()
            pix = QPixmap(e.path)
            if pix.width() < 384:  # tiny test images: enlarge, but keep the pixels sharp
                pix = pix.scaled(pix.width() * 2, pix.height() * 2, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.FastTransformation)
            img.setPixmap(pix)
            caption = QLabel(f"<b>{when_text(e)}</b> · #{e.prompt_index} {e.prompt}")
            caption.setWordWrap(True)
            caption.setMaximumWidth(max(240, pix.width()))
            col.addWidget(img)
            col.addWidget(caption)
            row.addLayout(col)


class SampleStrip(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        title = QLabel(tr("Sample images"))
        title.setObjectName("subTitle")
        self.hint = QLabel(tr("Left: the newest image of each prompt; click one to see it over time on the right."))
        self.hint.setObjectName("hint")
        self.compare_btn = QPushButton(tr("Compare two"))
        self.compare_btn.setToolTip(tr("Select two images of the strip on the right (Ctrl+click) to see them side by side"))
        self.compare_btn.setEnabled(False)
        self.compare_btn.clicked.connect(self.compare)
        head.addWidget(title)
        head.addWidget(self.hint, 1)
        head.addWidget(self.compare_btn)
        lay.addLayout(head)
        self.latest = _list(THUMB + 44)
        self.history = _list(THUMB + 44)
        self.history.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        rows = QHBoxLayout()
        rows.addWidget(self.latest, 2)
        rows.addWidget(self.history, 3)
        lay.addLayout(rows)
        self.latest.currentItemChanged.connect(lambda *_: self._show_history())
        self.history.itemSelectionChanged.connect(
            lambda: self.compare_btn.setEnabled(len(self.history.selectedItems()) == 2))
        for w in (self.latest, self.history):
            w.itemDoubleClicked.connect(lambda item: self._open([item.data(EVENT_ROLE)]))
        self.clear()

    def clear(self) -> None:
        self.samples: dict[int, list] = {}  # prompt index -> its Sample events, oldest first
        self._icons: dict[str, QIcon | None] = {}  # path -> thumbnail (None while it is decoded)
        self.latest.clear()
        self.history.clear()
        self.compare_btn.setEnabled(False)
        self.hide()  # shown with the first sample image

    def add(self, e) -> None:
        """A Sample event: newest of its prompt in the top row; the strip follows the prompt shown."""
        self.samples.setdefault(e.prompt_index, []).append(e)
        self.show()
        item = self._item_of(e.prompt_index)
        if item is None:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole + 1, e.prompt_index)
            self.latest.addItem(item)
        self._fill(item, e, f"#{e.prompt_index} · {when_text(e)}")
        current = self.latest.currentItem()
        if current is None:
            self.latest.setCurrentItem(item)
        elif current is item:
            self._add_history(e)

    def _item_of(self, index: int):
        for i in range(self.latest.count()):
            if self.latest.item(i).data(Qt.ItemDataRole.UserRole + 1) == index:
                return self.latest.item(i)
        return None

    def _fill(self, item: QListWidgetItem, e, text: str) -> None:
        item.setText(text)
        item.setToolTip(f"{e.prompt}\n{Path(e.path).name}")
        item.setData(EVENT_ROLE, e)
        path = str(e.path)
        if path not in self._icons:
            self._icons[path] = None
            from widgets.common.worker import run_task

            run_task(thumbnail, path, on_done=lambda img, p=path: self._decoded(p, img),
                     on_error=lambda _msg, p=path: self._decoded(p, QImage()), owner=self)
        item.setIcon(self._icons[path] or QIcon())

    def _decoded(self, path: str, img: QImage) -> None:
        """A thumbnail is ready: every item showing that file gets it."""
        if path not in self._icons:  # cleared for a new run meanwhile
            return
        icon = QIcon(QPixmap.fromImage(img)) if not img.isNull() else QIcon()
        self._icons[path] = icon
        for w in (self.latest, self.history):
            for i in range(w.count()):
                item = w.item(i)
                if str(item.data(EVENT_ROLE).path) == path:
                    item.setIcon(icon)

    def pending(self) -> bool:
        """True while thumbnails are being decoded."""
        return any(v is None for v in self._icons.values())

    def _add_history(self, e) -> None:
        item = QListWidgetItem()
        self._fill(item, e, when_text(e))
        self.history.addItem(item)
        self.history.scrollToItem(item)

    def _show_history(self) -> None:
        self.history.clear()
        item = self.latest.currentItem()
        if item is None:
            return
        for e in self.samples.get(item.data(Qt.ItemDataRole.UserRole + 1), []):
            self._add_history(e)

    def compare(self) -> None:
        chosen = sorted((i.data(EVENT_ROLE) for i in self.history.selectedItems()), key=lambda e: e.step)
        if len(chosen) == 2:
            self._open(chosen)

    def _open(self, events: list) -> None:
        self.dialog = ImageDialog(events, self)
        self.dialog.show()
