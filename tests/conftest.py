"""Test set-up: offscreen Qt, and caches and temporary files in one folder of
the session's, never the user's, removed when the session ends."""
import os
import shutil
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_SESSION_DIR = tempfile.mkdtemp(prefix="imagelab-tests-")
os.environ["ORANGE_IMAGELAB_CACHE_DIR"] = os.path.join(_SESSION_DIR, "cache")
os.environ["ORANGE_IMAGELAB_DATA_DIR"] = os.path.join(_SESSION_DIR, "data")
# Every mkdtemp of the tests (and of the processes they start: Dask workers,
# the peer) lands here, so a run leaves nothing behind in /tmp.
_TEMP = os.path.join(_SESSION_DIR, "tmp")
os.makedirs(_TEMP)
os.environ["TMPDIR"] = tempfile.tempdir = _TEMP


def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
