"""Label Images' views: a keyboard-driven thumbnail grid and a large preview with boxes.

``LabelGrid`` is the viewer's ``ThumbnailGrid`` (lazy thumbnails decoded in
background threads, only the visible cells painted) with a current cell and
the labelling keys: 1-9 assign the n-th class, 0/Delete clear, arrows move,
Shift+arrows extend the selection, Ctrl+Z undo, Ctrl+Shift+Z (or Ctrl+Y) redo.
It only says what was asked (signals); the widget changes the labels.

``PreviewPane`` shows the current image large (its own loader, so scrolling
the grid never drops it) and draws the image's boxes, given in pixels of the
stored image.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
from AnyQt.QtCore import QRect, QRectF, QSize, Qt, pyqtSignal as Signal
from AnyQt.QtGui import QColor, QPainter, QPen
from AnyQt.QtWidgets import QSizePolicy, QWidget

from .imageviews import GROUP_COLORS, ThumbnailGrid
from .thumbnails import ThumbnailLoader

#: (x min, y min, x max, y max, label) in pixels of the stored image
Box = Tuple[float, float, float, float, str]


def class_color(index: int) -> QColor:
    """The colour of the n-th class (0-based), as in Orange's palettes."""
    return GROUP_COLORS[index % len(GROUP_COLORS)]


class LabelGrid(ThumbnailGrid):
    """A ThumbnailGrid with a current cell and the labelling keys."""
    labelKey = Signal(int)        # 1..9: the n-th class; 0: no label
    undoRequested = Signal()
    redoRequested = Signal()
    currentChanged = Signal(int)  # view index

    def __init__(self, parent=None, **kwargs):
        super().__init__(parent, flow=True, multi_group=False, **kwargs)
        self._anchor = -1

    def current(self) -> int:
        return self._current

    def set_current(self, index: int, extend: bool = False) -> None:
        """Make ``index`` current and select it (or the range from the anchor)."""
        if not 0 <= index < self.count():
            return
        if not extend or self._anchor < 0:
            self._anchor = index
            self.select([index])
        else:
            low, high = sorted((self._anchor, index))
            self.select(range(low, high + 1))
        self._current = index
        self.ensure_visible(index)
        self.currentChanged.emit(index)

    def selected(self) -> np.ndarray:
        """View indices of the selected cells (the current one if none is selected)."""
        rows = np.flatnonzero(self.groups())
        if not len(rows) and self._current >= 0:
            rows = np.array([self._current])
        return rows

    def ensure_visible(self, index: int) -> None:
        row, col = self._cells[index]
        rect = self.cell_rect(int(row), int(col))
        view = self.viewport().rect()
        bar = self.verticalScrollBar()
        if rect.top() < 0:
            bar.setValue(bar.value() + rect.top() - self.SPACING)
        elif rect.bottom() + self.LABEL_HEIGHT > view.bottom():
            bar.setValue(bar.value() + rect.bottom() + self.LABEL_HEIGHT
                         - view.bottom() + self.SPACING)
        self.viewport().update()

    def set_items(self, locations, cells=None, shape=None) -> None:
        super().set_items(locations, cells, shape)
        self._anchor = -1

    def keyPressEvent(self, event):
        key, modifiers = event.key(), event.modifiers()
        control = bool(modifiers & Qt.ControlModifier)
        if control and key == Qt.Key_Z:
            (self.redoRequested if modifiers & Qt.ShiftModifier else self.undoRequested).emit()
            return
        if control and key == Qt.Key_Y:
            self.redoRequested.emit()
            return
        if not control and Qt.Key_0 <= key <= Qt.Key_9:
            self.labelKey.emit(key - Qt.Key_0)
            return
        if key in (Qt.Key_Delete, Qt.Key_Backspace):
            self.labelKey.emit(0)
            return
        moves = {Qt.Key_Left: (0, -1), Qt.Key_Right: (0, 1),
                 Qt.Key_Up: (-1, 0), Qt.Key_Down: (1, 0)}
        if key in moves and self.count():
            self.set_current(self._moved(*moves[key]),
                             extend=bool(modifiers & Qt.ShiftModifier))
            return
        super().keyPressEvent(event)

    def _moved(self, drow: int, dcol: int) -> int:
        if self._current < 0:
            return 0
        cols = max(self._shape[1], 1)
        if dcol:  # left/right run on through the rows, as in reading order
            return int(min(max(self._current + dcol, 0), self.count() - 1))
        target = self._current + drow * cols
        return int(target) if 0 <= target < self.count() else self._current

    def mouseReleaseEvent(self, event):
        super().mouseReleaseEvent(event)
        if self._current >= 0:
            self._anchor = self._current
            self.currentChanged.emit(self._current)

    def _paint_tile(self, painter: QPainter, index: int, rect: QRect, image):
        super()._paint_tile(painter, index, rect, image)
        if index == self._current and self.hasFocus():
            painter.setPen(QPen(self.palette().highlight().color(), 2, Qt.DashLine))
            painter.setBrush(Qt.NoBrush)
            painter.drawRect(rect.adjusted(-5, -5, 4, 4))


class PreviewPane(QWidget):
    """The current image, large, with its boxes and a caption."""
    SIZE = 512

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loader = ThumbnailLoader(self, max_workers=1, max_bytes=64 * 1024 * 1024)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_loaded)
        self.location: Optional[str] = None
        self.caption = ""
        self.image_size: Optional[Tuple[float, float]] = None
        self.boxes: List[Box] = []
        self.classes: Sequence[str] = ()
        self.setMinimumSize(220, 220)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def sizeHint(self):
        return QSize(360, 360)

    def show_image(self, location: Optional[str], caption: str = "",
                   image_size: Optional[Tuple[float, float]] = None,
                   boxes: Sequence[Box] = ()) -> None:
        """Show ``location``; ``image_size`` (width, height of the stored image)
        scales ``boxes`` onto the decoded preview."""
        self.location, self.caption = location, caption
        self.image_size, self.boxes = image_size, list(boxes)
        if location is not None and self.loader.image(location, self.SIZE) is None:
            self.loader.request(location, self.SIZE)
        self.update()

    def _on_loaded(self, location, *_):
        if location == self.location:
            self.update()

    def image_rect(self, image) -> QRect:
        area = self.rect().adjusted(4, 4, -4, -24)
        size = QSize(image.width(), image.height()).scaled(area.size(), Qt.KeepAspectRatio)
        target = QRect(area.topLeft(), size)
        target.moveCenter(area.center())
        return target

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        image = self.loader.image(self.location, self.SIZE) if self.location else None
        text_rect = QRect(0, self.height() - 22, self.width(), 20)
        if image is not None:
            target = self.image_rect(image)
            painter.setRenderHint(QPainter.SmoothPixmapTransform)
            painter.drawImage(target, image)
            self._paint_boxes(painter, target)
        else:
            error = self.loader.error(self.location) if self.location else None
            painter.setPen(self.palette().text().color())
            painter.drawText(self.rect().adjusted(0, 0, 0, -24), Qt.AlignCenter,
                             f"Cannot show this image:\n{error}" if error else
                             "Loading …" if self.location else "No image")
        painter.setPen(self.palette().text().color())
        painter.drawText(text_rect, Qt.AlignCenter, painter.fontMetrics().elidedText(
            self.caption, Qt.ElideMiddle, self.width() - 8))
        painter.end()

    def _paint_boxes(self, painter: QPainter, target: QRect):
        if not self.boxes or not self.image_size or min(self.image_size) <= 0:
            return
        sx = target.width() / self.image_size[0]
        sy = target.height() / self.image_size[1]
        for x0, y0, x1, y1, label in self.boxes:
            index = list(self.classes).index(label) if label in self.classes else 0
            painter.setPen(QPen(class_color(index), 2))
            painter.setBrush(Qt.NoBrush)
            box = QRectF(target.left() + x0 * sx, target.top() + y0 * sy,
                         (x1 - x0) * sx, (y1 - y0) * sy)
            painter.drawRect(box)
            painter.drawText(box.adjusted(3, 1, 0, 0), Qt.AlignLeft | Qt.AlignTop, label)

    def shutdown(self):
        self.loader.shutdown()
