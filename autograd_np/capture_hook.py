"""The switch ``compile`` turns on while it captures a step (see ``compile.py``).

``Primitive.__call__`` and ``graph.backprop`` each test ``_capture.tracer`` once: ``None``
(always, outside a capture) costs one attribute read; a tracer receives the call instead.
"""
from __future__ import annotations

from typing import Any


class _CaptureHook:
    tracer: Any = None  # the compile.Tracer recording this thread's step, or None


_capture = _CaptureHook()
