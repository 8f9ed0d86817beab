"""SIGINT and SIGTERM during ``train``: recorded, never a traceback; the trainer stops at the next safe point.

- ``catch_early()`` (``python -m models.names`` calls it before the heavy imports) records the
  signals in ``EARLY``; ``stop_on_signals()`` takes over from there (and inherits what ``EARLY`` holds).
- Test seam: with ``MODELS_NAMES_PAUSE=<phase>`` in the environment, the process stops once at that
  named point (``PHASES``), writes ``paused at <phase>`` to stderr and waits (at most 60 s) for a signal,
  so a test can deliver one at a known moment instead of sleeping and hoping (``<phase>:2`` waits for
  two, so the second one's handling is certain to happen there too).

Light on purpose (no NumPy): it runs before anything heavy is imported.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any, Iterator, Sequence

#: signals that stop training at the next safe point
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))
PAUSE_ENV = "MODELS_NAMES_PAUSE"
#: the named points of ``train`` where the pause seam can stop, in order
PHASES = ("imports", "setup", "train", "save", "evaluate", "plot", "samples")
#: signals received before ``stop_on_signals`` took over
EARLY: list[int] = []

_pause_at, _, _pause_for = os.environ.get(PAUSE_ENV, "").partition(":")


def _record_early(signum: int, frame: Any) -> None:
    EARLY.append(signum)


def catch_early() -> None:
    """From now on (main thread only), record SIGINT and SIGTERM in ``EARLY`` instead of dying."""
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, _record_early)


def release_early() -> None:
    """Python's default handlers again, where ``catch_early`` replaced them (commands that need no saving)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is _record_early:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """While active (main thread only), SIGINT and SIGTERM are appended to the yielded list instead of
    ending the process, so training can stop after the current step and save; a second signal raises
    KeyboardInterrupt at once. Signals recorded by ``catch_early`` are in the list from the start."""
    stop: list[int] = EARLY[:1]
    EARLY.clear()

    def on_signal(signum: int, frame: Any) -> None:
        if stop:
            raise KeyboardInterrupt
        stop.append(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def pause(phase: str, stop: Sequence[int]) -> None:
    """The test seam: wait here for a signal if ``MODELS_NAMES_PAUSE`` names this phase (once per process)."""
    global _pause_at
    if _pause_at != phase:
        return
    _pause_at = None
    print(f"paused at {phase}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + 60
    while len(stop) < int(_pause_for or 1) and time.monotonic() < deadline:
        time.sleep(0.005)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
