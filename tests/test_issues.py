"""Image Issues' core: pixel statistics, duplicates, outliers, label errors (no Qt).

Real photos from scikit-image's wheel, with issues planted by the tests.
"""
import os
import pickle
import shutil
from functools import partial

import numpy as np
import pytest
from PIL import Image, ImageFilter

from orangecontrib.imagelab.core.executors import bounded_map, get_executor
from orangecontrib.imagelab.core.pixels import statistics as stats
from orangecontrib.imagelab.core.vectors import issues
from tests.images import make_text_file, skimage_sample

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg", "ihc.png", "retina.jpg"]

# imagehash 4.3.2's phash of these photos (Pillow 13, convert("L")), computed
# once in a separate environment: our own DCT pHash must give the same bits.
IMAGEHASH_PHASH = {"chelsea.png": "b15fe6465121175e", "coffee.png": "bb8320376c0f3637",
                   "astronaut.png": "c2924c5532bddfc8", "rocket.jpg": "c0371bec1be51267",
                   "camera.png": "bff1c1c0434e8cbc"}


def test_phash_equals_imagehash():
    for name, expected in IMAGEHASH_PHASH.items():
        with Image.open(skimage_sample(name)) as image:
            assert format(stats.phash(image.convert("L")), "016x") == expected, name


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Real photos as JPEGs, plus one planted issue per extra file."""
    root = tmp_path_factory.mktemp("planted")
    files = {}
    for name in PHOTOS:
        with Image.open(skimage_sample(name)) as image:
            rgb = image.convert("RGB")
        rgb.thumbnail((400, 400))
        path = root / (name.split(".")[0] + ".jpg")
        rgb.save(path, quality=92)
        files[name.split(".")[0]] = path
    coffee = Image.open(files["coffee"]).convert("RGB")
    chelsea = Image.open(files["chelsea"]).convert("RGB")
    rocket = Image.open(files["rocket"]).convert("RGB")
    astronaut = Image.open(files["astronaut"]).convert("RGB")
    moto = Image.open(files["motorcycle_left"]).convert("RGB")
    plant = {
        "dark": Image.fromarray((np.asarray(rocket) * 0.12).astype(np.uint8)),
        "light": Image.fromarray((255 - (255 - np.asarray(moto, float)) * 0.03)
                                 .astype(np.uint8)),
        "blurry": astronaut.filter(ImageFilter.GaussianBlur(12)),  # 3 % of the side
        "grey": Image.open(skimage_sample("moon.png")).convert("L"),
        "grey-rgb": Image.open(skimage_sample("camera.png")).convert("RGB"),
        "blank": Image.new("RGB", (300, 200), (90, 140, 60)),
        "tiny": chelsea.resize((24, 18)),
        "wide": coffee.resize((400, 80)),
    }
    for name, image in plant.items():
        path = root / f"{name}.jpg"
        image.save(path, quality=90)
        files[name] = path
    shutil.copyfile(files["chelsea"], root / "chelsea-copy.jpg")
    files["chelsea-copy"] = root / "chelsea-copy.jpg"
    chelsea.save(root / "chelsea-pixels.png")   # the JPEG's decoded pixels, lossless
    files["chelsea-pixels"] = root / "chelsea-pixels.png"
    small = coffee.resize((coffee.width * 3 // 4, coffee.height * 3 // 4))
    small.save(root / "coffee-small.jpg", quality=60)
    files["coffee-small"] = root / "coffee-small.jpg"
    files["broken"] = make_text_file(root / "broken.jpg")
    names = list(files)
    locations = [str(files[name]) for name in names] + [None]
    return names + ["(none)"], locations


def flagged(result, names, check):
    return {names[i] for i in np.flatnonzero(result.flags[check])}


def test_every_pixel_check_flags_its_planted_images(planted):
    names, locations = planted
    result = issues.find_issues_arrays(locations, use_cache=False)
    assert flagged(result, names, "dark") == {"dark"}
    assert flagged(result, names, "light") == {"light"}
    assert flagged(result, names, "blurry") == {"blurry"}
    assert flagged(result, names, "low_information") == {"blank"}
    assert flagged(result, names, "grayscale") == {"grey", "grey-rgb"}
    assert flagged(result, names, "odd_size") == {"tiny"}
    assert flagged(result, names, "odd_aspect_ratio") == {"wide"}
    assert flagged(result, names, "exact_duplicates") == \
        {"chelsea", "chelsea-copy", "chelsea-pixels"}
    assert flagged(result, names, "near_duplicates") == {"coffee", "coffee-small"}
    assert flagged(result, names, "unreadable") == {"broken", "(none)"}
    assert [e.reason for e in result.errors] == ["not an image file", "no image"]
    assert "outliers" not in result.flags and "label_errors" not in result.flags
    assert result.notes["outliers"].startswith("skipped")


def test_scores_are_in_range_and_point_the_right_way(planted):
    names, locations = planted
    result = issues.find_issues_arrays(locations, use_cache=False)
    at = {name: i for i, name in enumerate(names)}
    for check, score in result.scores.items():
        good = np.isfinite(score)
        assert ((score[good] >= 0) & (score[good] <= 1)).all(), check
        assert np.isnan(score[at["broken"]]), check
    s = result.scores
    assert s["dark"][at["dark"]] < s["dark"][at["rocket"]]
    assert s["light"][at["light"]] < s["light"][at["motorcycle_left"]]
    assert s["blurry"][at["blurry"]] < s["blurry"][at["astronaut"]]
    assert s["low_information"][at["blank"]] < s["low_information"][at["coffee"]]
    assert s["grayscale"][at["grey-rgb"]] < s["grayscale"][at["chelsea"]]
    assert s["odd_size"][at["tiny"]] < s["odd_size"][at["chelsea"]]
    assert s["odd_aspect_ratio"][at["wide"]] < s["odd_aspect_ratio"][at["coffee"]]
    assert s["exact_duplicates"][at["chelsea-copy"]] < s["exact_duplicates"][at["coffee"]]
    assert s["near_duplicates"][at["coffee-small"]] < s["near_duplicates"][at["retina"]]
    # a higher threshold flags more, a lower one fewer
    strict = issues.find_issues_arrays(locations, use_cache=False, checks=["dark"],
                                       thresholds={"dark": 0.99})
    assert strict.flags["dark"].sum() > result.flags["dark"].sum()


def test_duplicate_groups_keep_the_largest_then_the_oldest(planted, tmp_path):
    names, locations = planted
    result = issues.find_issues_arrays(locations, use_cache=False)
    at = {name: i for i, name in enumerate(names)}
    group = result.groups[at["chelsea"]]
    assert group >= 0 and result.group_kind[group] == "exact"
    members = set(np.flatnonzero(result.groups == group))
    assert members == {at["chelsea"], at["chelsea-copy"], at["chelsea-pixels"]}
    assert result.keep[list(members)].sum() == 1
    near = result.groups[at["coffee"]]
    assert result.group_kind[near] == "near"
    assert result.keep[at["coffee"]] and not result.keep[at["coffee-small"]]  # larger
    # equal sizes: the oldest file is kept
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.open(locations[at["coffee"]]).save(a)
    shutil.copyfile(a, b)
    os.utime(a, (2_000_000_000, 2_000_000_000))
    os.utime(b, (1_000_000_000, 1_000_000_000))
    pair = issues.find_issues_arrays([str(a), str(b)], use_cache=False,
                                     checks=["exact_duplicates"])
    assert list(pair.keep) == [False, True] and list(pair.groups) == [0, 0]


def test_statistics_are_cached_by_content_and_give_the_same_answer(planted, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("ORANGE_IMAGELAB_CACHE_DIR", str(tmp_path / "cache"))
    names, locations = planted
    first = issues.find_issues_arrays(locations, checks=issues.PIXEL_CHECKS)
    assert first.cached == 0
    second = issues.find_issues_arrays(locations, checks=issues.PIXEL_CHECKS)
    distinct = len(names) - 3       # two unreadable; chelsea and its byte copy share a row
    assert second.cached == len(names) - 2
    np.testing.assert_array_equal(first.statistics, second.statistics)
    for check in first.flags:
        np.testing.assert_array_equal(first.flags[check], second.flags[check])
    cache = stats.StatisticsCache()
    assert cache.count() == distinct
    # a damaged row is a miss, never a wrong answer
    connection = cache._connection()
    with connection:
        connection.execute("UPDATE image_statistics SET vals = x'00'")
    third = issues.find_issues_arrays(locations, checks=issues.PIXEL_CHECKS)
    assert third.cached == 0
    np.testing.assert_array_equal(first.statistics, third.statistics)
    cache.close()


def test_work_unit_is_picklable_and_runs_in_other_processes(planted, tmp_path):
    _, locations = planted
    entries = list(enumerate(locations[:3]))
    cache = stats.StatisticsCache(tmp_path / "stats.sqlite")
    job = partial(stats.measure_batch, cache=cache)
    assert pickle.loads(pickle.dumps(job)).keywords["cache"].path == cache.path
    pool = get_executor("processes", max_workers=1)
    try:
        (remote,) = list(bounded_map(pool, job, [entries], window=1))
    finally:
        pool.shutdown()
    local = stats.measure_batch(entries)
    np.testing.assert_array_equal(remote.values, local.values)
    np.testing.assert_array_equal(remote.phash, local.phash)
    assert remote.values.dtype == np.float64 and remote.values.shape == (3, len(stats.COLUMNS))


def test_empty_and_single_inputs():
    empty = issues.find_issues_arrays([], use_cache=False)
    assert all(count == 0 for count in empty.counts().values())
    assert empty.groups.shape == (0,)
    one = issues.find_issues_arrays([str(skimage_sample("coffee.png"))], use_cache=False,
                                    embeddings=np.ones((1, 4)), labels=np.array([0]),
                                    n_classes=1)
    assert not any(flag.any() for flag in one.flags.values())
    assert one.notes["label_errors"].startswith("skipped")


def test_options_are_checked_by_name():
    with pytest.raises(ValueError, match="'darkness'"):
        issues.find_issues_arrays([], thresholds={"darkness": 0.3})
    with pytest.raises(ValueError, match="'dark'.*from 0.0 to 1.0"):
        issues.find_issues_arrays([], thresholds={"dark": 3})
    with pytest.raises(ValueError, match="label_folds.*integer"):
        issues.find_issues_arrays([], thresholds={"label_folds": 2.5})
    with pytest.raises(ValueError, match="checks: unknown 'blur'"):
        issues.find_issues_arrays([], checks=["blur"])
    with pytest.raises(ValueError, match="embeddings has 2 rows for 1 images"):
        issues.find_issues_arrays([None], embeddings=np.zeros((2, 3)))


def test_hamming_pairs_equal_a_brute_force_search():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2 ** 63, 60, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, 60).astype(np.uint64)
    hashes = np.concatenate([base, base ^ flips, base[:10] ^ flips[:10] ^ (flips[:10] >> 1)])
    for bits in (0, 1, 3, 8):
        fast = {(i, j) for i, j, _ in issues.hamming_pairs(hashes, bits)}
        slow = {(i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
                if int(np.bitwise_count(hashes[i] ^ hashes[j])) <= bits}
        assert fast == slow, bits


def blobs(n_per_class=40, classes=4, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (classes, dim))
    labels = np.repeat(np.arange(classes), n_per_class)
    return centres[labels] + rng.normal(0, 1, (len(labels), dim)), labels


def test_out_of_fold_logistic_regression_finds_flipped_labels():
    X, truth = blobs()
    given = truth.copy()
    flipped = np.arange(3, len(truth), 20)            # 8 of 160 (5 %)
    given[flipped] = (truth[flipped] + 1) % 4
    result = issues.find_issues_arrays([None] * len(X), checks=["label_errors"],
                                       embeddings=X, labels=given, n_classes=4)
    suspects = set(np.flatnonzero(result.flags["label_errors"]))
    assert suspects == set(flipped)
    np.testing.assert_array_equal(result.suggested[flipped], truth[flipped])
    assert (result.label_quality[flipped] < 0.5).all()
    others = np.setdiff1d(np.arange(len(X)), flipped)
    np.testing.assert_array_equal(result.suggested[others], given[others])
    assert "5-fold" in result.notes["label_errors"]


def test_confident_learning_rule_and_unlabelled_rows():
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.3, 0.7], [0.88, 0.12], [0.4, 0.6]])
    labels = np.array([0, 0, 1, 1, 1, -1])
    suspect, quality, suggested = issues.confident_learning(p, labels)
    # thresholds: class 0 -> 0.85, class 1 -> mean(0.8, 0.7, 0.12) = 0.54
    assert list(suspect) == [False, False, False, False, True, False]
    assert list(suggested) == [0, 0, 1, 1, 0, 1]
    assert np.isnan(quality[5]) and quality[4] == 0.12


def test_given_probabilities_replace_the_model_and_unusable_labels_are_skipped():
    p = np.array([[0.9, 0.1], [0.1, 0.9], [0.95, 0.05], [0.2, 0.8]])
    result = issues.find_issues_arrays([None] * 4, checks=["label_errors"],
                                       labels=np.array([0, 1, 1, 1]), n_classes=2,
                                       probabilities=p)
    assert list(result.flags["label_errors"]) == [False, False, True, False]
    assert result.notes["label_errors"].startswith("probabilities given")
    missing = issues.find_issues_arrays([None] * 4, checks=["label_errors"],
                                        labels=np.array([0, 1, 1, 1]), n_classes=2)
    assert missing.notes["label_errors"] == \
        "skipped: needs an embedding or predicted probabilities"


def test_outliers_flag_the_far_rows():
    X, _ = blobs(classes=2)
    X = np.vstack([X, -40 * np.ones((2, X.shape[1]))])
    X[-1, 0] += 30
    result = issues.find_issues_arrays([None] * len(X), checks=["outliers"], embeddings=X,
                                       thresholds={"outlier_quantile": 0.98})
    assert set(np.flatnonzero(result.flags["outliers"])) >= {len(X) - 2, len(X) - 1}
    scores = result.scores["outliers"]
    assert scores[-1] < np.median(scores) and ((scores > 0) & (scores <= 1)).all()
