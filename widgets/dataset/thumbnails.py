"""The thumbnail grid's model: every image of the dataset as one row; thumbnails are made lazily, off the GUI
thread, and cached on disk.

* ``data(DecorationRole)`` is only asked for rows the view paints, so only visible images get a thumbnail.
  A missing one is queued (most recently asked first, so the rows on screen win while scrolling) and a
  placeholder is shown meanwhile.
* :class:`ThumbnailLoader` runs at most two pool jobs that take paths off that queue, read the image scaled
  (``QImageReader.setScaledSize``: JPEG decodes at reduced size), and store a PNG in the disk cache keyed by
  path, size, mtime and thumbnail size. Results come back as a queued signal; the model keeps the pixmaps
  of the last few thousand rows.
* Unreadable and zero-byte files get a "broken" placeholder; they are listed by the hygiene panel.
* Filtering (file name, caption text, or an exact ``tag:name``) and sorting happen on plain Python lists and
  reset the model in one step: cheap even for 10,000 rows.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import (QAbstractListModel, QModelIndex, QObject, QRect, QRunnable, QSize, Qt, QThreadPool,
                            QTimer, Signal)
from PySide6.QtGui import QColor, QFont, QImage, QImageReader, QPainter, QPixmap

from app.i18n import tr

from widgets.common.worker import background_thread

THUMB_SIZE = 128
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2

SORT_FOLDER, SORT_NAME, SORT_TAGS = "folder", "name", "tags"


class ThumbnailCache:
    """PNG thumbnails under ``<folder>/thumbnails/<size>/``; the name hashes path, file size and mtime, so an
    edited image gets a new thumbnail. Thread-safe (only QImage and files)."""

    def __init__(self, folder: Path, size: int = THUMB_SIZE):
        self.folder = Path(folder) / "thumbnails" / str(size)
        self.size = size

    def key_path(self, path: Path) -> Path | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = f"{os.fspath(path)}|{st.st_size}|{st.st_mtime_ns}|{self.size}"
        h = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.folder / h[:2] / (h + ".png")

    def load(self, path: Path) -> QImage | None:
        """The thumbnail, from the cache or made now (None: the image cannot be read)."""
        cached = self.key_path(path)
        if cached is None:
            return None
        if cached.exists():
            img = QImage(os.fspath(cached))
            if not img.isNull():
                return img
        img = self.make(path)
        if img is not None:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(f".{cached.name}.{threading.get_ident()}.tmp")
                if img.save(os.fspath(tmp), "PNG"):
                    os.replace(tmp, cached)
            except OSError:
                pass  # a cache that cannot be written only costs time
        return img

    def make(self, path: Path) -> QImage | None:
        try:
            if os.path.getsize(path) == 0:
                return None
        except OSError:
            return None
        reader = QImageReader(os.fspath(path))
        reader.setAutoTransform(True)  # EXIF orientation, like the trainer
        size = reader.size()
        if size.isValid() and size.width() > 0 and size.height() > 0:
            scaled = size.scaled(self.size, self.size, Qt.AspectRatioMode.KeepAspectRatio)
            if scaled.width() < size.width():
                reader.setScaledSize(QSize(max(1, scaled.width()), max(1, scaled.height())))
        img = reader.read()
        if img.isNull():
            return None
        if img.width() > self.size or img.height() > self.size:  # after rotation, or when scaling was refused
            img = img.scaled(self.size, self.size, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        return img


class _LoaderSignals(QObject):
    ready = Signal(str, QImage)
    broken = Signal(str)


class _LoadJob(QRunnable):
    def __init__(self, loader: ThumbnailLoader):
        super().__init__()
        self.loader = loader

    def run(self):
        background_thread()
        loader = self.loader
        while True:
            path = loader._take()
            if path is None:
                return
            try:
                img = loader.cache.load(Path(path))
            except Exception:
                img = None
            if loader._stopped:
                return
            if img is None:
                loader.signals.broken.emit(path)
            else:
                loader.signals.ready.emit(path, img)


class ThumbnailLoader:
    """A LIFO queue of paths worked off by at most ``workers`` pool jobs."""

    def __init__(self, cache: ThumbnailCache, workers: int = 2):
        self.cache = cache
        self.signals = _LoaderSignals()
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(workers)
        self.workers = workers
        self._lock = threading.Lock()
        self._stack: list[str] = []
        self._queued: set[str] = set()
        self._running = 0
        self._stopped = False

    def request(self, path: str) -> None:
        with self._lock:
            if path in self._queued:
                return
            self._queued.add(path)
            self._stack.append(path)
            start = self._running < self.workers
            if start:
                self._running += 1
        if start:
            self.pool.start(_LoadJob(self))

    def _take(self) -> str | None:
        with self._lock:
            if self._stopped or not self._stack:
                self._running -= 1
                return None
            path = self._stack.pop()
            self._queued.discard(path)
            return path

    def clear(self) -> None:
        with self._lock:
            self._stack.clear()
            self._queued.clear()

    def stop(self) -> None:
        self._stopped = True
        self.clear()
        self.pool.waitForDone(2000)

    def pending(self) -> int:
        with self._lock:
            return len(self._stack) + self._running


def _placeholder(size: int, broken: bool) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(QColor(0, 0, 0, 0))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor("#c0392b") if broken else QColor("#9aa0a6"))
    p.setBrush(QColor("#fbeaea") if broken else QColor("#eef0f2"))
    p.drawRoundedRect(QRect(6, 6, size - 12, size - 12), 8, 8)
    if broken:
        f = QFont()
        f.setPointSize(max(8, size // 8))
        f.setBold(True)
        p.setFont(f)
        p.drawText(QRect(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, "✕")
    p.end()
    return pm


class ThumbnailModel(QAbstractListModel):
    """Rows = the filtered, sorted images (``ImageEntry``); see the module doc."""

    thumbnailsPending = Signal(int)

    def __init__(self, cache: ThumbnailCache, parent=None, max_pixmaps: int = 3000):
        super().__init__(parent)
        self.cache = cache
        self.loader = ThumbnailLoader(cache)
        self.loader.signals.ready.connect(self._on_ready)
        self.loader.signals.broken.connect(self._on_broken)
        self._all: list = []  # every ImageEntry of the scan
        self._rows: list = []  # the shown ones, in order
        self._row_of: dict[str, int] = {}
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._broken: set[str] = set()
        self._max = max_pixmaps
        self._concept = None
        self._filter = ""
        self._sort = SORT_FOLDER
        self._placeholder = _placeholder(cache.size, False)
        self._broken_pm = _placeholder(cache.size, True)
        self._dirty_rows: set[int] = set()
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(30)
        self._flush.timeout.connect(self._emit_changed)

    # ------------------------------------------------------------------ contents
    def set_entries(self, entries: list, concept=None) -> None:
        self.loader.clear()
        self._concept = concept
        self._all = list(entries)
        self._pixmaps.clear()
        self._broken.clear()
        self._refresh()

    def entries(self) -> list:
        return list(self._all)

    def shown(self) -> list:
        return list(self._rows)

    def set_concept(self, concept) -> None:
        self._concept = concept
        self._refresh()

    def set_filter(self, text: str) -> None:
        self._filter = text.strip()
        self._refresh()

    def set_sort(self, key: str) -> None:
        self._sort = key
        self._refresh()

    def filter_text(self) -> str:
        return self._filter

    def _matches(self):
        f = self._filter
        if not f:
            return None
        low = f.casefold()
        if low.startswith("tag:"):
            wanted = low[4:].strip()
            return lambda e: wanted in {t.strip().lower() for t in e.caption.split(",")}
        return lambda e: low in e.path.name.casefold() or low in e.caption.casefold()

    def _refresh(self) -> None:
        rows = self._all
        if self._concept is not None:
            rows = [e for e in rows if e.concept is self._concept]
        match = self._matches()
        if match is not None:
            rows = [e for e in rows if match(e)]
        if self._sort == SORT_NAME:
            rows = sorted(rows, key=lambda e: (e.path.name.casefold(), os.fspath(e.path)))
        elif self._sort == SORT_TAGS:
            rows = sorted(rows, key=lambda e: (len([t for t in e.caption.split(",") if t.strip()]),
                                               e.path.name.casefold()))
        self.beginResetModel()
        self._rows = list(rows)
        self._row_of = {os.fspath(e.path): i for i, e in enumerate(self._rows)}
        self._dirty_rows.clear()
        self.endResetModel()

    def refresh(self) -> None:
        """Filter and sort again (after captions changed)."""
        self._refresh()

    def row_of_path(self, path) -> int:
        return self._row_of.get(os.fspath(path), -1)

    def entry(self, row: int):
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def caption_changed(self, entry) -> None:
        row = self.row_of_path(entry.path)
        if row >= 0:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole])

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        e = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return e.path.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self.pixmap(e.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            note = ""
            if e.caption_missing:
                note = "\n" + tr("No caption file: trains on the concept name '{name}'.").format(name=e.concept.name)
            elif e.caption_unreadable:
                note = "\n" + tr("Caption file is not UTF-8: read-only.")
            return f"{e.concept.folder_name}/{e.path.name}\n{e.caption}{note}"
        if role == ENTRY_ROLE:
            return e
        if role == PATH_ROLE:
            return os.fspath(e.path)
        return None

    def pixmap(self, path: Path) -> QPixmap:
        key = os.fspath(path)
        pm = self._pixmaps.get(key)
        if pm is not None:
            self._pixmaps.move_to_end(key)
            return pm
        if key in self._broken:
            return self._broken_pm
        self.loader.request(key)
        return self._placeholder

    def is_broken(self, path) -> bool:
        return os.fspath(path) in self._broken

    def has_thumbnail(self, path) -> bool:
        return os.fspath(path) in self._pixmaps

    def _on_ready(self, path: str, img: QImage) -> None:
        self._pixmaps[path] = QPixmap.fromImage(img)
        while len(self._pixmaps) > self._max:
            self._pixmaps.popitem(last=False)
        self._mark(path)

    def _on_broken(self, path: str) -> None:
        self._broken.add(path)
        self._mark(path)

    def _mark(self, path: str) -> None:
        row = self._row_of.get(path, -1)
        if row >= 0:
            self._dirty_rows.add(row)
            if not self._flush.isActive():
                self._flush.start()

    def _emit_changed(self) -> None:
        rows, self._dirty_rows = sorted(self._dirty_rows), set()
        for r in rows:
            if r < len(self._rows):
                idx = self.index(r)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
        self.thumbnailsPending.emit(self.loader.pending())

    def shutdown(self) -> None:
        self.loader.stop()
