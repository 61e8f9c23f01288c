"""A searchable list of classes with counts and check boxes (Dataset Subset)."""
from typing import Dict, List, Sequence

from AnyQt.QtCore import QSortFilterProxyModel, Qt, pyqtSignal as Signal
from AnyQt.QtGui import QStandardItem, QStandardItemModel
from AnyQt.QtWidgets import QLineEdit, QListView, QVBoxLayout, QWidget

NAME_ROLE = Qt.UserRole + 1


def count_text(count) -> str:
    """ "12 boxes in 9 images", "5 labelled images" or "none here"."""
    if count is None:
        return "counting …"
    if count.boxes:
        images = f"{count.box_images:,} image{'s' * (count.box_images != 1)}"
        text = f"{count.boxes:,} box{'es' * (count.boxes != 1)} in {images}"
        if count.labelled_images:
            text += f", {count.labelled_images:,} labelled"
        return text
    if count.labelled_images:
        return f"{count.labelled_images:,} labelled image{'s' * (count.labelled_images != 1)}"
    return "none here"


class ClassList(QWidget):
    """Class names with check boxes, a filter line and counts.

    ``checked()`` lists the checked names in the order they were checked
    (that order is the order of the output's class values).
    """
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.filter_edit = QLineEdit(placeholderText="Filter classes …", clearButtonEnabled=True)
        layout.addWidget(self.filter_edit)
        self.model = QStandardItemModel(self)
        self.proxy = QSortFilterProxyModel(self, filterCaseSensitivity=Qt.CaseInsensitive,
                                           filterRole=NAME_ROLE)
        self.proxy.setSourceModel(self.model)
        self.view = QListView(uniformItemSizes=True, minimumHeight=120, minimumWidth=340)
        self.view.setModel(self.proxy)
        layout.addWidget(self.view)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.model.itemChanged.connect(self._item_changed)
        self._items: Dict[str, QStandardItem] = {}
        self._checked: List[str] = []
        self._updating = False

    def set_classes(self, entries: Sequence, checked: Sequence[str]) -> List[str]:
        """Show ``entries`` (with ``.name``, ``.count``, ``.subclasses``; a
        count None while counting) and check those named in ``checked``
        (case-insensitive); returns the checked names not found."""
        self._updating = True
        try:
            self.model.clear()
            self._items = {}
            for entry in entries:
                item = QStandardItem()
                item.setCheckable(True)
                item.setEditable(False)
                item.setData(entry.name, NAME_ROLE)
                self._items[entry.name.casefold()] = item
                self.model.appendRow(item)
                self._describe(item, entry)
            self._checked, missing = [], []
            for name in checked:
                item = self._items.get(name.casefold())
                if item is None:
                    missing.append(name)
                elif item.data(NAME_ROLE) not in self._checked:
                    item.setCheckState(Qt.Checked)
                    self._checked.append(item.data(NAME_ROLE))
        finally:
            self._updating = False
        return missing

    def set_counts(self, entries: Sequence) -> None:
        self._updating = True
        try:
            for entry in entries:
                item = self._items.get(entry.name.casefold())
                if item is not None:
                    self._describe(item, entry)
        finally:
            self._updating = False

    @staticmethod
    def _describe(item: QStandardItem, entry) -> None:
        counts = count_text(entry.count)
        if counts == "none here" and entry.subclasses:
            more = ", …" if len(entry.subclasses) > 3 else ""
            counts = "includes " + ", ".join(entry.subclasses[:3]) + more
        item.setText(f"{entry.name}   ({counts})")
        tip = f"{entry.name}: {count_text(entry.count)}"
        if entry.subclasses:
            tip += "\nWith the class hierarchy also: " + ", ".join(entry.subclasses[:30])
            if len(entry.subclasses) > 30:
                tip += ", …"
        item.setToolTip(tip)

    def checked(self) -> List[str]:
        return list(self._checked)

    def set_checked(self, names: Sequence[str]) -> None:
        """Check exactly ``names`` (those that are listed)."""
        self._updating = True
        try:
            wanted = {n.casefold() for n in names}
            for key, item in self._items.items():
                item.setCheckState(Qt.Checked if key in wanted else Qt.Unchecked)
            self._checked = [self._items[n.casefold()].data(NAME_ROLE) for n in names
                             if n.casefold() in self._items]
        finally:
            self._updating = False
        self.changed.emit()

    def _item_changed(self, item: QStandardItem) -> None:
        if self._updating:
            return
        name = item.data(NAME_ROLE)
        if item.checkState() == Qt.Checked and name not in self._checked:
            self._checked.append(name)
        elif item.checkState() != Qt.Checked and name in self._checked:
            self._checked.remove(name)
        self.changed.emit()
