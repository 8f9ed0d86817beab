"""What a names checkpoint must contain, checked before anything large is allocated.

``load(path)`` reads, in this order, and stops at the first problem with a
``CheckpointError`` naming the file and the entry:

1. the zip directory (``checkpoint.Archive``: placement, declared sizes,
   compression ratios);
2. the ``meta`` entry (size and JSON nesting capped), every field type-checked:
   step a non-negative int, vocabulary a string of distinct printable
   characters, every config value of its type and range, RNG state, data
   provenance;
3. the member list against the layout the config implies (``layout.py``,
   computed without building the model): unknown members and missing ones are
   refused, and the config may ask for at most ``max_parameters`` parameters;
4. every member's ``.npy`` header against its expected shape and dtype;
5. only then the data (the stored words at most the data-file limit of 1 GiB): float arrays must be finite, counters consistent, and
   the stored words must pass the data-file checks and fit the vocabulary; a sequence model's
   block size must be its longest stored word + 1 (at most ``DEFAULT_MAX_LEN`` + 1 otherwise).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from .checkpoint import Archive, CheckpointError, Header
from .data import DEFAULT_MAX_BYTES, DEFAULT_MAX_LEN, END, DataError, Vocab, parse_words
from .layout import OPTIMIZERS, model_layout, optimizer_layout, parameter_count
from .model import Config

#: most parameters a config may ask for unless the caller raises the cap (``--max-params``)
DEFAULT_MAX_PARAMETERS = 20_000_000
#: longest vocabulary, hidden-width list and config string accepted from a file
MAX_VOCAB = 65_536
MAX_HIDDEN_LAYERS = 1024
MAX_TEXT = 4096

META_KEYS = {"format", "version", "vocab", "config", "step", "optimizer", "rng_state", "data", "train_seconds",
             "n_parameters"}
DATA_INFO_TYPES: dict[str, type] = {"source": str, "default": bool, "n_words": int, "sha256_words": str,
                                    "max_len": int}


@dataclass
class Checkpoint:
    """A validated checkpoint: everything ``Run.load`` needs, already checked."""

    meta: dict[str, Any]
    config: Config
    vocab: Vocab
    words: list[str]
    arrays: dict[str, np.ndarray]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        if kind == "int":
            if not _is_int(value) or abs(value) > 2**63:
                raise ValueError(f"config: {name} must be an integer, got {str(value)[:40]}")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"config: {name} must be a number, got {str(value)[:40]}")
            try:
                value = float(value)
            except OverflowError:
                raise ValueError(f"config: {name} is out of range") from None
            if not math.isfinite(value):
                raise ValueError(f"config: {name} must be finite, got {value}")
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"config: {name} must be true or false, got {str(value)[:40]}")
        elif kind == "str":
            if not isinstance(value, str) or len(value) > 64:
                raise ValueError(f"config: {name} must be a short string, got {str(value)[:40]}")
        elif kind == "list[int]":
            if (not isinstance(value, list) or not 1 <= len(value) <= MAX_HIDDEN_LAYERS
                    or not all(_is_int(v) and 1 <= v <= 2**31 for v in value)):
                raise ValueError(f"config: {name} must be a list of 1 to {MAX_HIDDEN_LAYERS} integers >= 1")
        else:
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


def check_meta(meta: dict[str, Any], max_parameters: int) -> tuple[Config, Vocab]:
    """Type- and range-check every meta field; returns (config, vocabulary). ValueError on failure."""
    unknown = sorted(set(meta) - META_KEYS)
    if unknown:
        raise ValueError(f"unknown fields {[str(k)[:40] for k in unknown[:5]]}")
    missing = sorted(META_KEYS - set(meta))
    if missing:
        raise ValueError(f"missing fields {missing}")
    vocab = check_vocab(meta["vocab"])
    config = Config.from_dict(check_config_types(meta["config"]))
    if config.n_layer > MAX_HIDDEN_LAYERS:
        raise ValueError(f"config: n_layer {config.n_layer} is more than the {MAX_HIDDEN_LAYERS} layers accepted")
    count = parameter_count(config, len(vocab))
    if count > max_parameters:
        raise ValueError(f"the config asks for {count:,} parameters, more than the cap of {max_parameters:,} "
                         "(raise it with --max-params only for a file you trust)")
    step = meta["step"]
    if not _is_int(step) or not 0 <= step <= config.steps:
        raise ValueError(f"step must be an integer in [0, config steps {config.steps:,}], got {str(step)[:40]}")
    if meta["optimizer"] != OPTIMIZERS[config.optimizer].__name__:
        raise ValueError(f"optimizer {str(meta['optimizer'])[:40]!r} does not match config optimizer "
                         f"{config.optimizer!r}")
    if not _is_int(meta["n_parameters"]) or meta["n_parameters"] != count:
        raise ValueError(f"n_parameters {str(meta['n_parameters'])[:40]} but the config implies {count:,}")
    seconds = meta["train_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e12:
        raise ValueError("train_seconds must be a finite number >= 0")
    _check_rng_state(meta["rng_state"])
    _check_data_info(meta["data"])
    return config, vocab


def expected_members(config: Config, vocab: Vocab, step: int) -> tuple[dict[str, tuple[np.dtype, tuple]], set[str]]:
    """{key: (dtype, shape)} of every member the config allows (-1: any length), and the required keys."""
    dtype = np.dtype(config.dtype)
    entries = model_layout(config, len(vocab))
    expected: dict[str, tuple[np.dtype, tuple]] = {f"model/{e.name}": (dtype, e.shape) for e in entries}
    expected.update({f"optim/{k}": (dtype, s) for k, s in optimizer_layout(config, entries).items()})
    expected["optim/step"] = (np.dtype(np.int64), ())
    expected["history/train_loss"] = (np.dtype(np.float32), (step,))
    expected["history/dev_step"] = (np.dtype(np.int64), (-1,))
    expected["history/dev_loss"] = (np.dtype(np.float64), (-1,))
    expected["data/words"] = (np.dtype(np.uint8), (-1,))
    required = {k for k in expected if not k.startswith("optim/state.")}
    return expected, required


def _shape_matches(shape: tuple, pattern: tuple) -> bool:
    return len(shape) == len(pattern) and all(p == -1 or s == p for s, p in zip(shape, pattern))


def load(path: str | Path, max_parameters: int = DEFAULT_MAX_PARAMETERS) -> Checkpoint:
    """Open and validate a checkpoint (see the module docstring); ``CheckpointError`` on any problem."""
    with Archive(path) as archive:
        meta = archive.read_meta()
        try:
            config, vocab = check_meta(meta, max_parameters)
        except (ValueError, TypeError, OverflowError) as error:
            raise archive.error(str(error), "meta") from None
        step = meta["step"]
        expected, required = expected_members(config, vocab, step)
        for key in archive.members:
            if key != "meta" and key not in expected:
                raise archive.error("unknown member (not part of a names checkpoint for this config)", key)
        for key in sorted(required - set(archive.members)):
            raise archive.error("missing", key)
        headers: dict[str, Header] = {}
        for key in sorted(set(archive.members) - {"meta"}):
            header = archive.header(key)
            dtype, shape = expected[key]
            if header.dtype != dtype or not _shape_matches(header.shape, shape):
                want = "(any length,)" if shape == (-1,) else str(shape)
                raise archive.error(f"found {header.dtype} {header.shape}, the config implies {dtype} {want}", key)
            headers[key] = header
        if headers["history/dev_step"].shape != headers["history/dev_loss"].shape:
            raise archive.error("dev_step and dev_loss differ in length", "history/dev_loss")
        if headers["history/dev_step"].shape[0] > step:
            raise archive.error(f"more evaluations than steps ({step:,})", "history/dev_step")
        if headers["data/words"].nbytes > DEFAULT_MAX_BYTES:
            raise archive.error(f"{headers['data/words'].nbytes:,} bytes of words, more than the data-file limit "
                                f"of {DEFAULT_MAX_BYTES:,}", "data/words")
        arrays = {key: archive.read(key, header) for key, header in headers.items()}
        for key, array in arrays.items():
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise archive.error("holds non-finite values (NaN or infinity)", key)
        _check_counters(archive, arrays, step)
        words = _check_words(archive, arrays.pop("data/words"), vocab, meta["data"])
        _check_sequence_length(archive, config, words)
    return Checkpoint(meta, config, vocab, words, arrays)


def _check_sequence_length(archive: Archive, config: Config, words: list[str]) -> None:
    """A sequence model reads whole words: its block size is the longest stored word + 1, and at most
    the longest word the data checks accept + 1 (the padded batches stay as small as the data)."""
    if not zoo.is_sequence_arch(config.arch):
        return
    low = zoo.sequence_length(words)
    high = max(low, DEFAULT_MAX_LEN + 1)
    if not low <= config.block_size <= high:
        raise archive.error(f"config block_size {config.block_size} for arch {config.arch!r}, but its words need "
                            f"{low} (the longest + 1; at most {high} is accepted)", "meta")


def _check_counters(archive: Archive, arrays: dict[str, np.ndarray], step: int) -> None:
    if int(arrays["optim/step"]) != step:
        raise archive.error(f"optimizer step {int(arrays['optim/step'])} but meta step {step}", "optim/step")
    dev_steps = arrays["history/dev_step"]
    if len(dev_steps) and (dev_steps[0] < 1 or dev_steps[-1] > step or (np.diff(dev_steps) <= 0).any()):
        raise archive.error(f"evaluation steps must increase within [1, {step}]", "history/dev_step")


def _check_words(archive: Archive, array: np.ndarray, vocab: Vocab, info: dict[str, Any]) -> list[str]:
    source = f"{archive.path}: entry 'data/words'"
    raw = array.tobytes()
    try:
        data = parse_words(raw, source, max_len=max(info.get("max_len", DEFAULT_MAX_LEN), DEFAULT_MAX_LEN))
        vocab.check(data)
    except DataError as error:
        raise CheckpointError(str(error)) from None
    if data.words != raw.decode("utf-8").split("\n"):
        raise CheckpointError(f"{source}: words must be newline-separated with no blank lines or padding")
    if "n_words" in info and info["n_words"] != len(data.words):
        raise CheckpointError(f"{source}: {len(data.words):,} words, meta says {info['n_words']:,}")
    if "sha256_words" in info and hashlib.sha256(raw).hexdigest() != info["sha256_words"]:
        raise CheckpointError(f"{source}: the words do not match their SHA-256 in meta (corrupt file)")
    return data.words

