"""Augmentation transforms (core.pixels.augment) and embedding in-memory variants."""
import numpy as np
import pytest
from PIL import Image

from orangecontrib.imagelab.core.errors import Cancelled
from orangecontrib.imagelab.core.pixels.augment import Augment, Transform
from orangecontrib.imagelab.core.pixels.decoding import load_array
from orangecontrib.imagelab.core.vectors.cache import content_hash, derived_key
from orangecontrib.imagelab.core.vectors.embedding import embed_locations, embed_variants
from tests.images import make_image, make_truncated_jpeg, skimage_sample


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ORANGE_IMAGELAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def photo(size=(96, 64)):
    return np.asarray(Image.open(skimage_sample("chelsea.png")).convert("RGB").resize(size))


def test_flips_shifts_and_identity_are_exact():
    pixels = photo()
    assert np.array_equal(Transform().apply(pixels), pixels)
    assert np.array_equal(Transform(flip_h=True).apply(pixels), pixels[:, ::-1])
    assert np.array_equal(Transform(flip_v=True).apply(pixels), pixels[::-1])
    shifted = Transform(shift_x=0.25).apply(pixels)           # 24 px to the right
    assert np.array_equal(shifted[:, 24:], pixels[:, :-24])
    # pixels brought in from outside repeat the edge (Keras' fill_mode="nearest")
    assert np.array_equal(shifted[:, :24], np.repeat(pixels[:, :1], 24, axis=1))
    square = np.ascontiguousarray(pixels[:, :64])
    turned = Transform(angle=90).apply(square)                # counter-clockwise
    assert np.abs(turned.astype(int) - np.rot90(square)).max() <= 1


def test_brightness_zoom_shear_keep_size_and_type():
    pixels = photo()
    brighter = Transform(brightness=1.2).apply(pixels)
    expected = np.clip(pixels * 1.2 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(brighter.astype(int) - expected).max() <= 1
    for transform in (Transform(zoom_x=0.5, zoom_y=1.5), Transform(shear=0.2),
                      Augment().transform(b"key", 3)):
        out = transform.apply(pixels)
        assert out.shape == pixels.shape and out.dtype == np.uint8
        assert not np.array_equal(out, pixels)
    # Pillow images in, Pillow images out; grey and RGBA too
    image = Image.fromarray(pixels)
    assert isinstance(Transform(angle=10).apply(image), Image.Image)
    assert Transform(angle=10).apply(image.convert("L")).mode == "L"
    assert Transform(brightness=0.5).apply(image.convert("RGBA")).mode == "RGBA"
    # zoom > 1 enlarges: the centre row spreads out
    zoomed = Transform(zoom_x=2.0, zoom_y=2.0).apply(pixels)
    assert np.abs(zoomed[32, 48].astype(int) - pixels[32, 48]).max() < 40


def test_copies_are_reproducible_per_image_and_seed():
    augment = Augment(seed=3)
    a = augment.transform(b"image-a", 0)
    assert augment.transform(b"image-a", 0) == a        # same in every fold and run
    assert augment.transform(b"image-a", 1) != a
    assert augment.transform(b"image-b", 0) != a
    assert Augment(seed=4).transform(b"image-a", 0) != a
    draws = [augment.transform(bytes([i]) * 16, k) for i in range(40) for k in range(4)]
    angles = np.array([t.angle for t in draws])
    assert np.abs(angles).max() <= 30 and angles.std() > 10
    assert all(0.5 <= t.zoom_x <= 1.5 and abs(t.shear) <= 0.2 for t in draws)
    assert not any(t.flip_v for t in draws) and any(t.flip_h for t in draws)
    text = a.text()
    assert '"version":1' in text and text == augment.transform(b"image-a", 0).text()
    assert Augment.from_dict(augment.to_dict()) == augment


@pytest.mark.parametrize("options, name", [
    ({"rotate": -1}, "rotate"), ({"rotate": float("nan")}, "rotate"),
    ({"shift": 1.5}, "shift"), ({"zoom": 1.0}, "zoom"), ({"brightness": "0.2"}, "brightness"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"flip_h": "yes"}, "flip_h"),
])
def test_nonsense_options_are_refused_by_name(options, name):
    with pytest.raises(ValueError, match=name):
        Augment(**options)


def test_bad_arrays_are_refused_with_a_fix():
    with pytest.raises(ValueError, match="uint8"):
        Transform(angle=5).apply(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="unknown augmentation options"):
        Augment.from_dict({"rotation": 10})
    with pytest.raises(ValueError, match="copy"):
        Augment().transform(b"", copy=-1)


def test_variants_are_embedded_once_and_cached_by_image_and_parameters(tmp_path, fresh_cache):
    paths = [str(make_image(tmp_path / f"img{i}.jpg", size=(90, 70), noise=60, seed=i))
             for i in range(3)]
    paths.append(str(make_truncated_jpeg(tmp_path / "bad.jpg")))
    paths.append(None)
    augment = Augment()
    made = []

    def make_variant(key, copy):
        transform = augment.transform(key, copy)

        def apply(pixels):
            made.append((key, copy))
            return transform.apply(pixels)
        return transform.text(), apply

    first = embed_variants(paths, make_variant, 2)
    assert first.vectors.shape == (5, 2, 1280)
    assert list(first.ok) == [True, True, True, False, False]
    assert [e.reason for e in first.errors] == ["truncated JPEG", "no image"]
    assert first.error_rows == [3, 4] and first.cached == 0
    assert len(made) == 6 and np.isfinite(first.vectors[:3]).all()
    # each copy differs from the original and from the other copy
    plain = embed_locations(paths[:3]).vectors
    assert not np.allclose(first.vectors[0, 0], plain[0])
    assert not np.allclose(first.vectors[0, 0], first.vectors[0, 1])

    # a copy equals embedding the transformed pixels directly
    base = load_array(paths[0], size=(224, 224))
    key = content_hash(open(paths[0], "rb").read())
    from orangecontrib.imagelab.core.models import DEFAULT_MODEL, get_model
    direct, _ = get_model(DEFAULT_MODEL).run(augment(base, image_key=key, copy=1)[None])
    np.testing.assert_allclose(first.vectors[0, 1], direct[0], atol=1e-4)

    made.clear()
    second = embed_variants(paths, make_variant, 2)
    assert made == [] and second.cached == 3          # all from the cache
    np.testing.assert_array_equal(second.vectors[:3], first.vectors[:3])
    # the key is (content hash, parameters): the same bytes under another name hit
    copy = tmp_path / "renamed.jpg"
    copy.write_bytes(open(paths[1], "rb").read())
    assert embed_variants([str(copy)], make_variant, 2).cached == 1
    assert derived_key(key, "a") != derived_key(key, "b") != key


def test_variants_cancel_and_bad_options(tmp_path, fresh_cache):
    paths = [str(make_image(tmp_path / f"img{i}.png", noise=30, seed=i)) for i in range(6)]

    def make_variant(key, copy):
        return f"flip{copy}", lambda pixels: pixels[:, ::-1].copy()

    def cancel(fraction):
        if fraction > 0.3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        embed_variants(paths, make_variant, 1, batch_size=2, threads=1, callback=cancel)
    resumed = embed_variants(paths, make_variant, 1, batch_size=2, threads=1)
    assert resumed.cached >= 2 and resumed.ok.all()
    with pytest.raises(ValueError, match="copies"):
        embed_variants(paths, make_variant, 0)
    with pytest.raises(ValueError, match="uint8"):
        embed_variants(paths[:1], lambda key, copy: ("bad", lambda p: p[:10]), 1,
                       use_cache=False)
