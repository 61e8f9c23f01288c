"""Core of Image Labels: vocabulary, hierarchy, scoring and scanning, on synthetic arrays."""
import numpy as np
import pytest

from orangecontrib.imagelab.core.vectors import labels as L
from orangecontrib.imagelab.core.errors import ImageError, UnknownLabelError


@pytest.fixture(scope="module")
def vocab():
    return L.load_vocabulary()


def test_vocabulary_classes_in_standard_order(vocab):
    assert len(vocab) == 1000
    wnids = [c.wnid for c in vocab.classes]
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000
    assert vocab.classes[15].wnid == "n01558993"
    assert vocab.classes[15].name == "American robin"
    assert len(set(vocab.class_names)) == 1000
    assert not any("," in name for name in vocab.class_names)


def test_hierarchy_chain_and_general_names(vocab):
    robin = vocab.classes[15]
    chain = list(robin.chain)
    for general in ("thrush", "passerine", "bird", "vertebrate", "animal"):
        assert general in chain
    assert chain.index("thrush") < chain.index("bird") < chain.index("animal")
    assert 15 in vocab.lookup("bird")
    assert 15 in vocab.lookup("robin")       # synonym
    assert list(vocab.lookup("American robin")) == [15]
    dogs = vocab.lookup("dog")
    assert len(dogs) == 118 and set(range(151, 269)) == set(dogs)
    assert len(vocab.lookup("entity")) == 1000
    cats = {vocab.class_names[i] for i in vocab.lookup("cat")}
    assert {"tabby cat", "tiger cat", "Persian cat", "Siamese cat"} <= cats
    assert not set(vocab.lookup("bird")) & set(vocab.lookup("cat"))


def test_names_are_normalized_and_plurals_found(vocab):
    assert list(vocab.lookup("  Tabby_CAT ")) == list(vocab.lookup("tabby cat"))
    assert set(vocab.lookup("birds")) == set(vocab.lookup("bird"))
    assert set(vocab.lookup("butterflies")) == set(vocab.lookup("butterfly"))
    assert "bird" in vocab and "qwertyuiop" not in vocab
    names = vocab.names()
    assert names == sorted(names) and "bird" in names and "tabby cat" in names


def test_several_labels_union(vocab):
    both = vocab.classes_for(["cat", "dog"])
    assert set(both) == set(vocab.lookup("cat")) | set(vocab.lookup("dog"))
    assert list(vocab.classes_for("cat, dog")) == list(both)
    assert list(both) == sorted(set(both))


def test_unknown_label_suggests_nearest(vocab):
    with pytest.raises(UnknownLabelError) as info:
        vocab.lookup("robbin")
    assert isinstance(info.value, ValueError)
    assert "robin" in info.value.suggestions
    assert "robbin" in str(info.value) and "did you mean" in str(info.value)
    with pytest.raises(UnknownLabelError):
        vocab.classes_for(["bird", "brid dog zzz"])
    with pytest.raises(UnknownLabelError):
        vocab.classes_for([" ", ""])


def test_softmax_and_top_labels():
    logits = np.array([[0.0, 1.0, 3.0, 2.0], [np.nan] * 4, [5.0, 0, 0, 0]])
    probs = L.softmax(logits)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs[[0, 2]].sum(axis=1), 1, rtol=1e-6)
    assert np.isnan(probs[1]).all()
    idx, val = L.top_labels(probs, k=2)
    assert idx.shape == (3, 2)
    assert list(idx[0]) == [2, 3] and val[0, 0] > val[0, 1]
    assert list(idx[1]) == [-1, -1] and np.isnan(val[1]).all()
    idx, val = L.top_labels(probs, k=3, min_confidence=0.2)
    assert list(idx[0]) == [2, 3, -1] and np.isnan(val[0, 2])
    assert list(idx[2]) == [0, -1, -1]
    text = L.format_labels(idx, val, ["a", "b", "c", "d"])
    assert text[0] == f"c {val[0, 0]:.2f}, d {val[0, 1]:.2f}" and text[1] == ""


def test_confidence_is_sum_over_classes_under_name(vocab):
    probs = np.zeros((2, 1000), dtype=np.float32)
    tabby, tiger, robin = (vocab.class_names.index(n)
                           for n in ("tabby cat", "tiger cat", "American robin"))
    probs[0, [tabby, tiger, robin]] = [0.4, 0.35, 0.25]
    probs[1, robin] = 1.0
    cat = L.label_confidence(probs, vocab.lookup("cat"))
    np.testing.assert_allclose(cat, [0.75, 0.0], atol=1e-6)
    bird = L.label_confidence(probs, vocab.lookup("bird"))
    np.testing.assert_allclose(bird, [0.25, 1.0], atol=1e-6)
    both = L.label_confidence(probs, vocab.classes_for(["cat", "bird", "animal"]))
    np.testing.assert_allclose(both, [1.0, 1.0], atol=1e-6)   # each class once


def test_classify_bands():
    conf = np.array([0.9, 0.5, 0.49, 0.3, 0.29, np.nan])
    assert list(L.classify(conf, min_confidence=0.5, review_min=0.3)) == [
        L.MATCHED, L.MATCHED, L.REVIEW, L.REVIEW, L.REJECTED, L.UNREADABLE]
    assert list(L.classify(conf, min_confidence=0.5)) == [
        L.MATCHED, L.MATCHED, L.REJECTED, L.REJECTED, L.REJECTED, L.UNREADABLE]


def _predictor(probs, failing=(), calls=None):
    def predict(start, stop, callback):
        if calls is not None:
            calls.append((start, stop))
        callback(1.0)
        chunk = probs[start:stop].copy()
        errors = []
        for row in failing:
            if start <= row < stop:
                chunk[row - start] = np.nan
                errors.append((row - start, ImageError(f"img{row}.jpg", "truncated JPEG")))
        return chunk, errors
    return predict


def _two_class_probs(match_rows, n, review_rows=()):
    """Class 0 = the label; probability 0.9 on match rows, 0.4 on review rows."""
    probs = np.zeros((n, 4), dtype=np.float32)
    probs[:, 1] = 1.0
    for r in match_rows:
        probs[r] = [0.9, 0.1, 0, 0]
    for r in review_rows:
        probs[r] = [0.4, 0.6, 0, 0]
    return probs


def test_scan_partitions_all_rows():
    probs = _two_class_probs([0, 3, 5], 8, review_rows=[1])
    calls = []
    scan = L.scan_labels(_predictor(probs, failing=[6], calls=calls), 8, np.array([0]),
                         n_classes=4, min_confidence=0.5, review_min=0.3)
    assert calls == [(0, 8)]                       # one pass without cap or stop
    assert scan.scanned == 8 and not scan.stopped_early
    assert list(scan.status) == [L.MATCHED, L.REVIEW, L.REJECTED, L.MATCHED,
                                 L.REJECTED, L.MATCHED, L.UNREADABLE, L.REJECTED]
    assert scan.error_rows == [6] and scan.errors[0].reason == "truncated JPEG"
    np.testing.assert_allclose(scan.confidence[[0, 1, 2]], [0.9, 0.4, 0.0], atol=1e-6)


def test_scan_cap_stops_at_cap():
    probs = _two_class_probs(range(0, 100, 2), 100)
    calls = []
    scan = L.scan_labels(_predictor(probs, calls=calls), 100, np.array([0]), n_classes=4,
                         max_scanned=30, batch_size=8)
    assert scan.scanned == 30 and scan.stopped_early
    assert "cap of 30" in scan.stop_reason
    assert calls[-1][1] == 30                       # nothing predicted past the cap
    assert (scan.status[30:] == L.NOT_SCANNED).all()
    assert (scan.status[:30] != L.NOT_SCANNED).all()
    assert np.isnan(scan.probabilities[30:]).all()


def test_scan_stops_after_misses_in_a_row():
    # rows 5..9 are 5 misses, then the match at 10 breaks the run
    probs = _two_class_probs([0, 1, 2, 3, 4, 10], 50, review_rows=[12])
    progress = []
    scan = L.scan_labels(_predictor(probs, failing=[13]), 50, np.array([0]), n_classes=4,
                         min_confidence=0.5, review_min=0.3, stop_after_misses=6,
                         batch_size=4, callback=progress.append)
    # rows 11, 12 (review = miss), 14, 15, 16, 17 are misses; 13 unreadable is neutral
    assert scan.scanned == 18 and scan.stopped_early
    assert "6 misses in a row" in scan.stop_reason and "image 18" in scan.stop_reason
    assert scan.status[17] == L.REJECTED and scan.status[13] == L.UNREADABLE
    assert (scan.status[18:] == L.NOT_SCANNED).all()
    assert progress[0] == 0 and progress == sorted(progress) and progress[-1] <= 1


def test_scan_without_stop_when_label_keeps_matching():
    probs = _two_class_probs(range(0, 40, 3), 40)
    scan = L.scan_labels(_predictor(probs), 40, np.array([0]), n_classes=4,
                         stop_after_misses=3, batch_size=5)
    assert scan.scanned == 40 and not scan.stopped_early and scan.stop_reason == ""


def test_scan_rejects_bad_options():
    predict = _predictor(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="review_min"):
        L.scan_labels(predict, 3, np.array([0]), n_classes=4, min_confidence=0.3,
                      review_min=0.5)
    with pytest.raises(ValueError, match="stop_after_misses"):
        L.scan_labels(predict, 3, np.array([0]), n_classes=4, stop_after_misses=0)


def test_scan_cancel_propagates():
    from orangecontrib.imagelab.core.errors import Cancelled

    def cancel(fraction):
        if fraction > 0.3:
            raise Cancelled()
    probs = _two_class_probs([], 20)
    with pytest.raises(Cancelled):
        L.scan_labels(_predictor(probs), 20, np.array([0]), n_classes=4, max_scanned=20,
                      batch_size=5, callback=cancel)
