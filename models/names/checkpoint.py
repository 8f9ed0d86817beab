"""Checkpoints: one ``.npz`` file of plain arrays plus a JSON string.

Layout (every entry a NumPy array; loaded with ``allow_pickle=False``):

- ``meta``: 0-d unicode array holding JSON: format tag and version, vocabulary,
  config, step, optimizer name, RNG state (``bit_generator.state`` of the
  training generator), data provenance, training wall time.
- ``model/<name>``: every parameter and buffer (``Module.state_dict()``).
- ``optim/<key>``: ``Optimizer.state_dict()`` (step count, moment buffers).
- ``history/...``: per-step training loss, dev-loss evaluation points.
- ``data/words``: the data file's words (UTF-8, newline-joined, as uint8), so
  a checkpoint can be evaluated and ``--exclude-train`` works without the file.

Writes are atomic: a temporary file in the target directory, fsync, then
``os.replace``; an interrupted save never leaves a half-written checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "autograd_np.names-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message names the file."""


def save(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta}))}
    for key, value in arrays.items():
        if key == "meta":
            raise ValueError("save: 'meta' is reserved")
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"save: {key} is an object array")
        payload[key] = array
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)``; CheckpointError naming the file if it is missing, truncated or foreign."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not a names checkpoint (a bare .npy array, not an .npz archive)")
        with loaded as npz:
            arrays = {key: npz[key] for key in npz.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"{path}: cannot read checkpoint (truncated, corrupt or not an .npz file: {type(error).__name__}: {error})"
        ) from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not a names checkpoint (an .npz file without the 'meta' entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (json.JSONDecodeError, TypeError) as error:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a names checkpoint (format tag {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')!r}, this code reads version {VERSION}")
    return meta, arrays


def words_to_array(words: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8).copy()


def array_to_words(array: np.ndarray) -> list[str]:
    text = np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8")
    return text.split("\n") if text else []
