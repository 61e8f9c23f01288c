"""Where Image Lab keeps caches and generated files.

The environment variables ``ORANGE_IMAGELAB_CACHE_DIR`` and
``ORANGE_IMAGELAB_DATA_DIR`` override the defaults (tests point them to
temporary folders).
"""
import os
from pathlib import Path


def _xdg(env: str, fallback: str) -> Path:
    base = os.environ.get(env)
    return Path(base) if base else Path.home() / fallback


def cache_dir() -> Path:
    """Folder for things that can be recomputed: embeddings, extracted zips."""
    path = os.environ.get("ORANGE_IMAGELAB_CACHE_DIR")
    path = Path(path) if path else _xdg("XDG_CACHE_HOME", ".cache") / "orange3-imagelab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Folder for generated, version-bound files such as built ONNX models."""
    path = os.environ.get("ORANGE_IMAGELAB_DATA_DIR")
    path = Path(path) if path else _xdg("XDG_DATA_HOME", ".local/share") / "orange3-imagelab"
    path.mkdir(parents=True, exist_ok=True)
    return path
