"""A damaged embedding cache is never trusted (issue 17, item 7): damaged rows are
recomputed, a damaged file is moved aside with a warning, and the vectors are
always the ones the model computes."""
import os
import sqlite3

import numpy as np
import pytest

from orangecontrib.imagelab.core.models import DEFAULT_MODEL, get_model
from orangecontrib.imagelab.core.vectors.cache import FILE_NAME, EmbeddingCache
from orangecontrib.imagelab.core.vectors.embedding import embed_locations
from tests.images import make_image

N = 24


@pytest.fixture()
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ORANGE_IMAGELAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def images(tmp_path):
    return [str(make_image(tmp_path / f"img{i}.jpg", size=(64, 48), noise=40, seed=i))
            for i in range(N)]


def truth(images):
    return embed_locations(images, use_cache=False).vectors


def test_garbage_in_rows_is_recomputed(cache_folder, images):
    expected = truth(images)
    embed_locations(images)
    model_id = get_model(DEFAULT_MODEL).model_id()
    with sqlite3.connect(cache_folder / FILE_NAME) as db:
        # a bit flip, NaNs, a float32 max and a short row
        rows = db.execute("SELECT rowid, vector FROM vectors WHERE output = 'features' "
                          "ORDER BY rowid LIMIT 4").fetchall()
        flipped = bytearray(rows[0][1])
        flipped[100] ^= 0x01
        replacements = [bytes(flipped), b"\xff" * len(rows[1][1]),
                        np.full(len(rows[2][1]) // 4, 3.4e38, np.float32).tobytes(),
                        rows[3][1][:-4]]
        for (rowid, _), blob in zip(rows, replacements):
            db.execute("UPDATE vectors SET vector = ? WHERE rowid = ?", (blob, rowid))
    db.close()
    again = embed_locations(images)
    np.testing.assert_allclose(again.vectors, expected, atol=1e-5)
    assert again.cached == N - 4
    assert any("4 damaged cache entries were recomputed" in w for w in again.warnings)
    repaired = embed_locations(images)
    assert repaired.cached == N and not repaired.warnings
    assert model_id  # the rows belong to the default model


def test_a_page_overwritten_with_garbage_never_gives_garbage_vectors(cache_folder, images):
    expected = truth(images)
    embed_locations(images)
    path = cache_folder / FILE_NAME
    size = os.path.getsize(path)
    assert size > 16 * 4096  # many pages of vectors
    assert not os.path.exists(str(path) + "-wal")  # all of it is in the main file
    rng = np.random.default_rng(0)
    with open(path, "r+b") as f:  # every other page from the third on
        for page in range(2, size // 4096, 2):
            f.seek(page * 4096)
            f.write(rng.bytes(4096))
    first = embed_locations(images)
    np.testing.assert_allclose(first.vectors, expected, atol=1e-5)
    assert first.ok.all() and first.warnings
    second = embed_locations(images)
    np.testing.assert_allclose(second.vectors, expected, atol=1e-5)
    # the damage was dealt with: a rebuilt (or repaired) cache serves the rest
    third = embed_locations(images)
    assert third.cached == N and not third.warnings


def test_a_file_that_is_not_a_database_is_moved_aside(cache_folder, images):
    cache_folder.mkdir(parents=True)
    (cache_folder / FILE_NAME).write_bytes(b"this is not SQLite" * 1000)
    result = embed_locations(images[:3])
    assert result.ok.all()
    assert any("moved to" in w and "damaged" in w for w in result.warnings)
    aside = [p.name for p in cache_folder.iterdir() if ".damaged-" in p.name]
    assert aside and (cache_folder / aside[0]).read_bytes().startswith(b"this is not")
    assert embed_locations(images[:3]).cached == 3


def test_a_cache_from_before_checksums_is_upgraded(cache_folder, images):
    cache_folder.mkdir(parents=True)
    model_id = get_model(DEFAULT_MODEL).model_id()
    with sqlite3.connect(cache_folder / FILE_NAME) as db:
        db.execute("CREATE TABLE vectors (hash BLOB NOT NULL, model TEXT NOT NULL, "
                   "output TEXT NOT NULL, vector BLOB NOT NULL, UNIQUE (hash, model, output))")
    db.close()
    expected = truth(images[:2])
    cache = EmbeddingCache()
    cache.close()
    with sqlite3.connect(cache_folder / FILE_NAME) as db:
        from orangecontrib.imagelab.core.vectors.cache import content_hash
        for i, path in enumerate(images[:2]):
            key = content_hash(open(path, "rb").read())
            vector = expected[i] if i == 0 else np.full(1280, np.nan, np.float32)
            db.execute("INSERT INTO vectors (hash, model, output, vector) VALUES (?,?,?,?)",
                       (key, model_id, "features", vector.astype(np.float32).tobytes()))
    db.close()
    result = embed_locations(images[:2])
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)
    assert result.cached == 1  # the old finite row is used; the NaN row recomputed


def test_only_damage_moves_a_cache_aside(cache_folder):
    from orangecontrib.imagelab.core.vectors.cache import _is_damage
    assert not _is_damage(sqlite3.OperationalError("database is locked"))
    cache_folder.mkdir(parents=True)
    (cache_folder / "junk.sqlite").write_bytes(b"\0junk" * 2000)
    with pytest.raises(sqlite3.DatabaseError) as raised:
        sqlite3.connect(cache_folder / "junk.sqlite").execute("PRAGMA journal_mode=WAL")
    assert _is_damage(raised.value)
