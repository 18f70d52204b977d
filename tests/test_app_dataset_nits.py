"""Dataset page details: thumbnails name their concept, the sort arrow follows the order, the filter's
placeholder is readable in full."""
from __future__ import annotations

from app_fixtures import app_env, page, wait_loaded  # noqa: F401 - fixtures


def test_thumbnails_show_their_concept(qtbot, page):  # noqa: F811
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionViewItem

    delegate = page.view.itemDelegate()
    index = page.model.index(0)
    option = QStyleOptionViewItem()
    size = delegate.sizeHint(option, index)
    assert size.height() >= page.model.cache.size + 46  # room for the file name and the concept line
    drawn = []

    class Recorder(QPainter):
        def drawText(self, *args):  # noqa: N802 - Qt's name
            drawn.append(args[-1])
            return super().drawText(*args)

    img = QImage(size, QImage.Format.Format_ARGB32)
    painter = Recorder(img)
    option.rect = img.rect()
    option.fontMetrics = page.view.fontMetrics()
    delegate.paint(painter, option, index)
    painter.end()
    entry = page.model.entry(0)
    assert entry.path.name in drawn and entry.concept.folder_name in drawn, drawn


def test_sort_arrow_points_down_when_sorted_high_to_low(monkeypatch):
    from PySide6.QtWidgets import QProxyStyle, QStyle, QStyleOptionHeader

    from widgets.dataset.sort_arrow import SortArrowStyle

    seen = []
    monkeypatch.setattr(QProxyStyle, "drawPrimitive", lambda self, el, opt, p, w=None: seen.append(opt.sortIndicator))
    style = SortArrowStyle()
    opt = QStyleOptionHeader()
    opt.sortIndicator = QStyleOptionHeader.SortIndicator.SortUp  # what QHeaderView hands over for descending
    style.drawPrimitive(QStyle.PrimitiveElement.PE_IndicatorHeaderArrow, opt, None)
    opt.sortIndicator = QStyleOptionHeader.SortIndicator.SortDown
    style.drawPrimitive(QStyle.PrimitiveElement.PE_IndicatorHeaderArrow, opt, None)
    assert seen == [QStyleOptionHeader.SortIndicator.SortDown, QStyleOptionHeader.SortIndicator.SortUp]


def test_tag_table_uses_the_arrow_style_and_filter_placeholder_fits(qtbot, page):  # noqa: F811
    from widgets.dataset.sort_arrow import SortArrowStyle

    header = page.tag_stats.table.horizontalHeader()
    assert header.findChild(SortArrowStyle) is not None  # the header's own style (widgets/dataset/sort_arrow.py)
    f = page.filter
    assert f.fontMetrics().horizontalAdvance(f.placeholderText()) + 12 <= f.minimumWidth()
    assert "tag:" in f.toolTip()


def test_many_folders_wrap_the_totals_line_instead_of_widening_the_page(qtbot, page, tmp_path):  # noqa: F811
    from conftest import make_dataset

    many = make_dataset(tmp_path / "many", {f"{n}_concept number {n}": 1 for n in range(1, 13)})
    page.open_dataset(many)
    qtbot.waitUntil(lambda: page.root == many and not page.is_loading(), timeout=10000)
    text = page.totals_bar.totals.text()
    assert "12_concept number 12: 1×12 = 12" in text  # every folder is named
    assert page.totals_bar.minimumSizeHint().width() < 1000 and page.minimumSizeHint().width() <= 1280
