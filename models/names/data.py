"""Words in, training examples out: file parsing, vocabulary, the standard split.

File format: UTF-8 text, one word per line.

- ``read_words`` reads only a regular file of at most ``max_bytes`` (default
  1 GiB, ``--max-bytes``): a FIFO, device or directory is refused before any
  read (a FIFO with no writer would block, ``/dev/zero`` never ends).
- Blank lines (empty or whitespace only) are skipped; line numbers in error
  messages still count them. Leading/trailing whitespace (including ``\\r``
  of Windows line ends) is stripped; a UTF-8 byte-order mark is ignored.
- Errors (``DataError``, always naming the file and the 1-based line number):
  the file is missing or empty or has only blank lines; a line is not valid
  UTF-8; a word contains whitespace or a non-printable character; a word
  contains ``.`` (reserved for the start/end token); a word is longer than
  ``max_len`` characters (default 64; raise it with ``--max-len``). The limit
  exists because a word of length L becomes L + 1 training examples, and a
  multi-megabyte "line" is almost always a wrong file, not a name.
- Characters are taken as they are (no lowercasing): the vocabulary is ``.``
  (index 0, start and end of every word) followed by the sorted characters
  seen in the training file.
"""
from __future__ import annotations

import os
import random
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np

#: The bundled default data set (see models/data/README.md).
DEFAULT_DATA = Path(__file__).resolve().parent.parent / "data" / "names.txt"
DEFAULT_MAX_LEN = 64
#: largest data file read (``--max-bytes``): generous, but a wrong path such as /dev/zero fails at once
DEFAULT_MAX_BYTES = 1 << 30
#: files are read in pieces of this size
READ_CHUNK = 1 << 20
END = "."


class DataError(ValueError):
    """A data file cannot be used; the message names the file and the line."""


@dataclass
class Words:
    """The words of a file, with the line each came from (for error messages)."""

    words: list[str]
    lines: list[int]
    source: str


def read_words(path: str | Path, max_len: int = DEFAULT_MAX_LEN, max_bytes: int = DEFAULT_MAX_BYTES) -> Words:
    """Parse a one-word-per-line file (see the module docstring for the rules).

    The file must be a regular file of at most ``max_bytes`` bytes: a FIFO,
    device or directory is refused before anything is read from it.
    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise DataError(f"{path}: not a regular file ({_file_kind(st.st_mode)}); expected a text file of words")
    with os.fdopen(fd, "rb") as f:
        if st.st_size > max_bytes:
            raise DataError(f"{path}: the file is {st.st_size:,} bytes, more than the limit of {max_bytes:,} "
                            "(raise it with --max-bytes if this is intended)")
        try:
            raw = _read_at_most(f, max_bytes + 1)
        except OSError as error:
            raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from None
    if len(raw) > max_bytes:
        raise DataError(f"{path}: the file grew past the limit of {max_bytes:,} bytes while being read")
    return parse_words(raw, str(path), max_len)


def _read_at_most(f: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes, read in pieces: memory follows the file's size, never the limit."""
    chunks, total = [], 0
    while total < limit:
        chunk = f.read(min(READ_CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO/pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def parse_words(raw: bytes, source: str = "<data>", max_len: int = DEFAULT_MAX_LEN) -> Words:
    if not raw:
        raise DataError(f"{source}: the file is empty (expected one word per line)")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    words: list[str] = []
    lines: list[int] = []
    # Splitting the bytes at b"\n" is safe: no multi-byte UTF-8 sequence contains 0x0A.
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(
                f"{source}, line {lineno}: not valid UTF-8 (byte 0x{line[error.start]:02x} at column "
                f"{error.start + 1}); the file must be UTF-8 text"
            ) from None
        word = text.strip()
        if not word:
            continue
        if len(word) > max_len:
            raise DataError(
                f"{source}, line {lineno}: line is {len(word)} characters long, more than the limit of "
                f"{max_len} (one word per line expected; raise the limit with --max-len if this is intended)"
            )
        for column, ch in enumerate(word, 1):
            if ch.isspace():
                raise DataError(
                    f"{source}, line {lineno}: whitespace inside {word[:40]!r} (column {column}); "
                    "expected one word per line"
                )
            if not ch.isprintable():
                raise DataError(f"{source}, line {lineno}: non-printable character {ch!r} at column {column}")
            if ch == END:
                raise DataError(
                    f"{source}, line {lineno}: {word!r} contains '.', which is reserved for the start/end token"
                )
        words.append(word)
        lines.append(lineno)
    if not words:
        raise DataError(f"{source}: no words (the file has only blank lines)")
    return Words(words, lines, source)


class Vocab:
    """Characters <-> indices; index 0 is the start/end token ``.``."""

    def __init__(self, chars: str) -> None:
        if not chars or chars[0] != END or len(set(chars)) != len(chars):
            raise ValueError(f"Vocab: expected '.' followed by distinct characters, got {chars!r}")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_words(cls, words: Sequence[str]) -> "Vocab":
        return cls(END + "".join(sorted(set("".join(words)))))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def check(self, data: Words) -> None:
        """Raise DataError at the first character the vocabulary lacks."""
        stoi = self.stoi
        for word, lineno in zip(data.words, data.lines):
            for column, ch in enumerate(word, 1):
                if ch not in stoi:
                    known = self.chars[1:]
                    raise DataError(
                        f"{data.source}, line {lineno}: character {ch!r} (U+{ord(ch):04X}, column {column} of "
                        f"{word!r}) is not in the model's vocabulary ({known!r})"
                    )

    def encode(self, word: str) -> list[int]:
        return [self.stoi[c] for c in word]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i] for i in ids)


def split(words: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """The field's standard 80/10/10 split (makemore): train, dev, test.

    Identical to ``random.seed(42); random.shuffle(words); n1 = int(0.8*len(words));
    n2 = int(0.9*len(words))``, but on a private ``random.Random(42)`` so the
    global random state is left alone. The input list is not modified.
    """
    shuffled = list(words)
    random.Random(42).shuffle(shuffled)
    n1, n2 = int(0.8 * len(shuffled)), int(0.9 * len(shuffled))
    return shuffled[:n1], shuffled[n1:n2], shuffled[n2:]


def build_examples(words: Sequence[str], vocab: Vocab, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y): for every word and every position, the previous ``block_size``
    character indices (``.``-padded at the start) and the next index
    (``.`` after the last character). X is (N, block_size), Y is (N,), int64."""
    if not words:
        return np.zeros((0, block_size), dtype=np.int64), np.zeros(0, dtype=np.int64)
    stoi = vocab.stoi
    pad = [0] * block_size
    flat: list[int] = []
    starts: list[int] = []
    for word in words:
        base = len(flat)
        flat.extend(pad)
        flat.extend(stoi[c] for c in word)
        flat.append(0)
        starts.extend(range(base, base + len(word) + 1))
    seq = np.asarray(flat, dtype=np.int64)
    start = np.asarray(starts, dtype=np.int64)
    X = seq[start[:, None] + np.arange(block_size)]
    Y = seq[start + block_size]
    return X, Y


# ----- whole words, for the sequence models ------------------------------------------------------
#: the target of a padding position (``cross_entropy(..., ignore_index=IGNORE)`` skips it)
IGNORE = -1


def sequence_length(words: Sequence[str]) -> int:
    """The block size of a sequence model trained on ``words``: the longest word + 1."""
    return max((len(w) for w in words), default=0) + 1


def build_sequences(words: Sequence[str], vocab: Vocab, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y), both (N, block_size) int64, one row per word::

        x = .  e  m  m  a  .  .  ...      (start token, the word, padding)
        y = e  m  m  a  .  -1 -1 ...      (the word, the end token, ignored padding)
    """
    X = np.zeros((len(words), block_size), dtype=np.int64)
    Y = np.full((len(words), block_size), IGNORE, dtype=np.int64)
    stoi = vocab.stoi
    for i, word in enumerate(words):
        if len(word) + 1 > block_size:
            raise ValueError(
                f"the word {word!r} ({len(word)} characters) is longer than this model reads: its block size is "
                f"{block_size}, the longest word it was built for + 1"
            )
        ids = [stoi[c] for c in word]
        X[i, 1:len(ids) + 1] = ids
        Y[i, :len(ids)] = ids
        Y[i, len(ids)] = 0
    return X, Y


def trim_padding(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the trailing columns where every target is padding.

    Each position sees only the ones before it, so the loss and its gradient
    are unchanged; the batch just costs less.
    """
    used = np.flatnonzero((Y != IGNORE).any(axis=0))
    t = int(used[-1]) + 1 if used.size else 1
    return (X, Y) if t == X.shape[1] else (X[:, :t], Y[:, :t])
