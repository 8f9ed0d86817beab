"""The switch ``compile`` turns on while it captures a step (see ``compiler/tracer.py``).

``Primitive.__call__`` and ``graph.backprop`` each test ``_capture.tracer`` once: ``None``
(always, outside a capture) costs one attribute read; a tracer receives the call instead. Per thread, as grad mode:
another thread's steps run as usual while one thread captures.
"""
from __future__ import annotations

import threading
from typing import Any


class _CaptureHook(threading.local):
    tracer: Any = None  # the Tracer (compiler/tracer.py) recording this thread's step, or None (per thread)
    walk: Any = None  # the backward walk that tracer is recording, while it runs


_capture = _CaptureHook()
