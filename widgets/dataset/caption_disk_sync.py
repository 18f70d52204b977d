"""Keeping the caption editor in step with its file on disk: the file watcher, the check before every save
(modification time and size, then the text), the "changed on disk" bar with "Reload" and "Keep mine", and
reloading after undo/redo or a bulk edit changed the file.

:class:`CaptionDiskSync` is a mixin of :class:`widgets.dataset.caption_editor.CaptionEditor`; it uses the editor's
``watcher`` (a QFileSystemWatcher), ``conflict`` bar, ``message`` signal, its state (``entry``, ``path``,
``disk_text``, ``newline``, ``encoding``, ``readonly``, ``_stamp``, ``_committing``) and its ``_load``,
``text``, ``is_dirty``, ``_set_dirty``, ``_baseline`` and ``save``.
"""
from __future__ import annotations

import os
from pathlib import Path

from app.i18n import tr


def file_stamp(path: Path):
    """(modification time, size) of ``path``, or None when it cannot be read."""
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return None


class CaptionDiskSync:
    """Notice and settle changes made to the caption file by others (mixin of the editor, see the module doc)."""

    def _changed_on_disk(self) -> bool:
        from trainer.dataset.captions import read_caption

        if file_stamp(self.path) == self._stamp:
            return False
        try:
            now = read_caption(self.path).text if self.path.exists() else None
        except Exception:
            return True
        return now != self.disk_text

    def _watch(self) -> None:
        self._unwatch()
        if self.path is None:
            return
        if self.path.exists():
            self.watcher.addPath(os.fspath(self.path))
        self.watcher.addPath(os.fspath(self.path.parent))

    def _unwatch(self) -> None:
        paths = self.watcher.files() + self.watcher.directories()
        if paths:
            self.watcher.removePaths(paths)

    def _on_file_event(self, _path: str) -> None:
        self.check_disk()

    def check_disk(self) -> None:
        """Compare the file with what the editor knows; reload or ask (see module doc)."""
        if self.entry is None or self.readonly:
            return
        if self.path.exists() and os.fspath(self.path) not in self.watcher.files():
            self.watcher.addPath(os.fspath(self.path))  # an atomic replace drops the watch
        if not self._changed_on_disk():
            self._stamp = file_stamp(self.path)
            return
        if self.is_dirty():
            self._show_conflict()
        else:
            self._load()
            self.message.emit(tr("{name} was changed on disk and has been reloaded.").format(name=self.path.name))

    def _show_conflict(self) -> None:
        self.conflict.show()

    def reload_from_disk(self) -> None:
        self.conflict.hide()
        self._load()

    def keep_mine(self) -> None:
        """Overwrite the file changed on disk with the editor's text (undo brings the disk version back)."""
        from trainer.dataset.captions import read_caption

        self.conflict.hide()
        mine = self.text()
        try:
            cf = read_caption(self.path) if self.path.exists() else None
        except Exception as e:
            self.message.emit(str(e))
            return
        self.disk_text = cf.text if cf is not None else None
        if cf is not None:
            self.newline, self.encoding = cf.newline, cf.encoding
        self._stamp = file_stamp(self.path)
        self._set_dirty(mine != self._baseline())
        self.save()

    def _on_store_changed(self, paths: list) -> None:
        """Undo/redo or a bulk edit changed files: reload ours when it is among them."""
        if self._committing or self.path is None or self.path not in {Path(p) for p in paths}:
            return
        from trainer.dataset.captions import read_caption

        try:
            now = read_caption(self.path).text if self.path.exists() else None
        except Exception:
            return
        if now == self.disk_text:
            return
        if self.is_dirty():
            self._show_conflict()
        else:
            self._load()
