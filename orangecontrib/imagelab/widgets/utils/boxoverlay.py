"""Object boxes drawn over thumbnails and the preview, with a legend and a toggle.

Image Viewer and Image Grid take an optional Boxes input (a boxes table, see
``tables.py``). ``BoxOverlay`` turns it into boxes as fractions of each image
as shown (``api.boxes.boxes_for_display``), in a background thread: it reads
image headers for the stored size and EXIF orientation, so the GUI thread
never waits on the disk. Painting then only scales fractions to the
thumbnail's rectangle. ``BoxesMixin`` adds the input's handling, the "Show
boxes" toggle and the legend to a widget with a ``ThumbnailGrid`` view.
"""
import threading
from typing import List, Optional

import numpy as np
from AnyQt.QtCore import QObject, QRect, QRectF, Qt, pyqtSignal as Signal
from AnyQt.QtGui import QColor, QFont, QImage, QPainter, QPen
from AnyQt.QtWidgets import QGridLayout, QLabel, QWidget

from Orange.data import Table
from Orange.widgets import gui

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.boxes import BoxDisplay, boxes_for_display

#: Classes listed in the legend; the rest are counted.
LEGEND_ROWS = 12

#: The widgets' warning for a Boxes input that is not a boxes table.
BOXES_MESSAGE = ("The Boxes input is not a boxes table (it needs 'x min', 'y min', "
                 "'x max', 'y max' and an image column): connect Import Images' Boxes.")


def class_colors(boxes: Table) -> List[QColor]:
    """The label's colours, as Orange shows them everywhere else."""
    var = boxes.domain[tables.BOX_LABEL] if tables.BOX_LABEL in boxes.domain \
        else boxes.domain.class_var
    if var is None or not var.is_discrete:
        return []
    return [QColor(*map(int, rgb)) for rgb in var.colors]


class BoxOverlay(QObject):
    """The boxes of a boxes table, per image location, ready to paint.

    ``set_boxes(table)`` prepares them in a background thread and emits
    ``changed`` when ready; ``paint(painter, rect, location)`` draws an
    image's boxes scaled to ``rect``.
    """
    changed = Signal()
    _ready = Signal(int, object)   # request number, BoxDisplay or Exception

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.display: Optional[BoxDisplay] = None
        self.colors: List[QColor] = []
        self.visible = True
        self.error: Optional[str] = None
        self._request = 0
        self._lock = threading.Lock()
        self._ready.connect(self._on_ready, Qt.QueuedConnection)

    def set_boxes(self, boxes: Optional[Table]) -> None:
        with self._lock:
            self._request += 1
            request = self._request
        self.display, self.error = None, None
        self.colors = class_colors(boxes) if boxes is not None else []
        self.changed.emit()
        if boxes is None:
            return

        def work():
            try:
                result = boxes_for_display(boxes)
            except Exception as err:  # pylint: disable=broad-except
                result = err  # shown by the widget, not lost in a thread
            with self._lock:
                if request != self._request:
                    return  # newer boxes came meanwhile
                try:
                    self._ready.emit(request, result)
                except RuntimeError:
                    pass  # the widget was deleted meanwhile

        threading.Thread(target=work, daemon=True, name="imagelab-boxes").start()

    def shutdown(self) -> None:
        with self._lock:
            self._request += 1   # a result still on its way is ignored

    def _on_ready(self, request: int, result) -> None:
        if request != self._request:
            return
        if isinstance(result, Exception):
            self.error = f"{type(result).__name__}: {result}"
        else:
            self.display = result
        self.changed.emit()

    def boxes_for(self, location: Optional[str]) -> Optional[np.ndarray]:
        if not self.visible or self.display is None or location is None:
            return None
        return self.display.by_location.get(location)

    def color(self, code: float) -> QColor:
        code = int(code)
        if 0 <= code < len(self.colors):
            return self.colors[code]
        return QColor(128, 128, 128)

    def paint(self, painter: QPainter, rect: QRect, location: Optional[str], *,
              labels: bool = False) -> None:
        """Draw the boxes of ``location`` over an image drawn in ``rect``."""
        boxes = self.boxes_for(location)
        if boxes is None or not len(boxes):
            return
        painter.save()
        painter.setBrush(Qt.NoBrush)
        width = 2 if min(rect.width(), rect.height()) >= 64 else 1
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF()))
        painter.setFont(font)
        x, y, w, h = rect.x(), rect.y(), rect.width(), rect.height()
        for x0, y0, x1, y1, code in boxes:
            color = self.color(code)
            box = QRectF(x + x0 * w, y + y0 * h, (x1 - x0) * w, (y1 - y0) * h)
            painter.setPen(QPen(color, width))
            painter.drawRect(box)
            if labels and 0 <= code < len(self.display.classes):
                text = self.display.classes[int(code)]
                metrics = painter.fontMetrics()
                tag = QRectF(box.left(), box.top(), metrics.horizontalAdvance(text) + 6,
                             metrics.height() + 2)
                painter.fillRect(tag, color)
                luminance = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
                painter.setPen(Qt.white if luminance < 150 else Qt.black)
                painter.drawText(tag, Qt.AlignCenter, text)
        painter.restore()

    def draw_on(self, image: QImage, location: Optional[str]) -> QImage:
        """A copy of ``image`` (the whole shown image) with the boxes and their labels."""
        if self.boxes_for(location) is None:
            return image
        image = image.convertToFormat(QImage.Format_RGB32)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.Antialiasing)
        self.paint(painter, image.rect(), location, labels=True)
        painter.end()
        return image


class BoxLegend(QWidget):
    """Colour swatches and class names of the boxes shown."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setLayout(QGridLayout())
        self.layout().setContentsMargins(0, 0, 0, 0)
        self.layout().setVerticalSpacing(2)

    def set_items(self, names: List[str], colors: List[QColor], note: str = "") -> None:
        layout = self.layout()
        while layout.count():
            item = layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for row, (name, color) in enumerate(zip(names[:LEGEND_ROWS], colors)):
            swatch = QLabel()
            swatch.setFixedSize(12, 12)
            swatch.setStyleSheet(f"background: {color.name()}; border: 1px solid #666;")
            layout.addWidget(swatch, row, 0)
            layout.addWidget(QLabel(name), row, 1)
        extra = []
        if len(names) > LEGEND_ROWS:
            extra.append(f"and {len(names) - LEGEND_ROWS:,} more classes")
        if note:
            extra.append(note)
        if extra:
            label = QLabel("\n".join(extra), wordWrap=True)
            layout.addWidget(label, min(len(names), LEGEND_ROWS), 0, 1, 2)


class BoxesMixin:
    """The Boxes input of a thumbnail widget: toggle, legend, drawing.

    The widget has a ``view`` (``ThumbnailGrid``), a ``show_boxes`` setting
    and ``Warning.not_boxes``; it calls ``_add_box_controls()`` after adding
    its view, ``_set_boxes(table)`` from its Boxes input and
    ``_shutdown_boxes()`` when deleted.
    """

    def _add_box_controls(self) -> None:
        """The overlay and the "Boxes" controls (hidden until boxes come); after the view."""
        self.box_overlay = BoxOverlay(self)
        self.box_overlay.visible = self.show_boxes
        self.view.overlay = self.box_overlay
        self.box_overlay.changed.connect(self._on_boxes_changed)
        self.boxes_box = gui.vBox(self.controlArea, "Boxes")
        gui.checkBox(self.boxes_box, self, "show_boxes", "Show boxes",
                     callback=self._on_show_boxes)
        self.box_legend = BoxLegend(self.boxes_box)
        self.boxes_box.layout().addWidget(self.box_legend)
        self.boxes_box.setVisible(False)

    def _set_boxes(self, boxes: Optional[Table]) -> None:
        self.Warning.not_boxes.clear()
        if boxes is not None and not tables.is_boxes_table(boxes):
            self.Warning.not_boxes()
            boxes = None
        self.boxes_box.setVisible(boxes is not None)
        self.box_overlay.set_boxes(boxes)

    def _on_show_boxes(self) -> None:
        self.box_overlay.visible = self.show_boxes
        self.view.viewport().update()
        if getattr(self, "preview", None) is not None and self.preview.isVisible():
            self.preview.redraw()

    def _on_boxes_changed(self) -> None:
        overlay = self.box_overlay
        display = overlay.display
        if display is None:
            note = overlay.error or ("Reading image sizes …" if overlay.colors else "")
            self.box_legend.set_items([], [], note)
        else:
            present = sorted({int(c) for boxes in display.by_location.values()
                              for c in boxes[:, 4] if c >= 0})
            note = f"{display.n_boxes():,} boxes"
            if display.missing:
                note += f"; {display.missing:,} of images that cannot be read"
            self.box_legend.set_items([display.classes[c] for c in present],
                                      [overlay.color(c) for c in present], note)
        self.view.viewport().update()

    def _shutdown_boxes(self) -> None:
        self.box_overlay.shutdown()
