"""The base of every Tools panel: a form on top, Run/Stop with a progress bar, a result area below; the panel's
``trainer.tools`` function runs in a worker thread (``widgets.worker.run_task``)."""
from __future__ import annotations

import threading

from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from app.i18n import tr

from .worker import run_task


class ToolPanel(QWidget):
    """Form on top, Run/Stop with a progress bar, a result area below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = QFormLayout()
        self.run_btn, self.stop_btn = QPushButton(tr("Run")), QPushButton(tr("Stop"))
        self.stop_btn.setEnabled(False)
        self.run_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.run_btn)
        row.addWidget(self.stop_btn)
        row.addWidget(self.progress, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.result_area = QVBoxLayout()
        lay.addLayout(self.result_area, 1)
        self.task = None
        self._stop = threading.Event()

    # subclasses: job() -> (callable taking on_progress, stop), show(result)
    def job(self):
        raise NotImplementedError

    def show_result(self, result):
        raise NotImplementedError

    def start(self):
        try:
            fn = self.job()
        except ValueError as e:
            self.status.setText(str(e))
            return
        self._stop = threading.Event()
        stop = self._stop
        self.run_btn.setEnabled(False)
        self.stop_btn.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(tr("Working…"))

        def call(on_progress=None, cancel=None):
            from trainer.imports import ml_imports

            ml_imports(tools=True)  # other threads may be importing the same libraries (trainer/imports.py)
            return fn(on_progress, stop)

        self.task = run_task(call, on_done=self._done, on_error=self._failed, on_progress=self._progress, owner=self)

    def stop(self):
        self._stop.set()

    def _progress(self, done, total):
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _finish(self):
        self.run_btn.setEnabled(True)
        self.stop_btn.setEnabled(False)
        self.task = None

    def _done(self, result):
        self._finish()
        self.status.setText(tr("Done."))
        self.show_result(result)

    def _failed(self, msg):
        self._finish()
        self.status.setText(msg)

    @staticmethod
    def fill_table(table: QTableWidget, headers, rows):
        table.clear()
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                table.setItem(i, j, QTableWidgetItem("" if v is None else str(v)))
        table.resizeColumnsToContents()


def need(value: str, what: str) -> str:
    """The value, or a ValueError asking the user to choose it (shown in the panel's status line)."""
    if not value:
        raise ValueError(tr("Choose {what} first.").format(what=what))
    return value
