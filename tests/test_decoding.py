"""Decoding: truncation whatever Pillow's globals say, big photos, EXIF sizes, fast JPEGs."""
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from orangecontrib.imagelab.core.errors import ImageError
from orangecontrib.imagelab.core.io.sources import quick_probe, scan_folder
from orangecontrib.imagelab.core.models import DEFAULT_MODEL, get_model
from orangecontrib.imagelab.core.pixels import decoding
from orangecontrib.imagelab.core.vectors.embedding import embed_locations
from tests.images import skimage_sample

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def truncated_images_allowed():
    """What loading orange3-imageanalytics's widgets does to the process."""
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    yield
    ImageFile.LOAD_TRUNCATED_IMAGES = before


def _photo(size=(96, 72)):
    return Image.open(skimage_sample("chelsea.png")).convert("RGB").resize(size)


def _cut(path, keep=0.6):
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:int(len(data) * keep)])
    return path


def _with_orientation(image, path, orientation, **save):
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif, **save)
    return path


TRUNCATED = {  # name: (save keyword arguments, reason)
    "baseline.jpg": ({"quality": 95}, "truncated JPEG"),
    "progressive.jpg": ({"quality": 95, "progressive": True}, "truncated JPEG"),
    "image.png": ({}, "truncated PNG"),
    "image.gif": ({}, "truncated GIF"),
    "image.bmp": ({}, "truncated BMP"),
    "image.tif": ({}, "truncated TIFF"),
    "image.webp": ({"quality": 90}, "truncated WEBP"),
}


@pytest.mark.parametrize("name", sorted(TRUNCATED))
def test_truncated_files_refused_although_pillow_is_told_to_accept_them(
        name, tmp_path, truncated_images_allowed):
    save, why = TRUNCATED[name]
    path = tmp_path / name
    _photo().save(path, **save)
    assert decoding.probe(path).width == 96  # the whole file is fine
    _cut(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES
    for check in (lambda: decoding.probe(path), lambda: decoding.probe(path, full=True),
                  lambda: decoding.load_rgb(path, size=(32, 32)),
                  lambda: decoding.load_rgb(path, size=(32, 32), data=path.read_bytes()),
                  lambda: decoding.load_image(path)):
        with pytest.raises(ImageError) as err:
            check()
        assert err.value.reason == why
    # Import Images (quick header path, and the full check) names the file
    assert scan_folder(tmp_path).skipped[0].reason == why
    assert scan_folder(tmp_path, check_full=True).skipped[0].reason == why


def test_truncated_jpeg_in_import_and_embedding_with_the_flag_set(
        tmp_path, truncated_images_allowed):
    _photo((320, 240)).save(tmp_path / "good.jpg", quality=90)
    _photo((320, 240)).save(tmp_path / "cut.jpg", quality=90)
    _cut(tmp_path / "cut.jpg")
    scan = scan_folder(tmp_path)
    assert [r.path for r in scan.records] == ["good.jpg"]
    assert [(s.path, s.reason) for s in scan.skipped] == [("cut.jpg", "truncated JPEG")]
    result = embed_locations([str(tmp_path / "good.jpg"), str(tmp_path / "cut.jpg")],
                             model="squeezenet", use_cache=False)
    assert result.ok.tolist() == [True, False]
    assert result.errors[0].reason == "truncated JPEG"


def test_complete_files_with_extras_are_not_called_truncated(tmp_path):
    # data after a JPEG's end (some cameras add it) and an EXIF thumbnail,
    # whose own end marker precedes the main image's scans
    path = tmp_path / "extra.jpg"
    exif = Image.Exif()
    exif[0x0112] = 1
    _photo().save(path, quality=90, exif=exif)
    path.write_bytes(path.read_bytes() + b"camera maker's trailer")
    assert decoding.probe(path, full=True).width == 96
    thumb = io.BytesIO()
    _photo((16, 12)).save(thumb, "JPEG")
    app1 = b"Exif\x00\x00" + b"junk" + thumb.getvalue()  # a thumbnail's FFD9 inside APP1
    whole = (tmp_path / "extra.jpg").read_bytes()
    segment = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    (tmp_path / "thumb.jpg").write_bytes(whole[:2] + segment + whole[2:])
    assert decoding.probe(tmp_path / "thumb.jpg").width == 96
    cut = whole[:2] + segment + whole[2:len(whole) // 2]
    (tmp_path / "thumb-cut.jpg").write_bytes(cut)
    with pytest.raises(ImageError, match="truncated JPEG"):
        decoding.probe(tmp_path / "thumb-cut.jpg")


def test_pillows_global_pixel_limit_does_not_decide(tmp_path, monkeypatch):
    big = tmp_path / "big.jpg"
    _photo((3000, 2000)).save(big, quality=80, progressive=True)  # Pillow's path
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # another add-on's value
    assert decoding.load_rgb(big, max_side=100).size == (100, 67)
    assert decoding.probe(big).width == 3000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # or none at all
    bomb = tmp_path / "bomb.png"
    Image.new("L", (10_000, 9_000)).save(bomb, compress_level=1)
    with pytest.raises(ImageError, match="too many pixels"):
        decoding.load_rgb(bomb, max_side=100)


def test_big_phone_photo_decoded_by_draft_and_sized_by_exif(tmp_path):
    # 12000×9000 (108 Mpixels, more than the bomb limit) with the camera held
    # upright: decoded at 1/8 scale, shown 9000 wide and 12000 high.
    ramp = np.linspace(0, 255, 12000, dtype=np.float32).astype(np.uint8)
    pixels = np.broadcast_to(ramp, (9000, 12000))
    path = _with_orientation(Image.fromarray(np.ascontiguousarray(pixels)),
                             tmp_path / "phone.jpg", 6, quality=70)
    info = decoding.probe(path)
    assert info == decoding.ImageInfo(12000, 9000, "JPEG", "L", 6)  # stored pixels
    assert info.display_size == (9000, 12000)
    scan = scan_folder(tmp_path)
    assert (scan.records[0].width, scan.records[0].height) == (9000, 12000)
    thumb = decoding.load_rgb(path, max_side=256)
    assert thumb.size == (192, 256) and thumb.mode == "RGB"
    top, bottom = np.asarray(thumb)[[2, -3], 96, 0]
    assert top < 40 and bottom > 215  # the ramp runs left to right, rotated: top to bottom
    result = embed_locations([str(path)], model="squeezenet", use_cache=False)
    assert result.ok.all() and np.isfinite(result.vectors).all()
    with pytest.raises(ImageError, match="too many pixels"):
        decoding.load_image(path)  # full size really is more than the limit


def test_width_and_height_follow_exif_orientation(tmp_path):
    photo = _photo((64, 48))
    for orientation in (1, 3, 6, 8):
        _with_orientation(photo, tmp_path / f"o{orientation}.jpg", orientation)
        _with_orientation(photo, tmp_path / f"o{orientation}.webp", orientation)
    expected = {1: (64, 48), 3: (64, 48), 6: (48, 64), 8: (48, 64)}
    for orientation, size in expected.items():
        jpeg = tmp_path / f"o{orientation}.jpg"
        webp = decoding.probe(tmp_path / f"o{orientation}.webp")
        for info in (quick_probe(str(jpeg)), decoding.probe(jpeg), webp):
            assert info.display_size == size  # Import's fast path, Pillow's
            assert (info.width, info.height) == (64, 48)  # boxes use stored pixels
        assert decoding.load_rgb(jpeg).size == size
    records = {r.path: r for r in scan_folder(tmp_path).records}
    for name in ("o6.jpg", "o8.webp"):
        assert (records[name].width, records[name].height) == (48, 64)  # the table
        assert records[name].stored_size == (64, 48)                    # boxes


def test_16_bit_grey_scaled_in_bands_as_before(tmp_path, monkeypatch):
    ramp = (np.arange(40 * 30, dtype=np.uint32).reshape(30, 40) * 54).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    expected = np.clip(ramp / 65535.0 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    monkeypatch.setattr(decoding, "_BAND_PIXELS", 7 * 40)  # several bands
    pixels = decoding.load_array(path)
    assert pixels.shape == (30, 40, 3)
    np.testing.assert_array_equal(pixels[..., 1], expected)
    floats = Image.fromarray(ramp.astype(np.float32) - 1000.0, "F")
    grey = np.asarray(decoding._to_rgb(floats))[..., 0]
    assert grey.min() == 0 and grey.max() == 255


MEMORY_CODE = """
import json, sys
from orangecontrib.imagelab.core.pixels.decoding import load_rgb
from orangecontrib.imagelab.core.vectors.embedding import embed_locations
from orangecontrib.imagelab.core.models import DEFAULT_MODEL, get_model
def peak_mb():
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
get_model(DEFAULT_MODEL).session()
before = peak_mb()
thumbnail = load_rgb(sys.argv[1], max_side=256).size
embedded = bool(embed_locations([sys.argv[1]], use_cache=False).ok.all())
print(json.dumps({"thumbnail": thumbnail, "embedded": embedded, "before_mb": before,
                  "peak_mb": peak_mb()}))
"""


def test_16_bit_png_9000_square_takes_less_than_500_mb(tmp_path):
    """Peak memory (not time) of a process that thumbnails and embeds it;
    before the fix each took 2.3 GB."""
    path = tmp_path / "scan.png"
    column = np.linspace(0, 65535, 9000).astype(np.uint16)
    Image.fromarray(np.ascontiguousarray(np.broadcast_to(column[:, None], (9000, 9000)))
                    ).save(path, compress_level=1)
    get_model(DEFAULT_MODEL).onnx_path()  # built here, not in the measured process
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MEMORY_CODE), str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["thumbnail"] == [256, 256] and result["embedded"]
    assert result["peak_mb"] < 500, result


# -- the JPEG fast path (simplejpeg) ------------------------------------------

def _jpeg_bytes(size, **save):
    buffer = io.BytesIO()
    image = Image.open(skimage_sample("astronaut.png")).convert("RGB").resize(size)
    if save.pop("grey", False):
        image = image.convert("L")
    if save.pop("cmyk", False):
        image = image.convert("CMYK")
    image.save(buffer, "JPEG", **save)
    return buffer.getvalue()


def _both_paths(data, monkeypatch, **kwargs):
    fast = decoding.load_array("x.jpg", data=data, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(decoding, "simplejpeg", None)
        slow = decoding.load_array("x.jpg", data=data, **kwargs)
    return fast.astype(int), slow.astype(int)


@pytest.mark.parametrize("size, save", [
    ((640, 480), {"quality": 90}), ((640, 480), {"grey": True}),
    ((3000, 2000), {"quality": 85}), ((150, 100), {}),
    ((640, 480), {"progressive": True}), ((640, 480), {"cmyk": True})])
def test_fast_jpeg_path_equals_pillows(size, save, monkeypatch):
    """Where both decode at the same DCT scale the pixels are identical;
    progressive and CMYK files go through Pillow."""
    fast, slow = _both_paths(_jpeg_bytes(size, **save), monkeypatch, size=(224, 224))
    np.testing.assert_array_equal(fast, slow)


def test_fast_jpeg_path_finer_scale_within_tolerance(monkeypatch):
    """1024×768: the fast path decodes at 3/8 (384×288), Pillow at 1/2; the
    224×224 inputs differ by under 1 grey level on average, the features by
    little (tolerance stated here)."""
    data = _jpeg_bytes((1024, 768), quality=90)
    fast, slow = _both_paths(data, monkeypatch, size=(224, 224))
    assert np.abs(fast - slow).mean() < 1.5
    spec = get_model("efficientnet-lite0")
    a, _ = spec.run(fast[None].astype(np.uint8))
    b, _ = spec.run(slow[None].astype(np.uint8))
    cosine = float(a[0] @ b[0] / np.linalg.norm(a[0]) / np.linalg.norm(b[0]))
    assert cosine > 0.99


def test_fast_jpeg_path_applies_exif_orientation(monkeypatch, tmp_path):
    path = _with_orientation(Image.open(io.BytesIO(_jpeg_bytes((640, 480)))),
                             tmp_path / "turned.jpg", 6, quality=90)
    fast, slow = _both_paths(path.read_bytes(), monkeypatch, max_side=240)
    assert fast.shape == slow.shape == (240, 180, 3)
    np.testing.assert_array_equal(fast, slow)  # both decode at 1/2 here
