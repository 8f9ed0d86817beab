"""Anomaly mode: find the op where a NaN or an infinity first appears.

    with autograd_np.detect_anomaly():
        loss = model(x); loss.backward()

Forward: every op checks its output; the error names the op, its input shapes
and the line of your code that called it. Backward: every VJP result is
checked; the error names the op, which input, and the line of your code that
called that op in the forward pass (recorded when the node was made).
Outside anomaly mode none of this runs.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator, Sequence

import numpy as np


class _AnomalyMode:
    enabled = False


_anomaly = _AnomalyMode()
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def is_anomaly_enabled() -> bool:
    return _anomaly.enabled


def set_detect_anomaly(mode: bool) -> None:
    """Turn anomaly mode on or off for the whole process."""
    _anomaly.enabled = bool(mode)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Anomaly mode inside the block (restored afterwards)."""
    previous = _anomaly.enabled
    _anomaly.enabled = True
    try:
        yield
    finally:
        _anomaly.enabled = previous


class AnomalyError(RuntimeError):
    """A NaN or an infinity appeared; the message names the op and where it was called."""


def user_call_site() -> str:
    """``file:line`` of the innermost caller outside this package (where the user's code called the op)."""
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _non_finite(x: Any) -> str | None:
    array = getattr(x, "_data", x)
    if not isinstance(array, (np.ndarray, np.generic)) or array.dtype.kind not in "fc":
        return None
    if np.isfinite(array).all():
        return None
    return "NaN" if np.isnan(array).any() else "inf"


def check_forward(op_name: str, arrays: Sequence[Any], out: np.ndarray) -> None:
    found = _non_finite(out)
    if found is None:
        return
    shapes = " and ".join(str(np.shape(a)) for a in arrays)
    already = " (an input already held NaN or inf)" if any(_non_finite(a) for a in arrays) else ""
    raise AnomalyError(
        f"anomaly: {op_name} produced {found} in the forward pass{already}; input shapes {shapes}; "
        f"called at {user_call_site()}"
    )


def check_backward(op_name: str, position: int, g_in: Any, site: str | None) -> None:
    found = _non_finite(g_in)
    if found is None:
        return
    raise AnomalyError(
        f"anomaly: the VJP of {op_name} produced {found} in the gradient of its input {position} "
        f"(shape {np.shape(g_in)}); that {op_name} was called at {site or '<not recorded: anomaly mode was off>'}"
    )
