"""Checkpoints: one safetensors file (https://github.com/huggingface/safetensors), no pickle.

Tensors (every one named by where it comes from):

- ``model/<name>``: every parameter and buffer (``Module.state_dict()``);
- ``optim/step``, ``optim/state.<i>.<buffer>``: ``Optimizer.state_dict()``;
- ``history/train_loss`` (float32, one per step), ``history/dev_step``, ``history/dev_loss``;
- ``data/words``: the training file's words, UTF-8, newline-joined (uint8), so a checkpoint can be
  evaluated and sampled with ``--exclude-train`` without the file.

The safetensors header's ``__metadata__`` (string -> string) holds ``format`` and ``version``, and
one JSON value per field: ``config``, ``vocab``, ``step``, ``optimizer``, ``rng_state`` (the training
generator's ``bit_generator.state``), ``data`` (provenance), ``train_seconds``.

Writes are atomic (temporary file ``.<name>.<pid>-<random>.tmp``, fsync, ``os.replace``); temporary
files of dead processes are removed by the next save or load.

``load`` trusts nothing and stops at the first problem with a one-line ``CheckpointError`` naming the
file (and the tensor or metadata at fault), before anything large is allocated:

1. the header: at most ``MAX_HEADER_BYTES``, inside the file, JSON, every entry well formed;
2. the metadata: format and version, every field type- and range-checked (``Config.validate``);
3. the tensors the config implies, found by building the model and optimizer from the config with a
   generator that refuses to draw more than the parameter cap (``--max-params``): so the model code is
   the one description of every architecture's shapes. Unknown and missing tensors are refused, as are
   dtypes and shapes other than the built model's, and offsets that do not tile the file's data exactly;
4. only then the data (through ``safetensors``): floats finite, counters consistent, the stored words
   valid data that fit the vocabulary and the sequence models' block size.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autograd_np import nn, optim

from .config import Config, is_sequence_arch, make_optimizer
from .data import DEFAULT_MAX_BYTES, DEFAULT_MAX_LEN, END, DataError, Vocab, parse_words, sequence_length
from .models import build_model

FORMAT = "autograd_np.names-checkpoint"
VERSION = 2
#: most parameters a config may ask for unless the caller raises the cap (``--max-params``)
DEFAULT_MAX_PARAMETERS = 20_000_000
#: largest JSON header (the vocabulary and the config make it a few KB)
MAX_HEADER_BYTES = 4 << 20
#: longest vocabulary, hidden-width list and config string accepted from a file
MAX_VOCAB = 65_536
MAX_HIDDEN_LAYERS = 1024
MAX_TEXT = 4096

META_FIELDS = ("config", "vocab", "step", "optimizer", "rng_state", "data", "train_seconds")
DATA_INFO_TYPES: dict[str, type] = {"source": str, "default": bool, "n_words": int, "sha256_words": str,
                                    "max_len": int}
#: numpy dtype -> safetensors dtype, for the dtypes a names checkpoint holds
DTYPES = {"float32": "F32", "float64": "F64", "int64": "I64", "uint8": "U8"}


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message names the file (and the entry, if one is at fault)."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message names the path. The previous file is unchanged."""


# ----- writing -----------------------------------------------------------------------------------
def save(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write atomically; ``CheckpointWriteError`` (naming the path) if the file system refuses."""
    import safetensors.numpy

    path = Path(path)
    metadata = {"format": FORMAT, "version": str(VERSION)}
    metadata.update({k: json.dumps(v, allow_nan=False) for k, v in meta.items()})
    data = safetensors.numpy.save({k: np.asarray(v, order="C") for k, v in arrays.items()}, metadata=metadata)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_temp_prefix(path)}{os.getpid()}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except OSError as error:
        _discard(tmp)
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {error.strerror or error}; the previous "
                                   "checkpoint there (if any) is unchanged") from None
    except BaseException:
        _discard(tmp)
        raise
    return path


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _discard(tmp: str | None) -> None:
    if tmp is not None:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return False
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete ``.<name>.<pid>-*.tmp`` files next to ``path`` whose writer process is gone
    (a live process's, a save in progress, stay; files that cannot be removed are skipped)."""
    path = Path(path)
    prefix = _temp_prefix(path)
    removed: list[Path] = []
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return removed
    for candidate in candidates:
        match = re.fullmatch(r"(\d+)-[^.]*\.tmp", candidate.name[len(prefix):])
        if match and pid_alive(int(match.group(1))):
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:
            pass
    return removed


def words_to_array(words: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8).copy()


# ----- reading -----------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """A validated checkpoint: everything ``Run.load`` needs, already checked."""

    meta: dict[str, Any]
    config: Config
    vocab: Vocab
    words: list[str]
    arrays: dict[str, np.ndarray]


@dataclass(frozen=True)
class Entry:
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class _Reader:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def error(self, message: str, key: str | None = None) -> CheckpointError:
        return CheckpointError(f"{self.path}: " + (f"entry {key!r}: " if key is not None else "") + message)

    def header(self) -> tuple[dict[str, str], dict[str, Entry], int]:
        """(metadata, tensor entries, data bytes), read within ``MAX_HEADER_BYTES``."""
        try:
            if not self.path.is_file():
                raise self.error("not a regular file" if self.path.exists() else "no such checkpoint file")
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < 8:
                    raise self.error(f"not a names checkpoint ({size} bytes: empty or truncated)")
                (n,) = struct.unpack("<Q", f.read(8))
                if n > MAX_HEADER_BYTES:
                    raise self.error(f"not a names checkpoint (a header of {n:,} bytes; at most "
                                     f"{MAX_HEADER_BYTES:,} accepted)")
                if n > size - 8:
                    raise self.error(f"not a names checkpoint (a header of {n:,} bytes in a {size:,}-byte file: "
                                     "truncated?)")
                raw = f.read(n)
        except OSError as error:
            raise self.error(f"cannot read checkpoint ({error.strerror or error})") from None
        try:
            header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise self.error(f"not a names checkpoint (header is not JSON: {_short(error)})") from None
        if not isinstance(header, dict):
            raise self.error("not a names checkpoint (header is not a JSON object)")
        metadata = header.pop("__metadata__", None)
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
            tag = metadata.get("format") if isinstance(metadata, dict) else None
            raise self.error(f"not a names checkpoint (format tag {str(tag)[:80]!r})", "__metadata__")
        if not all(isinstance(v, str) for v in metadata.values()):
            raise self.error("metadata values must be strings (safetensors' string -> string map)", "__metadata__")
        if metadata.get("version") != str(VERSION):
            raise self.error(f"checkpoint version {str(metadata.get('version'))[:20]}, this code reads version "
                             f"{VERSION}", "__metadata__")
        return metadata, {name: self._entry(name, info) for name, info in header.items()}, size - 8 - n

    def _entry(self, name: str, info: Any) -> Entry:
        if len(name) > 256:
            raise self.error(f"tensor name of {len(name):,} characters", name[:80])
        ok = (isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"}
              and isinstance(info["dtype"], str) and isinstance(info["shape"], list) and len(info["shape"]) <= 8
              and all(_is_int(s) and s >= 0 for s in info["shape"]) and isinstance(info["data_offsets"], list)
              and len(info["data_offsets"]) == 2 and all(_is_int(o) and o >= 0 for o in info["data_offsets"]))
        if not ok:
            raise self.error(f"malformed header entry {json.dumps(info)[:120]}", name)
        return Entry(info["dtype"][:16], tuple(info["shape"]), *info["data_offsets"])

    def metadata(self, metadata: dict[str, str]) -> dict[str, Any]:
        """The metadata fields, each JSON (NaN and infinity refused)."""
        unknown = sorted(set(metadata) - set(META_FIELDS) - {"format", "version"})
        if unknown:
            raise self.error(f"unknown fields {[k[:40] for k in unknown[:5]]}", "__metadata__")
        meta = {}
        for key in META_FIELDS:
            if key not in metadata:
                raise self.error(f"missing field {key!r}", "__metadata__")
            try:
                meta[key] = json.loads(metadata[key], parse_constant=_refuse_constant)
            except (ValueError, RecursionError) as error:
                raise self.error(f"{key}: corrupt JSON ({_short(error)})", "__metadata__") from None
        return meta

    def check_entries(self, entries: dict[str, Entry], expected: dict[str, tuple[str, tuple]], required: set[str],
                      data_bytes: int) -> None:
        """Names, dtypes and shapes as the config implies; offsets tiling the data exactly."""
        for name in entries:
            if name not in expected:
                raise self.error("unknown tensor (not part of a names checkpoint for this config)", name)
        for name in sorted(required - set(entries)):
            raise self.error("missing", name)
        for name, entry in entries.items():
            dtype, shape = expected[name]
            if entry.dtype != DTYPES[dtype] or not _shape_matches(entry.shape, shape):
                want = "(any length,)" if shape == (-1,) else str(shape)
                raise self.error(f"found {entry.dtype} {entry.shape}, the config implies {DTYPES[dtype]} {want}", name)
            nbytes = math.prod(entry.shape) * np.dtype(dtype).itemsize
            if entry.end - entry.begin != nbytes:
                raise self.error(f"data_offsets [{entry.begin}, {entry.end}] for {nbytes:,} bytes of data", name)
            if entry.end > data_bytes:
                raise self.error(f"data_offsets [{entry.begin:,}, {entry.end:,}] past the end of the file's "
                                 f"{data_bytes:,} data bytes (truncated?)", name)
        at = 0
        for name, entry in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
            if entry.begin != at:
                raise self.error(f"data_offsets [{entry.begin:,}, {entry.end:,}] overlap or leave a gap", name)
            at = entry.end
        if at != data_bytes:
            raise self.error(f"{data_bytes - at:,} bytes after the last tensor's data")

    def tensors(self, names: list[str]) -> dict[str, np.ndarray]:
        from safetensors import safe_open

        try:
            with safe_open(str(self.path), framework="numpy") as f:
                return {name: np.array(f.get_tensor(name)) for name in names}
        except Exception as error:  # SafetensorError, OSError: a file changed or broken since its header was read
            raise self.error(f"not a readable safetensors file ({_short(error)})") from None


def load(path: str | Path, max_parameters: int = DEFAULT_MAX_PARAMETERS) -> Checkpoint:
    """Open and validate a checkpoint (see the module docstring); ``CheckpointError`` on any problem."""
    reader = _Reader(path)
    metadata, entries, data_bytes = reader.header()
    meta = reader.metadata(metadata)
    try:
        config, vocab = check_meta(meta)
        model, optimizer = build_capped(config, len(vocab), max_parameters)
    except (ValueError, TypeError, OverflowError) as error:
        raise reader.error(str(error), "__metadata__") from None
    expected, required = expected_tensors(model, optimizer, meta["step"])
    del model, optimizer
    reader.check_entries(entries, expected, required, data_bytes)
    if entries["data/words"].end - entries["data/words"].begin > DEFAULT_MAX_BYTES:
        raise reader.error(f"more bytes of words than the data-file limit of {DEFAULT_MAX_BYTES:,}", "data/words")
    if entries["history/dev_step"].shape != entries["history/dev_loss"].shape:
        raise reader.error("dev_step and dev_loss differ in length", "history/dev_loss")
    if entries["history/dev_step"].shape[0] > meta["step"]:
        raise reader.error(f"more evaluations than steps ({meta['step']:,})", "history/dev_step")
    arrays = reader.tensors(sorted(entries))
    for name, array in arrays.items():
        dtype, _ = expected[name]
        if array.dtype != dtype or array.shape != entries[name].shape:  # the file changed after its header was read
            raise reader.error(f"read {array.dtype} {array.shape}, the header said {entries[name].shape}", name)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise reader.error("holds non-finite values (NaN or infinity)", name)
    _check_counters(reader, arrays, meta["step"])
    words = _check_words(reader, arrays.pop("data/words"), vocab, meta["data"])
    _check_sequence_length(reader, config, words)
    return Checkpoint(meta, config, vocab, words, arrays)


# ----- what the file must hold -------------------------------------------------------------------
class _CappedGenerator(np.random.Generator):
    """A generator that refuses to draw more than ``limit`` numbers in all. Every architecture draws
    its weight matrices and embeddings from its generator, so a model built with this one allocates
    little more than the cap before a config that asks for more is refused (the bigram's table, zeros,
    is not drawn: the OS maps zero pages lazily, and the parameter count refuses it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(np.random.PCG64(0))
        self.left = limit

    def _take(self, size: Any) -> None:
        n = math.prod(size) if isinstance(size, tuple) else int(size or 1)
        if n > self.left:
            raise _TooLarge
        self.left -= n

    def standard_normal(self, size: Any = None, *args: Any, **kwargs: Any) -> Any:
        self._take(size)
        return super().standard_normal(size, *args, **kwargs)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> Any:
        self._take(size)
        return super().uniform(low, high, size)


class _TooLarge(Exception):
    pass


def build_capped(config: Config, vocab_size: int, max_parameters: int) -> tuple[nn.Module, optim.Optimizer]:
    """The model and optimizer ``config`` builds; ValueError if it asks for more than ``max_parameters``
    (found without allocating much more than that)."""
    refusal = (f"the config asks for more than the cap of {max_parameters:,} parameters (raise it with "
               "--max-params only for a file you trust)")
    try:
        # sequence models draw their weights twice (re-initialised as PyTorch's): room for that
        model = build_model(config, vocab_size, _CappedGenerator(2 * max_parameters + 2**20))
    except (_TooLarge, MemoryError):
        raise ValueError(refusal) from None
    if model.num_parameters() > max_parameters:
        raise ValueError(f"{refusal}: {model.num_parameters():,}")
    return model, make_optimizer(config, model)


def parameter_count(config: Config, vocab_size: int, max_parameters: int) -> int:
    """``build_capped``'s model's parameter count."""
    return build_capped(config, vocab_size, max_parameters)[0].num_parameters()


def expected_tensors(model: nn.Module, optimizer: optim.Optimizer, step: int) -> tuple[dict[str, tuple[str, tuple]], set[str]]:
    """{name: (dtype name, shape)} of every tensor a checkpoint of this model, optimizer and step holds
    (-1: any length), and the names it must hold (optimizer buffers appear at the first update)."""
    expected = {f"model/{k}": (v.dtype.name, v.shape) for k, v in model.state_dict().items()}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    expected.update({f"optim/state.{i}.{b}": (p.dtype.name, p.shape)
                     for i, p in enumerate(params) for b in optimizer.buffers})
    expected["optim/step"] = ("int64", ())
    expected["history/train_loss"] = ("float32", (step,))
    expected["history/dev_step"] = ("int64", (-1,))
    expected["history/dev_loss"] = ("float64", (-1,))
    expected["data/words"] = ("uint8", (-1,))
    return expected, {k for k in expected if not k.startswith("optim/state.")}


def _shape_matches(shape: tuple, pattern: tuple) -> bool:
    return len(shape) == len(pattern) and all(p == -1 or s == p for s, p in zip(shape, pattern))


# ----- the metadata ------------------------------------------------------------------------------
def check_meta(meta: dict[str, Any]) -> tuple[Config, Vocab]:
    """Type- and range-check every metadata field; returns (config, vocabulary). ValueError on failure."""
    vocab = check_vocab(meta["vocab"])
    config = Config.from_dict(check_config_types(meta["config"]))
    if config.n_layer > MAX_HIDDEN_LAYERS:
        raise ValueError(f"config: n_layer {config.n_layer} is more than the {MAX_HIDDEN_LAYERS} layers accepted")
    step = meta["step"]
    if not _is_int(step) or not 0 <= step <= config.steps:
        raise ValueError(f"step must be an integer in [0, config steps {config.steps:,}], got {str(step)[:40]}")
    expected = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}[config.optimizer]
    if meta["optimizer"] != expected:
        raise ValueError(f"optimizer {str(meta['optimizer'])[:40]!r} does not match config optimizer "
                         f"{config.optimizer!r}")
    seconds = meta["train_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e12:
        raise ValueError("train_seconds must be a finite number >= 0")
    _check_rng_state(meta["rng_state"])
    _check_data_info(meta["data"])
    return config, vocab


def check_config_types(values: Any) -> dict[str, Any]:
    """Type-check a config dict from a file (ranges are ``Config.validate``'s job); floats normalised."""
    if not isinstance(values, dict):
        raise ValueError(f"config: expected an object, got {type(values).__name__}")
    fields = {f.name: f.type for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"config: unknown keys {[str(k)[:40] for k in unknown[:5]]}")
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = fields[name]
        if kind == "int" and (not _is_int(value) or abs(value) > 2**63):
            raise ValueError(f"config: {name} must be an integer, got {str(value)[:40]}")
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"config: {name} must be a number, got {str(value)[:40]}")
            value = float(value)  # JSON without NaN: finite; a huge int overflows (OverflowError: refused)
        if kind == "bool" and not isinstance(value, bool):
            raise ValueError(f"config: {name} must be true or false, got {str(value)[:40]}")
        if kind == "str" and (not isinstance(value, str) or len(value) > 64):
            raise ValueError(f"config: {name} must be a short string, got {str(value)[:40]}")
        if kind == "list[int]" and (not isinstance(value, list) or not 1 <= len(value) <= MAX_HIDDEN_LAYERS
                                    or not all(_is_int(v) and 1 <= v <= 2**31 for v in value)):
            raise ValueError(f"config: {name} must be a list of 1 to {MAX_HIDDEN_LAYERS} integers >= 1")
        if kind not in ("int", "float", "bool", "str", "list[int]"):
            raise ValueError(f"config: field {name} has a type ({kind}) the checkpoint checker does not know")
        out[name] = value
    return out


def check_vocab(value: Any) -> Vocab:
    if not isinstance(value, str) or not 2 <= len(value) <= MAX_VOCAB:
        raise ValueError(f"vocab must be a string of 2 to {MAX_VOCAB:,} characters")
    for ch in value[1:]:
        if ch == END or ch.isspace() or not ch.isprintable():
            raise ValueError(f"vocab holds {ch!r}, which no data file can contain")
    return Vocab(value)  # '.' first, characters distinct


def _check_rng_state(state: Any) -> None:
    ok = (isinstance(state, dict) and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
          and state["bit_generator"] == "PCG64" and isinstance(state["state"], dict)
          and set(state["state"]) == {"state", "inc"}
          and all(_is_int(v) and 0 <= v < 2**128 for v in state["state"].values())
          and state["has_uint32"] in (0, 1) and _is_int(state["has_uint32"])
          and _is_int(state["uinteger"]) and 0 <= state["uinteger"] < 2**32)
    if not ok:
        raise ValueError("rng_state is not a PCG64 generator state")


def _check_data_info(info: Any) -> None:
    if not isinstance(info, dict):
        raise ValueError("data must be an object")
    for key, value in info.items():
        if key not in DATA_INFO_TYPES:
            raise ValueError(f"data: unknown key {str(key)[:40]!r}")
        kind = DATA_INFO_TYPES[key]
        if (kind is int and not (_is_int(value) and 0 <= value < 2**63)) or not isinstance(value, kind):
            raise ValueError(f"data: {key} must be {kind.__name__}")
        if kind is str and len(value) > MAX_TEXT:
            raise ValueError(f"data: {key} is longer than {MAX_TEXT} characters")


def _check_sequence_length(reader: _Reader, config: Config, words: list[str]) -> None:
    """A sequence model's block size is its longest stored word + 1 (at most the longest word the data
    checks accept + 1 otherwise), so the padded batches stay as small as the data."""
    if not is_sequence_arch(config.arch):
        return
    low = sequence_length(words)
    high = max(low, DEFAULT_MAX_LEN + 1)
    if not low <= config.block_size <= high:
        raise reader.error(f"config block_size {config.block_size} for arch {config.arch!r}, but its words need "
                           f"{low} (the longest + 1; at most {high} is accepted)", "__metadata__")


def _check_counters(reader: _Reader, arrays: dict[str, np.ndarray], step: int) -> None:
    if int(arrays["optim/step"]) != step:
        raise reader.error(f"optimizer step {int(arrays['optim/step'])} but metadata step {step}", "optim/step")
    dev_steps = arrays["history/dev_step"]
    if len(dev_steps) and (dev_steps[0] < 1 or dev_steps[-1] > step or (np.diff(dev_steps) <= 0).any()):
        raise reader.error(f"evaluation steps must increase within [1, {step}]", "history/dev_step")


def _check_words(reader: _Reader, array: np.ndarray, vocab: Vocab, info: dict[str, Any]) -> list[str]:
    source = f"{reader.path}: entry 'data/words'"
    raw = array.tobytes()
    try:
        data = parse_words(raw, source, max_len=max(info.get("max_len", DEFAULT_MAX_LEN), DEFAULT_MAX_LEN))
        vocab.check(data)
    except DataError as error:
        raise CheckpointError(str(error)) from None
    if data.words != raw.decode("utf-8").split("\n"):
        raise CheckpointError(f"{source}: words must be newline-separated with no blank lines or padding")
    if "n_words" in info and info["n_words"] != len(data.words):
        raise CheckpointError(f"{source}: {len(data.words):,} words, metadata says {info['n_words']:,}")
    if "sha256_words" in info and hashlib.sha256(raw).hexdigest() != info["sha256_words"]:
        raise CheckpointError(f"{source}: the words do not match their SHA-256 in the metadata (corrupt file)")
    return data.words


# ----- helpers -----------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the name {key[:80]!r} appears twice")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this format allows")


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__
