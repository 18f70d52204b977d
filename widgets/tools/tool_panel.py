"""The base of every Tools panel: a titled form on top, Run/Stop with a progress bar and the panel's own status
line, titled result boxes below (each shows a placeholder saying what will appear until a result comes); the
panel's ``trainer.tools`` function runs in a worker thread (``widgets.common.worker.run_task``)."""
from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.i18n import tr

from widgets.common.numbers import fmt_cell
from widgets.common.worker import run_task


class ResultBox(QGroupBox):
    """A titled box showing ``widget`` once it has a result, the placeholder text before."""

    def __init__(self, title: str, placeholder: str, widget: QWidget, parent=None):
        super().__init__(title, parent)
        self.placeholder = QLabel(placeholder)
        self.placeholder.setObjectName("placeholderHint")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.widget = widget
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(widget)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.stack)

    def show_result(self, shown: bool = True) -> None:
        self.stack.setCurrentIndex(1 if shown else 0)

    def has_result(self) -> bool:
        return self.stack.currentIndex() == 1


class ToolPanel(QWidget):
    """Form on top, Run/Stop with a progress bar and a status line, result boxes below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form_box = QGroupBox()  # subclasses title it: what the panel does, in one line
        self.form_box.setLayout(self.form)
        self.run_btn, self.stop_btn = QPushButton(tr("Run")), QPushButton(tr("Stop"))
        self.stop_btn.setEnabled(False)
        self.run_btn.clicked.connect(self.start)
        self.stop_btn.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setObjectName("toolProgress")
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(tr("not started"))
        self.status = QLabel(tr("Fill in the fields above and press Run."))
        self.status.setObjectName("toolStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.run_btn)
        row.addWidget(self.stop_btn)
        row.addWidget(self.progress, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.form_box)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.result_area = QVBoxLayout()
        lay.addLayout(self.result_area, 1)
        self.boxes: list[ResultBox] = []
        self.task = None
        self._stop = threading.Event()

    def add_result(self, title: str, placeholder: str, widget: QWidget, stretch: int = 1) -> ResultBox:
        box = ResultBox(title, placeholder, widget)
        self.boxes.append(box)
        self.result_area.addWidget(box, stretch)
        return box

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
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress.setFormat("%p %")
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

    def _finish(self, text: str):
        self.run_btn.setEnabled(True)
        self.stop_btn.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if text == "done" else 0)
        self.progress.setFormat(tr("done") if text == "done" else tr("failed"))
        self.task = None

    def _done(self, result):
        self._finish("done")
        self.status.setText(tr("Done."))
        self.show_result(result)
        for box in self.boxes:
            box.show_result(True)

    def _failed(self, msg):
        self._finish("failed")
        from app.core_text import tr_core

        self.status.setText(tr_core(msg))

    @staticmethod
    def fill_table(table: QTableWidget, headers, rows):
        table.clear()
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                item = QTableWidgetItem(fmt_cell(v))
                if isinstance(v, int | float) and not isinstance(v, bool):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(i, j, item)
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)


def make_table() -> QTableWidget:
    t = QTableWidget()
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setVisible(False)
    t.setSortingEnabled(False)
    return t


def need(value: str, what: str) -> str:
    """The value, or a ValueError asking the user to choose it (shown in the panel's status line)."""
    if not value:
        raise ValueError(tr("Choose {what} first.").format(what=what))
    return value
