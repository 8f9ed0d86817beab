"""``save(state_dict, path)`` and ``load(path)`` in the safetensors format (no pickle).

The ``safetensors`` package is imported on the first call only (``pip install safetensors``).
``load`` checks the file's size and header before reading it all, then hands the bytes to
safetensors, which validates the header (dtypes, shapes, offsets covering the data exactly).
Every problem with a file is a ``SerializationError`` (a ``ValueError``) naming the path.
"""
from __future__ import annotations

import os
import struct
from typing import Any, Mapping

import numpy as np

from .tensor_type import Tensor

__all__ = ["save", "load", "SerializationError", "MAX_BYTES", "MAX_HEADER_BYTES"]

#: ``load`` refuses larger files unless given ``max_bytes=``.
MAX_BYTES = 2 << 30
#: safetensors' own limit on the JSON header.
MAX_HEADER_BYTES = 100_000_000
_DTYPES = "bool uint8 int8 int16 uint16 int32 uint32 int64 uint64 float16 float32 float64".split()


class SerializationError(ValueError):
    """A file that is not a readable safetensors file, or a state that cannot be saved."""


def _safetensors_numpy(what: str) -> Any:
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(f"autograd_np.{what} needs the safetensors package: pip install safetensors") from None
    return safetensors.numpy


def save(state_dict: Mapping[str, Any], path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``{name: Tensor or array}`` to ``path`` as safetensors, atomically (temp file + rename)."""
    st = _safetensors_numpy("save")
    path = os.fspath(path)
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"save: expected a dict of name -> Tensor or array, got {type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.name not in _DTYPES:
            raise SerializationError(f"{path}: cannot save {name!r}: dtype {array.dtype} is not one of {', '.join(_DTYPES)}")
        arrays[name] = np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")  # safetensors wants C order
    data = st.save(arrays, metadata=None if metadata is None else dict(metadata))
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
    """The arrays saved at ``path`` (writable copies), for ``model.load_state_dict``.

    A file larger than ``max_bytes`` is refused before it is read."""
    path = os.fspath(path)
    st = _safetensors_numpy("load")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise SerializationError(f"{path}: {size} bytes is larger than the limit max_bytes={max_bytes}")
        if size < 8:
            raise SerializationError(f"{path}: not a safetensors file: {size} bytes, shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER_BYTES or n > size - 8:
            raise SerializationError(f"{path}: not a safetensors file: the header claims {n} bytes in a file of {size}")
        _check_header(path, f.read(n), size - 8 - n)
        f.seek(0)
        data = f.read(size + 1)  # one more: a file that grew meanwhile is noticed
    if len(data) != size:
        raise SerializationError(f"{path}: the file changed while it was read")
    try:
        arrays = st.load(data)
    except Exception as error:  # safetensors' own validation (SafetensorError) and its dtype table
        raise SerializationError(f"{path}: not a valid safetensors file: {_one_line(error)}") from None
    return {name: a if a.flags.writeable else a.copy() for name, a in arrays.items()}


def _check_header(path: str, header: bytes, data_bytes: int) -> None:
    """The header's JSON and its dtypes: what safetensors would report less clearly."""
    import json

    try:
        entries = json.loads(header.decode("utf-8"), object_pairs_hook=_no_repeated_names)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise SerializationError(f"{path}: not a safetensors file: bad JSON header ({_one_line(error)})") from None
    if not isinstance(entries, dict):
        raise SerializationError(f"{path}: not a safetensors file: the header is not a JSON object")
    for name, info in entries.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not isinstance(info.get("dtype"), str):
            raise SerializationError(f"{path}: entry {name!r}: no dtype")
        if info["dtype"] not in _SAFETENSORS_DTYPES:
            raise SerializationError(
                f"{path}: entry {name!r}: dtype {info['dtype']!r} is not one of {' '.join(_SAFETENSORS_DTYPES)}")
        offsets = info.get("data_offsets")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_bytes):
            raise SerializationError(f"{path}: entry {name!r}: data_offsets {offsets!r} outside the {data_bytes} data bytes (truncated?)")


def _no_repeated_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"a name appears twice: {next(n for n in names if names.count(n) > 1)!r}")
    return dict(pairs)


_SAFETENSORS_DTYPES = ("BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F16", "F32", "F64")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
