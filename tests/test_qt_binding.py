"""The Qt binding keeps Python's reference counts right. PySide6 6.12.0 returns None from every void method
without a reference of its own: each call of setText, update, start... takes one reference from None, and on
Python 3.11 (where None is not immortal) the interpreter aborts with "none_dealloc" once they run out -
minutes into a session of the app. pyproject.toml excludes that release; this test catches the next one."""
import sys


def test_void_methods_leave_none_references_alone(qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
        timer.stop()
    lost = before - sys.getrefcount(None)
    assert lost < 500, f"PySide6 lost {lost} references to None in 4000 calls"
