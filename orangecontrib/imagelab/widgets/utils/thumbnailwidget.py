"""What Image Grid and Image Viewer share around their thumbnail view."""
from typing import Optional

from AnyQt.QtCore import QSize, QTimer

from orangecontrib.imagelab.widgets.utils.imagetable import skipped_message
from orangecontrib.imagelab.widgets.utils.imageviews import ImagePreview, ThumbnailGrid


class ThumbnailViewMixin:
    """The view, the warning about broken images, the full-size preview.

    The widget provides ``data``, ``locations``, ``failed`` (location ->
    reason), ``cell_size``, ``Warning.broken`` and ``_on_selection_changed``.
    """

    def _add_view(self, view: ThumbnailGrid) -> None:
        self.view = view
        view.set_cell_size(self.cell_size)
        view.selectionChanged.connect(self._on_selection_changed)
        view.activated.connect(self._preview)
        view.loader.failed.connect(self._on_failed)
        self.mainArea.layout().addWidget(view)
        self.preview: Optional[ImagePreview] = None
        # Broken images are found while thumbnails load: gather them briefly
        # instead of redrawing the warning for each.
        self._warn_timer = QTimer(self, singleShot=True, interval=300,
                                  timeout=self._update_warning)

    def sizeHint(self):
        return QSize(1000, 700)

    def _on_cell_size(self):
        self.view.set_cell_size(self.cell_size)

    def _on_failed(self, location, reason):
        # not a late answer about earlier data (thumbnails are asked for
        # resolved locations only; ``in`` would resolve all 100,000 rows)
        known = getattr(self.locations, "was_resolved", self.locations.__contains__)
        if known(location):
            self.failed[location] = reason
            self._warn_timer.start()

    def _update_warning(self):
        if self.failed and self.data is not None:
            self.Warning.broken(skipped_message(self.failed, len(self.data)))
        else:
            self.Warning.broken.clear()

    def _preview(self, index: int):
        if self.preview is None:
            self.preview = ImagePreview(self.view.loader, self)
            self.preview.overlay = self.view.overlay
        title = self.view.tooltip(index).split("\n")[0]
        self.preview.show_image(self.locations[index], title)

    def _shutdown_view(self):
        self.view.loader.shutdown()
        if self.preview is not None:
            self.preview.shutdown()
