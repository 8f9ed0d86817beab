"""Forward mode: tangents travel with the values, nothing is recorded.

A forward-mode computation runs at a *level* (``forward_level()``, used by ``func.jvp``).
While a level is active, every op applied to Tensors also computes its output's tangent
from its inputs' tangents with the op's JVPs (``Primitive.defjvp``):

    dy = Σ_i jvp_i(dx_i, y, *inputs)        (each term broadcast to y's shape)

The tangent is kept on the output Tensor, one per level (``tangent_of(t, level)``); no
``Node`` is made for it, so memory does not grow with the number of ops, and it works
inside ``no_grad()``. An input without a tangent at a level has a zero tangent there.

Levels nest. While the JVPs of level L run, L and every level inside it are switched off,
so the JVP computation itself only carries the tangents of the levels outside L: a tangent
of L is never mixed up with one of an inner level (no perturbation confusion), and
``jvp(jvp(f))`` gives second derivatives. With no outer level and no input requiring grad,
the JVPs run on raw arrays (as the VJPs do during ``backward()``); otherwise on the Tensors,
so that the tangent is recorded for reverse mode (``grad`` of a ``jvp``) or carries the outer
levels' tangents. Forward over reverse (Hessian-vector products) needs nothing special: under
``create_graph`` the backward walk runs the VJPs on the recorded Tensors, and those carry
their tangents.

The switch is one module attribute, ``_forward.levels`` (a tuple, empty when forward mode is
off): ``Primitive.__call__`` tests it once per op. It is process-wide, not per thread.
"""
from __future__ import annotations

import builtins
import contextlib
import itertools
from typing import Any, Iterator

import numpy as np

from .tensor_type import Tensor


class _ForwardLevels:
    levels: tuple[int, ...] = ()  # the active levels, outermost first; () when forward mode is off


_forward = _ForwardLevels()
_next_level = itertools.count(1).__next__


@contextlib.contextmanager
def forward_level() -> Iterator[int]:
    """Open a new (innermost) forward-mode level; yields its number, for ``set_tangent``/``tangent_of``."""
    level = _next_level()
    outer = _forward.levels
    _forward.levels = outer + (level,)
    try:
        yield level
    finally:
        _forward.levels = outer


def tangent_of(t: Any, level: int) -> Any:
    """``t``'s tangent at ``level`` (an array or a Tensor), or None: a zero tangent."""
    tangents = getattr(t, "_tangent", None)
    return None if tangents is None else tangents.get(level)


def set_tangent(t: Tensor, level: int, tangent: Any) -> None:
    """Give ``t`` the tangent ``tangent`` (same shape) at ``level``."""
    tangents = getattr(t, "_tangent", None)
    t._tangent = {level: tangent} if tangents is None else {**tangents, level: tangent}


def is_forward_active() -> bool:
    """True while a forward-mode level is open."""
    return bool(_forward.levels)


def jvp_call(op: Any, args: tuple, kwargs: dict) -> Any:
    """``op(*args, **kwargs)`` with the output's tangent at every active level (see the module doc)."""
    levels = _forward.levels
    _forward.levels = ()
    try:
        y = op(*args, **kwargs)
        if not isinstance(y, Tensor) or y._data.dtype.kind != "f":
            return y
        if builtins.any(type(a) is list for a in args):  # list constants, as the op saw them
            args = tuple(np.asarray(a) if type(a) is list else a for a in args)
        if len(levels) == 1 and not y._requires_grad:
            on_arrays(op, args, kwargs, y, levels[0])
        else:
            on_tensors(op, args, kwargs, y, levels)
        return y
    finally:
        _forward.levels = levels


def on_arrays(op: Any, args: tuple, kwargs: dict, y: Tensor, level: int) -> None:
    """One level and nothing to record: the JVPs run on the raw arrays (as backward's VJPs do)."""
    inputs, dxs, carried = [], [], False
    for a in args:
        if isinstance(a, Tensor):
            inputs.append(a._data)
            tangents = getattr(a, "_tangent", None)
            dx = None if tangents is None else tangents.get(level)
            if dx is not None:
                if isinstance(dx, Tensor):  # a tangent that may need its own gradient
                    return on_tensors(op, args, kwargs, y, (level,))
                carried = True
            dxs.append(dx)
        else:
            inputs.append(a)
            dxs.append(None)
    if carried:
        y._tangent = {level: output_tangent(op, inputs, kwargs, y._data, dxs, args, y)}


def on_tensors(op: Any, args: tuple, kwargs: dict, y: Tensor, levels: tuple[int, ...]) -> None:
    """The JVPs on the Tensors (recorded if an input requires grad; carrying the outer levels'
    tangents), level by level, outermost first: an inner level's JVP reads y's outer tangents.
    While a level's JVPs run, it and the levels inside it are off."""
    for position, level in enumerate(levels):
        dxs = [tangent_of(a, level) if isinstance(a, Tensor) else None for a in args]
        if builtins.all(dx is None for dx in dxs):
            continue
        _forward.levels = levels[:position]
        dy = output_tangent(op, args, kwargs, y, dxs, args, y)
        set_tangent(y, level, dy)


def output_tangent(op: Any, inputs: Any, kwargs: dict, out: Any, dxs: list, args: tuple, y: Tensor) -> Any:
    """dy = Σ_i jvp_i(dx_i, y, *inputs, **kwargs), each term broadcast to y's shape."""
    if op.saves:
        kwargs = {**kwargs, "saved": saved_of(op, args, kwargs, y)}
    dy = None
    jvps = op.jvps
    for i, dx in enumerate(dxs):
        if dx is None:
            continue
        jvp = jvps[i]
        if jvp is None:
            raise TypeError(f"forward mode through {op.name}: its input {i} has no derivative, but it was given a tangent")
        term = jvp(dx, out, *inputs, **kwargs)
        if term.shape != out.shape:
            term = broadcast_tangent(term, out.shape)
        dy = term if dy is None else dy + term
    return dy


def broadcast_tangent(term: Any, shape: tuple[int, ...]) -> Any:
    """Forward mode broadcasts where reverse mode sums: a term of an input's shape, to y's
    (on a Tensor, NumPy's function runs the ``broadcast_to`` op: recorded, carrying outer tangents)."""
    return np.broadcast_to(term, shape)


def saved_of(op: Any, args: tuple, kwargs: dict, y: Tensor) -> Any:
    """What a ``saves=True`` op's forward kept: from y's node if it was recorded, else computed again."""
    if y._node is not None:
        return y._node.saved
    arrays = [a._data if isinstance(a, Tensor) else a for a in args]
    return op.forward(*arrays, **kwargs)[1]
