"""Read a legacy (non-zip) PyTorch ``.pth`` state dict without torch.

The legacy format written by ``torch.save(..., _use_new_zipfile_serialization=False)``
is a sequence of pickles on one stream:

1. the magic number, 2. the protocol version, 3. a dict of system info,
4. the object itself, whose tensors are ``torch._utils._rebuild_tensor_v2``
   calls on storages given as persistent ids
   ``("storage", torch.FloatStorage, key, location, numel[, view_metadata])``,
5. a list of the storage keys in the order their data follows,
6. for each key: the element count as little-endian int64, then raw data.

Only what state dicts of plain CNNs need is supported (float/int storages,
contiguous or strided tensors); anything else raises ModelError.
"""
import collections
import pickle
import struct
from typing import Dict

import numpy as np

from ..errors import ModelError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64,
    "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype, numel):
        self.dtype = dtype
        self.numel = numel
        self.data = None


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        if not self.size:
            return np.array(data[self.offset])
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size,
            strides=[s * itemsize for s in self.stride])
        return np.array(view)  # a compact copy


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_args):
    return _LazyTensor(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unsupported object in weights: {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, numel)
        return self.storages[key]


def load_state_dict(path) -> Dict[str, np.ndarray]:
    """Read a legacy torch state dict as ``{name: numpy array}``."""
    storages: Dict[str, _Storage] = {}
    try:
        with open(path, "rb") as f:
            magic = pickle.load(f)
            if magic != MAGIC_NUMBER:
                raise ModelError(f"{path}: not a legacy torch file (zip-based files "
                                 "are not supported)")
            pickle.load(f)  # protocol version
            pickle.load(f)  # sys info
            state = _Unpickler(f, storages).load()
            keys = pickle.load(f)
            for key in keys:
                storage = storages[key]
                (numel,) = struct.unpack("<q", f.read(8))
                nbytes = numel * storage.dtype.itemsize
                buffer = f.read(nbytes)
                if len(buffer) != nbytes:
                    raise ModelError(f"{path}: weights file is truncated")
                storage.data = np.frombuffer(buffer, dtype=storage.dtype)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, struct.error) as err:
        raise ModelError(f"cannot read weights {path}: {err}") from err
    return collections.OrderedDict(
        (name, value.materialise() if isinstance(value, _LazyTensor) else value)
        for name, value in state.items())
