"""Image Grid's extras: the frame-colour legend and the whole grid as an image.

``ColorLegend`` lists what the frame colours mean (a swatch per value of a
categorical column, or a colour bar with its range for a numeric one); it is
shown in the widget and drawn under the grid in saved images and reports.
``grid_picture`` puts the two together; ``png_data_uri`` embeds an image in
a report.
"""
import base64
from typing import List, Optional, Sequence, Tuple

from AnyQt.QtCore import QBuffer, QByteArray, QRect, QSize, Qt
from AnyQt.QtGui import QColor, QImage, QLinearGradient, QPainter
from AnyQt.QtWidgets import QSizePolicy, QWidget

SWATCH = 12
ROW = 17
BAR_WIDTH = 140
#: More values than this are listed in two columns.
ONE_COLUMN = 3


class ColorLegend(QWidget):
    """What the frame colours mean; empty (and hidden) without a colour column."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = ""
        self.items: List[Tuple[QColor, str]] = []
        self.gradient: Optional[Tuple[Sequence[QColor], str, str]] = None
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        self.hide()

    def set_discrete(self, title: str, items: Sequence[Tuple[QColor, str]]) -> None:
        """One swatch per value: ``items`` are (colour, value name) pairs."""
        self.title, self.items, self.gradient = title, list(items), None
        self._changed()

    def set_continuous(self, title: str, colors: Sequence[QColor], low: str, high: str):
        """A colour bar from ``colors[0]`` (at ``low``) to ``colors[-1]`` (at ``high``)."""
        self.title, self.items, self.gradient = title, [], (list(colors), low, high)
        self._changed()

    def clear(self) -> None:
        self.title, self.items, self.gradient = "", [], None
        self._changed()

    def is_empty(self) -> bool:
        return not self.items and self.gradient is None

    def _changed(self):
        self.setVisible(not self.is_empty())
        self.updateGeometry()
        self.update()

    def _columns(self) -> int:
        return 1 if len(self.items) <= ONE_COLUMN else 2

    def content_height(self) -> int:
        if self.is_empty():
            return 0
        rows = -(-len(self.items) // self._columns()) if self.items else 2
        return ROW * (rows + 1) + 4

    def sizeHint(self) -> QSize:
        return QSize(160, self.content_height())

    def minimumSizeHint(self) -> QSize:
        return QSize(100, self.content_height())

    def paintEvent(self, _):
        painter = QPainter(self)
        self.paint(painter, self.rect())
        painter.end()

    def paint(self, painter: QPainter, rect: QRect) -> None:
        """Draw the legend into ``rect`` (the widget, or a strip of a saved image)."""
        if self.is_empty():
            return
        painter.save()
        painter.setPen(self.palette().text().color())
        metrics = painter.fontMetrics()
        x, y = rect.left() + 2, rect.top() + 2
        painter.drawText(QRect(x, y, rect.width() - 4, ROW), Qt.AlignLeft | Qt.AlignVCenter,
                         metrics.elidedText(self.title, Qt.ElideRight, rect.width() - 4))
        y += ROW
        columns = self._columns()
        per_column = -(-len(self.items) // columns)
        column_width = (rect.width() - 4) // columns
        for i, (color, text) in enumerate(self.items):
            left = x + (i // per_column) * column_width
            top = y + (i % per_column) * ROW
            painter.fillRect(QRect(left + 4, top + (ROW - SWATCH) // 2, SWATCH, SWATCH), color)
            width = column_width - SWATCH - 14
            painter.drawText(QRect(left + SWATCH + 10, top, width, ROW),
                             Qt.AlignLeft | Qt.AlignVCenter,
                             metrics.elidedText(text, Qt.ElideRight, width))
        y += per_column * ROW if self.items else 0
        if self.gradient is not None:
            colors, low, high = self.gradient
            width = min(BAR_WIDTH, rect.width() - 8)
            bar = QRect(x + 4, y + 3, width, ROW - 6)
            fill = QLinearGradient(bar.left(), 0, bar.right(), 0)
            for i, color in enumerate(colors):
                fill.setColorAt(i / max(1, len(colors) - 1), color)
            painter.fillRect(bar, fill)
            y += ROW
            painter.drawText(QRect(x + 4, y, width, ROW), Qt.AlignLeft | Qt.AlignVCenter, low)
            painter.drawText(QRect(x + 4, y, width, ROW), Qt.AlignRight | Qt.AlignVCenter, high)
        painter.restore()


def grid_picture(grid: QImage, legend: Optional[ColorLegend]) -> QImage:
    """The grid image with the legend (if any) in a strip under it."""
    if legend is None or legend.is_empty():
        return grid
    strip = legend.content_height() + 8
    picture = QImage(max(grid.width(), 180), grid.height() + strip, QImage.Format_RGB32)
    picture.fill(legend.palette().base().color())
    painter = QPainter(picture)
    painter.drawImage(0, 0, grid)
    legend.paint(painter, QRect(6, grid.height() + 4, picture.width() - 12, strip - 8))
    painter.end()
    return picture


def png_data_uri(image: QImage) -> str:
    """``image`` as a ``data:image/png;base64,...`` URI (for reports)."""
    buffer = QBuffer()
    buffer.open(QBuffer.WriteOnly)
    image.save(buffer, "PNG")
    data = base64.b64encode(QByteArray(buffer.data()).data()).decode("ascii")
    return f"data:image/png;base64,{data}"
