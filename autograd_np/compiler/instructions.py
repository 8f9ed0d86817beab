"""What a capture records: ``Value`` (one array of the program) and ``Instr`` (one step on values).

The tracer (``tracer.py``) makes them while the step runs eagerly; the passes (``passes.py``)
rewrite the list of instructions; the emitter (``emitter.py``) names the values and writes each
instruction out as NumPy source. ``_Failed`` is how any of them says that the step cannot be
captured (the compiled function then runs eagerly, ``compiled.py``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor_type import Tensor


class _Failed(Exception):
    pass


# ----------------------------------------------------------------------------
# Values and instructions
# ----------------------------------------------------------------------------
class Value:
    """One array of the program. ``kind``: ``input`` (an argument), ``tensor`` (a Tensor from
    outside: a parameter, read live), ``grad`` (a leaf's ``.grad`` from before the call),
    ``const`` (an array from outside the ops, the same in both captures), ``temp`` (made by an
    instruction)."""

    __slots__ = ("kind", "shape", "dtype", "array", "name", "hint", "tensor", "grad_of", "number")

    def __init__(self, kind: str, array: Any, hint: str = "t", tensor: Tensor | None = None) -> None:
        self.kind, self.array, self.hint, self.tensor = kind, array, hint, tensor
        self.shape, self.dtype = np.shape(array), np.asarray(array).dtype
        self.name = ""
        self.grad_of: Value | None = None
        self.number = 0

    def __repr__(self) -> str:
        return self.name or f"<{self.kind} {self.hint}>"


class Instr:
    """``kind``: fwd, vjp (op's VJP of input ``position``), acc (sum of partial gradients),
    leafadd (``.grad +=``), cast, ufunc (NumPy on ``.data``/``.grad``), copyto, optstep,
    random (a dropout mask drawn from its generator, per call), view (an argument reshaped outside the ops)."""

    __slots__ = ("kind", "op", "position", "outs", "ins", "kwargs", "saved", "phase", "extra", "note")

    def __init__(self, kind: str, outs: list, ins: list, phase: str, op: Any = None, position: int = 0,
                 kwargs: dict | None = None, saved: Value | None = None, extra: Any = None) -> None:
        self.kind, self.op, self.position, self.outs, self.ins = kind, op, position, outs, ins
        self.kwargs, self.saved, self.phase, self.extra = kwargs or {}, saved, phase, extra
        self.note = ""  # a pass's word on what it changed, shown as the line's comment

    def reads(self) -> list[Value]:
        found: list[Value] = []
        _values_in((self.ins, self.kwargs, None if self.kind == "fwd" else self.saved), found)  # a forward makes its saved
        return found

    def reads_values(self) -> list[Value]:
        """What the instruction reads the values of (``reads()`` less what a VJP reads only the shape
        of, by its op's ``reads``); integer arrays (indices, targets) always count."""
        if self.kind != "vjp" or self.op.reads is None:
            return self.reads()
        wanted = set(self.op.reads_of(self.position) or ())
        g, y, inputs = self.ins[0], self.ins[1], self.ins[2:]
        kept = [g] + ([y] if -1 in wanted else [])
        kept += [x for i, x in enumerate(inputs) if i in wanted or (isinstance(x, Value) and x.dtype.kind != "f")]
        found: list[Value] = []
        _values_in((kept, self.kwargs, self.saved), found)
        return found

    def writes_state(self) -> bool:
        """Whether it changes something outside the program's buffers (kept by dead-code removal)."""
        if self.kind in ("leafadd", "optstep", "copyto", "random"):  # random: advances a generator
            return True
        return self.kind == "ufunc" and self.extra[2]  # in place


def _values_in(obj: Any, found: list) -> None:
    if isinstance(obj, Value):
        found.append(obj)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _values_in(x, found)
    elif isinstance(obj, dict):
        for x in obj.values():
            _values_in(x, found)


class _Prefix:
    """Names a value after another: ``scaled_dW1`` for ``0.1 * dW1`` (read when names are given)."""

    def __init__(self, prefix: str, value: Value) -> None:
        self.prefix, self.value = prefix, value

    @property
    def name(self) -> str:
        return self.value.name and self.prefix + self.value.name


class _GradState:
    """A leaf's ``.grad`` along the captured call: ``start_none`` at the start, ``current``
    the value it holds now (None: no gradient)."""

    __slots__ = ("tensor", "current", "start", "needs")

    def __init__(self, tensor: Tensor, start: Value | None) -> None:
        self.tensor, self.start, self.current = tensor, start, start
        self.needs: str | None = None  # what the program assumes at its start: "none", "set" or "any"

    def assume(self, what: str) -> None:
        """The first thing the step does with this .grad decides what the program needs at its start."""
        if self.needs is None:
            self.needs = what
