"""Test set-up: offscreen Qt, and caches in temporary folders, never the user's."""
import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_SESSION_DIR = tempfile.mkdtemp(prefix="imagelab-tests-")
os.environ["ORANGE_IMAGELAB_CACHE_DIR"] = os.path.join(_SESSION_DIR, "cache")
os.environ["ORANGE_IMAGELAB_DATA_DIR"] = os.path.join(_SESSION_DIR, "data")
