"""Background thumbnail loading with a bounded LRU cache.

A ``ThumbnailLoader`` decodes images in worker threads with
``api.images.load_thumbnail(location, max_side=...)`` (JPEGs decode in draft
mode at reduced scale), converts them to ``QImage`` there (QImage, unlike
QPixmap, may be built off the GUI thread) and delivers them to the GUI
thread through a queued signal. The newest requests are served first, so
the images a user is looking at now come before those scrolled past, and
``retain`` drops requests for images no longer on screen. ``prefetch`` queues
images nobody looks at yet (e.g. to save a whole grid as an image): they are
decoded when no on-screen request waits, and ``retain`` leaves them alone.
"""
import os
import threading
from collections import OrderedDict, deque
from typing import Dict, Iterable, Optional, Tuple

from AnyQt import sip
from AnyQt.QtCore import QObject, Qt, pyqtSignal as Signal
from AnyQt.QtGui import QImage

from orangecontrib.imagelab.api import ImageError
from orangecontrib.imagelab.api.images import load_thumbnail

Key = Tuple[str, int]

#: Thumbnails are decoded at one of these sizes (the smallest >= the cell),
#: so moving a size slider rescales cached images instead of decoding again.
SIZE_STEPS = (64, 128, 256, 512, 1024, 2048)


def size_step(pixels: int) -> int:
    """The decode size used for cells of ``pixels`` (a device-pixel size)."""
    for step in SIZE_STEPS:
        if step >= pixels:
            return step
    return SIZE_STEPS[-1]


def pil_to_qimage(image) -> QImage:
    """An RGB PIL image as a QImage that owns its pixels."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    data = image.tobytes("raw", "RGB")
    qimage = QImage(data, image.width, image.height, 3 * image.width,
                    QImage.Format_RGB888)
    return qimage.copy()  # detach from ``data``


#: How often an idle worker checks that its loader still exists (seconds).
IDLE_CHECK = 0.5


class ThumbnailLoader(QObject):
    """Decode thumbnails in background threads; cache them (LRU, by bytes).

    ``request(location, size)`` queues a decode unless cached, failed or
    already queued; ``loaded(location, size)`` is emitted in the GUI thread
    when it is ready, ``failed(location, reason)`` when it cannot be read.
    ``image(location, size)`` returns a cached QImage or None.
    """
    loaded = Signal(str, int)
    failed = Signal(str, str)
    #: Emitted when the last queued decode (on-screen or prefetched) is done.
    idle = Signal()
    _finished = Signal(object, object, object)  # key, QImage or None, reason

    def __init__(self, parent: Optional[QObject] = None, *,
                 max_workers: Optional[int] = None,
                 max_bytes: int = 256 * 1024 * 1024):
        super().__init__(parent)
        self.max_bytes = max_bytes
        self._cache: "OrderedDict[Key, QImage]" = OrderedDict()
        self._cache_bytes = 0
        self._errors: Dict[str, str] = {}
        self._queue: "deque[Key]" = deque()
        self._background: "deque[Key]" = deque()   # prefetched, oldest first
        self._queued = set()      # keys in either queue or being decoded
        self._lock = threading.Condition()
        self._stopped = False
        self._finished.connect(self._on_finished, Qt.QueuedConnection)
        # Workers stop on shutdown(), and also when the C++ object was deleted
        # without it (a parent view deleted first): idle ones look every
        # IDLE_CHECK seconds. (A Python slot on ``destroyed`` instead crashed
        # the interpreter now and then, called while the object was going.)
        n = max_workers or min(4, max(2, os.cpu_count() or 2))
        self._threads = [threading.Thread(target=self._work, daemon=True,
                                          name=f"thumbnail-{i}") for i in range(n)]
        for thread in self._threads:
            thread.start()

    # --- GUI-thread API -------------------------------------------------
    def image(self, location: str, size: int) -> Optional[QImage]:
        key = (location, size)
        image = self._cache.get(key)
        if image is not None:
            self._cache.move_to_end(key)
        return image

    def best_image(self, location: str, size: int) -> Optional[QImage]:
        """The cached image at ``size`` or, failing that, the nearest other size."""
        image = self.image(location, size)
        if image is not None:
            return image
        for step in sorted(SIZE_STEPS, key=lambda s: abs(s - size)):
            image = self._cache.get((location, step))
            if image is not None:
                return image
        return None

    def error(self, location: str) -> Optional[str]:
        """Why ``location`` could not be read, or None."""
        return self._errors.get(location)

    def request(self, location: str, size: int) -> bool:
        """Queue a decode; True if one was queued now."""
        key = (location, size)
        if key in self._cache or location in self._errors:
            return False
        with self._lock:
            if self._stopped:
                return False
            if key in self._queued:
                # Move it to the front: it is wanted again now.
                try:
                    self._queue.remove(key)
                except ValueError:
                    try:
                        self._background.remove(key)   # prefetched, now on screen
                    except ValueError:
                        return False  # being decoded
                self._queue.append(key)
                return False
            self._queue.append(key)
            self._queued.add(key)
            self._lock.notify()
        return True

    def prefetch(self, keys: Iterable[Key]) -> int:
        """Queue decodes behind every on-screen request; returns how many were queued."""
        with self._lock:
            if self._stopped:
                return 0
            new = [key for key in keys if key not in self._queued and
                   key not in self._cache and key[0] not in self._errors]
            self._background.extend(new)
            self._queued.update(new)
            self._lock.notify_all()
        return len(new)

    def is_ready(self, location: str, size: int) -> bool:
        """Whether ``location`` is decoded at ``size``, or known to be unreadable."""
        return (location, size) in self._cache or location in self._errors

    def retain(self, keys: Iterable[Key]) -> None:
        """Drop queued requests that are not in ``keys`` (e.g. scrolled away)."""
        keep = set(keys)
        with self._lock:
            dropped = [key for key in self._queue if key not in keep]
            if dropped:
                self._queue = deque(key for key in self._queue if key in keep)
                self._queued.difference_update(dropped)

    def pending(self) -> int:
        with self._lock:
            return len(self._queued)

    def clear(self) -> None:
        """Forget queued requests, cached images and errors."""
        with self._lock:
            self._queued.difference_update(self._queue)
            self._queued.difference_update(self._background)
            self._queue.clear()
            self._background.clear()
        self._cache.clear()
        self._cache_bytes = 0
        self._errors.clear()

    def shutdown(self) -> None:
        with self._lock:
            self._stopped = True
            self._queue.clear()
            self._background.clear()
            self._lock.notify_all()

    # --- worker threads -----------------------------------------------
    def _work(self):
        while True:
            with self._lock:
                while not self._queue and not self._background and not self._stopped:
                    if not self._lock.wait(IDLE_CHECK) and sip.isdeleted(self):
                        self._stopped = True
                if self._stopped:
                    return
                # On-screen requests first, newest first; then prefetches in order.
                key = self._queue.pop() if self._queue else self._background.popleft()
            location, size = key
            image, reason = None, None
            try:
                image = pil_to_qimage(load_thumbnail(location, max_side=size))
            except ImageError as err:
                reason = err.reason
            except (OSError, ValueError, MemoryError) as err:
                reason = f"cannot decode ({err})"
            # Emit under the lock: shutdown() and the ``destroyed`` handler take
            # it too, so the object cannot go away between the check and the emit.
            with self._lock:
                if self._stopped:
                    return
                try:
                    self._finished.emit(key, image, reason)
                except RuntimeError:  # the QObject was deleted meanwhile
                    self._stopped = True
                    return

    def _on_finished(self, key, image, reason):
        with self._lock:
            self._queued.discard(key)
            now_idle = not self._queued
        location, size = key
        if image is None:
            self._errors[location] = reason
            self.failed.emit(location, reason)
            if now_idle:
                self.idle.emit()
            return
        self._cache[key] = image
        self._cache_bytes += image.sizeInBytes()
        while self._cache_bytes > self.max_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= old.sizeInBytes()
        self.loaded.emit(location, size)
        if now_idle:
            self.idle.emit()
