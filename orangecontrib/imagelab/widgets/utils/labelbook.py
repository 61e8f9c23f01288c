"""The state of Label Images: labels from the input, hand edits, classes, undo and redo.

Plain Python (no Qt), so it is tested directly. Everything the user did is
three literals, which the widget keeps as settings:

- ``edits``: {image key: class name, or "" for "no label"} — a key is the
  image's content hash (see ``api.labelling.image_keys``);
- ``renames``: {input value: class name} — renamed or merged input classes;
- ``added``: [class name] — classes added by hand, in order.

Every change is one step on the undo stack; a class rename or merge is one
step too (it rewrites the edits that use the old name).
"""
from typing import Dict, List, Optional, Sequence

NO_LABEL = ""


class LabelBook:
    """Labels of n rows: the input's, with the hand edits applied."""

    def __init__(self, keys: Sequence[str], input_labels: Sequence[Optional[str]],
                 input_classes: Sequence[str], *, edits: Optional[Dict[str, str]] = None,
                 renames: Optional[Dict[str, str]] = None,
                 added: Optional[List[str]] = None):
        if len(keys) != len(input_labels):
            raise ValueError(f"{len(keys)} keys for {len(input_labels)} labels")
        self.keys = list(keys)
        self.input_labels = list(input_labels)
        self.input_classes = list(input_classes)
        self.edits: Dict[str, str] = dict(edits or {})
        self.renames: Dict[str, str] = dict(renames or {})
        self.added: List[str] = list(added or [])
        self._undo: List[tuple] = []
        self._redo: List[tuple] = []

    # --- reading --------------------------------------------------------
    @property
    def classes(self) -> List[str]:
        """Input classes (renamed, merged), then added ones, then any other
        class an edit names; each once, in that order."""
        seen, result = set(), []
        names = [self.renames.get(c, c) for c in self.input_classes] + self.added + \
            sorted(v for v in self.edits.values() if v != NO_LABEL)
        for name in names:
            if name not in seen:
                seen.add(name)
                result.append(name)
        return result

    def label(self, row: int) -> Optional[str]:
        edit = self.edits.get(self.keys[row])
        if edit is not None:
            return edit if edit != NO_LABEL else None
        value = self.input_labels[row]
        return self.renames.get(value, value) if value is not None else None

    def labels(self) -> List[Optional[str]]:
        return [self.label(i) for i in range(len(self.keys))]

    def by_hand(self, row: int) -> bool:
        return self.keys[row] in self.edits

    def counts(self) -> Dict[str, int]:
        counts = {c: 0 for c in self.classes}
        for label in self.labels():
            if label is not None:
                counts[label] = counts.get(label, 0) + 1
        return counts

    def n_labelled(self) -> int:
        return sum(label is not None for label in self.labels())

    def orphan_edits(self) -> List[str]:
        """Keys of edits whose image is not in the input (kept, not dropped)."""
        present = set(self.keys)
        return sorted(key for key in self.edits if key not in present)

    # --- changing -------------------------------------------------------
    def _state(self):
        return dict(self.edits), dict(self.renames), list(self.added)

    def _restore(self, state):
        self.edits, self.renames, self.added = dict(state[0]), dict(state[1]), list(state[2])

    def _push(self, step):
        self._undo.append(step)
        self._redo.clear()

    def assign(self, rows: Sequence[int], label: Optional[str]) -> bool:
        """Label ``rows`` by hand with ``label`` (None: no label); False if nothing changed."""
        return self.assign_each(rows, [label] * len(rows))

    def assign_each(self, rows: Sequence[int], labels: Sequence[Optional[str]]) -> bool:
        """Label each of ``rows`` with its own label, as one undo step (e.g.
        taking suggested labels); False if nothing changed."""
        if len(rows) != len(labels):
            raise ValueError(f"{len(rows)} rows for {len(labels)} labels")
        classes = self.classes
        unknown = sorted({label for label in labels
                          if label is not None and label not in classes})
        if unknown:
            raise ValueError(f"labels {unknown} are not classes; add them first")
        before, after, seen = {}, {}, set()
        for row, label in zip(rows, labels):
            key = self.keys[row]
            value = NO_LABEL if label is None else label
            if key in seen:
                continue  # the same image twice: the first row decides
            seen.add(key)
            if self.edits.get(key) != value:
                before[key] = self.edits.get(key)
                after[key] = value
        if not after:
            return False
        self.edits.update(after)
        self._push(("edit", before, after))
        return True

    def add_class(self, name: str) -> None:
        name = self._checked(name)
        if name in self.classes:
            raise ValueError(f"class {name!r} exists already")
        before = self._state()
        self.added.append(name)
        self._push(("state", before, self._state()))

    def rename_class(self, old: str, new: str) -> None:
        """Rename class ``old``; if ``new`` is a class already, merge ``old`` into it."""
        new = self._checked(new)
        if old not in self.classes:
            raise ValueError(f"{old!r} is not a class")
        if old == new:
            return
        before = self._state()
        for value in self.input_classes:
            if self.renames.get(value, value) == old:
                self.renames[value] = new
        self.edits = {key: (new if value == old else value)
                      for key, value in self.edits.items()}
        added = [new if name == old else name for name in self.added]
        self.added = [name for i, name in enumerate(added) if name not in added[:i]]
        self._push(("state", before, self._state()))

    merge_class = rename_class

    @staticmethod
    def _checked(name) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a class name must be a non-empty text")
        return name.strip()

    # --- undo -----------------------------------------------------------
    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        if not self._undo:
            return False
        step = self._undo.pop()
        self._apply(step, backwards=True)
        self._redo.append(step)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        step = self._redo.pop()
        self._apply(step, backwards=False)
        self._undo.append(step)
        return True

    def _apply(self, step, backwards: bool):
        kind, before, after = step
        target = before if backwards else after
        if kind == "state":
            self._restore(target)
            return
        for key, value in target.items():
            if value is None:
                self.edits.pop(key, None)
            else:
                self.edits[key] = value
