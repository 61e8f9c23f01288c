"""The summary table of Image Issues: one row per issue type, ticked types count.

Columns: the issue (a check box: ticked issues make an image "flagged"),
the number of images with it, and its threshold (editable where the check
has one; how it ran or why it was skipped in the tooltip).
"""
from typing import Dict, Iterable, List, Optional

from AnyQt.QtCore import Qt, pyqtSignal as Signal
from AnyQt.QtGui import QStandardItem, QStandardItemModel
from AnyQt.QtWidgets import QHeaderView, QSizePolicy, QTableView

from orangecontrib.imagelab.api.issues import CHECKS, DEFAULT_THRESHOLDS, TITLES, UNREADABLE

#: check -> the threshold key a user edits in the table (as a number)
EDITABLE = {"dark": "dark", "light": "light", "blurry": "blurry",
            "low_information": "low_information", "grayscale": "grayscale",
            "odd_size": "odd_size", "odd_aspect_ratio": "odd_aspect_ratio",
            "outliers": "outlier_quantile"}
CHECK_ROLE = Qt.UserRole + 1


class IssueSummaryModel(QStandardItemModel):
    """Rows: every check plus "unreadable". Emits ``ticked_changed`` when the
    user ticks or unticks an issue, ``threshold_edited(key, value)`` when a
    valid threshold is typed (an invalid one is refused and reverted)."""
    ticked_changed = Signal()
    threshold_edited = Signal(str, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHorizontalHeaderLabels(["Issue", "Images", "Threshold"])
        self._updating = False
        self._limits = dict(DEFAULT_THRESHOLDS)
        for check in list(CHECKS) + [UNREADABLE]:
            name = QStandardItem(TITLES[check])
            name.setData(check, CHECK_ROLE)
            name.setCheckable(True)
            name.setEditable(False)
            count = QStandardItem("")
            count.setEditable(False)
            count.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            limit = QStandardItem("")
            limit.setEditable(check in EDITABLE)
            self.appendRow([name, count, limit])
        self.itemChanged.connect(self._item_changed)

    def checks(self) -> List[str]:
        return [self.item(row, 0).data(CHECK_ROLE) for row in range(self.rowCount())]

    def set_state(self, ignored: Iterable[str], thresholds: Dict[str, float],
                  counts: Optional[Dict[str, int]] = None,
                  notes: Optional[Dict[str, str]] = None) -> None:
        """Ticks (all but ``ignored``), thresholds, counts and notes."""
        ignored = set(ignored)
        limits = self._limits = dict(DEFAULT_THRESHOLDS, **thresholds)
        self._updating = True
        try:
            for row, check in enumerate(self.checks()):
                self.item(row, 0).setCheckState(
                    Qt.Unchecked if check in ignored else Qt.Checked)
                count = "" if counts is None or check not in counts \
                    else f"{counts[check]:,}"
                if counts is not None and check not in counts:
                    count = "skipped"
                self.item(row, 1).setText(count)
                key = EDITABLE.get(check)
                self.item(row, 2).setText(f"{limits[key]:g}" if key else "")
                note = (notes or {}).get(check, "")
                for column in range(3):
                    self.item(row, column).setToolTip(note)
        finally:
            self._updating = False

    def ticked(self) -> List[str]:
        return [check for row, check in enumerate(self.checks())
                if self.item(row, 0).checkState() == Qt.Checked]

    def _item_changed(self, item: QStandardItem) -> None:
        if self._updating:
            return
        check = self.item(item.row(), 0).data(CHECK_ROLE)
        if item.column() == 0:
            self.ticked_changed.emit()
        elif item.column() == 2 and check in EDITABLE:
            key = EDITABLE[check]
            try:
                value = float(item.text().replace(",", "."))
                valid = 0.0 <= value <= 1.0
            except ValueError:
                valid = False
            if valid:
                self.threshold_edited.emit(key, value)
            else:
                self._updating = True
                item.setText(f"{self._limits[key]:g}")
                self._updating = False


def summary_view(model: IssueSummaryModel, parent=None) -> QTableView:
    """A compact table view of the summary model."""
    view = QTableView(parent)
    view.setModel(model)
    view.verticalHeader().hide()
    view.setSelectionMode(QTableView.NoSelection)
    view.setEditTriggers(QTableView.DoubleClicked | QTableView.EditKeyPressed |
                         QTableView.SelectedClicked)
    header = view.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.Stretch)
    header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
    header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
    row = view.verticalHeader().defaultSectionSize()
    view.setMinimumHeight(row * 8)
    view.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)
    return view


def flagged_mask(flags: Dict[str, "object"], ticked: Iterable[str]):
    """Rows with any ticked issue (``flags``: check -> (n,) bool)."""
    import numpy as np
    ticked = [check for check in ticked if check in flags]
    if not flags:
        return None
    n = len(next(iter(flags.values())))
    mask = np.zeros(n, dtype=bool)
    for check in ticked:
        mask |= flags[check]
    return mask


DUPLICATES = ("exact_duplicates", "near_duplicates")


def clean_mask(arrays, ticked: Iterable[str], keep_one_per_group: bool):
    """Rows without a ticked issue; a duplicate group (when a duplicate issue
    is ticked) keeps only its kept image, and only with ``keep_one_per_group``."""
    import numpy as np
    ticked = [check for check in ticked if check in arrays.flags]
    n = len(arrays.groups)
    other = np.zeros(n, dtype=bool)
    for check in ticked:
        if check not in DUPLICATES:
            other |= arrays.flags[check]
    duplicate_out = np.zeros(n, dtype=bool)
    if any(check in DUPLICATES for check in ticked):
        duplicate_out = (arrays.groups >= 0) & ~(arrays.keep & keep_one_per_group)
    return ~other & ~duplicate_out


__all__ = ["IssueSummaryModel", "summary_view", "flagged_mask", "clean_mask", "EDITABLE"]
