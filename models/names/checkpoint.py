"""Checkpoints: one ``.npz`` file of plain arrays plus a JSON string.

Layout (every entry a ``.npy`` member of a zip archive, as ``np.savez`` writes it):

- ``meta``: 0-d unicode array holding JSON: format tag and version, vocabulary,
  config, step, optimizer name, RNG state (``bit_generator.state`` of the
  training generator), data provenance, training wall time.
- ``model/<name>``: every parameter and buffer (``Module.state_dict()``).
- ``optim/<key>``: ``Optimizer.state_dict()`` (step count, moment buffers).
- ``history/...``: per-step training loss, dev-loss evaluation points.
- ``data/words``: the data file's words (UTF-8, newline-joined, as uint8), so
  a checkpoint can be evaluated and ``--exclude-train`` works without the file.

Writes are atomic: a temporary file ``.<name>.<pid>-<random>.tmp`` in the
target directory, fsync, then ``os.replace``; an interrupted save never leaves
a half-written checkpoint, and temporary files of dead processes are removed
by the next save or load.

Reading never trusts the file (``Archive``): the zip directory, every member's
placement and declared size, and every ``.npy`` header are checked before any
array data is read, and array data is read only into an allocation whose size
the caller has already approved. ``np.load`` is never used, so no pickle code
path exists. What the arrays must be is decided by the caller
(``models/names/schema.py`` for the names model).
"""
from __future__ import annotations

import ast
import json
import os
import re
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "autograd_np.names-checkpoint"
VERSION = 1

#: most members an archive may list, and largest central directory (names checkpoints have ~30 members)
MAX_MEMBERS = 4096
MAX_DIRECTORY_BYTES = 4 << 20
#: largest ``.npy`` header accepted (NumPy writes ~128 bytes)
MAX_HEADER_BYTES = 4096
#: largest ``meta`` entry (bytes of its UTF-32 array) and deepest JSON nesting
MAX_META_BYTES = 4 << 20
MAX_JSON_DEPTH = 16
#: the sum of the members' declared (uncompressed) sizes may be at most this multiple of the file size
#: (plus MAX_META_BYTES): a stored member is 1x, a compressed one of float weights barely shrinks
MAX_EXPANSION = 32
#: deflate cannot expand by more than about 1032:1; a larger declared ratio is a lie
MAX_DEFLATE_RATIO = 1100
#: array data is read in pieces of this size (a single read would briefly hold a second copy)
READ_CHUNK = 16 << 20


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message names the file (and the entry, if one is at fault)."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message names the path. The previous file is unchanged."""


# ----- writing -----------------------------------------------------------------------------------
def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


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


_TEMP_PATTERN = re.compile(r"(\d+)-[^.]*\.tmp")


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete ``.<name>.<pid>-*.tmp`` files next to ``path`` whose writer process is gone.

    Temporary files of a live process (a save in progress) are left alone;
    files that cannot be removed (read-only directory) are skipped.
    """
    path = Path(path)
    prefix = _temp_prefix(path)
    removed = []
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return removed
    for candidate in candidates:
        match = _TEMP_PATTERN.fullmatch(candidate.name[len(prefix):])
        if match and pid_alive(int(match.group(1))):
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:
            pass
    return removed


def save(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write atomically; ``CheckpointWriteError`` (naming the path) if the file system refuses."""
    path = Path(path)
    payload = {"meta": np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta}, allow_nan=False))}
    for key, value in arrays.items():
        if key == "meta":
            raise ValueError("save: 'meta' is reserved")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"save: {key} is an object array")
        payload[key] = array
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_temp_prefix(path)}{os.getpid()}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except OSError as error:
        _discard(tmp)
        reason = error.strerror or str(error)
        raise CheckpointWriteError(
            f"cannot write checkpoint {path}: {reason}; the previous checkpoint there (if any) is unchanged"
        ) from None
    except BaseException:
        _discard(tmp)
        raise
    return path


def _discard(tmp: str | None) -> None:
    if tmp is not None:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# ----- reading -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Header:
    """A member's ``.npy`` header: what its data would be, before any of it is read."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int  # bytes of magic + header before the data

    @property
    def nbytes(self) -> int:
        count = 1
        for n in self.shape:
            count *= n
        return count * self.dtype.itemsize


class Archive:
    """A checkpoint opened for bounded, validated reading.

    Opening checks the file and the zip directory only: a regular file; at most
    ``MAX_MEMBERS`` members in a directory of at most ``MAX_DIRECTORY_BYTES``;
    each member a ``<key>.npy`` listed once, unencrypted, stored or deflated,
    lying inside the file without overlapping another, with a declared size
    in proportion to its compressed size and, summed, to the file.
    ``header(key)`` reads a member's ``.npy`` header (at most
    ``MAX_HEADER_BYTES``); ``read(key, header)`` reads its data.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise CheckpointError(f"{self.path}: no such checkpoint file") from None
        except OSError as error:
            raise CheckpointError(f"{self.path}: cannot read checkpoint ({error.strerror or error})") from None
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: not a regular file")
        self.size = st.st_size
        try:
            self._file = open(self.path, "rb")
        except OSError as error:
            raise CheckpointError(f"{self.path}: cannot read checkpoint ({error.strerror or error})") from None
        try:
            self._check_directory_size()
            try:
                self._zip = zipfile.ZipFile(self._file)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
                raise self.error(f"not a names checkpoint (not a readable .npz/zip archive: {error})") from None
            self.members = self._check_members()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if hasattr(self, "_zip"):
            self._zip.close()
        self._file.close()

    def error(self, message: str, key: str | None = None) -> CheckpointError:
        where = f"{self.path}: entry {key!r}: " if key is not None else f"{self.path}: "
        return CheckpointError(where + message)

    # -- the zip directory, before zipfile parses it --
    def _check_directory_size(self) -> None:
        """Read the end-of-central-directory record and bound the directory zipfile will load."""
        f = self._file
        tail = min(self.size, 22 + 65535)
        f.seek(self.size - tail)
        data = f.read(tail)
        at = data.rfind(b"PK\x05\x06")
        if at < 0 or len(data) - at < 22:
            raise self.error("not a names checkpoint (no zip directory: truncated, corrupt or not an .npz file)")
        _, _, _, _, count, dir_size, dir_offset, _ = struct.unpack("<4s4H2LH", data[at:at + 22])
        if count == 0xFFFF or dir_size == 0xFFFFFFFF or dir_offset == 0xFFFFFFFF:
            locator_at = self.size - tail + at - 20
            if locator_at < 0:
                raise self.error("corrupt zip64 directory")
            f.seek(locator_at)
            locator = f.read(20)
            if len(locator) != 20 or locator[:4] != b"PK\x06\x07":
                raise self.error("corrupt zip64 directory")
            (record_at,) = struct.unpack("<Q", locator[8:16])
            f.seek(record_at)
            record = f.read(56)
            if len(record) != 56 or record[:4] != b"PK\x06\x06":
                raise self.error("corrupt zip64 directory")
            _, _, _, _, _, _, _, count, dir_size, dir_offset = struct.unpack("<4sQ2H2L4Q", record)
        if count > MAX_MEMBERS:
            raise self.error(f"the zip directory lists {count:,} members (a names checkpoint has far fewer)")
        if dir_size > MAX_DIRECTORY_BYTES or dir_offset + dir_size > self.size:
            raise self.error(f"the zip directory declares {dir_size:,} bytes at offset {dir_offset:,} "
                             f"in a {self.size:,}-byte file")

    def _check_members(self) -> dict[str, zipfile.ZipInfo]:
        members: dict[str, zipfile.ZipInfo] = {}
        infos = self._zip.infolist()
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or len(name) > 256:
                raise self.error(f"unexpected member {name[:80]!r} (a checkpoint holds only .npy arrays)")
            key = name[:-4]
            if key in members:
                raise self.error("member listed twice in the zip directory", key)
            if info.flag_bits & 0x1:
                raise self.error("member is encrypted", key)
            if info.compress_type == zipfile.ZIP_STORED:
                if info.file_size != info.compress_size:
                    raise self.error(f"stored member declares {info.file_size:,} bytes but occupies "
                                     f"{info.compress_size:,}", key)
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                if info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 1024:
                    raise self.error(f"compressed member declares {info.file_size:,} bytes from "
                                     f"{info.compress_size:,} compressed bytes (out of proportion)", key)
            else:
                raise self.error(f"unsupported compression method {info.compress_type}", key)
            if info.header_offset + 30 + info.compress_size > self.size:
                raise self.error(f"member data ({info.compress_size:,} bytes at offset {info.header_offset:,}) "
                                 f"lies outside the {self.size:,}-byte file", key)
            members[key] = info
        ordered = sorted(infos, key=lambda i: i.header_offset)
        for a, b in zip(ordered, ordered[1:]):
            if a.header_offset + 30 + a.compress_size > b.header_offset:
                raise self.error(f"member overlaps {b.filename[:-4]!r}", a.filename[:-4])
        declared = sum(i.file_size for i in infos)
        if declared > MAX_EXPANSION * self.size + MAX_META_BYTES:
            largest = max(infos, key=lambda i: i.file_size)
            raise self.error(f"declares {largest.file_size:,} bytes; the members declare {declared:,} bytes in "
                             f"total, out of proportion to the {self.size:,}-byte file", largest.filename[:-4])
        return members

    # -- .npy headers and data --
    def header(self, key: str) -> Header:
        """Parse a member's ``.npy`` header (reads at most ``MAX_HEADER_BYTES`` of it)."""
        info = self.members[key]
        try:
            with self._zip.open(info) as member:
                prefix = member.read(12)
                if len(prefix) < 10 or prefix[:6] != b"\x93NUMPY":
                    raise self.error("not a .npy array", key)
                major = prefix[6]
                if major == 1:
                    length, start = struct.unpack("<H", prefix[8:10])[0], 10
                elif major in (2, 3):
                    if len(prefix) < 12:
                        raise self.error("truncated .npy header", key)
                    length, start = struct.unpack("<I", prefix[8:12])[0], 12
                else:
                    raise self.error(f"unknown .npy format version {major}", key)
                if length > MAX_HEADER_BYTES:
                    raise self.error(f".npy header of {length:,} bytes (at most {MAX_HEADER_BYTES:,} accepted)", key)
                text = prefix[start:start + length] + member.read(max(0, length - (len(prefix) - start)))
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as error:
            raise self.error(f"cannot read member ({type(error).__name__}: {error})", key) from None
        if len(text) != length:
            raise self.error("truncated .npy header", key)
        shape, fortran, dtype = self._parse_header(text, key, "utf8" if major == 3 else "latin1")
        header = Header(shape, dtype, fortran, start + length)
        if info.file_size != header.offset + header.nbytes:
            raise self.error(f"header declares {header.nbytes:,} bytes of data ({dtype.str} {shape}) but the "
                             f"member holds {max(info.file_size - header.offset, 0):,}", key)
        return header

    def _parse_header(self, raw: bytes, key: str, encoding: str) -> tuple[tuple[int, ...], bool, np.dtype]:
        try:
            fields = ast.literal_eval(raw.decode(encoding))
        except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
            raise self.error("malformed .npy header", key) from None
        if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
            raise self.error("malformed .npy header (expected the keys descr, fortran_order, shape)", key)
        shape, fortran, descr = fields["shape"], fields["fortran_order"], fields["descr"]
        if (not isinstance(shape, tuple) or len(shape) > 32
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
            raise self.error(f"malformed .npy header (shape {str(shape)[:80]})", key)
        if not isinstance(fortran, bool):
            raise self.error("malformed .npy header (fortran_order)", key)
        if not isinstance(descr, str) or not re.fullmatch(r"[<>|=][a-zA-Z]\d{0,9}", descr):
            raise self.error(f"unsupported array type {str(descr)[:80]!r} (only plain numbers and text)", key)
        try:
            dtype = np.dtype(descr)
        except (TypeError, ValueError):
            raise self.error(f"unsupported array type {descr!r}", key) from None
        if dtype.hasobject or dtype.kind not in "biufcU":
            raise self.error(f"unsupported array type {descr!r} (only plain numbers and text)", key)
        return shape, fortran, dtype

    def read(self, key: str, header: Header) -> np.ndarray:
        """The member's array; call only after ``header`` has been checked (its size is allocated here)."""
        buffer = bytearray(header.nbytes)
        try:
            with self._zip.open(self.members[key]) as member:
                if len(member.read(header.offset)) != header.offset:
                    raise EOFError("truncated")
                view, filled = memoryview(buffer), 0
                while filled < header.nbytes:
                    n = member.readinto(view[filled:filled + READ_CHUNK])
                    if not n:
                        raise EOFError(f"member data ends after {filled:,} of {header.nbytes:,} bytes")
                    filled += n
                if member.read(1):
                    raise ValueError("data continues past the declared size")
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as error:
            raise self.error(f"cannot read member ({type(error).__name__}: {error})", key) from None
        array = np.frombuffer(buffer, dtype=header.dtype)
        return array.reshape(header.shape, order="F" if header.fortran_order else "C")

    def read_meta(self) -> dict[str, Any]:
        """The ``meta`` entry's JSON object (size and nesting bounded), format tag and version checked."""
        if "meta" not in self.members:
            raise self.error("not a names checkpoint (no 'meta' entry)")
        header = self.header("meta")
        if header.shape != () or header.dtype.kind != "U":
            raise self.error(f"expected a 0-d text array, found {header.dtype.str} {header.shape}", "meta")
        if header.nbytes > MAX_META_BYTES:
            raise self.error(f"{header.nbytes:,} bytes (at most {MAX_META_BYTES:,} accepted)", "meta")
        array = self.read("meta", header)
        codes = np.frombuffer(array.tobytes(), dtype=np.dtype("u4").newbyteorder(array.dtype.byteorder))
        if (codes >= 0x110000).any():  # NumPy cannot make a str of these
            raise self.error("not valid text (a character code beyond Unicode)", "meta")
        text = str(array[()])
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise self.error(f"JSON nested {depth} levels deep (at most {MAX_JSON_DEPTH})", "meta")
        try:
            meta = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as error:
            raise self.error(f"corrupt JSON ({str(error)[:200]})", "meta") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            tag = meta.get("format") if isinstance(meta, dict) else None
            raise self.error(f"not a names checkpoint (format tag {str(tag)[:80]!r})", "meta")
        if meta.get("version") != VERSION:
            raise self.error(f"checkpoint version {str(meta.get('version'))[:20]}, this code reads version {VERSION}",
                             "meta")
        return meta


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this format allows")


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(text: str) -> int:
    """Deepest nesting of [ and { in JSON text (outside strings), without parsing it."""
    depth = deepest = 0
    for ch in re.findall(r"[\[\]{}]", _JSON_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def words_to_array(words: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8).copy()
