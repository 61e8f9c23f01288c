"""A small head on frozen embeddings, and its export as one portable ONNX file.

    >>> head = train_head(features, classes, n_classes=5, kind="logistic", C=1.0)
    >>> head.probabilities(new_features)         # (n, 5), rows sum to 1
    >>> export_onnx(get_model("efficientnet-lite0"), head, "cats.onnx",
    ...             classes=["cat", "dog", ...])

The head is scikit-learn's ``LogisticRegression`` or ``MLPClassifier``
trained on standardised features; once trained it is kept as plain numpy
arrays (``Head``): the same arithmetic then runs in numpy (the Orange model)
and in the ONNX graph (the exported file), and a pickled model does not
depend on scikit-learn's version.

The exported graph is the backbone's own graph (input ``image``: (n, size,
size, 3) uint8 RGB; its scaling and channel order inside) with the head
appended after ``features``: ``(features - mean) / scale``, the layers, and a
softmax (or a sigmoid for two classes) -> ``probabilities`` (n, classes).
The backbone's ImageNet ``logits`` branch is dropped. What the graph needs
from outside -- how to turn a file into the input -- is written into the
metadata (``preprocessing``, ``reference_loader``; see ``portable.py``).
"""
import inspect
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..models import ModelSpec
from ..pixels.augment import Augment
from ..progress import ProgressCallback
from . import portable
from .embedding import EmbeddingArrays, embed_variants

HEADS = ("logistic", "mlp")
#: The classifier's decoding (``portable.decode``), part of its cache keys:
#: bump it if that code changes what it produces.
DECODING = "portable-1"
#: Outputs of an exported model.
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_FEATURES = "features"


@dataclass
class Head:
    """A trained head as numpy arrays.

    mean, scale: (d,) standardisation; layers: [(weights (in, out), bias (out,))],
    ReLU between them; ``output``: "softmax" (last layer has one unit per
    seen class) or "sigmoid" (one unit: the probability of the second seen
    class); ``classes``: indices of the seen classes among ``n_classes``.
    """
    mean: np.ndarray
    scale: np.ndarray
    layers: List[Tuple[np.ndarray, np.ndarray]]
    output: str
    classes: np.ndarray
    n_classes: int
    kind: str = "logistic"
    params: Dict = field(default_factory=dict)

    @property
    def dimension(self) -> int:
        return len(self.mean)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, d) features -> (n, n_classes) float64 probabilities; a class not
        seen in training gets 0; a row with NaN features gets NaN."""
        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        for i, (weights, bias) in enumerate(self.layers):
            x = x @ weights + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        if self.output == "sigmoid":
            with np.errstate(over="ignore"):
                p = 1.0 / (1.0 + np.exp(-x[:, 0]))
            seen = np.column_stack([1.0 - p, p])
        else:
            x = x - np.max(x, axis=1, keepdims=True)
            e = np.exp(x)
            seen = e / e.sum(axis=1, keepdims=True)
        probs = np.zeros((len(x), self.n_classes))
        probs[:, self.classes] = seen
        probs[np.isnan(seen).any(axis=1)] = np.nan
        return probs


def _check(kind: str, C: float, hidden: Sequence[int]) -> Tuple[float, Tuple[int, ...]]:
    if kind not in HEADS:
        raise ValueError(f"head must be one of {', '.join(map(repr, HEADS))}, got {kind!r}")
    if isinstance(C, bool) or not isinstance(C, (int, float, np.floating)) \
            or not np.isfinite(C) or C <= 0:
        raise ValueError(f"C must be a positive number (the inverse of the regularisation "
                         f"strength), got {C!r}")
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise ValueError(f"hidden must be a sequence of layer sizes, e.g. (256,), "
                         f"got {hidden!r}") from None
    if not hidden or any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1
                         for h in hidden):
        raise ValueError(f"hidden must be one or more whole numbers >= 1, e.g. (256,), "
                         f"got {hidden!r}")
    return float(C), tuple(int(h) for h in hidden)


def train_head(features: np.ndarray, classes: np.ndarray, *, n_classes: int,
               kind: str = "logistic", C: float = 1.0, hidden: Sequence[int] = (256,),
               random_state: Optional[int] = 0,
               sample_weight: Optional[np.ndarray] = None) -> Head:
    """Standardise ``features`` (n, d) and fit a head for ``classes`` (n,) ints
    in [0, n_classes).

    ``kind="logistic"``: ``LogisticRegression(C=C)`` (multinomial).
    ``kind="mlp"``: ``MLPClassifier(hidden_layer_sizes=hidden, alpha=1 / C)``
    (ReLU, Adam): for both heads C is the inverse regularisation strength on
    the same scale, since scikit-learn's ``alpha`` divides by the sample count
    where ``C`` multiplies the summed loss.
    """
    C, hidden = _check(kind, C, hidden)
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(classes).astype(int)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be (n, d) with one class per row, got "
                         f"{x.shape} and {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values: drop the rows of "
                         "images that could not be embedded")
    seen = np.unique(y)
    if len(seen) < 2:
        raise ValueError(f"the training data has a single class ({len(x)} images): "
                         "a classifier needs images of at least two classes")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    z = (x - mean) / scale

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn
    # One BLAS thread: the head's matrices are small, and OpenBLAS's threads
    # spin against the embedding workers (measured 50-80x slower on a busy
    # 2-core machine).
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        # The head is retrained per fold; a few more iterations would change
        # the probabilities in the third decimal, not the user's decision.
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "logistic":
            from sklearn.linear_model import LogisticRegression
            model = LogisticRegression(C=C, max_iter=1000, random_state=random_state)
            model.fit(z, y, sample_weight=sample_weight)
            layers = [(model.coef_.T.copy(), model.intercept_.copy())]
            params = {"C": C}
        else:
            from sklearn.neural_network import MLPClassifier
            model = MLPClassifier(hidden_layer_sizes=hidden, alpha=1.0 / C, max_iter=300,
                                  random_state=random_state)
            model.fit(z, y)
            layers = [(w.copy(), b.copy()) for w, b in zip(model.coefs_, model.intercepts_)]
            params = {"C": C, "hidden": list(hidden)}
    output = "sigmoid" if layers[-1][0].shape[1] == 1 else "softmax"
    return Head(mean, scale, layers, output, model.classes_.astype(int), int(n_classes),
                kind, params)


# ------------------------------------------------------------- pixels
# The classifier decodes every image with ``portable.decode`` -- the code an
# exported file runs with Pillow alone -- so the Orange model and the file see
# the same pixels. (Image Embedding's pipeline may take faster routes, e.g.
# simplejpeg's finer JPEG scaling, that a bare Pillow cannot repeat.)


def load_pixels(location, size: int, data: Optional[bytes] = None) -> np.ndarray:
    """(size, size, 3) uint8 pixels as ``portable.load_image`` makes them, after
    Image Lab's checks (truncation, decompression bombs), which raise ImageError."""
    from ..pixels.decoding import decode_fully, open_image
    image = open_image(location, data)
    try:
        if image.format == "JPEG":  # as portable.decode does
            image.draft("RGB", (size, size))
        decode_fully(image, location)
        return portable.finish(image, size)
    finally:
        image.close()


_PLAIN = json.dumps({"decoding": DECODING})


def _unchanged(pixels: np.ndarray) -> np.ndarray:
    return pixels


def embed_plain(locations: Sequence[Optional[str]], *, model: str,
                callback: ProgressCallback = None) -> EmbeddingArrays:
    """The classifier's embeddings of images: ``vectors`` (n, d), NaN rows for
    unreadable images; cached under (content hash, the decoding)."""
    arrays = embed_variants(locations, lambda key, copy: (_PLAIN, _unchanged), 1,
                            model=model, callback=callback, decode=load_pixels)
    arrays.vectors = arrays.vectors[:, 0]
    return arrays


def embed_augmented(locations: Sequence[Optional[str]], augment: Augment, copies: int, *,
                    model: str, callback: ProgressCallback = None) -> EmbeddingArrays:
    """Embeddings (n, copies, d) of ``copies`` augmented versions of each image,
    cached under (content hash, the decoding and the transform's parameters)."""
    def make_variant(key: bytes, copy: int):
        transform = augment.transform(key, copy)
        return f"{DECODING}|{transform.text()}", transform.apply

    return embed_variants(locations, make_variant, copies, model=model, callback=callback,
                          decode=load_pixels)


# ------------------------------------------------------------------ ONNX


def _backbone_preprocessing(graph) -> dict:
    """Channel order, mean and std as the backbone graph applies them
    (``GraphBuilder.uint8_nhwc_to_float_nchw``'s constants)."""
    from onnx import numpy_helper
    inits = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    info = {"channel_order": "RGB"}
    for node in graph.node:
        consts = [inits[name] for name in node.input if name in inits]
        if node.op_type == "Gather" and any(name.startswith("bgr") for name in node.input):
            info["channel_order"] = "BGR"
        elif node.op_type == "Sub" and "mean" not in info and consts \
                and any(name.startswith("mean") for name in node.input):
            info["mean"] = _per_channel(consts[0])
        elif node.op_type == "Mul" and "std" not in info and consts \
                and any(name.startswith("scale") for name in node.input):
            info["std"] = _per_channel(1.0 / consts[0].astype(np.float64))
    return info


def _per_channel(values) -> List[float]:
    values = [float(v) for v in np.ravel(values)]
    return values * 3 if len(values) == 1 else values


def _prune(graph, outputs: Sequence[str]) -> None:
    """Keep only the nodes and initializers that ``outputs`` need."""
    needed, keep = set(outputs), []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            keep.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    initializers = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    kept_outputs = [out for out in graph.output if out.name in outputs]
    del graph.output[:]
    graph.output.extend(kept_outputs)


def build_onnx(spec: ModelSpec, head: Head, *, classes: Sequence[str],
               metadata: Optional[Dict[str, object]] = None):
    """The backbone graph of ``spec`` + ``head`` as one ``onnx.ModelProto``.

    ``classes``: the names of the ``head.n_classes`` classes, in order.
    ``metadata``: extra key -> value entries (values that are not strings
    are written as JSON).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if len(classes) != head.n_classes:
        raise ValueError(f"classes has {len(classes)} names for a head of "
                         f"{head.n_classes} classes")
    model = onnx.load(str(spec.onnx_path()))
    graph = model.graph
    preprocessing = _backbone_preprocessing(graph)
    _prune(graph, [OUTPUT_FEATURES])

    def const(name, array):
        graph.initializer.append(numpy_helper.from_array(
            np.ascontiguousarray(array, dtype=np.float32), f"head/{name}"))
        return f"head/{name}"

    def node(op, inputs, output, **attrs):
        graph.node.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    x = node("Sub", [OUTPUT_FEATURES, const("mean", head.mean)], "head/centred")
    x = node("Div", [x, const("scale", head.scale)], "head/standardised")
    for i, (weights, bias) in enumerate(head.layers):
        x = node("Gemm", [x, const(f"w{i}", weights), const(f"b{i}", bias)],
                 f"head/layer{i}")
        if i < len(head.layers) - 1:
            x = node("Relu", [x], f"head/relu{i}")
    if head.output == "sigmoid":
        p = node("Sigmoid", [x], "head/p")
        q = node("Sub", [const("one", np.ones((1, 1))), p], "head/q")
        x = node("Concat", [q, p], "head/seen", axis=1)
    else:
        x = node("Softmax", [x], "head/seen", axis=1)
    if len(head.classes) == head.n_classes:
        node("Identity", [x], OUTPUT_PROBABILITIES)
    else:  # place the seen classes' columns among all classes (zeros elsewhere)
        mapping = np.zeros((len(head.classes), head.n_classes))
        mapping[np.arange(len(head.classes)), head.classes] = 1.0
        node("MatMul", [x, const("classes", mapping)], OUTPUT_PROBABILITIES)
    graph.output.append(helper.make_tensor_value_info(
        OUTPUT_PROBABILITIES, TensorProto.FLOAT, ["n", head.n_classes]))
    graph.name = "imagelab-classifier"

    size = spec.image_size
    entries = {
        "classes": list(classes),
        "input_name": "image",
        "input_size": size,
        "input_layout": f"(n, {size}, {size}, 3) uint8, RGB, rows top to bottom",
        "channel_order_in_graph": preprocessing.get("channel_order", "RGB"),
        "mean": preprocessing.get("mean"),
        "std": preprocessing.get("std"),
        "normalisation": "inside the graph: (pixel - mean) / std per channel",
        "preprocessing": PREPROCESSING_TEXT.format(size=size),
        "reference_loader": inspect.getsource(portable),
        "backbone": spec.key,
        "backbone_name": spec.name,
        "backbone_id": spec.model_id(),
        "backbone_licence": spec.licence,
        "head": head.kind,
        "head_params": head.params,
        "outputs": [OUTPUT_PROBABILITIES, OUTPUT_FEATURES],
    }
    entries.update(metadata or {})
    helper.set_model_props(model, {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in entries.items() if value is not None})
    model.producer_name = "orange3-imagelab"
    model.doc_string = (f"Image classifier: {spec.name} features + {head.kind} head; "
                        f"classes {', '.join(classes)}. Pre-processing: see the "
                        f"'preprocessing' metadata entry.")
    onnx.checker.check_model(model)
    return model


PREPROCESSING_TEXT = (
    "Pillow: open the file; for a JPEG call image.draft('RGB', ({size}, {size})) before "
    "decoding; ImageOps.exif_transpose; convert to 8-bit RGB (16-bit grey x 255/65535, "
    "32-bit grey x 255/max, float grey stretched to [0, 255], transparency over white, "
    "else image.convert('RGB')); resize to ({size}, {size}) with Image.BILINEAR ignoring "
    "the aspect ratio; stack as (n, {size}, {size}, 3) uint8 into input 'image'. The code: "
    "'reference_loader' (load_image).")


def export_onnx(spec: ModelSpec, head: Head, path, *, classes: Sequence[str],
                metadata: Optional[Dict[str, object]] = None) -> Path:
    """Write ``build_onnx(...)`` to ``path`` atomically (a temporary file in
    the same folder, then a rename: never a half-written model). Returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"path must end with .onnx, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"path is a folder: {str(path)!r}; give a file name ending .onnx")
    model = build_onnx(spec, head, classes=classes, metadata=metadata)
    data = model.SerializeToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".onnx.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return path
