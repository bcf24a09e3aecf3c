"""Read PyTorch checkpoints into numpy without importing torch.

Two on-disk formats exist: the zip format (torch >= 1.6: ``archive/data.pkl`` plus one
raw file per storage) and the legacy format (a sequence of pickles followed by the raw
storages). Both pickle their tensors through ``torch._utils._rebuild_tensor_v2`` and
persistent ids that name a storage; we resolve those ids to numpy buffers ourselves so
the runtime and the converter never need torch.
"""

from __future__ import annotations

import collections
import pickle
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(ValueError):
    """The file is not a PyTorch checkpoint this reader understands."""


class _StorageType:
    def __init__(self, name: str) -> None:
        if name not in _STORAGE_DTYPES:
            raise CheckpointError(f"unsupported storage type {name}")
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor_v2(
    storage: np.ndarray,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray:
    if isinstance(storage, _Deferred):
        return _DeferredTensor(storage.key, offset, tuple(size), tuple(stride))  # type: ignore[return-value]
    itemsize = storage.dtype.itemsize
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=tuple(s * itemsize for s in stride))
    return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
    """Allows only the handful of globals a state dict needs: nothing else is executed."""

    def __init__(self, file: IO[bytes], load_storage: Any) -> None:
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, requires_grad, hooks: data
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise CheckpointError(f"checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or pid[0] != "storage":
            raise CheckpointError(f"unexpected persistent id {pid!r}")
        return self._load_storage(pid)


def _plain_load(fh: IO[bytes]) -> Any:
    """A pickle of plain values only (ints, strings, dicts, lists): no globals at all."""

    def refuse(pid: Any) -> Any:
        raise CheckpointError("unexpected storage reference in a header pickle")

    return _Unpickler(fh, refuse).load()


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Return the checkpoint's tensors as float/int numpy arrays keyed by parameter name."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        obj = _load_zip(path)
    else:
        obj = _load_legacy(path)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    return {k: v for k, v in obj.items() if isinstance(v, np.ndarray)}


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl")), None)
        if pkl is None:
            raise CheckpointError(f"{path}: zip without data.pkl")
        prefix = pkl[: -len("data.pkl")]

        def load_storage(pid: tuple[Any, ...]) -> np.ndarray:
            _, storage_type, key, _location, _numel = pid
            raw = zf.read(f"{prefix}data/{key}")
            return np.frombuffer(raw, dtype=storage_type.dtype)

        with zf.open(pkl) as fh:
            return _Unpickler(fh, load_storage).load()


def _load_legacy(path: Path) -> Any:
    with path.open("rb") as fh:
        try:
            magic = _plain_load(fh)
        except Exception as exc:  # pragma: no cover - depends on the bytes
            raise CheckpointError(f"{path}: not a torch checkpoint ({exc})") from exc
        if magic != 0x1950A86A20F9469CFC6C:
            raise CheckpointError(f"{path}: bad magic number")
        _plain_load(fh)  # protocol version
        _plain_load(fh)  # sys info
        pending: dict[str, tuple[np.dtype[Any], int]] = {}

        def load_storage(pid: tuple[Any, ...]) -> Any:
            _, storage_type, key, _location, numel, *view = pid
            if view and view[0] is not None:
                raise CheckpointError("storage views are not supported")
            pending[key] = (storage_type.dtype, numel)
            return _Deferred(key)

        tensors_obj = _Unpickler(fh, load_storage).load()
        keys = _plain_load(fh)
        storages: dict[str, np.ndarray] = {}
        for key in keys:
            dtype, _ = pending[key]
            (numel,) = struct.unpack("<q", fh.read(8))
            storages[key] = np.frombuffer(fh.read(numel * dtype.itemsize), dtype=dtype)
    return _resolve(tensors_obj, storages)


class _Deferred:
    """A storage whose bytes come after the pickle in the legacy format."""

    def __init__(self, key: str) -> None:
        self.key = key


def _resolve(obj: Any, storages: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, _DeferredTensor):
        return obj.materialise(storages)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, storages)) for k, v in obj.items())
    return obj


class _DeferredTensor:
    def __init__(self, key: str, offset: int, size: tuple[int, ...], stride: tuple[int, ...]):
        self.key, self.offset, self.size, self.stride = key, offset, size, stride

    def materialise(self, storages: dict[str, np.ndarray]) -> np.ndarray:
        return _rebuild_tensor_v2(storages[self.key], self.offset, self.size, self.stride)
