"""Capturing one call of the step: the ``Tracer``, and what is switched on while it records.

While a ``Tracer`` runs (``start`` ... ``stop``), ``Primitive.__call__`` and ``graph.backprop``
hand it their calls (``capture_hook._capture``); the backward walk's VJPs are recorded (``_Walk``,
``_RecordingVJPs``); ``.data`` and ``.grad`` hand out ``Traced`` arrays whose NumPy calls are
recorded; an optimizer's ``step()`` and dropout's masks are recorded too (the patches at the end
of this file, in force only while some thread captures). What it leaves is ``Tracer.instrs``, a
list of ``Instr`` on ``Value`` (``instructions.py``), which ``program.build_program`` writes out.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import creation, functional, graph, nn, optim
from ..anomaly import _anomaly
from ..capture_hook import _capture
from ..grad_mode import _mode
from ..node import mark_changed
from ..primitives import Primitive
from ..tensor_type import Tensor
from .instructions import Instr, Value, _Failed, _GradState, _Prefix


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
