"""find_issues on Orange tables: columns, summary, groups, clean rows, labels, Predictions."""
import os
import shutil

import numpy as np
import pytest
from Orange.data import ContinuousVariable, DiscreteVariable, Domain

import orangecontrib.imagelab as imagelab
from orangecontrib.imagelab import embed_images, find_issues, import_images
from orangecontrib.imagelab.api.issues import probabilities_from_predictions
from tests.images import make_text_file

SAMPLE = os.path.join(os.path.dirname(imagelab.__file__), "sample", "fashion", "labelled")
CLASSES = ["Bag", "Dress", "Sneaker", "T-shirt", "Trouser"]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """100 real product photos (20 per class), 5 of them in a wrong class folder,
    one exact copy, one unreadable file; embedded with the default model."""
    root = tmp_path_factory.mktemp("labelled")
    flipped = {}
    for c, name in enumerate(CLASSES):
        for i in range(20):
            source = os.path.join(SAMPLE, name, f"{name}-{i:03d}.png")
            target = name
            if i == 7:                                # one flip per class
                target = CLASSES[(c + 1) % len(CLASSES)]
                flipped[f"{target}/{name}-{i:03d}.png"] = name
            os.makedirs(root / target, exist_ok=True)
            shutil.copyfile(source, root / target / f"{name}-{i:03d}.png")
    shutil.copyfile(root / "Bag" / "Bag-000.png", root / "Bag" / "Bag-000-copy.png")
    make_text_file(root / "Bag" / "broken.png")
    data = import_images(str(root), check_full=True).data
    return embed_images(data).data, flipped, import_images(str(root)).data


def column(table, name):
    return list(table.get_column(table.domain[name]))


def test_report_columns_summary_groups_and_labels(labelled):
    embedded, flipped, _ = labelled
    report = find_issues(embedded)
    data = report.data
    assert len(data) == len(embedded)
    names = column(data, "image")
    # label errors: the flipped photos, with their true class suggested
    suspects = {names[i] for i in np.flatnonzero(report.arrays.flags["label_errors"])}
    assert len(suspects & set(flipped)) >= 4 and len(suspects) <= 12
    suggested = dict(zip(names, column(data, "suggested label")))
    var = data.domain["suggested label"]
    hits = [name for name in flipped if var.values[int(suggested[name])] == flipped[name]]
    assert len(hits) >= 4
    assert var.values == embedded.domain.class_var.values
    quality = dict(zip(names, column(data, "label quality")))
    assert np.nanmean([quality[n] for n in flipped]) < np.nanmean(list(quality.values()))
    # duplicates: one exact group, the larger-or-older one kept
    groups = report.groups
    assert len(groups) == 2 and set(column(groups, "image")) == \
        {"Bag/Bag-000.png", "Bag/Bag-000-copy.png"}
    kind = groups.domain["duplicate kind"]
    assert {kind.values[int(v)] for v in column(groups, "duplicate kind")} == {"exact"}
    assert sorted(column(groups, "keep")) == [0.0, 1.0]
    # flags, scores and the "issue" column for colouring
    grey = data.domain["grayscale"]
    assert grey.values == ("no", "yes") and all(v == 1 for v in column(data, "grayscale"))
    assert data.domain["dark score"].is_continuous
    issue = data.domain["issue"]
    assert issue.values[0] == "none" and "label error" in issue.values
    # summary: one row per check, counts and thresholds
    summary = {row["issue"].value: row for row in report.summary}
    assert summary["label error"]["images"] == report.counts["label_errors"]
    assert summary["dark"]["threshold"].value == "score < 0.32"
    assert report.counts["unreadable"] == 0          # check_full skipped the broken file


def test_clean_keeps_one_per_group_and_drops_flagged(labelled):
    embedded, _, _ = labelled
    report = find_issues(embedded, checks=["exact_duplicates", "dark"])
    with_keeper = report.clean(keep_one_per_group=True)
    without = report.clean(keep_one_per_group=False)
    assert len(with_keeper) == len(embedded) - 1 and len(without) == len(embedded) - 2
    assert report.flagged is not None and len(report.flagged) == 2


def test_issue_columns_follow_the_chosen_checks(labelled):
    embedded, _, _ = labelled
    report = find_issues(embedded)
    issue = report.data.domain["issue"]
    before = {issue.values[int(v)] for v in column(report.data, "issue")}
    assert "grayscale" in before  # every photo here is grey
    chosen = report.with_issues(["label_errors", "near_duplicates", "exact_duplicates"])
    assert chosen.domain is report.data.domain  # same variables, same colours
    names = {issue.values[int(v)] for v in column(chosen, "issue")}
    assert "grayscale" not in names and {"none", "label error"} <= names
    errors = report.arrays.flags["label_errors"]
    text = column(chosen, "issues")
    assert all(("label error" in t) == bool(e) for t, e in zip(text, errors))
    counts = column(chosen, "issue count")
    assert sum(counts) == sum(int(report.arrays.flags[c].sum()) for c in
                              ("label_errors", "near_duplicates", "exact_duplicates"))
    # grey flags and scores stay; the original table is unchanged
    assert all(v == 1 for v in column(chosen, "grayscale"))
    assert {issue.values[int(v)] for v in column(report.data, "issue")} == before


def test_unreadable_images_and_no_class(labelled, tmp_path):
    _, _, images = labelled
    shutil.copyfile(os.path.join(SAMPLE, "Bag", "Bag-001.png"), tmp_path / "broken.png")
    shutil.copyfile(os.path.join(SAMPLE, "Bag", "Bag-002.png"), tmp_path / "fine.png")
    later = import_images(str(tmp_path)).data
    make_text_file(tmp_path / "broken.png")           # broken after the import
    report = find_issues(later, checks=["dark"])
    assert [e.reason for e in report.errors] == ["not an image file"]
    names = column(report.data, "image")
    issues_text = dict(zip(names, column(report.data, "issues")))
    assert issues_text == {"broken.png": "unreadable (not an image file)", "fine.png": ""}
    assert len(report.clean()) == 1
    no_class = images.transform(Domain(images.domain.attributes, None, images.domain.metas))
    report = find_issues(no_class, checks=["dark", "label_errors", "outliers"])
    assert report.notes["label_errors"] == "skipped: the data has no class (categorical target)"
    assert report.notes["outliers"].startswith("skipped: needs an embedding")
    summary = {row["issue"].value: row for row in report.summary}
    assert np.isnan(summary["label error"]["images"])
    assert summary["unreadable"]["images"] == 0
    assert "suggested label" not in report.data.domain


def test_probabilities_from_predictions_by_row_id(labelled):
    embedded, flipped, _ = labelled
    class_var = embedded.domain.class_var
    k = len(class_var.values)
    truth = embedded.Y.astype(int)
    names = column(embedded, "image")
    for i, name in enumerate(names):      # a model that knows the true classes
        if name in flipped:
            truth[i] = class_var.values.index(flipped[name])
    probs = np.full((len(embedded), k), 0.02)
    probs[np.arange(len(embedded)), truth] = 1 - 0.02 * (k - 1)
    model = DiscreteVariable("Model", values=class_var.values)
    metas = [model] + [ContinuousVariable(f"Model ({v})") for v in class_var.values]
    domain = Domain(embedded.domain.attributes, class_var, embedded.domain.metas + tuple(metas))
    predictions = embedded.transform(domain)
    with predictions.unlocked(predictions.metas):
        predictions.metas[:, -k - 1] = truth
        predictions.metas[:, -k:] = probs
    shuffled = predictions[np.arange(len(predictions))[::-1]]     # matched by id, not order
    np.testing.assert_array_equal(
        probabilities_from_predictions(shuffled, embedded, class_var), probs)
    report = find_issues(embedded, checks=["label_errors"], probabilities=shuffled)
    names = column(report.data, "image")
    assert {names[i] for i in np.flatnonzero(report.arrays.flags["label_errors"])} == \
        set(flipped)
    with pytest.raises(ValueError, match="probability column"):
        find_issues(embedded, checks=["label_errors"], probabilities=embedded)


def test_options_name_the_problem(labelled):
    embedded, _, _ = labelled
    with pytest.raises(ValueError, match="thresholds: unknown key 'blur'"):
        find_issues(embedded, thresholds={"blur": 0.2})
    with pytest.raises(ValueError, match="labels: 'image' is not a categorical"):
        find_issues(embedded, labels="image")
    empty = find_issues(embedded[:0])
    assert len(empty.data) == 0 and empty.flagged is None and empty.groups is None
