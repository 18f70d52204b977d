"""Waiting for a view's first paint before starting heavy work (see TrainView.after_first_paint)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer


class AfterFirstPaint(QObject):
    """Calls back once the watched widgets have painted and the window has been quiet (no paint) for
    ``quiet_ms`` - the first paint's layout changes cause a second, smaller one -, or after ``timeout_ms``
    (a hidden window never paints)."""

    def __init__(self, widgets, callback, quiet_ms: int, timeout_ms: int, parent):
        super().__init__(parent)
        self.widgets = list(widgets)
        self.unpainted = list(widgets[1:])  # widgets[0] is the view; its children follow
        self.callback = callback
        self.quiet = QTimer(self)
        self.quiet.setSingleShot(True)
        self.quiet.setInterval(quiet_ms)
        self.quiet.timeout.connect(self._fire)
        self.limit = QTimer(self)
        self.limit.setSingleShot(True)
        self.limit.timeout.connect(self._fire)
        self.limit.start(timeout_ms)
        for w in self.widgets:
            w.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.unpainted = [w for w in self.unpainted if w is not obj]
            if not self.unpainted:
                self.quiet.start()  # restarted by every later paint
        return False

    def _fire(self) -> None:
        if self.callback is None:
            return
        cb, self.callback = self.callback, None
        self.quiet.stop()
        self.limit.stop()
        for w in self.widgets:
            w.removeEventFilter(self)
        cb()
