"""The entry points: ``compile`` (a ``CompiledFunction``) and ``capture()`` (one block's program, for reading).

``CompiledFunction.__call__`` replays the program of its arguments' shapes when that program's
guards hold; otherwise it captures the call (``tracer.py``) and builds a program (``program.py``),
which it keeps once a second capture agrees with the first and the program reproduces eager.
Anything it cannot follow: one ``CompileWarning`` (or ``CompileError``), then eager from then on.
"""
from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from ..capture_hook import _capture
from ..tensor_type import Tensor
from .emitter import (
    _flat_inputs,
    _input_names,
    _name_locals,
    _record_locals,
    _record_user_locals,
    derivation_names,
    known_names,
)
from .instructions import Value, _Failed
from .passes import PASSES
from .program import _MISS, Program, _key, build_program, check_against_eager
from .tracer import Traced, Tracer


class CompileWarning(UserWarning):
    """A compiled function fell back to running eagerly (the message says why)."""


class CompileError(RuntimeError):
    """``fallback="error"``: a step that cannot be compiled (the message says why)."""


# ----------------------------------------------------------------------------
# The compiled function
# ----------------------------------------------------------------------------
class CompiledFunction:
    """``fn`` compiled (see the module docstring): call it as ``fn``; ``source()`` is the program."""

    def __init__(self, fn: Callable, strict: bool = False, passes: dict[str, bool] | None = None,
                 fallback: str = "warn", max_captures: int = 8) -> None:
        if fallback not in ("warn", "error"):
            raise ValueError(f"compile: fallback must be 'warn' or 'error', got {fallback!r}")
        unknown = set(passes or {}) - set(PASSES)
        if unknown:
            raise ValueError(f"compile: unknown passes {sorted(unknown)}; the passes are {list(PASSES)}")
        functools.update_wrapper(self, fn)
        self.fn, self.strict, self.passes = fn, strict, dict(passes or {})
        self.fallback, self.max_captures = fallback, max_captures
        self.programs: dict[Any, Program] = {}
        self.previous: dict[Any, tuple] = {}
        self.eager_reason: str | None = None
        self.captures = 0
        self.replays = 0
        self.last: Program | None = None
        self.hot: Program | None = None  # the last replayed program when its arguments were plain arrays

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.eager_reason is not None or _capture.tracer is not None:
            return self.fn(*args, **kwargs)
        hot = self.hot  # the program the last call replayed: its arguments' shapes and its guards again?
        if hot is not None and not kwargs and len(args) == len(hot.specs):
            result = hot.replay(*args)
            if result is not _MISS:
                self.replays += 1
                return result
        if not kwargs and all(type(a) is np.ndarray for a in args):  # the common case, cheaply
            key = tuple([(a.shape, a.dtype) for a in args])
        else:
            key = _key((args, kwargs))
        program = self.programs.get(key)
        if program is not None:
            if program.holds():
                self.replays += 1
                self.hot = program if program.specs and len(program.specs) == len(args) and not kwargs else None
                return program.run(args, kwargs)
            del self.programs[key]  # a parameter replaced, .grad left set, ...: capture again
        self.hot = None
        return self._capture(key, args, kwargs)

    def source(self) -> str:
        """The program of the last shapes captured, as Python: forward, backward, update."""
        if self.last is None:
            raise RuntimeError("source(): nothing captured yet (call the compiled function twice first)"
                               + (f"; it runs eagerly: {self.eager_reason}" if self.eager_reason else ""))
        return self.last.source

    @property
    def namespace(self) -> dict:
        """What ``source()`` refers to besides its arguments: buffers, parameters, callables."""
        return self.last.namespace if self.last is not None else {}

    def _capture(self, key: Any, args: tuple, kwargs: dict) -> Any:
        if self.captures >= self.max_captures:
            return self._give_up(f"captured {self.captures} times without a stable program", args, kwargs)
        self.captures += 1
        tracer, names = Tracer(), known_names(self.fn, args, kwargs)
        inputs = [tracer.register(a._data if isinstance(a, Tensor) else a,
                                  Value("input", a._data if isinstance(a, Tensor) else a, n))
                  for n, a in zip(_input_names(self.fn, args, kwargs), _flat_inputs(args, kwargs))]
        traced_args = tuple(_traced_argument(tracer, a) for a in args)
        traced_kwargs = {k: _traced_argument(tracer, a) for k, a in kwargs.items()}
        result = _run_traced(tracer, self.fn, traced_args, traced_kwargs, names)
        if tracer.failure is not None:
            self._give_up(tracer.failure)
            return _untraced(result)
        try:
            program = build_program(tracer, result, inputs, names, self.strict, self.passes)
        except _Failed as why:
            self._give_up(str(why))
            return _untraced(result)
        result = _untraced(result)
        self.last = program
        seen = (tracer.signature(), [v.array for v in tracer.foreign])
        previous, self.previous[key] = self.previous.get(key), seen
        if previous is None or previous[0] != seen[0]:
            return result
        if not all(a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in zip(previous[1], seen[1])):
            self._give_up("an array from outside the ops changes from call to call (a random mask, or NumPy "
                          "on the batch inside the step): pass it as an argument, or draw it outside")
            return result
        problem = check_against_eager(program, tracer, args, kwargs, result, self.strict)
        if problem:
            self._give_up(f"the compiled program did not reproduce eager ({problem})")
        else:
            self.programs[key] = program
            if not kwargs and all(type(a) is np.ndarray for a in args):
                program.specs = key
        return result

    def _give_up(self, reason: str, args: tuple | None = None, kwargs: dict | None = None) -> Any:
        self.eager_reason = reason
        self.programs.clear()
        inner = getattr(self.fn, "func", self.fn)  # a functools.partial: the function's own name
        name = getattr(inner, "__qualname__", type(inner).__name__)
        if self.fallback == "error":
            raise CompileError(f"compile({name}): cannot compile this step: {reason}")
        warnings.warn(f"compile({name}): running eagerly from now on: {reason}", CompileWarning, stacklevel=3)
        return None if args is None else self.fn(*args, **kwargs)


def _traced_argument(tracer: Tracer, a: Any) -> Any:
    """An array argument as the step sees it while captured: a recording view (NumPy run on the
    batch inside the step is recorded, or stops the capture; never frozen into the program)."""
    if type(a) is not np.ndarray:
        return a
    view = a.view(Traced)
    tracer.register(view, tracer.values[id(a)])
    return view


def _untraced(obj: Any) -> Any:
    """The step's return value with the capture's recording arrays turned back into plain ones."""
    if isinstance(obj, Traced):
        return obj.view(np.ndarray)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_untraced(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _untraced(x) for k, x in obj.items()}
    return obj


def _run_traced(tracer: Tracer, fn: Callable, args: tuple, kwargs: dict, names: dict[int, str]) -> Any:
    code = getattr(fn, "__code__", None)
    previous_profile = sys.getprofile()
    tracer.start()
    if code is not None and previous_profile is None:
        sys.setprofile(_record_locals(code, names))
    try:
        return fn(*args, **kwargs)
    finally:
        if code is not None and previous_profile is None:
            sys.setprofile(None)
        tracer.stop()


# ----------------------------------------------------------------------------
# The two entry points
# ----------------------------------------------------------------------------
def compile(fn: Callable | None = None, *, strict: bool = False, passes: dict[str, bool] | None = None,  # noqa: A001
            fallback: str = "warn", max_captures: int = 8) -> Any:
    """Compile a training step: ``compile(step)`` or ``@compile`` / ``@compile(strict=True)``.

    The first two calls with given argument shapes run eagerly and are captured (and the capture
    checked against eager); later ones replay the program. ``strict=True`` applies no rewrite
    (bit-identical to eager); ``passes={"linear": False, ...}`` turns single rewrites off (see
    ``PASSES``). A step that cannot be compiled runs eagerly after one ``CompileWarning``
    (``fallback="error"``: raises ``CompileError``). ``max_captures`` bounds the captures
    (new shapes, replaced parameters) before giving up.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, strict, passes, fallback, max_captures)
    return CompiledFunction(fn, strict, passes, fallback, max_captures)


class capture:  # noqa: N801 (a context manager used as a function, as no_grad)
    """``with autograd_np.capture() as step: ...one training step...``, then ``step.source()``:
    the program of that step (run eagerly, nothing replayed), for reading. Arrays and Tensors
    the block's code names are shown by those names."""

    def __init__(self, strict: bool = False, passes: dict[str, bool] | None = None) -> None:
        self.strict, self.passes = strict, dict(passes or {})
        self.tracer = Tracer()
        self.program: Program | None = None
        self.failure: str | None = None
        self.result: Any = None

    def __enter__(self) -> "capture":
        if _capture.tracer is not None:
            raise RuntimeError("capture(): already capturing in this thread")
        self.names: dict[int, str] = {}
        self.profiling = sys.getprofile() is None
        if self.profiling:
            sys.setprofile(_record_user_locals(self.names))
        self.tracer.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.tracer.stop()
        if self.profiling:
            sys.setprofile(None)
        if exc_info[0] is not None:
            return
        self.failure = self.tracer.failure
        if self.failure is None:
            names: dict[int, str] = {}
            _name_locals(sys._getframe(1).f_locals, names)  # the block's own names first
            for key, name in self.names.items():
                names.setdefault(key, name)
            for root in nn.root_modules():
                for key, name in derivation_names(root).items():
                    names.setdefault(key, name)
            try:
                self.program = build_program(self.tracer, self.result, [], names, self.strict, self.passes)
            except _Failed as why:
                self.failure = str(why)

    def source(self) -> str:
        """The captured step as Python (forward, backward, update), or why it could not be written."""
        if self.program is None:
            raise RuntimeError(f"capture(): no program ({self.failure or 'the block has not finished'})")
        return self.program.source
