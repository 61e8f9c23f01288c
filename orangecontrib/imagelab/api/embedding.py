"""``embed_images`` and ``extract_features``: image tables to numeric tables.

    >>> from orangecontrib.imagelab import embed_images, extract_features
    >>> result = embed_images(images)                      # doctest: +SKIP
    >>> result.data        # images + columns "efficientnet-lite0 0001" ...
    >>> result.skipped     # rows that failed, with a "reason" meta column
    >>> extract_features(images, ["level_histogram", "dimensions"]).data  # doctest: +SKIP

``data`` holds the rows whose image was embedded (None if none was): all the
input columns plus one numeric feature per dimension. Embedding columns are
named ``<model key> <index from 0001>`` (e.g. ``efficientnet-lite0 0001``,
``squeezenet 0042``) so a table says which model made it and two models'
columns never clash; hand-made features have descriptive names
(``avg R 3x3 r1c2``, ``hog 1x1 0-20°``, ...). Each new column has the
attributes ``embedding=<model or feature set>``.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from Orange.data import StringVariable, Table, Variable

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.pixels import features as core_features
from orangecontrib.imagelab.core.vectors.embedding import embed_locations
from orangecontrib.imagelab.core.errors import ImageError
from orangecontrib.imagelab.core.executors import cluster_executor
from orangecontrib.imagelab.core.models import DEFAULT_MODEL, ModelSpec, get_model
from orangecontrib.imagelab.core.models import available_models as _models
from orangecontrib.imagelab.core.progress import ProgressCallback
from orangecontrib.imagelab.core.vectors import cache as core_cache

__all__ = ["embed_images", "extract_features", "available_models", "EmbedResult",
           "DEFAULT_MODEL", "feature_column_names", "FEATURE_SETS", "feature_set_descriptions",
           "clear_cache"]

FEATURE_SETS = tuple(core_features.FEATURE_SETS)


@dataclass
class EmbedResult:
    """``data``: embedded rows (input columns + features), None if no row
    succeeded; ``skipped``: failed input rows with a ``reason`` meta, None if
    none failed; ``errors``: ImageError (``.path``, ``.reason``) per failed row;
    ``cached``: how many embeddings came from the cache; ``warnings``:
    problems with the cache (damaged and rebuilt, unusable), for the user."""
    data: Optional[Table]
    skipped: Optional[Table] = None
    errors: List[ImageError] = field(default_factory=list)
    cached: int = 0
    warnings: List[str] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.errors)


def available_models() -> List[str]:
    """Keys of the models that ship with the install, the default first."""
    return [spec.key for spec in _models()]


def model_specs() -> List[ModelSpec]:
    """Key, name, dimension, preprocessing and licence of each model."""
    return _models()


def feature_set_descriptions() -> Dict[str, str]:
    """Key -> what the set computes and its column count, in ``FEATURE_SETS`` order."""
    return {key: text for key, (_, _, text) in core_features.FEATURE_SETS.items()}


def clear_cache(model: Optional[str] = None) -> None:
    """Forget the cached embeddings (and label logits) of ``model``'s key, or of all."""
    core_cache.clear_cache(model)


def feature_column_names(model: str, dimension: int) -> List[str]:
    width = max(4, len(str(dimension)))
    return [f"{model} {i:0{width}d}" for i in range(1, dimension + 1)]


def _locations(data: Table, image_column: Union[Variable, str, None]):
    if isinstance(image_column, str):
        image_column = data.domain[image_column]
    return tables.image_locations(data, image_column)


def _split(data: Table, vectors: np.ndarray, ok: np.ndarray, names: Sequence[str],
           errors, error_rows, tag: str, cached: int = 0, warnings=(),
           X: Optional[np.ndarray] = None) -> EmbedResult:
    """The result; ``X``: the ``tables.attribute_matrix`` whose last columns
    ``vectors`` are (then the table is built in it, without a copy)."""
    rows = np.flatnonzero(ok)
    embedded = None
    if len(rows):
        variables = [var for var, _ in tables.continuous_columns(
            names, vectors[:0], attributes={"embedding": tag})]
        # the new X is the only large allocation (see tables.rows_with_matrix)
        embedded = tables.rows_with_matrix(data, rows, vectors, variables) if X is None \
            else tables.rows_of_attribute_matrix(data, X, rows, variables)
    skipped = None
    if error_rows:
        skipped = tables.append_columns(
            data[np.asarray(error_rows)],
            metas=[(StringVariable("reason"),
                    np.array([err.reason for err in errors], dtype=object))])
        skipped.name = "Skipped Images"
    return EmbedResult(embedded, skipped, list(errors), cached, list(warnings))


def embed_images(data: Table, *, model: str = DEFAULT_MODEL,
                 image_column: Union[Variable, str, None] = None,
                 use_cache: bool = True, callback: ProgressCallback = None,
                 client=None, scheduler: Optional[str] = None) -> EmbedResult:
    """Embed the images of ``data`` with a shipped model (see ``available_models()``).

    ``image_column`` defaults to the column marked ``type=image``. Images are
    paths (relative to the column's ``origin``) or ``file://``/``http(s)://``
    URLs. Raises ``ValueError`` if the table has no image column.

    On a Dask cluster: ``client`` (a ``distributed.Client``) or ``scheduler``
    (``"local"`` starts a LocalCluster on this computer; an address such as
    ``"tcp://10.0.0.5:8786"`` connects to a running ``dask scheduler``). The
    workers read the images, so their locations must be readable there (a
    shared file system, ``file://`` or ``http(s)`` URLs); the vectors come
    back and are cached here, and cached images are not sent. Needs
    ``pip install orange3-imagelab[cluster]``.
    """
    locations = _locations(data, image_column)
    dimension = get_model(model).dimension
    # The vectors are written straight into the output table's X (float64,
    # as Orange keeps it): 100,000 × 1,280 embeddings are held once (1 GB),
    # not also as float32 vectors beside it.
    X = tables.attribute_matrix(data, dimension)
    out = None if X is None else X[:, X.shape[1] - dimension:]
    with cluster_executor(client, scheduler) as executor:
        arrays = embed_locations(locations, model=model, use_cache=use_cache,
                                 callback=callback, executor=executor, out=out)
    names = feature_column_names(model, dimension)
    return _split(data, arrays.vectors, arrays.ok, names, arrays.errors,
                  arrays.error_rows, model, arrays.cached, arrays.warnings, X)


def extract_features(data: Table, features: Sequence[str] = ("level_histogram",), *,
                     image_column: Union[Variable, str, None] = None,
                     wavelet_levels: int = core_features.WAVELET_LEVELS,
                     callback: ProgressCallback = None) -> EmbedResult:
    """Hand-made features (``FEATURE_SETS``) of the images of ``data``.

    See ``core.features`` for what each set computes and its column count.
    """
    locations = _locations(data, image_column)
    arrays = core_features.extract_features(
        locations, list(features), wavelet_levels=wavelet_levels, callback=callback)
    return _split(data, arrays.vectors, arrays.ok, arrays.names, arrays.errors,
                  arrays.error_rows, "+".join(features))
