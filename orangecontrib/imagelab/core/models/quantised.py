"""EfficientNet-Lite0 in int8: onnxruntime's static quantisation of our float graph.

Built on first use, like the float graphs (a few seconds): the float graph
is built from the shipped weights, then ``onnxruntime.quantization.
quantize_static`` turns its convolutions, ReLU6 activations, residual
additions and the classifier into int8 (QDQ format, weights per channel,
activations per tensor) with activation ranges calibrated on images bundled
with the add-on (the sample photos and Fashion-MNIST sample, see
``calibration_files``). onnxruntime then runs them as integer kernels (VNNI
where the processor has it).

The ReLU6 activations (``Clip``) must be quantised with the convolutions:
left float, every convolution's int8 output was dequantised, clipped and
quantised again with another scale, which took a fifth of the run time and
cost accuracy. With them, the whole network runs in int8
(``FLOAT_CONVS = 0``): on one core, 4.5 ms per image against 12.1 for
float and 7.6 for the old recipe (six float convolutions, Clip left float),
with Fashion-MNIST, texture, face and digit accuracy within 0.01 of float
(``benchmarks/models.py``). The model's id (the ONNX file name and the
embedding cache key) hashes the weights, the calibration images, these
settings and onnxruntime's version, so int8 vectors never mix with float
ones, nor with those of another quantiser.
"""
import hashlib
import os
import tempfile
from pathlib import Path
from typing import List

import numpy as np

from . import efficientnet

BASE = "efficientnet-lite0"
#: How many of the first convolutions stay float (none: see above).
FLOAT_CONVS = 0
#: Operators quantised; ``Clip`` is ReLU6 (see above).
QUANTISED_OPS = ("Conv", "Clip", "Add", "Gemm")
#: Bump when the recipe below changes.
RECIPE = "qdq-perchannel-u8s8-minmax-v3"


def calibration_files() -> List[Path]:
    """Bundled images the activation ranges are measured on: the 12 sample
    photos and every tenth labelled Fashion-MNIST image (20)."""
    sample = Path(__file__).resolve().parents[2] / "sample"
    photos = sorted((sample / "photos").glob("*.jpg"))
    fashion = sorted((sample / "fashion" / "labelled").glob("*/*.png"))[::10]
    return photos + fashion


def weights_path(key: str = BASE + "-int8") -> Path:  # pylint: disable=unused-argument
    return efficientnet.weights_path(BASE)


def fingerprint(key: str = BASE + "-int8") -> bytes:  # pylint: disable=unused-argument
    """What besides the weights decides the int8 graph."""
    import onnxruntime
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{RECIPE}-{FLOAT_CONVS}-{QUANTISED_OPS}-ort{onnxruntime.__version__}".encode())
    for path in calibration_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def _calibration_batches(size: int, batch: int = 4):
    from ..pixels.decoding import load_array
    files = calibration_files()
    for start in range(0, len(files), batch):
        yield {"image": np.stack([load_array(path, size=(size, size))
                                  for path in files[start:start + batch]])}


def build(weights: Path, key: str = BASE + "-int8"):  # pylint: disable=unused-argument
    """The int8 ONNX model, with the float model's inputs and outputs."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static)

    image_size = efficientnet.VARIANTS[BASE][2]
    float_model = efficientnet.build(weights, BASE)
    float_convs = [node.name for node in float_model.graph.node
                   if node.op_type == "Conv"][:FLOAT_CONVS]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = _calibration_batches(image_size)

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="imagelab-quantise-") as work:
        source, target = os.path.join(work, "float.onnx"), os.path.join(work, "int8.onnx")
        onnx.save(float_model, source)
        quantize_static(
            source, target, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=list(QUANTISED_OPS), nodes_to_exclude=float_convs,
            extra_options={"CalibTensorRangeSymmetric": False})
        model = onnx.load(target)
    model.doc_string = (f"EfficientNet-Lite0 (ImageNet), int8 ({RECIPE}, "
                        f"{'+'.join(QUANTISED_OPS)}, first {FLOAT_CONVS} convolutions "
                        "float), built by orange3-imagelab")
    return model


def calibration_array(size: int = 224) -> np.ndarray:
    """The calibration images as one (n, size, size, 3) uint8 batch (for tests)."""
    return np.concatenate([batch["image"] for batch in _calibration_batches(size)])
