"""A scrollable grid of image thumbnails that paints only what is visible.

``ThumbnailGrid`` shows n images at given grid cells (Image Grid) or flowing
row by row to fit the width (Image Viewer, ``flow=True``). It never creates
an item per image: painting walks the visible cells only and asks the
``ThumbnailLoader`` for their thumbnails, so 20,000 rows cost no more than
the few hundred on screen. Selection follows Orange's scatter plot: a click
or rubber band selects; Shift makes a new group, Ctrl adds to the last group,
Alt removes. With ``set_fit(True)`` the cells shrink (or grow, up to
``MAX_FIT``) so the whole grid fits the view; ``fit_shape`` picks a shape for
which that needs at most a vertical scroll bar. ``render()`` paints the whole
grid (not only the visible part) into an image, from the loader's cache.
"""
from math import ceil
from collections.abc import Sequence as AbcSequence
from typing import List, Optional, Sequence, Tuple

import numpy as np
from AnyQt.QtCore import QPoint, QRect, QSize, Qt, pyqtSignal as Signal
from AnyQt.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from AnyQt.QtWidgets import (
    QAbstractScrollArea, QApplication, QDialog, QLabel, QRubberBand, QScrollArea,
    QToolTip, QVBoxLayout)

from .thumbnails import ThumbnailLoader, size_step

#: Colours of selection groups 1, 2, ... (Orange's scatter plot uses similar ones).
GROUP_COLORS = [QColor(c) for c in (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")]


def group_color(group: int) -> QColor:
    return GROUP_COLORS[(group - 1) % len(GROUP_COLORS)]


SPACING = 6
LABEL_HEIGHT = 16
#: Smallest and largest cells when fitting the grid to the view.
MIN_FIT, MAX_FIT = 32, 320


def fit_shape(n: int, width: int, height: int, *, labels: bool = False,
              scrollbar: int = 16):
    """``(rows, cols)`` for n images in a ``width`` × ``height`` view: the grid's
    aspect follows the view's; a grid that does not fit even with the smallest
    cells (``MIN_FIT``) gets as many columns as fit beside a vertical scroll bar
    (``scrollbar`` pixels wide), so it scrolls only vertically."""
    if n <= 0:
        return 0, 0
    label = LABEL_HEIGHT if labels else 0
    aspect = max(width, 1) / max(height, 1) * (MIN_FIT + SPACING + label) / (MIN_FIT + SPACING)
    cols = max(1, min(n, round((n * aspect) ** 0.5)))
    rows = ceil(n / cols)
    smallest_width = cols * (MIN_FIT + SPACING) + SPACING
    smallest_height = rows * (MIN_FIT + SPACING + label) + SPACING
    if smallest_width > width or smallest_height > height:
        cols = max(1, min(n, (width - SPACING - scrollbar) // (MIN_FIT + SPACING)))
        rows = ceil(n / cols)
    return rows, cols


class ThumbnailGrid(QAbstractScrollArea):
    """Thumbnails at grid cells; see the module docstring."""
    selectionChanged = Signal()
    activated = Signal(int)  # row index, on double-click or Space

    SPACING = SPACING
    LABEL_HEIGHT = LABEL_HEIGHT

    def __init__(self, parent=None, *, loader: Optional[ThumbnailLoader] = None,
                 flow: bool = False, multi_group: bool = True):
        super().__init__(parent)
        self.loader = loader or ThumbnailLoader(self)
        self.loader.loaded.connect(self._on_thumbnail)
        self.loader.failed.connect(self._on_thumbnail)
        self.flow = flow
        self.multi_group = multi_group
        self.fit = False
        self.cell_size = self.chosen_size = 96
        self._locations: List[Optional[str]] = []
        self._cells = np.zeros((0, 2), dtype=np.int64)
        self._shape = (0, 0)
        self._index = np.zeros((0, 0), dtype=np.int64)
        self._labels: Optional[Sequence[str]] = None
        self._colors: Optional[Sequence[Optional[QColor]]] = None
        self._faded: Optional[np.ndarray] = None
        self._groups = np.zeros(0, dtype=np.int64)
        self._current = -1
        self._press: Optional[QPoint] = None
        self._rubber = QRubberBand(QRubberBand.Rectangle, self.viewport())
        #: Draws object boxes over each thumbnail (a ``boxoverlay.BoxOverlay``), or None.
        self.overlay = None
        self.setFocusPolicy(Qt.StrongFocus)
        self.viewport().setMouseTracking(False)
        self.setMinimumSize(300, 200)

    # --- content ------------------------------------------------------
    def set_items(self, locations: Sequence[Optional[str]],
                  cells: Optional[np.ndarray] = None, shape=None) -> None:
        """Images to show; ``cells`` (n × 2) and ``shape`` unless ``flow``."""
        # A lazily resolved sequence is kept as it is (see LazyLocations).
        self._locations = locations if isinstance(locations, AbcSequence) \
            else list(locations)
        n = len(self._locations)
        self._groups = np.zeros(n, dtype=np.int64)
        self._labels = self._colors = self._faded = None
        self._current = -1
        self.set_cells(cells, shape)

    def set_cells(self, cells: Optional[np.ndarray], shape=None) -> None:
        n = len(self._locations)
        if self.flow or cells is None:
            self._flow_cells()
        else:
            self._cells = np.asarray(cells, dtype=np.int64).reshape(n, 2)
            self._shape = tuple(shape)
            self._rebuild_index()
        self._update_scrollbars()
        self.viewport().update()

    def set_labels(self, labels: Optional[Sequence[str]]) -> None:
        self._labels = labels
        self._update_scrollbars()
        self.viewport().update()

    def set_colors(self, colors: Optional[Sequence[Optional[QColor]]]) -> None:
        self._colors = colors
        self.viewport().update()

    def set_faded(self, faded: Optional[np.ndarray]) -> None:
        self._faded = None if faded is None else np.asarray(faded, dtype=bool)
        self.viewport().update()

    def set_cell_size(self, size: int) -> None:
        """The cells' size when not fitting (``set_fit``)."""
        self.chosen_size = self.cell_size = int(size)
        if self.flow:
            self._flow_cells()
        self._update_scrollbars()
        self.viewport().update()

    def set_fit(self, fit: bool) -> None:
        """Size the cells so the whole grid fits the view (see ``fit_shape``)."""
        self.fit = bool(fit) and not self.flow
        if not self.fit:
            self.cell_size = self.chosen_size
        self._update_scrollbars()
        self.viewport().update()

    def _fitted_size(self) -> int:
        rows, cols = self._shape
        if not rows or not cols:
            return self.chosen_size
        label = self.LABEL_HEIGHT if self._labels is not None else 0
        space = self.maximumViewportSize()
        width, height = space.width() - self.SPACING, space.height() - self.SPACING
        size = min(width // cols, height // rows - label) - self.SPACING
        if size < MIN_FIT:   # it scrolls vertically: leave room for the scroll bar
            width -= self.verticalScrollBar().sizeHint().width()
            size = width // cols - self.SPACING
        return int(max(MIN_FIT, min(MAX_FIT, size)))

    def count(self) -> int:
        return len(self._locations)

    # --- selection ----------------------------------------------------
    def groups(self) -> np.ndarray:
        """Group of each row: 0 = not selected, 1, 2, ... groups."""
        return self._groups.copy()

    def set_groups(self, groups: np.ndarray) -> None:
        self._groups = np.asarray(groups, dtype=np.int64).copy()
        self.viewport().update()

    def select(self, indices, modifiers=Qt.NoModifier) -> None:
        """Select rows like Orange's scatter plot, by keyboard modifiers."""
        indices = np.asarray(list(indices), dtype=np.int64)
        groups = self._groups
        if modifiers & Qt.AltModifier:
            groups[indices] = 0
        elif modifiers & Qt.ControlModifier or \
                (modifiers & Qt.ShiftModifier and not self.multi_group):
            groups[indices] = max(groups.max(initial=0), 1)
        elif modifiers & Qt.ShiftModifier:
            groups[indices] = groups.max(initial=0) + 1
        else:
            groups[:] = 0
            groups[indices] = 1
        # Renumber so groups stay 1..k without gaps.
        used = np.unique(groups[groups > 0])
        remap = np.zeros(groups.max(initial=0) + 1, dtype=np.int64)
        remap[used] = np.arange(1, len(used) + 1)
        self._groups = remap[groups]
        self.viewport().update()
        self.selectionChanged.emit()

    # --- geometry -----------------------------------------------------
    def pitch(self) -> QSize:
        label = self.LABEL_HEIGHT if self._labels is not None else 0
        return QSize(self.cell_size + self.SPACING, self.cell_size + label + self.SPACING)

    def _flow_cells(self):
        n = len(self._locations)
        cols = max(1, (self.viewport().width() - self.SPACING) // self.pitch().width())
        cols = min(cols, max(n, 1))
        rows = -(-n // cols)
        i = np.arange(n)
        self._cells = np.column_stack([i // cols, i % cols]).astype(np.int64)
        self._shape = (rows, cols)
        self._rebuild_index()

    def _rebuild_index(self):
        self._index = np.full(self._shape, -1, dtype=np.int64)
        if len(self._cells):
            self._index[self._cells[:, 0], self._cells[:, 1]] = np.arange(len(self._cells))

    def _update_scrollbars(self):
        if self.fit:
            self.cell_size = self._fitted_size()
        pitch = self.pitch()
        rows, cols = self._shape
        width = cols * pitch.width() + self.SPACING
        height = rows * pitch.height() + self.SPACING
        view = self.viewport().size()
        self.horizontalScrollBar().setRange(0, max(0, width - view.width()))
        self.verticalScrollBar().setRange(0, max(0, height - view.height()))
        self.horizontalScrollBar().setPageStep(view.width())
        self.verticalScrollBar().setPageStep(view.height())
        self.horizontalScrollBar().setSingleStep(pitch.width() // 2)
        self.verticalScrollBar().setSingleStep(pitch.height() // 2)

    def cell_rect(self, row: int, col: int) -> QRect:
        """The image area of a cell, in viewport coordinates."""
        pitch = self.pitch()
        x = self.SPACING + col * pitch.width() - self.horizontalScrollBar().value()
        y = self.SPACING + row * pitch.height() - self.verticalScrollBar().value()
        return QRect(x, y, self.cell_size, self.cell_size)

    def _cells_in(self, rect: QRect):
        """Row and column ranges of cells touching ``rect`` (viewport coordinates)."""
        pitch = self.pitch()
        dx, dy = self.horizontalScrollBar().value(), self.verticalScrollBar().value()
        rows, cols = self._shape
        c0 = max(0, (rect.left() + dx - self.SPACING) // pitch.width())
        c1 = min(cols - 1, (rect.right() + dx - self.SPACING) // pitch.width())
        r0 = max(0, (rect.top() + dy - self.SPACING) // pitch.height())
        r1 = min(rows - 1, (rect.bottom() + dy - self.SPACING) // pitch.height())
        return r0, r1, c0, c1

    def indices_in(self, rect: QRect) -> np.ndarray:
        r0, r1, c0, c1 = self._cells_in(rect.normalized())
        if r1 < r0 or c1 < c0:
            return np.zeros(0, dtype=np.int64)
        block = self._index[r0:r1 + 1, c0:c1 + 1]
        return block[block >= 0]

    def index_at(self, pos: QPoint) -> int:
        r0, r1, c0, c1 = self._cells_in(QRect(pos, pos))
        if r0 != r1 or c0 != c1 or r1 < 0 or c1 < 0:
            return -1
        index = int(self._index[r0, c0])
        if index >= 0 and self.cell_rect(r0, c0).adjusted(
                0, 0, 0, self.pitch().height() - self.cell_size).contains(pos):
            return index
        return -1

    def visible_indices(self) -> np.ndarray:
        return self.indices_in(self.viewport().rect())

    def decode_size(self) -> int:
        return size_step(int(self.cell_size * self.devicePixelRatioF()))

    # --- painting -----------------------------------------------------
    def paintEvent(self, event):
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        painter.fillRect(event.rect(), self.palette().base())
        size = self.decode_size()
        wanted = []
        r0, r1, c0, c1 = self._cells_in(event.rect())
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        for row in range(r0, r1 + 1):
            for col in range(c0, c1 + 1):
                index = int(self._index[row, col])
                if index < 0:
                    continue
                location = self._locations[index]
                image = None
                if location is not None:
                    image = self.loader.best_image(location, size)
                    if self.loader.image(location, size) is None \
                            and self.loader.error(location) is None:
                        wanted.append((location, size))
                self._paint_tile(painter, index, self.cell_rect(row, col), image)
        # Newest requests are served first: ask in reverse reading order so
        # the top-left thumbnails arrive first.
        for key in reversed(wanted):
            self.loader.request(*key)
        if wanted and event.rect().contains(self.viewport().rect()):
            self.loader.retain(wanted)  # forget what was scrolled away
        painter.end()

    # --- the whole grid as an image ---------------------------------------
    def shape(self) -> Tuple[int, int]:
        """(rows, columns) of the grid as shown."""
        return self._shape

    def not_ready(self, size: int, *, any_size: bool = False) -> List[Tuple[str, int]]:
        """Thumbnails at ``size`` that are neither cached nor known to fail; with
        ``any_size``, only those with no cached thumbnail at any size (``render``
        scales the nearest one)."""
        loader = self.loader
        return [(location, size) for location in dict.fromkeys(self._locations)
                if location is not None and not loader.is_ready(location, size) and
                not (any_size and loader.best_image(location, size) is not None)]

    def render(self, cell: Optional[int] = None) -> QImage:
        """The whole grid (every cell, not only those on screen) at ``cell`` pixels
        (default: as shown), with frames, labels and selection; thumbnails come
        from the loader's cache (``not_ready`` says which are missing)."""
        cell = int(cell or self.cell_size)
        rows, cols = self._shape
        label = self.LABEL_HEIGHT if self._labels is not None else 0
        width, height = cell + self.SPACING, cell + label + self.SPACING
        image = QImage(max(1, cols * width + self.SPACING),
                       max(1, rows * height + self.SPACING), QImage.Format_RGB32)
        image.fill(self.palette().base().color())
        painter = QPainter(image)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        size = size_step(cell)
        for index, (row, col) in enumerate(self._cells):
            location = self._locations[index]
            thumbnail = self.loader.best_image(location, size) if location else None
            rect = QRect(self.SPACING + col * width, self.SPACING + row * height, cell, cell)
            self._paint_tile(painter, index, rect, thumbnail)
        painter.end()
        return image

    def _paint_tile(self, painter: QPainter, index: int, rect: QRect, image):
        faded = self._faded is not None and self._faded[index]
        painter.setOpacity(0.25 if faded else 1.0)
        location = self._locations[index]
        error = "no image location" if location is None else self.loader.error(location)
        if image is not None:
            scaled = QSize(image.width(), image.height()).scaled(
                rect.size(), Qt.KeepAspectRatio)
            target = QRect(QPoint(0, 0), scaled)
            target.moveCenter(rect.center())
            painter.drawImage(target, image)
            if self.overlay is not None:
                self.overlay.paint(painter, target, location)
        elif error is not None:
            painter.fillRect(rect, QColor(235, 225, 225))
            painter.setPen(QPen(QColor(200, 40, 40), 2))
            inner = rect.adjusted(rect.width() // 3, rect.height() // 3,
                                  -rect.width() // 3, -rect.height() // 3)
            painter.drawLine(inner.topLeft(), inner.bottomRight())
            painter.drawLine(inner.topRight(), inner.bottomLeft())
        else:
            painter.fillRect(rect, QColor(238, 238, 238))
        color = self._colors[index] if self._colors is not None else None
        if color is not None:
            painter.setPen(QPen(color, 3))
            painter.setBrush(Qt.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        group = self._groups[index] if len(self._groups) else 0
        if group:
            selected = group_color(group)
            painter.setOpacity(1.0)
            painter.setPen(QPen(selected, 3))
            painter.drawRect(rect.adjusted(-3, -3, 2, 2))
            fill = QColor(selected)
            fill.setAlpha(50)
            painter.fillRect(rect, fill)
        if self._labels is not None:
            painter.setOpacity(0.4 if faded else 1.0)
            painter.setPen(self.palette().text().color())
            text_rect = QRect(rect.left(), rect.bottom() + 1, rect.width(), self.LABEL_HEIGHT)
            text = painter.fontMetrics().elidedText(
                str(self._labels[index]), Qt.ElideRight, rect.width())
            painter.drawText(text_rect, Qt.AlignHCenter | Qt.AlignTop, text)
        painter.setOpacity(1.0)

    def _on_thumbnail(self, *_):
        self.viewport().update()

    # --- events -------------------------------------------------------
    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self.flow:
            self._flow_cells()
        self._update_scrollbars()

    def scrollContentsBy(self, dx, dy):
        self.viewport().update()

    def mousePressEvent(self, event):
        if event.button() == Qt.LeftButton:
            self._press = event.pos()
            self._rubber.setGeometry(QRect(self._press, QSize()))
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._press is not None:
            rect = QRect(self._press, event.pos()).normalized()
            if rect.width() + rect.height() > QApplication.startDragDistance():
                self._rubber.setGeometry(rect)
                self._rubber.show()

    def mouseReleaseEvent(self, event):
        if self._press is None or event.button() != Qt.LeftButton:
            return
        modifiers = event.modifiers()
        if self._rubber.isVisible():
            self._rubber.hide()
            self.select(self.indices_in(self._rubber.geometry()), modifiers)
        else:
            index = self.index_at(event.pos())
            if index >= 0:
                self._current = index
                self.select([index], modifiers)
            elif not modifiers:
                self.select([], modifiers)
        self._press = None

    def mouseDoubleClickEvent(self, event):
        index = self.index_at(event.pos())
        if index >= 0:
            self._current = index
            self.activated.emit(index)

    def keyPressEvent(self, event):
        if event.key() == Qt.Key_Space:
            index = self._current
            if index < 0 and self._groups.any():
                index = int(np.flatnonzero(self._groups)[0])
            if index >= 0:
                self.activated.emit(index)
            return
        if event.key() == Qt.Key_A and event.modifiers() & Qt.ControlModifier:
            self.select(np.arange(self.count()))
            return
        super().keyPressEvent(event)

    def viewportEvent(self, event):
        if event.type() == event.ToolTip:
            index = self.index_at(event.pos())
            if index >= 0:
                QToolTip.showText(event.globalPos(), self.tooltip(index), self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def tooltip(self, index: int) -> str:
        location = self._locations[index]
        parts = []
        if self._labels is not None:
            parts.append(str(self._labels[index]))
        parts.append(location or "(no image location)")
        error = "no image location" if location is None else self.loader.error(location)
        if error:
            parts.append(f"Cannot show this image: {error}")
        return "\n".join(parts)


class ImagePreview(QDialog):
    """A full-size view of one image, decoded in the background; Space closes it."""
    PREVIEW_SIZE = 2048

    def __init__(self, thumbnails: ThumbnailLoader, parent=None):
        super().__init__(parent)
        # Its own loader, so the grid's ``retain`` never drops the preview.
        self.thumbnails = thumbnails
        self.loader = loader = ThumbnailLoader(self, max_workers=1,
                                               max_bytes=128 * 1024 * 1024)
        self.location = None
        self.overlay = None  # boxes drawn over the image, with their labels
        self._image: Optional[QImage] = None
        self.setLayout(QVBoxLayout())
        self.label = QLabel(alignment=Qt.AlignCenter)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.label)
        self.layout().addWidget(scroll)
        self.resize(800, 600)
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)

    def show_image(self, location: Optional[str], title: str = ""):
        self.location = location
        self.setWindowTitle(title or (location or ""))
        if location is None:
            self.label.setText("This row has no image location.")
        elif self.thumbnails.error(location) or self.loader.error(location):
            reason = self.thumbnails.error(location) or self.loader.error(location)
            self.label.setText(f"Cannot show {location}:\n{reason}")
        else:
            image = self.loader.image(location, self.PREVIEW_SIZE)
            if image is None:
                self.label.setText("Loading ...")
                self.loader.request(location, self.PREVIEW_SIZE)
            else:
                self._show(image)
        self.show()
        self.raise_()

    def redraw(self):
        """Show the image again (e.g. after boxes were turned on or off)."""
        if self._image is not None:
            self._show(self._image)

    def _show(self, image: QImage):
        self._image = image
        if self.overlay is not None:
            image = self.overlay.draw_on(image, self.location)
        pixmap = QPixmap.fromImage(image)
        screen = self.screen().availableGeometry().size() * 0.9 if self.screen() \
            else QSize(1200, 900)
        self.label.setPixmap(pixmap)
        self.resize(min(pixmap.width() + 40, screen.width()),
                    min(pixmap.height() + 40, screen.height()))

    def _on_loaded(self, location, size):
        if location == self.location and size == self.PREVIEW_SIZE:
            self._show(self.loader.image(location, size))

    def _on_failed(self, location, reason):
        if location == self.location:
            self.label.setText(f"Cannot show {location}:\n{reason}")

    def shutdown(self):
        self.loader.shutdown()

    def keyPressEvent(self, event):
        if event.key() in (Qt.Key_Space, Qt.Key_Escape):
            self.close()
            return
        super().keyPressEvent(event)
