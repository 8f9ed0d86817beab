"""Grad mode: whether ops record themselves on the tape, per thread.

Each thread has its own switch (a ``no_grad()`` in one thread never stops
another thread's training step from recording), and the blocks nest: leaving
a block restores what was in force when it was entered.
"""
from __future__ import annotations

import contextlib
import threading


class _ThreadGradMode(threading.local):
    enabled = True  # every new thread starts with recording on

    def __init__(self) -> None:
        self.saved: list[bool] = []  # the modes to restore, innermost block last


_mode = _ThreadGradMode()


def is_grad_enabled() -> bool:
    """True unless this thread is inside a ``no_grad()`` block."""
    return _mode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager (or decorator) that turns recording on or off in this thread.

    ``with set_grad_enabled(False):`` is ``no_grad()``; ``True`` is ``enable_grad()``.
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        _mode.saved.append(_mode.enabled)
        _mode.enabled = self.mode

    def __exit__(self, *exc_info: object) -> None:
        _mode.enabled = _mode.saved.pop()


def no_grad() -> set_grad_enabled:
    """Ops inside this block record nothing (inference, optimizer steps)."""
    return set_grad_enabled(False)


def enable_grad() -> set_grad_enabled:
    """Recording back on inside a ``no_grad()`` block (``grad(..., create_graph=True)`` uses it)."""
    return set_grad_enabled(True)
