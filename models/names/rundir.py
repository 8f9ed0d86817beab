"""Run directories: numbered runs, the newest run, the lock, and the checks before training starts.

- Without ``--out``, every ``train`` gets a new numbered directory under
  ``runs/names`` (``1``, ``2``, ...), so no run ever replaces another.
- ``sample``, ``eval`` and ``graph`` without a checkpoint use the newest run
  (the highest number that holds a checkpoint). Wherever a checkpoint is taken, a
  run directory may be given instead: its newest checkpoint is used (``resolve_checkpoint``).
- An explicit ``--out`` that holds a checkpoint is refused unless the run
  continues that very checkpoint (``--resume``) or ``--force`` replaces it.
- A training process holds an exclusive lock (``.lock``, holding its pid) on
  its directory; a second process gets an error naming that pid. The lock is an
  ``flock`` on the file, which the kernel releases when the process dies: a
  lock file left by a dead process is detected as stale and taken over.
"""
from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: fall back to an exclusive-create lock file with a pid liveness check
    fcntl = None  # type: ignore[assignment]

from .checkpoint import pid_alive

RUNS_ROOT = Path("runs/names")
CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
LOCK = ".lock"


class RunDirError(ValueError):
    """A run directory cannot be used; the message names it and what to do."""


def _numbered(root: Path) -> list[tuple[int, Path]]:
    try:
        entries = list(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted((int(p.name), p) for p in entries if re.fullmatch(r"[0-9]{1,9}", p.name) and p.is_dir())


def new_run_dir(root: Path = RUNS_ROOT) -> Path:
    """Create and return ``root/N``, N one more than the highest existing number."""
    if root.exists() and not root.is_dir():
        raise RunDirError(f"{root} is a file; runs are written to numbered directories under it")
    try:
        root.mkdir(parents=True, exist_ok=True)
        number = max((n for n, _ in _numbered(root)), default=0) + 1
        while True:
            candidate = root / str(number)
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:  # another process took this number first
                number += 1
    except OSError as error:
        raise RunDirError(f"cannot create a run directory under {root}: {error.strerror or error}") from None


def latest_checkpoint(root: Path = RUNS_ROOT) -> Path:
    """The checkpoint of the newest numbered run under ``root`` (RunDirError if there is none)."""
    for _, directory in reversed(_numbered(root)):
        if (directory / CHECKPOINT).is_file():
            return directory / CHECKPOINT
    if (root / CHECKPOINT).is_file():  # a run written before runs were numbered
        return root / CHECKPOINT
    raise RunDirError(f"no checkpoint given, and no run under {root} holds one; train one with "
                      "'python -m models.names train' or name a checkpoint file")


def resolve_checkpoint(path: Path, resume: bool = False) -> Path:
    """``path`` itself, unless it is a directory: then a run directory's newest checkpoint (the more recently
    written of checkpoint.safetensors and best.safetensors), or the newest run's under a directory of numbered runs.
    ``resume``: a run directory's checkpoint.safetensors wherever there is one (training continues by writing
    it; continuing from best.safetensors would write the run's state into the best-dev file)."""
    if not path.is_dir():
        return path
    if resume and (path / CHECKPOINT).is_file():
        return path / CHECKPOINT
    found = [p for p in (path / CHECKPOINT, path / BEST) if p.is_file()]
    if found:
        return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name == CHECKPOINT))
    for _, directory in reversed(_numbered(path)):
        if (directory / CHECKPOINT).is_file():
            return directory / CHECKPOINT
    raise RunDirError(f"{path} is a directory holding no checkpoint ({CHECKPOINT} or {BEST}) and no numbered run "
                      "with one; give a checkpoint file or a run directory")


def find_checkpoint(path: Path, resume: bool = False) -> Path:
    """``resolve_checkpoint``, saying on stderr which file a directory stood for."""
    found = resolve_checkpoint(path, resume)
    if found != path:
        which = "its run's checkpoint" if resume and found.parent == path else "its newest checkpoint"
        print(f"{path} is a directory: using {which}, {found}", file=sys.stderr)
    return found


def check_out_dir(out: Path, checkpoint: Path, *, resume: Path | None, force: bool) -> None:
    """Refuse ``--out`` when it is a file, or holds a checkpoint this run would replace without being asked."""
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is an existing file; give a directory (it will hold checkpoint.safetensors, "
                          "metrics.json and loss.png)")
    if not checkpoint.exists() or force:
        return
    if resume is not None and resume.exists() and os.path.samefile(resume, checkpoint):
        return
    raise RunDirError(f"{out} already holds a run ({checkpoint}); to continue it use --resume {checkpoint}, "
                      "to replace it use --force, or choose another --out")


def check_writable(directory: Path, checkpoint: Path) -> None:
    """Write and remove a small file in ``directory`` now, rather than fail at the first save."""
    if checkpoint.is_dir():
        raise RunDirError(f"cannot write the checkpoint: {checkpoint} is a directory")
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".write-test.") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as error:
        raise RunDirError(f"cannot write to {directory}: {error.strerror or error}") from None


def _describe_holder(text: str) -> str:
    fields = text.split("\n")
    pid = fields[0].strip() if fields and fields[0].strip().isdigit() else "unknown"
    host = f" on {fields[1].strip()}" if len(fields) > 1 and fields[1].strip() else ""
    return f"process {pid}{host}"


class RunLock:
    """Exclusive lock on a run directory, held while a process trains into it (a context manager).

    The lock file holds the holder's pid, host name and command line.
    ``stale_pid``: the pid found in a lock file whose process was gone (None if none).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK
        self.stale_pid: int | None = None
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _error(self, holder: str) -> RunDirError:
        return RunDirError(f"{self.directory} is in use by {holder} (lock file {self.path}); wait for it to "
                           "finish or stop it, or choose another --out")

    def _open(self, flags: int) -> int:
        try:
            return os.open(self.path, flags, 0o644)
        except FileExistsError:
            raise
        except OSError as error:
            raise RunDirError(f"cannot write to {self.directory}: {error.strerror or error}") from None

    def acquire(self) -> None:
        for _ in range(100):
            if fcntl is None:
                if self._acquire_exclusive_create():
                    return
                continue
            fd = self._open(os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
                os.close(fd)
                raise self._error(_describe_holder(holder)) from None
            try:  # the holder we waited on may have removed the file; then lock the new one
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            if current is None or not os.path.samestat(os.fstat(fd), current):
                os.close(fd)
                continue
            self._take(fd, os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            return
        raise RunDirError(f"could not take the lock {self.path} (it keeps changing)")

    def _acquire_exclusive_create(self) -> bool:
        try:
            fd = self._open(os.O_RDWR | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            try:
                text = self.path.read_text("utf-8", "replace")
            except FileNotFoundError:
                return False
            first = text.split("\n")[0].strip()
            if first.isdigit() and not pid_alive(int(first)):
                self.stale_pid = int(first)
                self.path.unlink(missing_ok=True)
                return False
            raise self._error(_describe_holder(text)) from None
        self._take(fd, "")
        return True

    def _take(self, fd: int, previous: str) -> None:
        first = previous.split("\n")[0].strip()
        if first.isdigit() and int(first) != os.getpid():
            self.stale_pid = int(first)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{socket.gethostname()}\n{' '.join(sys.argv)}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if os.path.samestat(os.fstat(self._fd), os.stat(self.path)):
                os.unlink(self.path)  # while still locked, so no one locks a file about to vanish
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
