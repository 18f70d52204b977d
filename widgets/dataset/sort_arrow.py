"""Sort arrows that point the way the column reads: ▼ when sorted high to low, ▲ when low to high.

Qt's header hands the style "SortUp" for a descending sort (an arrow pointing up while the biggest value is on
top); this proxy style swaps the two for the headers it is set on.
"""
from __future__ import annotations

from PySide6.QtWidgets import QProxyStyle, QStyle, QStyleOptionHeader


class SortArrowStyle(QProxyStyle):
    def drawPrimitive(self, element, option, painter, widget=None):  # noqa: N802 - Qt's name
        if element == QStyle.PrimitiveElement.PE_IndicatorHeaderArrow and isinstance(option, QStyleOptionHeader):
            flipped = QStyleOptionHeader(option)
            up, down = QStyleOptionHeader.SortIndicator.SortUp, QStyleOptionHeader.SortIndicator.SortDown
            if option.sortIndicator == up:
                flipped.sortIndicator = down
            elif option.sortIndicator == down:
                flipped.sortIndicator = up
            option = flipped
        super().drawPrimitive(element, option, painter, widget)


def point_sort_arrow_down_for_descending(header) -> None:
    """Give ``header`` (a QHeaderView) arrows that follow the order (the style lives as long as the header)."""
    style = SortArrowStyle(header.style().name()) if header.style() is not None else SortArrowStyle()
    style.setParent(header)
    header.setStyle(style)
