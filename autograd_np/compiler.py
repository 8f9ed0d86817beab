"""``autograd_np.compile``: a training step captured once, written out as NumPy source, replayed.

    step = autograd_np.compile(train_step)      # or @autograd_np.compile over the def
    for Xb, Yb in batches:
        loss = step(Xb, Yb)
    print(step.source())                        # forward, backward, update: one NumPy line per op

How it works (docs/compile.md has the user's view):

1. **Capture.** A call runs ``fn`` eagerly, as always, while a ``Tracer`` is switched on
   (``capture_hook._capture``): every op call (``Primitive.__call__``), every VJP the real
   backward walk runs (``graph.backprop`` hands the walk to the tracer, which runs it with
   recording VJPs), the gradient sums and the leaves' ``.grad``, and the update (NumPy on
   ``p.data`` / ``p.grad``, in-place operators under ``no_grad``, an ``optim`` optimizer's
   ``step()``) become a list of instructions on *values* (arrays, keyed by identity); each
   dropout mask is an instruction that draws a new one per call from the same generator.
2. **Check.** The first two calls of a shape are both captured; they must record the same
   program with the same constants (a mask drawn with NumPy in the step, or an array computed
   from the batch outside the ops, differs between them: never baked in). The program built from the second is then
   run on the state from before that call and must leave what eager left (bit for bit with
   ``strict=True``); eager's result is what the call returns and leaves, either way.
3. **Replay.** Later calls whose arguments have the same shapes and dtypes (and the same
   Python numbers and objects), and whose parameters still hold the same arrays, run the
   program: one Python function of NumPy calls into buffers allocated once. ``source()`` is
   that function's text. The guards and the replay itself are also written out once per
   program (``Program._write_guards``, ``Program._write_replay``), so a replay costs a few
   attribute reads besides the program.

Reading a value (``.item()``, ``bool()``, ``float()``, an ``if`` on a Tensor), hooks,
``create_graph``, ``grad()``, anomaly mode, a NumPy call the tracer cannot follow: the call
that met it finishes eagerly and the compiled function runs eagerly from then on, after one
``CompileWarning`` (``fallback="error"``: a ``CompileError`` instead).
"""
from __future__ import annotations

import builtins
import functools
import inspect
import keyword
import math
import sys
import threading
import warnings
from typing import Any, Callable

import numpy as np

from . import creation, functional, graph, kernels, lowerings, nn, optim  # noqa: F401 (lowerings: registers the table)
from .anomaly import _anomaly
from .capture_hook import _capture
from .grad_mode import _mode
from .node import _last_change, mark_changed, next_stamp, version_of
from .primitives import Primitive
from .tensor_type import Tensor

__all__ = ["compile", "capture", "CompiledFunction", "CompileWarning", "CompileError", "PASSES"]

#: The rewrites ``compile`` applies unless ``strict=True``, in order; turn one off with
#: ``compile(fn, passes={"linear": False})``. Each one's gain is in benchmarks/README.md.
PASSES = ("linear", "cross_entropy", "dead_code", "learning_rate", "embedding_onehot", "buffer_sharing")


class CompileWarning(UserWarning):
    """A compiled function fell back to running eagerly (the message says why)."""


class CompileError(RuntimeError):
    """``fallback="error"``: a step that cannot be compiled (the message says why)."""


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


# ----------------------------------------------------------------------------
# Arrays that record the NumPy run on them (what .data and .grad return while capturing)
# ----------------------------------------------------------------------------
class Traced(np.ndarray):
    """A view of a Tensor's ``.data`` or ``.grad`` handed out during a capture: ufuncs on it
    are recorded; reading its values (``float``, ``bool``, indexing) stops the capture."""

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, out: Any = None, **kwargs: Any) -> Any:
        if any(hasattr(type(x), "__array_ufunc__") and not isinstance(x, np.ndarray) for x in inputs):
            return NotImplemented  # a Tensor operand: NumPy hands the call to Tensor.__array_ufunc__ (x @ W)
        tracer = _capture.tracer
        if isinstance(tracer, Tracer):
            return tracer.ufunc_call(ufunc, method, inputs, out, kwargs)
        return _plain_ufunc(ufunc, method, inputs, out, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if any(not issubclass(t, np.ndarray) for t in types):
            return NotImplemented  # a Tensor among the arguments: Tensor.__array_function__ runs
        tracer = _capture.tracer
        if isinstance(tracer, Tracer):
            if func is np.copyto and "where" not in kwargs:
                return tracer.copyto_call(*args, **kwargs)
            tracer.fail(f"numpy.{func.__name__} on a .data or .grad array")
        return func(*_raw(args), **_raw(kwargs))

    def copy(self, order: str = "C") -> np.ndarray:
        tracer = _capture.tracer
        if isinstance(tracer, Tracer) and order in ("C", "K", "A"):
            return tracer.ufunc_call(np.positive, "__call__", (self,), None, {})  # +x: the values, copied
        return self.view(np.ndarray).copy(order)

    def _read(self, what: str) -> np.ndarray:
        tracer = _capture.tracer
        if isinstance(tracer, Tracer):
            tracer.fail(f"{what} of a .data or .grad array reads its values")
        return self.view(np.ndarray)

    def __bool__(self) -> bool:
        return bool(self._read("bool()"))

    def __float__(self) -> float:
        return float(self._read("float()"))

    def __int__(self) -> int:
        return int(self._read("int()"))

    def __index__(self) -> int:
        return self._read("using as an index").__index__()

    def item(self, *args: Any) -> Any:
        return self._read(".item()").item(*args)

    def tolist(self) -> Any:
        return self._read(".tolist()").tolist()

    def __getitem__(self, index: Any) -> Any:
        return self._read("indexing").__getitem__(index)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._read("assigning into an index").__setitem__(index, _raw(value))


def _raw(obj: Any) -> Any:
    if isinstance(obj, Traced):
        return obj.view(np.ndarray)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_raw(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _raw(v) for k, v in obj.items()}
    return obj


def _plain_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, out: Any, kwargs: dict) -> Any:
    if out is not None:
        kwargs = {**kwargs, "out": _raw(out)}
    result = getattr(ufunc, method)(*_raw(inputs), **kwargs)
    return out[0] if out is not None and len(out) == 1 else result


# ----------------------------------------------------------------------------
# The tracer: records one call of the step
# ----------------------------------------------------------------------------
_ORIGINALS: dict[tuple[Any, str], Any] = {}
_ORIGINALS_KEPT = {"dropout_mask": functional.dropout_mask}  # what a program calls (never the capture's patch)


class Tracer:
    """Records the ops, VJPs and update of one eager call (``start`` ... ``stop``)."""

    def __init__(self) -> None:
        self.values: dict[int, Value] = {}  # id(array) -> Value; every array is kept alive in `keep`
        self.keep: list[Any] = []
        self.instrs: list[Instr] = []
        self.phase = "forward"
        self.failure: str | None = None
        self.tensors: dict[int, Value] = {}  # id(external Tensor) -> its Value
        self.grads: dict[int, _GradState] = {}
        self.optimizers: dict[int, Any] = {}
        self.foreign: list[Value] = []  # const values, in order of first use (compared between captures)
        self.literals: list[Any] = []  # Python numbers the ops and ufuncs got (compared between captures)
        self.before: dict[int, tuple] = {}  # state before the call, for the check against eager
        self.saved_vjps: list[Primitive] = []
        self.made: set[int] = set()  # ids of Tensors created during the call (kept alive in `keep`)
        self.patched = False
        self.layouts: dict[tuple, Value] = {}  # (address, shape, strides, dtype) -> the first Value there
        self.contiguous: dict[tuple, Value] = {}  # (address, size, dtype) -> a C-contiguous argument there
        self.modules: dict[int, Any] = {}  # id -> every nn.Module called during the step (its mode is guarded)
        self.generators: dict[int, tuple] = {}  # id -> (generator, its state before the call's first draw)

    # ----- switching on and off ------------------------------------------------------
    def start(self) -> "Tracer":
        if _anomaly.enabled:
            self.failure = "anomaly mode is on"
            return self
        _capture.tracer = self
        _patch(self)
        self.patched = True
        return self

    def stop(self) -> None:
        if _capture.tracer is self:
            _capture.tracer = None
        if self.patched:
            self.patched = False
            _unpatch()
        self._restore_vjps()

    def fail(self, reason: str) -> None:
        """Stop recording: the rest of the call runs eagerly, and the step will not compile."""
        if self.failure is None:
            self.failure = reason
        self.stop()

    # ----- values ----------------------------------------------------------------------
    def register(self, array: Any, value: Value) -> Value:
        self.values[id(array)] = value
        self.keep.append(array)
        if isinstance(array, np.ndarray) and array.size:
            self.layouts.setdefault(_layout(array), value)
            if array.flags.c_contiguous and value.kind == "input":
                self.contiguous.setdefault(_extent(array), value)
        return value

    def temp(self, array: Any, hint: str) -> Value:
        return self.register(array, Value("temp", array, hint))

    def operand(self, x: Any) -> Any:
        """The Value (or Python constant) an argument stands for."""
        if isinstance(x, Tensor):
            v = self.values.get(id(x._data))
            return v if v is not None else self.external(x)
        if isinstance(x, np.ndarray):
            v = self.values.get(id(x))
            if v is not None:
                return v
            v = self.same_as_known(x)
            if v is not None:
                return v
            if isinstance(x, Traced):
                raise _Failed("a view or copy of an argument, .data or .grad (reshape, .T, copy, slicing)")
            v = self.register(x, Value("const", x, "const"))
            self.foreign.append(v)
            v.array = x.copy()  # the values this capture saw (compared with the other capture's)
            v.tensor = x  # the array itself: a constant is read live, like a parameter
            return v
        if isinstance(x, (list, tuple)):
            return type(x)(self.operand(y) for y in x)
        if isinstance(x, dict):
            return {k: self.operand(y) for k, y in x.items()}
        if isinstance(x, (bool, int, float, complex, np.generic)):
            self.literals.append(x)
        return x

    def same_as_known(self, x: np.ndarray) -> Value | None:
        """The Value of a known array that ``x`` is a plain view of (``np.asarray`` of an argument,
        a Tensor wrapping it): the same memory, shape, strides and dtype; or, for a C-contiguous
        view of all of a known C-contiguous array in another shape (``targets.reshape(-1)``), a
        reshape instruction of it."""
        if not x.size or x.base is None:
            return None
        v = self.layouts.get(_layout(x))
        if v is not None:
            self.register(x, v)
            return v
        whole = self.contiguous.get(_extent(x)) if x.flags.c_contiguous else None
        if whole is None:
            return None
        v = self.temp(x, whole.hint)
        self.instrs.append(Instr("view", [v], [whole], self.phase, extra=tuple(x.shape)))
        return v

    def external(self, t: Tensor) -> Value:
        v = self.tensors.get(id(t))
        if v is None and id(t) in self.made:  # made during the step, not by an op: a constant of this call
            return self.operand(t._data)
        if v is None:
            v = self.tensors[id(t)] = self.register(t._data, Value("tensor", t._data, "p", tensor=t))
            self.keep.append(t)
            self.remember(t)
        return v

    def remember(self, t: Tensor) -> None:
        """The tensor's values and gradient before the call touched it (for the check)."""
        if id(t) not in self.before:
            g = t._grad
            self.before[id(t)] = (t, t._data, t._data.copy(), g, None if g is None else g.copy())

    def grad_state(self, t: Tensor) -> _GradState:
        state = self.grads.get(id(t))
        if state is None:
            self.external(t)
            start = None
            if t._grad is not None:
                start = self.register(t._grad, Value("grad", t._grad, "grad", tensor=t))
            state = self.grads[id(t)] = _GradState(t, start)
        return state

    # ----- forward ---------------------------------------------------------------------
    def op_call(self, op: Primitive, args: tuple, kwargs: dict) -> Any:
        _capture.tracer = None  # the op's own machinery (and ops it calls) are not recorded
        try:
            result = op(*_raw(args), **_raw(kwargs))  # plain arrays: the op runs exactly as in eager
        finally:
            _capture.tracer = self
        try:
            self._record_op(op, args, kwargs, result)
        except _Failed as why:
            self.fail(str(why))
        return result

    def _record_op(self, op: Primitive, args: tuple, kwargs: dict, result: Any) -> None:
        if _anomaly.enabled:
            raise _Failed("anomaly mode is on")
        ins, kw = self.operand(list(args)), self.operand(dict(kwargs))
        out = result._data if isinstance(result, Tensor) else result
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        saved = None
        if op.saves:
            node = result._node if isinstance(result, Tensor) else None
            saved = node.saved if node is not None else op.forward(*_raw(_arrays(args)), **kwargs)[1]
        outv = self.temp(out, _HINTS.get(op.name, op.name))
        savedv = None if saved is None else self.temp(saved, "probs" if op.name == "cross_entropy" else op.name + "_saved")
        self.instrs.append(Instr("fwd", [outv], ins, self.phase, op=op, kwargs=kw, saved=savedv))

    # ----- backward --------------------------------------------------------------------
    def backprop(self, roots: Any, seeds: Any, targets: Any, create_graph: bool, retain_graph: bool) -> Any:
        if targets is not None or create_graph:
            self.fail("grad() or create_graph=True" if create_graph else "autograd_np.grad() inside the step")
            return graph.backprop(roots, seeds, targets=targets, create_graph=create_graph, retain_graph=retain_graph)
        order, _ = graph.walk_order(roots)
        if any(t._hooks is not None and (t._hooks.hooks or t._hooks.retain) for t in order):
            self.fail("a hook or retain_grad() on a tensor of the graph")
            return graph.backprop(roots, seeds, retain_graph=retain_graph)
        walk = _Walk(self, order)
        for leaf in order:
            if leaf._node is None:
                self.grad_state(leaf)  # what .grad held before this walk
        for root, seed in zip(roots, seeds):
            seed_value = self.operand(seed)
            if isinstance(seed_value, Value) and seed_value.kind == "const":
                seed_value.grad_of = self.values.get(id(root._data))
            walk.partials.setdefault(id(root), []).append(seed_value)
        self.phase = "backward"
        self._install_vjps(walk, order)
        _capture.tracer = None
        try:
            result = graph.backprop(roots, seeds, retain_graph=retain_graph)
        finally:
            self._restore_vjps()
            if self.failure is None:
                _capture.tracer = self
        if self.failure is None:
            try:
                walk.leaf_gradients()
            except _Failed as why:
                self.fail(str(why))
        self.phase = "update"
        return result

    def _install_vjps(self, walk: "_Walk", order: list) -> None:
        _capture.walk = walk
        for op in {t._node.op for t in order if t._node is not None}:
            _install_recorder(op)
            self.saved_vjps.append(op)

    def _restore_vjps(self) -> None:
        _capture.walk = None
        while self.saved_vjps:
            _remove_recorder(self.saved_vjps.pop())

    # ----- update ----------------------------------------------------------------------
    def ufunc_call(self, ufunc: np.ufunc, method: str, inputs: tuple, out: Any, kwargs: dict) -> Any:
        try:
            if method not in ("__call__", "reduce") or "where" in kwargs:
                raise _Failed(f"numpy.{ufunc.__name__}.{method} on a .data or .grad array")
            ins = [self.operand(x) for x in inputs]
            kw = self.operand(dict(kwargs))
            targets = None if out is None else [self.write_target(o) for o in out]
        except _Failed as why:
            self.fail(str(why))
            return _plain_ufunc(ufunc, method, inputs, out, kwargs)
        result = _plain_ufunc(ufunc, method, inputs, out, kwargs)
        if targets is not None:
            self.instrs.append(Instr("ufunc", targets, ins, self.phase, kwargs=kw, extra=(ufunc, method, True)))
            return result
        array = np.asarray(result)
        traced = array.view(Traced)
        v = self.temp(array, {"multiply": "scaled", "positive": "copy"}.get(ufunc.__name__, ufunc.__name__))
        first = next((x for x in ins if isinstance(x, Value)), None)
        v.grad_of = None if first is None else _Prefix(v.hint + "_", first)
        self.register(traced, v)
        self.instrs.append(Instr("ufunc", [v], ins, self.phase, kwargs=kw, extra=(ufunc, method, False)))
        return traced

    def write_target(self, array: Any) -> Value:
        v = self.values.get(id(array))
        if v is None:
            raise _Failed("a NumPy call writes into an array the capture did not see made "
                          "(a module buffer such as BatchNorm's running statistics?)")
        return v

    def copyto_call(self, dst: Any, src: Any, casting: str = "same_kind") -> None:
        try:
            target, source = self.write_target(dst), self.operand(src)
        except _Failed as why:
            self.fail(str(why))
            return np.copyto(_raw(dst), _raw(src), casting=casting)
        np.copyto(_raw(dst), _raw(src), casting=casting)
        self.instrs.append(Instr("copyto", [target], [source], self.phase, kwargs={"casting": casting}))

    def optimizer_step(self, opt: Any) -> None:
        entries = []
        for p in opt._params():
            grad = None
            if p._grad is not None or id(p) in self.grads:
                state = self.grad_state(p)
                grad = state.current
                if grad is not None and grad is state.start:
                    state.assume("set")
            entries.append((p, self.external(p), grad))
        if id(opt) not in self.optimizers:
            self.optimizers[id(opt)] = opt
            self.before[id(opt)] = (opt, opt.step_count, [{k: a.copy() for k, a in s.items()} for s in opt.state])
        _capture.tracer = None
        try:
            _ORIGINALS[(optim.Optimizer, "step")](opt)
        finally:
            _capture.tracer = self
        state = [dict(s) for s in opt.state]
        self.instrs.append(Instr("optstep", [], [g for _, _, g in entries if g is not None], self.phase,
                                 extra=(opt, entries, state)))

    def dropout_mask(self, rng: Any, shape: tuple, p: float, dtype: Any) -> np.ndarray:
        """A dropout mask, drawn as eager draws it and recorded as an instruction that draws a new one
        from the same generator at every replay (never a constant of the program)."""
        if isinstance(rng, np.random.Generator) or rng is None:
            generator = rng if rng is not None else creation.default_generator()
            if id(generator) not in self.generators:
                self.generators[id(generator)] = (generator, generator.bit_generator.state)
        mask = _ORIGINALS[(functional, "dropout_mask")](rng, shape, p, dtype)
        v = self.temp(mask, "mask")
        self.literals.append(p)
        self.instrs.append(Instr("random", [v], [], self.phase, extra=(rng, tuple(shape), p, np.dtype(dtype))))
        return mask

    # ----- the result ------------------------------------------------------------------
    def signature(self) -> tuple:
        """What two captures of the same step must agree on (shapes, ops, numbers, constants)."""
        ops = tuple((i.kind, getattr(i.op, "name", None), i.position,
                     tuple(v.shape for v in i.outs)) for i in self.instrs)
        return ops, tuple(repr(x) for x in self.literals)


_HINTS = {"linear": "z", "matmul": "xw", "reshape": "x", "add": "z", "getitem": "emb", "tanh": "h", "relu": "h",
          "sigmoid": "s", "log_softmax": "logp"}


def _extent(a: np.ndarray) -> tuple:
    """Where a C-contiguous array's elements lie: two such arrays with the same extent hold the same values."""
    return (a.__array_interface__["data"][0], a.size, a.dtype.str)


def _layout(a: np.ndarray) -> tuple:
    """Where and how an array lies in memory: two arrays with the same layout hold the same values."""
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _arrays(args: tuple) -> list:
    return [a._data if isinstance(a, Tensor) else a for a in args]


class _Walk:
    """The gradients one backward walk passes around: partial gradients per tensor, summed
    (in the walk's order, as ``graph.accumulate`` does) when a VJP or a leaf takes them."""

    def __init__(self, tracer: Tracer, order: list) -> None:
        self.tracer, self.order = tracer, order
        self.made = {id(t._data): t for t in order if t._node is not None}
        self.partials: dict[int, list] = {}

    def gradient(self, t: Tensor, g: Any) -> Value:
        v = self.tracer.values.get(id(g))
        if v is not None:
            return v
        parts = self.partials.get(id(t), [])
        if len(parts) < 2:
            raise _Failed("the backward walk passed a gradient the capture cannot follow")
        return self.summed(t, parts, g)

    def summed(self, t: Tensor, parts: list, total: Any) -> Value:
        v = self.tracer.temp(total, "grad")
        v.grad_of = self.tracer.values.get(id(t._data))
        self.tracer.instrs.append(Instr("acc", [v], list(parts), "backward"))
        return v

    def record(self, op: Primitive, i: int, g: Any, y: Any, inputs: tuple, kwargs: dict, result: Any) -> None:
        t = self.made.get(id(y))
        if t is None or result is None:
            if t is None:
                raise _Failed("a VJP ran on an output the capture did not record")
            return
        tracer = self.tracer
        gv, yv = self.gradient(t, g), tracer.values.get(id(y))
        if yv is None:
            raise _Failed("backward through a graph recorded before the step")
        arg = t._node.args[i]
        rv = tracer.values.get(id(result))
        if rv is None:
            kw = tracer.operand({k: v for k, v in kwargs.items() if k != "saved"})
            saved = tracer.values.get(id(kwargs["saved"])) if "saved" in kwargs else None
            rv = tracer.temp(result, "grad")
            rv.grad_of = tracer.operand(arg)
            tracer.instrs.append(Instr("vjp", [rv], [gv, yv, *tracer.operand(list(inputs))], "backward",
                                       op=op, position=i, kwargs=kw, saved=saved))
        self.partials.setdefault(id(arg), []).append(rv)

    def leaf_gradients(self) -> None:
        """``leaf.grad`` = a copy of the sum (no gradient before), or ``+=`` it (``accumulate_into_leaf``)."""
        tracer = self.tracer
        for t in self.order:
            parts = self.partials.get(id(t))
            if t._node is not None or not parts:
                continue
            total = parts[0] if len(parts) == 1 else self.summed(t, parts, t._grad)
            state = tracer.grad_state(t)
            if state.current is None:
                state.assume("none")
                if total.dtype != t._data.dtype:
                    cast = tracer.temp(t._grad, "grad")
                    tracer.instrs.append(Instr("cast", [cast], [total], "backward", extra=t._data.dtype))
                    total = cast
                state.current = total
            else:
                state.assume("set")
                tracer.instrs.append(Instr("leafadd", [state.current], [state.current, total], "backward"))
            tracer.values[id(t._grad)] = state.current
            tracer.keep.append(t._grad)


class _RecordingVJPs:
    """Stands in for an op's ``array_vjps`` while a walk is captured: in the capturing thread
    each VJP runs and is recorded; in any other thread it just runs."""

    def __init__(self, op: Primitive, vjps: Any) -> None:
        self.op, self.vjps = op, vjps

    def __getitem__(self, i: int) -> Callable:
        vjp = self.vjps[i]
        walk = _capture.walk
        if walk is None:
            return vjp

        def recorded(g: Any, y: Any, *inputs: Any, **kwargs: Any) -> Any:
            result = vjp(g, y, *inputs, **kwargs)
            if walk.tracer.failure is None:
                try:
                    walk.record(self.op, i, g, y, inputs, kwargs, result)
                except _Failed as why:
                    walk.tracer.fail(str(why))
            return result

        return recorded


_RECORDERS: dict[int, list] = {}  # id(op) -> [walks using it, the op's own array_vjps]
_RECORDERS_LOCK = threading.Lock()


def _install_recorder(op: Primitive) -> None:
    with _RECORDERS_LOCK:
        entry = _RECORDERS.get(id(op))
        if entry is None:
            _RECORDERS[id(op)] = [1, op.array_vjps]
            op.array_vjps = _RecordingVJPs(op, op.array_vjps)
        else:
            entry[0] += 1


def _remove_recorder(op: Primitive) -> None:
    with _RECORDERS_LOCK:
        entry = _RECORDERS[id(op)]
        entry[0] -= 1
        if entry[0] == 0:
            op.array_vjps = entry[1]
            del _RECORDERS[id(op)]


# ----------------------------------------------------------------------------
# Patches in force while capturing (none of this costs anything outside a capture)
# ----------------------------------------------------------------------------
def _tracer_of_this_thread() -> Tracer | None:
    tracer = _capture.tracer
    return tracer if isinstance(tracer, Tracer) else None


def _get_data(t: Tensor) -> np.ndarray:
    tracer = _tracer_of_this_thread()
    data = _ORIGINALS[(Tensor, "data")].fget(t)
    if tracer is None:
        return data
    value = tracer.operand(t)
    view = t._data.view(Traced)
    view.flags.writeable = data.flags.writeable
    tracer.register(view, value)
    return view


def _set_data(t: Tensor, value: Any) -> None:
    tracer = _tracer_of_this_thread()
    if tracer is not None and isinstance(value, Traced) and tracer.values.get(id(value)) is tracer.values.get(id(t._data)):
        mark_changed(t)  # `t.data op= ...`: written in place, and recorded
        return
    if tracer is not None:
        tracer.fail("assigning a new array to .data (write into it instead: p.data -= ...)")
    _ORIGINALS[(Tensor, "data")].fset(t, _raw(value))


def _get_grad(t: Tensor) -> Any:
    tracer = _tracer_of_this_thread()
    g = t._grad
    if tracer is None or g is None:
        return g
    state = tracer.grad_state(t)
    if state.current is None:
        tracer.fail(".grad changed in a way the capture did not follow")
        return g
    state.assume("set")
    view = g.view(Traced)
    tracer.register(view, state.current)
    return view


def _set_grad(t: Tensor, value: Any) -> None:
    tracer = _tracer_of_this_thread()
    if tracer is not None:
        if value is None:
            state = tracer.grad_state(t)
            state.assume("any")
            state.current = None
        else:
            tracer.fail("assigning an array to .grad")
    t._set_grad(_raw(value))


def _value_read(name: str) -> Callable:
    original = getattr(Tensor, name)

    @functools.wraps(original)
    def read(t: Tensor, *args: Any, **kwargs: Any) -> Any:
        tracer = _tracer_of_this_thread()
        if tracer is not None:
            what = {"__bool__": "bool() or an if on a Tensor", "__float__": "float()", "__int__": "int()",
                    "__array__": "NumPy reading a Tensor", "register_hook": "register_hook",
                    "retain_grad": "retain_grad()"}.get(name, f".{name}()")
            tracer.fail(f"{what} during the step (a value read, or a hook)")
        return original(t, *args, **kwargs)

    return read


def _in_place(t: Tensor, op: Any, other: Any, symbol: str, index: Any = None) -> Tensor:
    tracer = _tracer_of_this_thread()
    original = _ORIGINALS[(Tensor, "_in_place")]
    other_tensor = isinstance(other, Tensor)
    recording = _mode.enabled and (t._requires_grad or (other_tensor and other._requires_grad))
    if tracer is None or recording or index is not None or not t._data.flags.writeable:
        if tracer is not None:
            tracer.fail(f"an in-place {symbol} on a Tensor while recording (or into an index)")
        return original(t, op, other, symbol, index)
    mine = _get_data(t)
    theirs = _get_data(other) if other_tensor else other
    np.copyto(mine, op(mine, theirs), casting="same_kind")
    mark_changed(t)
    return t


def _made_init(t: Tensor, *args: Any, **kwargs: Any) -> None:
    _ORIGINALS[(Tensor, "__init__")](t, *args, **kwargs)
    tracer = _tracer_of_this_thread()
    if tracer is not None:
        tracer.made.add(id(t))
        tracer.keep.append(t)


def _made_of(cls: type, data: np.ndarray, node: Any = None) -> Tensor:
    t = _ORIGINALS[(Tensor, "_of")].__func__(cls, data, node)
    tracer = _tracer_of_this_thread()
    if tracer is not None:
        tracer.made.add(id(t))
        tracer.keep.append(t)
    return t


def _module_call(module: Any, *args: Any, **kwargs: Any) -> Any:
    tracer = _tracer_of_this_thread()
    if tracer is not None:
        tracer.modules[id(module)] = module  # a module without parameters (Dropout) is guarded too
    return _ORIGINALS[(nn.Module, "__call__")](module, *args, **kwargs)


def _dropout_mask(rng: Any, shape: tuple, p: float, dtype: Any) -> np.ndarray:
    tracer = _tracer_of_this_thread()
    if tracer is None:
        return _ORIGINALS[(functional, "dropout_mask")](rng, shape, p, dtype)
    return tracer.dropout_mask(rng, shape, p, dtype)


def _optimizer_step(opt: Any) -> None:
    tracer = _tracer_of_this_thread()
    if tracer is None:
        return _ORIGINALS[(optim.Optimizer, "step")](opt)
    return tracer.optimizer_step(opt)


_VALUE_READS = tuple(name for name in ("item", "__bool__", "__float__", "__int__", "__index__", "tolist",
                                        "__array__", "register_hook", "retain_grad") if name in Tensor.__dict__)


_PATCHES = {"users": 0, "lock": threading.Lock()}


def _patch(tracer: Tracer) -> None:
    """Install the capture's versions of .data, .grad, the value reads and Optimizer.step (each
    checks that this thread is capturing, else does what the original does); counted, so two
    threads capturing at once keep them until both are done."""
    with _PATCHES["lock"]:
        _PATCHES["users"] += 1
        if _ORIGINALS:
            return
        for name in ("data", "grad", "_in_place", "__init__", "_of", *_VALUE_READS):
            _ORIGINALS[(Tensor, name)] = Tensor.__dict__[name]
        _ORIGINALS[(optim.Optimizer, "step")] = optim.Optimizer.__dict__["step"]
        Tensor.data = property(_get_data, _set_data, doc=Tensor.data.__doc__)
        Tensor.grad = property(_get_grad, _set_grad, doc=Tensor.grad.__doc__)
        Tensor._in_place = _in_place
        Tensor.__init__ = _made_init
        Tensor._of = classmethod(_made_of)
        for name in _VALUE_READS:
            setattr(Tensor, name, _value_read(name))
        optim.Optimizer.step = _optimizer_step
        _ORIGINALS[(functional, "dropout_mask")] = functional.dropout_mask
        functional.dropout_mask = _dropout_mask
        _ORIGINALS[(nn.Module, "__call__")] = nn.Module.__dict__["__call__"]
        nn.Module.__call__ = _module_call


def _unpatch() -> None:
    with _PATCHES["lock"]:
        if _PATCHES["users"] == 0:
            return
        _PATCHES["users"] -= 1
        if _PATCHES["users"]:
            return
        for (cls, name), original in _ORIGINALS.items():
            setattr(cls, name, original)
        _ORIGINALS.clear()


# ----------------------------------------------------------------------------
# Passes: named rewrites of the instruction list (strict=True runs none)
# ----------------------------------------------------------------------------
def _readers(instrs: list[Instr]) -> dict[int, list[Instr]]:
    found: dict[int, list[Instr]] = {}
    for instr in instrs:
        for v in instr.reads():
            found.setdefault(id(v), []).append(instr)
    return found


def fuse_linear(instrs: list[Instr], keep: set[int]) -> list[Instr]:
    """``x @ W + b`` (matmul then add of a bias vector) -> one ``linear``; their VJPs -> linear's."""
    from . import ops

    readers = _readers(instrs)
    dropped: set[int] = set()
    for m in instrs:
        if m.kind != "fwd" or m.op is not ops.matmul or len(m.ins) != 2:
            continue
        t = m.outs[0]
        x, w = m.ins
        users = readers.get(id(t), [])
        adds = [u for u in users if u.kind == "fwd" and u.op is ops.add and u.ins[0] is t]
        if len(adds) != 1 or id(t) in keep or not all(isinstance(v, Value) for v in (x, w, adds[0].ins[1])):
            continue
        add, b = adds[0], adds[0].ins[1]
        z = add.outs[0]
        if len(t.shape) != 2 or len(w.shape) != 2 or b.shape != (w.shape[1],) or z.shape != t.shape:
            continue
        grads = [u for u in users if u is not add]
        if not all(u.kind == "vjp" and (u.op is ops.matmul and u.ins[1] is t or u.op is ops.add and u.ins[1] is z)
                   for u in grads):
            continue
        bias_grads = [u for u in readers.get(id(z), []) if u.kind == "vjp" and u.op is ops.add and u.ins[1] is z]
        if any(u.position == 0 for u in bias_grads):
            continue
        for u in [u for u in grads if u.op is ops.matmul] + bias_grads:
            position = 2 if u.op is ops.add else u.position
            u.op, u.position, u.ins = ops.linear, position, [u.ins[0], z, x, w, b]
        add.op, add.ins = ops.linear, [x, w, b]
        dropped.add(id(m))
    return [i for i in instrs if id(i) not in dropped]


def fuse_cross_entropy(instrs: list[Instr], keep: set[int]) -> list[Instr]:
    """``-log_softmax(z)[arange(B), t].mean()`` -> one ``cross_entropy`` whose VJP is (probs - onehot)/B."""
    from . import ops

    readers = _readers(instrs)
    by_out = {id(i.outs[0]): i for i in instrs if i.kind == "fwd" and i.outs}
    dropped: set[int] = set()
    for neg in instrs:
        if neg.kind != "fwd" or neg.op is not ops.neg or not isinstance(neg.ins[0], Value):
            continue
        chain = _cross_entropy_chain(neg, by_out)
        if chain is None:
            continue
        lsm, pick, mean = chain
        z, targets, loss = lsm.ins[0], pick.kwargs["index"][1], neg.outs[0]
        middle = [lsm.outs[0], pick.outs[0], mean.outs[0]]
        if any(id(v) in keep for v in middle):
            continue
        grads = [u for v in middle for u in readers.get(id(v), []) if u.kind == "vjp"]
        grads += [u for u in readers.get(id(loss), []) if u.kind == "vjp" and u.op is ops.neg]
        users = {id(u) for v in middle for u in readers.get(id(v), [])}
        if users - {id(u) for u in grads} - {id(pick), id(mean), id(neg)}:
            continue
        final = [u for u in grads if u.op is ops.log_softmax]
        probs = Value("temp", np.empty(z.shape, z.dtype), "probs")
        neg.op, neg.ins, neg.kwargs, neg.saved = ops.cross_entropy, [z, targets], {}, probs
        if final:
            g0 = next((u.ins[0] for u in grads if u.op is ops.neg), None)
            if g0 is None:
                continue
            final[0].op, final[0].position, final[0].saved = ops.cross_entropy, 0, probs
            final[0].ins, final[0].kwargs = [g0, loss, z, targets], {}
        dropped.update(id(i) for i in (lsm, pick, mean))
        dropped.update(id(u) for u in grads if u not in final)
    return [i for i in instrs if id(i) not in dropped]


def _cross_entropy_chain(neg: Instr, by_out: dict) -> tuple | None:
    from . import ops

    mean = by_out.get(id(neg.ins[0]))
    if mean is None or mean.op is not ops.mean or mean.kwargs.get("axis") is not None or mean.kwargs.get("keepdims"):
        return None
    pick = by_out.get(id(mean.ins[0]))
    if pick is None or pick.op is not ops.getitem:
        return None
    index = pick.kwargs.get("index")
    if not (isinstance(index, tuple) and len(index) == 2 and all(isinstance(v, Value) for v in index)):
        return None
    rows, targets = index
    lsm = by_out.get(id(pick.ins[0]))
    if lsm is None or lsm.op is not ops.log_softmax or len(lsm.outs[0].shape) != 2:
        return None
    batch = lsm.outs[0].shape[0]
    if lsm.kwargs.get("axis", -1) not in (-1, 1) or rows.kind != "const" or targets.shape != (batch,):
        return None
    if not np.array_equal(rows.array, np.arange(batch)) or targets.dtype.kind not in "iu":
        return None
    return lsm, pick, mean


def remove_dead_code(instrs: list[Instr], keep: set[int]) -> list[Instr]:
    """Drop instructions whose results nothing reads (and that change no parameter or state)."""
    live = set(keep)
    kept = []
    for instr in reversed(instrs):
        if instr.writes_state() or any(id(v) in live for v in instr.outs) or instr.saved is not None and id(instr.saved) in live:
            kept.append(instr)
            live.update(id(v) for v in instr.reads())
    return kept[::-1]


def fold_learning_rate(instrs: list[Instr], keep: set[int]) -> list[Instr]:
    """``p -= lr * p.grad`` for every parameter, with one ``lr`` -> backward seeded with ``lr``
    instead of 1, and each update one subtraction ``p -= G_p``.

    Backprop is linear in its seed: each VJP is linear in G (Jᵀ G) and sums of linear maps are
    linear, so seeding the walk with lr · dL/dL makes every gradient come out times lr, which is
    what the updates subtract. Applies only when nothing else could tell: each gradient is read by
    its update alone (not kept in ``.grad``, not clipped, not returned), no ``.grad`` from before the
    call is added in, and one constant seed (``backward()``'s) starts the walk. The parameters
    differ from eager's by float32 rounding (lr is applied before the sums, not after them)."""
    produced = {id(v): instr for instr in instrs for v in instr.outs}
    readers = _readers(instrs)
    backward = [instr for instr in instrs if instr.phase == "backward"]
    seeds = {id(v): v for instr in backward for v in instr.reads() if v.kind == "const" and v.grad_of is not None}
    if len(seeds) != 1 or any(v.kind == "grad" for instr in instrs for v in instr.reads()):
        return instrs
    seed = next(iter(seeds.values()))
    if any(v is seed for instr in backward for v in instr.reads() if not any(x is seed for x in instr.ins)):
        return instrs  # read somewhere other than an instruction's direct inputs
    made_in_backward = {id(v) for instr in backward for v in instr.outs}
    updates = []
    for sub in instrs:
        if sub.kind != "ufunc" or sub.extra != (np.subtract, "__call__", True) or len(sub.ins) != 2 or sub.kwargs:
            continue
        p, scaled = sub.ins
        mul = produced.get(id(scaled))
        if p is not sub.outs[0] or mul is None or mul.kind != "ufunc" or mul.extra != (np.multiply, "__call__", False):
            continue
        if mul.kwargs or len(mul.ins) != 2 or readers.get(id(scaled)) != [sub] or id(scaled) in keep:
            continue
        lr, g = mul.ins if isinstance(mul.ins[1], Value) else mul.ins[::-1]
        if (not isinstance(lr, (int, float, np.integer, np.floating)) or isinstance(lr, bool) or not math.isfinite(lr)
                or not isinstance(g, Value) or id(g) not in made_in_backward or readers.get(id(g)) != [mul]):
            continue
        updates.append((sub, mul, lr, g))
    if not updates or len({float(lr) for _, _, lr, _ in updates}) != 1 or float(updates[0][2]) == 0:
        return instrs
    muls = {id(mul) for _, mul, _, _ in updates}
    outside = [v for instr in instrs if instr.phase != "backward" and id(instr) not in muls for v in instr.reads()]
    if keep & made_in_backward or any(id(v) in made_in_backward or v is seed for v in outside):
        return instrs  # a gradient (or the seed) seen by something other than its update
    lr = updates[0][2]
    lr_seed = Value("const", np.asarray(seed.tensor * lr, dtype=seed.dtype), "lr_seed")  # lr · seed, as eager rounds lr
    lr_seed.tensor = lr_seed.array
    lr_seed.grad_of = _Prefix("lr_d", seed.grad_of) if isinstance(seed.grad_of, Value) else None
    for instr in backward:
        instr.ins = [lr_seed if x is seed else x for x in instr.ins]
    for k, (sub, _, _, g) in enumerate(updates):
        sub.ins = [sub.ins[0], g]
        sub.note = f"p -= lr dp, lr = {lr!r} came in with the seed (backprop is linear in it)" if k == 0 else "p -= lr dp"
    return [instr for instr in instrs if id(instr) not in muls]


_PASS_FUNCTIONS = {"linear": fuse_linear, "cross_entropy": fuse_cross_entropy, "dead_code": remove_dead_code,
                   "learning_rate": fold_learning_rate}


def share_buffers(e: "Emitter", instrs: list[Instr], keep: set[int]) -> None:
    """Buffer sharing: a temp whose buffer is first written after another temp of its shape and dtype
    was last used takes that one's buffer (the same array under both names). A value bound without
    a buffer of its own (a reshape, an opaque call's result) may be a view of what its instruction
    read, so those stay alive as long as it does; a returned or kept value lives to the end."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    made: list[tuple[int, list, list]] = []
    for k, instr in enumerate(instrs):
        produced = list(instr.outs) + ([instr.saved] if instr.kind == "fwd" and instr.saved is not None else [])
        read = instr.reads_values()
        for v in produced:
            first.setdefault(id(v), k)
            last[id(v)] = max(last.get(id(v), k), k)
        for v in read:
            last[id(v)] = k
        made.append((k, produced, read))
    for key in keep:
        last[key] = len(instrs)
    for k, produced, read in reversed(made):  # views keep what they may view alive
        for b in produced:
            if id(b) not in e.buffered:
                for u in read:
                    last[id(u)] = max(last.get(id(u), k), last.get(id(b), k))
    free: dict[tuple, list] = {}
    pending: list[tuple[int, tuple, np.ndarray]] = []  # (last use, kind, array)
    for v in sorted(e.buffered.values(), key=lambda v: first.get(id(v), 0)):
        start = first.get(id(v), 0)
        for entry in [p for p in pending if p[0] < start]:
            pending.remove(entry)
            free.setdefault(entry[1], []).append(entry[2])
        kind = (v.shape, v.dtype.str)
        if free.get(kind):
            e.ns[v.name] = free[kind].pop()
        pending.append((last.get(id(v), len(instrs)), kind, e.ns[v.name]))


# ----------------------------------------------------------------------------
# Writing the program out: names, then one or a few NumPy lines per instruction
# ----------------------------------------------------------------------------
_RESERVED = {"np", "kernels", "math", "step", "self", "lr", "t"}


class Emitter:
    """Builds the program's source and the namespace it runs in (buffers, parameters, callables).
    The lowerings (``lowerings.py``) call ``buf``, ``scratch``, ``const`` and ``expr``."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"np": np, "kernels": kernels, "math": math}
        self.taken = set(self.ns) | _RESERVED
        self.allocated: set[str] = set()
        self.passes: set[str] = set()
        self.cache: dict[Any, str] = {}
        self.readers: dict[int, int] = {}  # id(Value) -> instructions reading it (2 more if returned)
        self.buffered: dict[int, Value] = {}  # the temps given a buffer of their own, by id
        self.views: dict[str, tuple[str, str]] = {}  # name -> (array, suffix): views made once (make_views)
        self.checked: set[int] = set()  # index arrays a forward line indexed with (NumPy raised there if out of range)

    def only_reader(self, v: Any) -> bool:
        """Whether one instruction (the one being lowered) is all that reads ``v``: it may write into it."""
        return self.readers.get(id(v), 0) == 1

    def cached(self, key: Any, make: Callable[[], Any], hint: str) -> str:
        """A constant made once per program (``np.arange(B)`` for several lowerings, say)."""
        if key not in self.cache:
            self.cache[key] = self.const(make(), hint)
        return self.cache[key]

    def unique(self, hint: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in hint) or "v"
        if base[0].isdigit():
            base = "v" + base
        name, n = base, 1
        while name in self.taken or hasattr(builtins, name) or keyword.iskeyword(name):
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def buf(self, v: Value) -> str:
        """``v``'s buffer, allocated once (a temp written with ``out=``)."""
        if v.kind == "temp" and v.name not in self.allocated:
            self.allocated.add(v.name)
            self.ns[v.name] = np.empty(v.shape, v.dtype)
            self.buffered[id(v)] = v
        return v.name

    def lasting(self, v: Any) -> bool:
        """Whether ``v`` names the same array at every call: a parameter, a constant, a buffer, or a
        view made once of one (a scratch or constant's name, given as a string, always does)."""
        if isinstance(v, str):
            return True
        return v.kind in ("tensor", "const") or v.name in self.allocated or v.name in self.views

    def view(self, v: Any, suffix: str, hint: str) -> str:
        """``v`` + ``suffix`` (``.T``, ``.reshape(-1)``, ``[:, None]``): made once, after the buffers
        are final (``make_views``), when ``v`` is the same array every call; else written per call."""
        base = v if isinstance(v, str) else v.name
        if not self.lasting(v):
            return base + suffix
        key = ("view", base, suffix)
        if key not in self.cache:
            self.cache[key] = self.unique(hint)
            self.views[self.cache[key]] = (base, suffix)
        return self.cache[key]

    def bind_view(self, y: Value, x: Value, suffix: str) -> list[str]:
        """``y = x`` + ``suffix`` as a view made once when x lasts (the line stays, as a comment), else per call."""
        if not self.lasting(x):
            return [f"{y} = {x}{suffix}"]
        self.views[y.name] = (x.name, suffix)
        return [f"# {y} = {x}{suffix}: " + ("a view, made once" if suffix else "the same buffer")]

    def make_views(self) -> None:
        for name, (base, suffix) in self.views.items():
            self.ns[name] = eval(base + suffix, {}, self.ns)  # noqa: S307 (suffixes written by the lowerings)

    def scratch(self, shape: tuple, dtype: Any, hint: str) -> str:
        name = self.unique(hint)
        self.ns[name] = np.empty(shape, dtype)
        return name

    def const(self, value: Any, hint: str) -> str:
        for name, held in self.ns.items():
            if held is value and name not in self.allocated:
                return name
        name = self.unique(hint)
        self.ns[name] = value
        return name

    def expr(self, obj: Any) -> str:
        """Source text for an argument: a Value's name, a literal, or a constant of the namespace."""
        if isinstance(obj, Value):
            return obj.name
        if obj is None or obj is Ellipsis or isinstance(obj, (bool, int, str)):
            return "..." if obj is Ellipsis else repr(obj)
        if isinstance(obj, float):
            return repr(obj) if np.isfinite(obj) else f"float({str(obj)!r})"
        if isinstance(obj, tuple):
            inner = ", ".join(self.expr(x) for x in obj)
            return f"({inner},)" if len(obj) == 1 else f"({inner})"
        if isinstance(obj, list):
            return "[" + ", ".join(self.expr(x) for x in obj) + "]"
        if isinstance(obj, slice):
            return f"slice({self.expr(obj.start)}, {self.expr(obj.stop)}, {self.expr(obj.step)})"
        if isinstance(obj, np.dtype):
            return f"np.{obj.name}" if hasattr(np, obj.name) else self.const(obj, "dtype")
        return self.const(obj, "c")

    def kwargs(self, kwargs: dict) -> str:
        return "".join(f", {k}={self.expr(v)}" for k, v in kwargs.items())

    def call_opaque(self, fn: Any, hint: str, outs: str, args: list, kwargs: dict) -> list[str]:
        name = self.const(fn, hint)
        return [f"{outs} = {name}({', '.join(self.expr(a) for a in args)}{self.kwargs(kwargs)})"]


def _first_line(op: Primitive) -> str:
    doc = (op.__doc__ or "").strip().splitlines()
    return doc[0].split("  (")[0].strip() if doc else op.name


def _rule_for(op: Primitive, position: int) -> str:
    rule = op.rule or ""
    parts = [p.strip() for p in rule.split(", d")]
    if len(parts) > 1 and position < len(parts):
        part = parts[position]
        return part if position == 0 else "d" + part
    return rule


def _comment(instr: Instr) -> str:
    if instr.note:
        return instr.note
    if instr.kind == "fwd":
        return _first_line(instr.op)
    if instr.kind == "vjp":
        return f"{instr.op.name}: {_rule_for(instr.op, instr.position)}"
    return {"acc": "gradients summed (the walk's order)", "leafadd": ".grad += the new gradient",
            "cast": "the gradient in the leaf's dtype", "copyto": "in place", "optstep": "optimizer step"}.get(instr.kind, "")


def emit_instr(e: Emitter, instr: Instr) -> list[str]:
    """The source lines of one instruction: its op's lowering, or a call to the op's own code."""
    kind, outs = instr.kind, instr.outs
    if kind == "fwd":
        op = instr.op
        extra = {"saved": instr.saved} if op.saves else {}
        lines = op.lowering(e, outs[0], *instr.ins, **instr.kwargs, **extra) if op.lowering else None
        if lines is None:
            target = f"{outs[0].name}, {instr.saved.name}" if op.saves else outs[0].name
            lines = e.call_opaque(op.forward, f"{op.name}_forward", target, instr.ins, instr.kwargs)
        return lines
    if kind == "vjp":
        op, i = instr.op, instr.position
        lowering = op.vjp_lowerings[i] if i < len(op.vjp_lowerings) else None
        kw = {**instr.kwargs, "saved": instr.saved} if op.saves else instr.kwargs
        lines = lowering(e, outs[0], *instr.ins, **kw) if lowering else None
        if lines is None:
            lines = e.call_opaque(op.array_vjps[i], f"{op.name}_vjp{i}", outs[0].name, instr.ins, kw)
        return lines
    if kind == "acc":
        out = e.buf(outs[0])
        first, *rest = instr.ins
        return [f"np.add({e.expr(first)}, {e.expr(rest[0])}, out={out})"] + [f"np.add({out}, {e.expr(p)}, out={out})" for p in rest[1:]]
    if kind == "leafadd":
        return [f"np.add({e.expr(instr.ins[0])}, {e.expr(instr.ins[1])}, out={e.expr(outs[0])})"]
    if kind == "cast":
        return [f"{outs[0].name} = {e.expr(instr.ins[0])}.astype({e.expr(instr.extra)})"]
    if kind == "copyto":
        return [f"np.copyto({e.expr(outs[0])}, {e.expr(instr.ins[0])}{e.kwargs(instr.kwargs)})"]
    if kind == "ufunc":
        return _emit_ufunc(e, instr)
    if kind == "view":
        return [f"{outs[0].name} = {e.expr(instr.ins[0])}.reshape({e.expr(instr.extra)})"]
    if kind == "random":
        rng, shape, p, dtype = instr.extra
        source = "None" if rng is None else e.expr(rng) if isinstance(rng, (int, np.integer)) else e.const(rng, "rng")
        draw = e.const(_ORIGINALS_KEPT["dropout_mask"], "dropout_mask")
        return [f"{outs[0].name} = {draw}({source}, {e.expr(shape)}, {e.expr(p)}, {e.expr(dtype)})"]
    return _emit_optimizer(e, instr)


def _emit_ufunc(e: Emitter, instr: Instr) -> list[str]:
    ufunc, method, in_place = instr.extra
    call = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    out = instr.outs[0].name if in_place else e.buf(instr.outs[0])
    args = ", ".join(e.expr(x) for x in instr.ins)
    return [f"{call}({args}{e.kwargs(instr.kwargs)}, out={out})"]


def _emit_optimizer(e: Emitter, instr: Instr) -> list[str]:
    from .lowerings import lower_optimizer

    opt, entries, state = instr.extra
    lines = lower_optimizer(e, opt, entries, state)
    if lines is not None:
        return lines
    name = e.const(opt, "optimizer")
    lines = [f"{e.const(p, v.name + '_tensor')}._grad = {g.name}" for p, v, g in entries if g is not None]
    return lines + [f"{name}.step()"]


def name_values(tracer: Tracer, instrs: list[Instr], e: Emitter, names: dict[int, str], inputs: list[Value]) -> None:
    """Readable names: arguments' and parameters' own, the step's local variables, ``d<name>``
    for a gradient, else the op's name."""
    for v in inputs:
        v.name = e.unique(v.hint)
    for v in tracer.tensors.values():
        v.name = e.unique(names.get(id(v.tensor), v.hint))
    seen: set[int] = {id(v) for v in inputs} | {id(v) for v in tracer.tensors.values()}
    for instr in instrs:
        if instr.kind == "fwd" and instr.op.name in ("cross_entropy", "log_softmax") and isinstance(instr.ins[0], Value):
            instr.ins[0].hint = "logits"
    for instr in instrs:
        for v in [*instr.reads(), *instr.outs, *([instr.saved] if instr.saved is not None else [])]:
            if id(v) in seen:
                continue
            seen.add(id(v))
            if v.kind == "grad":
                owner = tracer.tensors.get(id(v.tensor))
                v.name = e.unique((owner.name if owner is not None else "p") + "_grad")
            elif isinstance(v.grad_of, _Prefix) and v.grad_of.name:
                v.name = e.unique(v.grad_of.name)
            elif v.grad_of is not None and v.grad_of.name:
                v.name = e.unique("d" + v.grad_of.name)
            else:
                held = v.tensor if v.kind == "const" else v.array  # a constant's own array (v.array: a copy)
                v.name = e.unique(names.get(id(held), "rows" if v.hint == "const" and _is_arange(v) else v.hint))


def _is_arange(v: Value) -> bool:
    return v.array.ndim == 1 and v.dtype.kind in "iu" and np.array_equal(v.array, np.arange(v.array.size))


# ----------------------------------------------------------------------------
# The program: guards, the function, its source
# ----------------------------------------------------------------------------
_MISS = object()  # Program.replay: the arguments or the guards do not fit


class Program:
    """One captured step for one set of argument shapes: ``fn`` (exec'd from ``source``), what it
    assumes (``holds``), and how its arrays become the step's return value (``run``)."""

    def __init__(self, source: str, ns: dict, template: Any, tracer: Tracer, written: list[Tensor]) -> None:
        self.source, self.namespace, self.template = source, ns, template
        exec(builtins.compile(source, "<autograd_np.compile>", "exec"), ns)
        self.fn = ns["step"]
        self.grad_enabled = _mode.enabled
        tensors = [v.tensor for v in tracer.tensors.values()]
        # The guards, as tuples compared in one go: ids of the arrays the parameters must still hold
        # (the program keeps them alive, so an id cannot be reused), of the .grad slots that must be None.
        self.tensors = tuple(tensors)
        self.data_arrays = tuple(t._data for t in tensors)  # the arrays the parameters must still hold
        self.none_grads = tuple(s.tensor for s in tracer.grads.values() if s.needs == "none")
        self.set_grads = tuple(s.tensor for s in tracer.grads.values() if s.needs == "set")
        self.optimizers = [(opt, [dict(s) for s in opt.state], _hyper(opt)) for opt in tracer.optimizers.values()]
        self.state_ids = tuple(id(a) for _, state, _ in self.optimizers for s in state for a in s.values())
        self.state_keys = tuple(tuple(s) for opt, _, _ in self.optimizers for s in opt.state)
        modes = _module_modes({id(t) for t in tensors})
        seen = {id(m) for m, _ in modes}
        modes += [(m, m.training) for m in tracer.modules.values() if id(m) not in seen]
        self.modules, self.training = tuple(m for m, _ in modes), tuple(mode for _, mode in modes)
        self.written = tuple(written)
        self.specs: tuple = ()  # the arguments' (shape, dtype) when they are plain arrays
        self._guard: Callable[[], bool] | None = None

    def holds(self) -> bool:
        """Whether the program still does what eager would: same grad mode, parameters holding the
        same arrays, .grad set or not as captured, same optimizer state arrays and options, modules
        in the same train/eval mode. (One expression, written out once: ``_write_guards``.)"""
        if self._guard is None:
            self._guard = self._write_guards()
        return self._guard()

    def _write_guards(self) -> Callable[[], bool]:
        """``holds`` as straight-line code: ``t0._data is a0 and t1._data is a1 and ... and
        g0._grad is None and ... and m0.training is k0 ...`` over objects bound once."""
        ns: dict[str, Any] = {"_mode": _mode, "_anomaly": _anomaly, "_grad_enabled": self.grad_enabled,
                              "_optimizers_hold": self._optimizers_hold}
        terms = ["_mode.enabled is _grad_enabled", "not _anomaly.enabled"]
        for i, t in enumerate(self.tensors):
            ns[f"t{i}"], ns[f"a{i}"] = t, self.data_arrays[i]
            terms.append(f"t{i}._data is a{i}")
        for i, t in enumerate(self.none_grads):
            ns[f"g{i}"] = t
            terms.append(f"g{i}._grad is None")
        for i, t in enumerate(self.set_grads):
            ns[f"s{i}"] = t
            terms.append(f"s{i}._grad is not None")
        if self.optimizers:
            terms.append("_optimizers_hold()")
        for i, (m, mode) in enumerate(zip(self.modules, self.training)):
            ns[f"m{i}"], ns[f"k{i}"] = m, mode
            terms.append(f"m{i}.training is k{i}")
        source = "def holds():\n    return (" + "\n            and ".join(terms) + ")\n"
        exec(builtins.compile(source, "<autograd_np.compile guards>", "exec"), ns)
        return ns["holds"]

    def replay(self, *args: Any) -> Any:
        """The step on plain array arguments of the captured shapes and dtypes, if the guards hold
        (else ``_MISS``): written out once (``_write_replay``) as one function."""
        self.replay = self._write_replay()
        return self.replay(*args)

    def _write_replay(self) -> Callable[..., Any]:
        """``if type(x) is ndarray and x.shape == s0 and x.dtype is d0 ... and holds(): run, stamp the
        tensors written, build the result``; a dtype equal but not identical misses (the slow path)."""
        ns: dict[str, Any] = {"ndarray": np.ndarray, "_MISS": _MISS, "holds": self.holds, "step": self.fn,
                              "_last_change": _last_change, "next_stamp": next_stamp, "version_of": version_of,
                              "_rebuild": _rebuild, "template": self.template, "Tensor": Tensor, "np": np}
        params = [f"x{i}" for i in range(len(self.specs))]
        checks = []
        for i, (shape, dtype) in enumerate(self.specs):
            ns[f"s{i}"], ns[f"d{i}"] = shape, dtype
            checks.append(f"type(x{i}) is ndarray and x{i}.shape == s{i} and x{i}.dtype is d{i}")
        lines = [f"def replay({', '.join(params)}):",
                 f"    if not ({' and '.join(checks + ['holds()'])}):",
                 "        return _MISS",
                 f"    out = step({', '.join(params)})"]
        if self.written:
            lines.append("    _last_change.stamp = stamp = next_stamp()")
            for i, t in enumerate(self.written):
                ns[f"w{i}"] = t
                lines.append(f"    version_of(w{i}).stamp = stamp")
        kind, item = self.template
        if kind in ("tensor", "array") and item == 0:
            lines.append("    return " + ("Tensor._of(np.array(out[0]))" if kind == "tensor" else "np.array(out[0])"))
        else:
            lines.append("    return _rebuild(template, out)")
        exec(builtins.compile("\n".join(lines) + "\n", "<autograd_np.compile replay>", "exec"), ns)
        return ns["replay"]

    def _optimizers_hold(self) -> bool:
        for opt, _, hyper in self.optimizers:
            if _hyper(opt) != hyper:
                return False
        states = [s for opt, _, _ in self.optimizers for s in opt.state]
        if tuple(map(tuple, states)) != self.state_keys:
            return False
        return tuple(id(a) for s in states for a in s.values()) == self.state_ids

    def run(self, args: tuple, kwargs: dict) -> Any:
        if kwargs or not all(type(a) is np.ndarray for a in args):
            args = [a._data if isinstance(a, Tensor) else a for a in _flat_inputs(args, kwargs)]
        outputs = self.fn(*args)
        self.mark_written()
        return _rebuild(self.template, outputs)

    def mark_written(self) -> None:
        """The tensors the step changed in place are changed now (graphs that saved them go stale)."""
        if self.written:
            _last_change.stamp = stamp = next_stamp()  # one instant for all of them
            for t in self.written:
                version_of(t).stamp = stamp


def _hyper(opt: Any) -> list:
    return [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]


def _module_modes(tensor_ids: set[int]) -> list:
    modes = []
    for root in nn.root_modules():
        if any(id(p) in tensor_ids for p in root.parameters()):
            modes += [(m, m.training) for m in root.modules()]
    return modes


def _flat_inputs(args: tuple, kwargs: dict) -> list:
    """The arrays and Tensors among the arguments (one level into tuples and lists), in order."""
    found = []
    for a in [*args, *(kwargs[k] for k in sorted(kwargs))]:
        for x in a if isinstance(a, (tuple, list)) else (a,):
            if isinstance(x, np.ndarray) or (isinstance(x, Tensor) and not x._requires_grad):
                found.append(x)
    return found


def _input_names(fn: Callable, args: tuple, kwargs: dict) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for i, a in enumerate(args):
        base = params[i] if i < len(params) and not params[i].startswith("*") else f"arg{i}"
        items = a if isinstance(a, (tuple, list)) else (a,)
        names += [base if len(items) == 1 else f"{base}{j}" for j, _ in enumerate(items)]
    for k in sorted(kwargs):
        items = kwargs[k] if isinstance(kwargs[k], (tuple, list)) else (kwargs[k],)
        names += [k if len(items) == 1 else f"{k}{j}" for j, _ in enumerate(items)]
    flat = [x for a in [*args, *(kwargs[k] for k in sorted(kwargs))] for x in (a if isinstance(a, (tuple, list)) else (a,))]
    return [n for n, x in zip(names, flat) if isinstance(x, np.ndarray) or (isinstance(x, Tensor) and not x._requires_grad)]


def _key(obj: Any) -> Any:
    """What a replay must match in the arguments: shapes and dtypes of arrays, values of numbers
    and strings, identity of everything else (modules, optimizers, Tensors that require grad)."""
    if isinstance(obj, np.ndarray):
        return ("a", obj.shape, obj.dtype.str)
    if isinstance(obj, Tensor):
        return ("T", id(obj)) if obj._requires_grad else ("t", obj._data.shape, obj._data.dtype.str)
    if obj is None or isinstance(obj, (bool, int, float, str, np.generic)):
        return ("v", type(obj), obj)
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(_key(x) for x in obj))
    if isinstance(obj, dict):
        return ("d", tuple((k, _key(obj[k])) for k in sorted(obj)))
    return ("id", id(obj))


def _template(obj: Any, tracer: Tracer, outs: list) -> Any:
    """The step's return value with each array it computed replaced by a slot of ``outs``."""
    array = obj._data if isinstance(obj, Tensor) else obj if isinstance(obj, np.ndarray) else None
    if array is not None:
        v = tracer.values.get(id(array))
        if v is None and (isinstance(array, Traced) or isinstance(obj, Tensor) and id(obj) not in tracer.made):
            raise _Failed("the step returns an array computed in a way the capture did not follow")
        if v is None:
            v = tracer.operand(array)  # an array from outside the ops: compared between the captures
        if v.kind in ("tensor", "grad"):
            return ("object", obj)  # a parameter (or its .grad) itself, as eager returns it
        outs.append(v)
        return ("tensor" if isinstance(obj, Tensor) else "array", len(outs) - 1)
    if isinstance(obj, (tuple, list)):
        return (type(obj), [_template(x, tracer, outs) for x in obj])
    if isinstance(obj, dict):
        return ("dict", {k: _template(x, tracer, outs) for k, x in obj.items()})
    if isinstance(obj, (bool, int, float, np.generic)):
        tracer.literals.append(obj)
    return ("object", obj)


def _rebuild(template: Any, outputs: tuple) -> Any:
    kind, item = template
    if kind == "tensor":
        return Tensor._of(np.array(outputs[item]))
    if kind == "array":
        return np.array(outputs[item])
    if kind == "object":
        return item
    if kind == "dict":
        return {k: _rebuild(x, outputs) for k, x in item.items()}
    return kind(_rebuild(x, outputs) for x in item)


def build_program(tracer: Tracer, result: Any, inputs: list[Value], names: dict[int, str],
                  strict: bool, passes: dict[str, bool]) -> Program:
    """Passes, names, lowerings: the captured call as a Python function of NumPy calls."""
    outs: list[Value] = []
    template = _template(result, tracer, outs)
    final = {id(s.tensor): s.current for s in tracer.grads.values()}
    keep = {id(v) for v in outs} | {id(v) for v in final.values() if v is not None}
    instrs = list(tracer.instrs)
    enabled = set() if strict else {name for name in PASSES if passes.get(name, True)}
    for name in PASSES:
        if name in enabled and name in _PASS_FUNCTIONS:
            instrs = _PASS_FUNCTIONS[name](instrs, keep)
    e = Emitter()
    e.passes = enabled  # passes that act in the lowerings (embedding_onehot)
    for instr in instrs:
        for v in instr.reads():
            e.readers[id(v)] = e.readers.get(id(v), 0) + (1 if id(v) not in keep else 2)
    name_values(tracer, instrs, e, names, inputs)
    for v in tracer.tensors.values():
        e.ns[v.name] = v.tensor._data
    body, written = _body(e, tracer, instrs, outs)
    if "buffer_sharing" in enabled:
        share_buffers(e, instrs, keep)
    e.make_views()
    signature = ", ".join(v.name for v in inputs)
    source = f"def step({signature}):\n" + "\n".join(body) + "\n"
    return Program(source, e.ns, template, tracer, written)


def _body(e: Emitter, tracer: Tracer, instrs: list[Instr], outs: list[Value]) -> tuple[list[str], list[Tensor]]:
    lines: list[str] = []
    for s in tracer.grads.values():
        if s.start is not None and s.start.name:
            lines.append(f"{s.start.name} = {e.const(s.tensor, _tensor_name(tracer, s.tensor))}._grad")
    phase = None
    for instr in instrs:
        for v in instr.reads():
            if v.kind == "const" and v.name not in e.ns:
                e.ns[v.name] = v.tensor
        if instr.phase != phase:
            phase = instr.phase
            lines.append(f"# ---- {phase} ----")
        code = emit_instr(e, instr)
        comment = _comment(instr)
        for k, line in enumerate(code):
            lines.append(f"{line:<60} # {comment}" if k == 0 and comment else line)
    written = _written(tracer, instrs)
    lines += _final_grads(e, tracer)
    returned = "".join(f"{v.name}, " for v in outs)
    lines.append(f"return ({returned})")
    return ["    " + line for line in lines], written


def _tensor_name(tracer: Tracer, t: Tensor) -> str:
    v = tracer.tensors.get(id(t))
    return (v.name if v is not None and v.name else "p") + "_tensor"


def _final_grads(e: Emitter, tracer: Tracer) -> list[str]:
    """Each leaf's ``.grad`` as eager leaves it: a fresh copy of its gradient, or None."""
    lines = []
    for s in tracer.grads.values():
        if s.current is s.start:
            continue
        tensor = e.const(s.tensor, _tensor_name(tracer, s.tensor))
        value = "None" if s.current is None else f"{s.current.name}.copy()"
        lines.append(f"{tensor}._grad = {value}")
    if lines:
        lines.insert(0, "# ---- .grad as eager leaves it ----")
    return lines


def _written(tracer: Tracer, instrs: list[Instr]) -> list[Tensor]:
    """The Tensors whose values the program changes in place (their change stamps move, as eager's)."""
    by_value = {id(v): v.tensor for v in tracer.tensors.values()}
    found = {}
    for instr in instrs:
        if instr.kind in ("ufunc", "copyto") and (instr.kind == "copyto" or instr.extra[2]):
            for v in instr.outs:
                if id(v) in by_value:
                    found[id(v)] = by_value[id(v)]
        if instr.kind == "optstep":
            found.update({id(p): p for p, _, g in instr.extra[1] if g is not None})
    return list(found.values())


# ----------------------------------------------------------------------------
# Names the source can use: the step's arguments, parameters, its local variables
# ----------------------------------------------------------------------------
def _short(dotted: str) -> str:
    """``0.weight`` -> ``weight0``; ``blocks.1.attn.proj.bias`` -> ``blocks_attn_proj_bias1``."""
    parts = dotted.split(".")
    digits = "".join(p for p in parts if p.isdigit())
    return "_".join(p for p in parts if not p.isdigit()) + digits


def known_names(fn: Any, args: tuple = (), kwargs: dict | None = None) -> dict[int, str]:
    """id(Tensor or array) -> a name: ``Tensor.name``, parameters of live modules, and the Tensors
    and modules the step reaches by name (globals, closure, arguments, ``self``)."""
    names: dict[int, str] = {}

    def add(name: str, obj: Any) -> None:
        if isinstance(obj, Tensor):
            names.setdefault(id(obj), obj.name or name)
        elif isinstance(obj, np.ndarray):
            names.setdefault(id(obj), name)
        elif isinstance(obj, nn.Module):
            for key, pname in derivation_names(obj).items():
                names.setdefault(key, pname)

    scope = dict(getattr(fn, "__globals__", {}))
    code = getattr(fn, "__code__", None)
    if code is not None and fn.__closure__:
        scope.update({k: c.cell_contents for k, c in zip(code.co_freevars, fn.__closure__) if _filled(c)})
    for name in (code.co_names + code.co_freevars) if code is not None else ():
        if name in scope:
            add(name, scope[name])
    owner = getattr(fn, "__self__", None)
    for name, obj in (vars(owner).items() if owner is not None and hasattr(owner, "__dict__") else ()):
        add(name, obj)
    for name, obj in zip(_input_names(fn, args, kwargs or {}), _flat_inputs(args, kwargs or {})):
        add(name, obj._data if isinstance(obj, Tensor) else obj)
    for root in nn.root_modules():
        names.update({k: v for k, v in derivation_names(root).items() if k not in names})
    return names


def derivation_names(root: Any) -> dict[int, str]:
    """The derivation's names for a model's parameters: an embedding's table ``C``, the k-th dense
    layer's ``Wk`` and ``bk``; any other parameter its dotted name (``blocks_ln_gain1``)."""
    names: dict[int, str] = {}
    counts = {"C": 0, "W": 0}
    for _, module in root.named_modules():
        kind = type(module).__name__
        if kind in ("Embedding", "Linear"):
            letter = "C" if kind == "Embedding" else "W"
            counts[letter] += 1
            k = counts[letter]
            names[id(module.weight)] = letter if letter == "C" and k == 1 else f"{letter}{k}"
            if getattr(module, "bias", None) is not None:
                names[id(module.bias)] = f"b{k}"
    for pname, p in root.named_parameters():
        names.setdefault(id(p), p.name or _short(pname))
    return names


def _filled(cell: Any) -> bool:
    """Whether a closure cell holds a value yet (reading an empty one raises ValueError)."""
    try:
        return cell.cell_contents is not _EMPTY
    except ValueError:
        return False


_EMPTY = object()


def _record_locals(code: Any, names: dict[int, str]) -> Callable:
    """A profile function that, when ``code``'s frame returns, names the arrays its locals hold."""
    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            _name_locals(frame.f_locals, names)
    return profile


def _record_user_locals(names: dict[int, str]) -> Callable:
    """A profile function naming the arrays held by the locals of every function outside the
    engine when it returns (the user's step, called inside a ``capture()`` block)."""
    skip = (__file__.rsplit("/", 1)[0], np.__file__.rsplit("/", 1)[0])

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and not frame.f_code.co_filename.startswith(skip):
            _name_locals(frame.f_locals, names)
    return profile


def _name_locals(scope: dict, names: dict[int, str]) -> None:
    for name, obj in scope.items():
        if isinstance(obj, Tensor):
            names.setdefault(id(obj), name)
            names.setdefault(id(obj._data), name)
        elif isinstance(obj, np.ndarray):
            names.setdefault(id(obj), name)


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
# The check: the program, run on the state from before the captured call, leaves what eager left
# ----------------------------------------------------------------------------
def _state_now(tracer: Tracer) -> list:
    state = []
    for entry in tracer.before.values():
        obj = entry[0]
        if isinstance(obj, Tensor):
            state.append((obj, obj._data.copy(), None if obj._grad is None else obj._grad.copy()))
        else:
            state.append((obj, obj.step_count, [{k: a.copy() for k, a in s.items()} for s in obj.state]))
    return state


def _restore(tracer: Tracer, state: list | None) -> None:
    """Put back the state from before the call (``state`` None) or a ``_state_now`` snapshot."""
    if state is None:
        for entry in tracer.before.values():
            obj = entry[0]
            if isinstance(obj, Tensor):
                _, data, values, grad, grad_values = entry
                np.copyto(data, values)
                obj._data, obj._grad = data, grad
                if grad is not None:
                    np.copyto(grad, grad_values)
            else:
                _, count, arrays = entry
                obj.step_count = count
                _copy_state(obj, arrays)
        return
    for obj, a, b in state:
        if isinstance(obj, Tensor):
            np.copyto(obj._data, a)
            obj._grad = None if b is None else b.copy()
        else:
            obj.step_count = a
            _copy_state(obj, b)


def _copy_state(opt: Any, arrays: list) -> None:
    for now, then in zip(opt.state, arrays):
        for k, a in then.items():
            if k in now:
                np.copyto(now[k], a)


def _same(a: Any, b: Any, strict: bool) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if strict or a.dtype.kind not in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    tol = 1e-3 if a.dtype.itemsize <= 2 else 2e-4 if a.dtype.itemsize == 4 else 1e-9
    return bool(np.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(b), initial=0.0))), equal_nan=True))


def check_against_eager(program: Program, tracer: Tracer, args: tuple, kwargs: dict, result: Any, strict: bool) -> str:
    """Run ``program`` on the state from before the captured call and compare with what eager left;
    eager's state is put back either way. Returns "" or what differed."""
    eager = _state_now(tracer)
    eager_out: list = []
    _flat_result(result, eager_out)
    drawn = [(g, g.bit_generator.state) for g, _ in tracer.generators.values()]  # eager's draws done
    try:
        _restore(tracer, None)
        for g, before in tracer.generators.values():  # the program draws the same masks again
            g.bit_generator.state = before
        if not program.holds():
            return "its guards fail on the state it was captured from"
        replayed: list = []
        try:
            _flat_result(program.run(args, kwargs), replayed)
        except Exception as error:  # a lowering that does not fit: never the user's problem
            return f"it raised {type(error).__name__}: {error}"
        differ = []
        for (obj, a, b), (_, a2, b2) in zip(eager, _state_now(tracer)):
            name = getattr(obj, "name", None) or type(obj).__name__
            if isinstance(obj, Tensor) and not (_same(a2, a, strict) and _same(b2, b, strict)):
                differ.append(f"{name} of shape {a.shape}" + ("" if _same(a2, a, strict) else f" (max difference "
                                                                   f"{float(np.max(np.abs(a2 - a))):.3g})"))
            if not isinstance(obj, Tensor) and (a != a2 or not all(
                    _same(x[k], y.get(k), strict) for x, y in zip(b, b2) for k in x)):
                differ.append(f"the state of {name}")
        if differ:
            return "parameters, gradients or state differ: " + ", ".join(differ[:4]) + (" ..." if len(differ) > 4 else "")
        if len(eager_out) != len(replayed) or not all(_same(x, y, strict) for x, y in zip(replayed, eager_out)):
            return "the step's return value"
        return ""
    finally:
        _restore(tracer, eager)
        for g, after in drawn:
            g.bit_generator.state = after


def _flat_result(obj: Any, found: list) -> None:
    if isinstance(obj, Tensor):
        found.append(obj._data)
    elif isinstance(obj, (np.ndarray, np.generic, int, float)):
        found.append(obj)
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            _flat_result(x, found)
    elif isinstance(obj, dict):
        for x in obj.values():
            _flat_result(x, found)


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
