"""save_images on Orange tables (sort_predictions with Orange's real Predictions
widget is tested in test_owpredictionstofolders.py, next to the widget)."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
from Orange.data import ContinuousVariable

from orangecontrib.imagelab import SaveReport, save_images
from orangecontrib.imagelab.tables import discrete_column, image_variable, table_from_columns
from tests.images import make_image

COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def image_table(root, names, classes=None, groups=None, origin=True):
    """A table like Import Images makes: relative paths under origin, mean RGB features."""
    root = Path(root)
    paths, features = [], []
    for i, (name, cls) in enumerate(zip(names, classes or ["red"] * len(names))):
        color = COLORS.get(cls, (120, 120, 120))
        path = make_image(root / name, color=color, noise=25, seed=i)
        paths.append(path)
        features.append(color)
    image = image_variable("image", origin=str(root) if origin else None)
    values = [p.relative_to(root).as_posix() if origin else str(p) for p in paths]
    columns = [(image, values)]
    features = np.array(features, dtype=float) + np.arange(len(names))[:, None] % 7
    for k, channel in enumerate("RGB"):
        columns.append((ContinuousVariable(f"mean {channel}"), features[:, k]))
    class_var = None
    if classes is not None:
        class_var, codes = discrete_column("category", classes)
        columns.append((class_var, codes))
    if groups is not None:
        columns.append(discrete_column("group", groups))
    return table_from_columns(columns, class_var=class_var, name="images")


def test_save_by_class_by_meta_and_flat(tmp_path):
    names = [f"{c}/{c}_{i}.jpg" for c in ("red", "blue") for i in range(3)]
    classes = [n.split("/")[0] for n in names]
    groups = ["g1", None, "g2", "g1", "g2", None]
    data = image_table(tmp_path / "src", names, classes)
    report = save_images(data, tmp_path / "by_class")
    assert isinstance(report, SaveReport) and len(report.saved) == 6
    assert sorted(p.parent.name for p in (tmp_path / "by_class").rglob("*.jpg")) == \
        ["blue"] * 3 + ["red"] * 3

    # a meta column, without Select Columns first
    data = image_table(tmp_path / "src2", names, classes, groups=groups)
    report = save_images(data, tmp_path / "by_group", by="group")
    folders = sorted(Path(s.destination).parent.name for s in report.saved)
    assert folders == ["_unlabeled", "_unlabeled", "g1", "g1", "g2", "g2"]
    flat = save_images(data, tmp_path / "flat", by=False)
    assert all(Path(s.destination).parent == tmp_path / "flat" for s in flat.saved)
    with pytest.raises(ValueError, match="'group'"):
        save_images(data, tmp_path / "x", by="no such column")


def test_save_without_class_is_flat_and_missing_locations_are_skipped(tmp_path):
    data = image_table(tmp_path / "src", ["a.jpg", "b.jpg", "c.jpg"], origin=False)
    with data.unlocked(data.metas):
        data.metas[1, 0] = ""
    report = save_images(data, tmp_path / "out", mode="convert", format="png", max_size=16)
    assert len(report.saved) == 2 and len(report.skipped) == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a.png", "c.png"]
    assert "1 of 3 skipped" in report.summary()


def test_save_paths_list(tmp_path):
    paths = [make_image(tmp_path / "x.jpg"), make_image(tmp_path / "y.jpg")]
    report = save_images(paths, tmp_path / "out", mode="link")
    assert len(report.saved) == 2
