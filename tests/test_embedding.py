"""The embedding pipeline: cache, cancel-and-resume, skipped rows, bad input."""
import numpy as np
import pytest
from PIL import Image

from orangecontrib.imagelab.core.vectors.cache import EmbeddingCache, clear_cache
from orangecontrib.imagelab.core.vectors.embedding import embed_locations
from orangecontrib.imagelab.core.errors import Cancelled
from orangecontrib.imagelab.core.models import DEFAULT_MODEL, get_model
from tests.images import (
    make_image, make_text_file, make_truncated_jpeg, make_zero_byte, skimage_sample)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ORANGE_IMAGELAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def some_images(folder, n):
    return [str(make_image(folder / f"img{i}.jpg", size=(96, 64), noise=40, seed=i))
            for i in range(n)]


def test_cat_coffee_logits_and_features(fresh_cache):
    paths = [str(skimage_sample("chelsea.png")), str(skimage_sample("coffee.png"))]
    logits = embed_locations(paths, output="logits")
    assert logits.vectors.shape == (2, 1000) and logits.ok.all()
    assert logits.vectors[0].argmax() in range(281, 286)
    assert logits.vectors[1].argmax() in (504, 967, 968)
    # the first run cached both outputs: features now come from the cache
    features = embed_locations(paths)
    assert features.cached == 2
    assert features.vectors.shape == (2, 1280) and np.isfinite(features.vectors).all()


def test_two_models_differ_same_image_same_vector(tmp_path, fresh_cache):
    path = str(make_image(tmp_path / "a.png", size=(80, 60), noise=50))
    copy = str(tmp_path / "copy.png")
    Image.open(path).save(copy)
    lite = embed_locations([path, copy], use_cache=False).vectors
    squeeze = embed_locations([path], model="squeezenet", use_cache=False).vectors
    assert lite.shape[1] != squeeze.shape[1]
    np.testing.assert_array_equal(lite[0], lite[1])


def test_cache_hit_gives_identical_vectors(tmp_path, fresh_cache):
    paths = some_images(tmp_path, 5)
    first = embed_locations(paths, batch_size=2)
    assert first.cached == 0
    second = embed_locations(paths, batch_size=2)
    assert second.cached == 5
    np.testing.assert_array_equal(first.vectors, second.vectors)
    # a renamed file is still a hit (content hash), a changed one is not
    (tmp_path / "img0.jpg").rename(tmp_path / "renamed.jpg")
    make_image(tmp_path / "img1.jpg", size=(96, 64), noise=40, seed=99)
    third = embed_locations([str(tmp_path / "renamed.jpg")] + paths[1:])
    assert third.cached == 4
    assert (fresh_cache / "embeddings.sqlite").exists()


def test_cancel_keeps_finished_batches_and_resumes(tmp_path, fresh_cache):
    paths = some_images(tmp_path, 12)

    def cancel_midway(fraction):
        if fraction >= 0.3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        embed_locations(paths, batch_size=2, callback=cancel_midway)
    model_id = get_model(DEFAULT_MODEL).model_id()
    cache = EmbeddingCache()
    kept = cache.count(model_id)
    cache.close()
    assert 2 <= kept < 12
    resumed = embed_locations(paths, batch_size=2)
    assert resumed.cached == kept and resumed.ok.all()


def test_clear_cache(tmp_path, fresh_cache):
    paths = some_images(tmp_path, 2)
    embed_locations(paths)
    clear_cache("squeezenet")
    assert embed_locations(paths).cached == 2
    clear_cache()
    assert embed_locations(paths).cached == 0


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_inputs_become_skipped_rows(tmp_path, fresh_cache):
    bomb = tmp_path / "bomb.png"  # 120 Mpixels: over the decompression-bomb limit
    Image.new("RGB", (12000, 10000), (10, 20, 30)).save(bomb)
    big = tmp_path / "big.jpg"  # 24 Mpixels: large but fine
    Image.new("RGB", (6000, 4000), (200, 20, 30)).save(big)
    entries = {
        "good": make_image(tmp_path / "good.jpg"),
        "truncated": make_truncated_jpeg(tmp_path / "trunc.jpg"),
        "zero": make_zero_byte(tmp_path / "zero.jpg"),
        "text": make_text_file(tmp_path / "text.jpg"),
        "cmyk": make_image(tmp_path / "cmyk.jpg", mode="CMYK"),
        "grey": make_image(tmp_path / "grey.png", mode="L"),
        "palette": make_image(tmp_path / "pal.png", mode="P"),
        "rgba": make_image(tmp_path / "rgba.png", mode="RGBA"),
        "16bit": make_image(tmp_path / "i16.png", mode="I;16"),
        "missing": tmp_path / "nope.jpg",
        "none": None,
        "big": big,
        "bomb": bomb,
    }
    names = list(entries)
    locations = [None if p is None else str(p) for p in entries.values()]
    result = embed_locations(locations, use_cache=False)
    ok = dict(zip(names, result.ok))
    for name in ("good", "cmyk", "grey", "palette", "rgba", "16bit", "big"):
        assert ok[name], name
    reasons = {names[row]: err.reason for row, err in zip(result.error_rows, result.errors)}
    assert reasons.pop("bomb").startswith("too many pixels")
    assert reasons == {"truncated": "truncated JPEG", "zero": "empty file (0 bytes)",
                       "text": "not an image file", "missing": "file not found",
                       "none": "no image"}
    assert np.isnan(result.vectors[~result.ok]).all()
    assert np.isfinite(result.vectors[result.ok]).all()


def test_empty_input_and_bad_output_name(fresh_cache):
    result = embed_locations([])
    assert result.vectors.shape == (0, 1280) and not result.errors
    with pytest.raises(ValueError, match="output"):
        embed_locations([], output="probabilities")


def test_unusable_cache_does_not_stop_embedding(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("ORANGE_IMAGELAB_CACHE_DIR", str(blocker / "cache"))
    paths = some_images(tmp_path, 2)
    result = embed_locations(paths)
    assert result.ok.all() and result.cached == 0


def test_vectors_written_into_a_given_array(tmp_path, fresh_cache):
    paths = some_images(tmp_path, 3) + [str(tmp_path / "missing.jpg")]
    alone = embed_locations(paths)
    X = np.zeros((4, 1 + 1280))                  # float64, a column before
    result = embed_locations(paths, out=X[:, 1:])
    assert np.shares_memory(result.vectors, X)
    np.testing.assert_array_equal(X[:3, 1:], alone.vectors[:3])
    assert np.isnan(X[3, 1:]).all() and not X[:, 0].any()
    with pytest.raises(ValueError, match="out must be"):
        embed_locations(paths, out=np.zeros((4, 10)))
    with pytest.raises(ValueError, match="out must be"):
        embed_locations(paths, out=np.zeros((4, 1280), dtype=int))
