"""Tensor: a NumPy array plus the link to the op that made it.

This module holds the Tensor's state: its values, gradient, flags, graph links
and the rules of in-place changes. It imports nothing above it. The methods that
run an op (``t.tanh()``, ``t + u``, ``t.sum(dim=1)``, ``t[i]``) are installed on the
class by ``api.py``, one table line each; ``backward()`` comes from ``graph.py``
(the walk), through the same table.
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .grad_mode import is_grad_enabled
from .node import GradHooks, HookHandle, live_views, mark_changed, recorded_args, share_changes


class Tensor:
    """An n-dimensional array that records the ops applied to it.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)`` accepts an
    ndarray, a (nested) list or a Python scalar; 0-d tensors work like the
    values of a scalar engine. ``data`` and ``grad`` are plain NumPy arrays and
    both may be assigned (``p.data -= lr * p.grad``; ``p.grad = None``); the
    assignments are checked, and an in-place change is remembered so that a
    graph that saved the old values refuses to backpropagate through them.

    The methods that run ops (``t.tanh()``, ``t + u``, ``t.sum(dim=1)``, ``t[i]``)
    are installed by ``api.py``'s table; ``t.backward()`` is ``graph.backward``.
    """

    __slots__ = ("_data", "_grad", "_requires_grad", "_node", "_version", "_replaced", "_hooks", "name", "_tangent", "__weakref__")

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data._data
        if dtype is not None:
            if np.iscomplexobj(data) and np.dtype(dtype).kind != "c":
                raise TypeError(f"Tensor: complex data with dtype {np.dtype(dtype)} would drop the imaginary part")
            array = np.array(data, dtype=dtype)
        else:
            array = np.asarray(data)
        _check_array(array, "Tensor")
        self._data, self._grad, self._node, self._version, self._replaced, self._hooks = array, None, None, None, None, None
        self._requires_grad = False
        self.name = name
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _of(cls, data: np.ndarray, node: Any = None) -> "Tensor":
        """An op's output (made by ``primitives.py``; no validation): recorded when ``node`` is given,
        otherwise a constant (no input required grad, or recording was off)."""
        t = object.__new__(cls)
        t._data = data
        t._grad = None
        t._requires_grad = node is not None
        t._node = node
        t._version = None  # see node.Version: made when first needed
        t._replaced = None  # (stamp, snapshot) after a recorded in-place op: see node.as_recorded
        t._hooks = None
        t.name = None
        return t

    # ----- data and grad: checked assignment ------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The values. An op's output is read-only here: its graph still needs it for backward."""
        return self._data if self._node is None else _read_only(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        if value is self._data:  # ``t.data op= ...``: the array was changed in place
            mark_changed(self)
            return
        array = np.asarray(value)
        _check_array(array, ".data")
        if self._requires_grad and array.dtype.kind != "f":
            raise TypeError(f".data: this tensor requires grad, so it needs a floating-point array, got dtype {array.dtype}")
        if self._node is not None:  # the op's VJP may read its output: new values would give a wrong gradient
            mark_changed(self)
        self._data = array

    def _set_grad(self, value: Any) -> None:
        self._grad = None if value is None else _checked_grad(self, value)

    grad = property(
        operator.attrgetter("_grad"), _set_grad,
        doc="The gradient accumulated by ``backward()`` (same shape and dtype as ``data``), or None.",
    )

    # ----- attributes -------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not np.issubdtype(self._data.dtype, np.floating):
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {self._data.dtype}"
            )
        if not value and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf tensor; use detach()")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place and return this tensor (PyTorch's spelling)."""
        self.requires_grad = requires_grad
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def op(self) -> str | None:
        """Name of the op that produced this tensor; ``None`` for a leaf."""
        return None if self._node is None else self._node.op.name

    @property
    def op_rule(self) -> str | None:
        """The VJP rule of the op that produced this tensor, one line of ASCII; ``None`` for a leaf."""
        return None if self._node is None else self._node.op.rule

    @property
    def op_module(self) -> str | None:
        """The dotted name of the ``nn.Module`` whose forward recorded this op (``blocks.0.attn``,
        ``""`` for the outermost module called); ``None`` outside any module, or for a leaf."""
        call = self.op_module_call
        return None if call is None else call.path

    @property
    def op_module_call(self) -> Any:
        """The ``nn.Module`` call that recorded this op (``.module``, ``.path``, ``.outer``: the
        call it was made in); each call is its own object, so calls of one module can be told apart."""
        return None if self._node is None else self._node.call

    @property
    def op_jvp_rule(self) -> str | None:
        """The JVP (forward-mode) rule of the op that produced this tensor; ``None`` for a leaf."""
        return None if self._node is None else self._node.op.jvp_rule

    @property
    def parents(self) -> tuple["Tensor", ...]:
        """The tensors this one was computed from (``()`` for a leaf or a freed graph)."""
        return tuple(a for a in self.op_inputs if isinstance(a, Tensor))

    @property
    def op_inputs(self) -> tuple[Any, ...]:
        """The op's positional arguments in call order: Tensors and constants (scalars, arrays)."""
        return () if self._node is None else recorded_args(self._node)

    @property
    def op_params(self) -> dict[str, Any]:
        """The op's keyword parameters (``axis``, ``shape``, ``index``, ...); ``{}`` for a leaf."""
        return {} if self._node is None else dict(self._node.kwargs)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def T(self) -> "Tensor":
        """All axes reversed (``transpose()``)."""
        return self.transpose()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The array, for NumPy's implicit conversions (``np.asarray(t)``, ``np.array([t1, t2])``).
        Refused for a tensor that requires grad while recording, as PyTorch does: the result
        would silently lose the gradient."""
        if self._requires_grad and is_grad_enabled():
            raise RuntimeError(
                "Can't convert a Tensor that requires grad to a NumPy array: its gradient would be lost. "
                "Use t.detach() (or t.data, t.numpy()) for the values, or autograd_np.stack([...]) / "
                "autograd_np.cat([...]) to combine Tensors with their gradient."
            )
        array = self.data
        if dtype is None or dtype == array.dtype:
            return array.copy() if copy else array  # NumPy trusts a copy=True answer not to alias
        return array.astype(dtype)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        extra = f", op={self.op}" if self._node is not None else ""
        extra += ", requires_grad=True" if self._requires_grad else ""
        return f"Tensor({np.array2string(self._data, threshold=20, precision=4)}, dtype={self.dtype}{extra})"

    # ----- conversion --------------------------------------------------------
    def item(self) -> float:
        return self._data.item()

    def numpy(self) -> np.ndarray:
        """The array (``.data``): an op's output is read-only."""
        return self.data

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's data, outside any graph (read-only if an op made it).
        It shares the change record too: an in-place change through it is a change of this tensor."""
        out = Tensor._of(self.data)
        share_changes(self, out, view=False)
        return out

    def zero_grad(self) -> None:
        self.grad = None

    # ----- hooks and retained gradients ------------------------------------------
    def retain_grad(self) -> None:
        """Keep this tensor's gradient in ``.grad`` after ``backward()`` (and ``grad()``), even if an op made it."""
        self._grad_hooks().retain = True

    @property
    def retains_grad(self) -> bool:
        return self._hooks is not None and self._hooks.retain

    def register_hook(self, fn: Callable[[np.ndarray], Any]) -> "HookHandle":
        """Call ``fn(grad)`` when this tensor's gradient is complete; if it returns an array,
        that replaces the gradient. Returns a handle whose ``.remove()`` unregisters it."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so no gradient will reach it")
        return self._grad_hooks().add(fn)

    def _grad_hooks(self) -> GradHooks:
        if self._hooks is None:
            self._hooks = GradHooks()
        return self._hooks

    # ----- in-place operators (PyTorch's rules) -------------------------------------
    def __iadd__(self, other: Any) -> "Tensor":
        return self._in_place(operator.add, other, "+=")

    def __isub__(self, other: Any) -> "Tensor":
        return self._in_place(operator.sub, other, "-=")

    def __imul__(self, other: Any) -> "Tensor":
        return self._in_place(operator.mul, other, "*=")

    def __itruediv__(self, other: Any) -> "Tensor":
        return self._in_place(operator.truediv, other, "/=")

    def _in_place(self, op: Any, other: Any, symbol: str, index: Any = None) -> "Tensor":
        """``self op= other``: nothing recorded (no_grad(), or nothing requires grad): the values
        are written into this tensor's array. Recorded: a leaf that requires grad refuses it;
        any other tensor takes the result's value and graph, and the nodes recorded before keep
        its old value and graph as a snapshot (see ``node.as_recorded``). The shape and dtype
        never change (NumPy's same-kind casting rule)."""
        other_data = other._data if isinstance(other, Tensor) else other
        check_in_place_result(self, other_data, symbol, index)
        recording = is_grad_enabled() and (self._requires_grad or (isinstance(other, Tensor) and other._requires_grad))
        if not recording:
            if not self._data.flags.writeable:
                raise ValueError(
                    f"in-place {symbol}: this tensor's values are read-only (they belong to a graph: an op's "
                    "output or its detach()); use the out-of-place form, or clone() first"
                )
            if getattr(self, "_tangent", None) or getattr(other, "_tangent", None):
                self._in_place_with_tangents(op, other)
            elif index is None:
                np.copyto(self._data, op(self._data, other_data), casting="same_kind")
            else:
                self._data[index] = other_data
            mark_changed(self)
            return self
        if self._node is None and self._requires_grad:
            raise RuntimeError(
                f"a leaf Tensor that requires grad is being used in an in-place operation ({symbol}); "
                "update parameters inside `with no_grad():`, or use the out-of-place form"
            )
        if live_views(self):
            raise RuntimeError(
                f"in-place {symbol} on a tensor that shares its memory with a view (a basic slice, reshape "
                "or transpose of it, or the tensor it is a view of) while recording: the view's graph would "
                "go stale. Use the out-of-place form (h = h + ...), or clone() first"
            )
        write_through = self._data.flags.writeable
        before = self._snapshot(write_through)
        result = op(before, before if other is self else other)
        if result.dtype != self._data.dtype:
            result = result.astype(self._data.dtype)
        if write_through:  # the same memory, as in PyTorch: detach() results and .data see the new values
            np.copyto(self._data, result._data)
        else:
            self._data = result._data
        self._node, self._requires_grad = result._node, result._requires_grad
        if getattr(result, "_tangent", None) is not None:
            self._tangent = result._tangent
        return self

    def _in_place_with_tangents(self, op: Any, other: Any) -> None:
        """An in-place op, not recorded, on values that carry forward-mode tangents: the new
        values are written into the array, and the tangents follow (``forward_mode.py``)."""
        before = Tensor._of(self._data.copy())
        before._tangent = getattr(self, "_tangent", None)
        result = op(before, other)
        np.copyto(self._data, result._data, casting="same_kind")
        self._tangent = getattr(result, "_tangent", None)

    def _snapshot(self, write_through: bool) -> "Tensor":
        """Before a recorded in-place op: this tensor's current value and graph as a new Tensor,
        which the nodes recorded so far refer to from now on. The change is stamped now, before
        the in-place op records its node, on the change record this tensor shares with its
        ``detach()`` results: nodes recorded before that read the old array see the change.
        When the new values are written through, the snapshot holds a copy of the old ones
        (what the in-place op's own VJPs may read); otherwise this tensor gets a new array."""
        data = self._data.copy() if write_through else self._data
        before = Tensor._of(data, self._node)
        before._requires_grad, before._version, before._replaced = self._requires_grad, self._version, self._replaced
        before._tangent = getattr(self, "_tangent", None)
        mark_changed(before)
        self._version = before._version if write_through else None
        self._replaced = (before._version.stamp, before)
        return before

    if TYPE_CHECKING:  # for editors (completion, go-to-definition): api.py installs these and the rest
        def tanh(self) -> Tensor: ...
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def relu(self) -> Tensor: ...
        def sigmoid(self) -> Tensor: ...
        def sum(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor: ...
        def mean(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor: ...
        def max(self, dim: Any = None, keepdim: Any = None, *, axis: Any = None, keepdims: Any = None) -> Any: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        def view(self, *shape: Any) -> Tensor: ...
        def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor: ...
        def transpose(self, *dims: int) -> Tensor: ...
        def log_softmax(self, axis: Any = None, *, dim: Any = None) -> Tensor: ...
        def softmax(self, axis: Any = None, *, dim: Any = None) -> Tensor: ...
        def backward(self, grad_output: Any = None, retain_graph: bool = False) -> None: ...

    # ----- conversions to Python values ---------------------------------------
    # Hashing stays by identity (as in PyTorch; api.py installs the elementwise ==), so Tensors
    # still work as set members and dict keys.
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self._data)  # one element: its truth value; more: NumPy's "ambiguous" error

    def __float__(self) -> float:
        return float(self._one_value("float"))

    def __int__(self) -> int:
        return int(self._one_value("int"))

    def _one_value(self, name: str) -> Any:
        if self._data.size != 1:
            raise TypeError(f"{name}(): only a one-element tensor converts to a number, got shape {self.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    # ----- PyTorch's first lines: dtype conversions, to(), clone(), numel() ----------
    # Conversions are the recorded ``astype`` op (the gradient comes back in the input's dtype);
    # like PyTorch's, they return this tensor itself when the dtype already matches.
    def to(self, *args: Any, dtype: Any = None, device: Any = None, copy: bool = False) -> "Tensor":
        """``t.to(dtype)``, ``t.to("cpu")``, ``t.to("cpu", dtype)``, ``t.to(other)`` (other's dtype)."""
        dtype = parse_to(args, dtype, device)
        return self._convert(self._data.dtype if dtype is None else dtype, copy)

    def cpu(self) -> "Tensor":
        """This tensor (everything is on the CPU)."""
        return self

    @property
    def device(self) -> str:
        return "cpu"

    def float(self) -> "Tensor":
        return self._convert(np.dtype(np.float32))

    def double(self) -> "Tensor":
        return self._convert(np.dtype(np.float64))

    def half(self) -> "Tensor":
        return self._convert(np.dtype(np.float16))

    def long(self) -> "Tensor":
        return self._convert(np.dtype(np.int64))

    def int(self) -> "Tensor":
        return self._convert(np.dtype(np.int32))

    def bool(self) -> "Tensor":
        return self._convert(np.dtype(np.bool_))

    def _convert(self, dtype: np.dtype, copy: bool = False) -> "Tensor":
        return self if dtype == self._data.dtype and not copy else self.astype(dtype)

    def clone(self) -> "Tensor":
        """A copy with its own array; recorded, so the gradient flows back to this tensor."""
        return self.astype(self._data.dtype)

    def numel(self) -> int:
        """The number of elements (``size``)."""
        return self._data.size


def parse_to(args: tuple, dtype: Any, device: Any) -> np.dtype | None:
    """The dtype that ``to(...)``'s arguments ask for (None: keep it), after checking the device."""
    for a in args:
        if isinstance(a, Tensor):
            a = a.dtype
        elif isinstance(a, str) or _is_device(a):
            device = _pick(device, a, "device")
            continue
        dtype = _pick(dtype, a, "dtype")
    _check_device(device)
    return None if dtype is None else _as_dtype(dtype)


def _is_device(a: Any) -> bool:
    return type(a).__name__ == "device"  # a torch.device-like object, without importing torch


def _pick(current: Any, value: Any, what: str) -> Any:
    if current is not None:
        raise TypeError(f"to: {what} given twice ({current!r} and {value!r})")
    return value


def _check_device(device: Any) -> None:
    if device is None or str(device) in ("cpu", "cpu:0"):
        return
    hint = ""
    try:
        hint = f"; for a dtype pass autograd_np.{np.dtype(device).name}, not a string"
    except (TypeError, ValueError):
        pass
    raise ValueError(f"to: device {str(device)!r} is not available; autograd_np runs on NumPy, on the CPU only ('cpu'){hint}")


def _as_dtype(dtype: Any) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"to: expected a dtype (autograd_np.float32, np.int64, ...), a device or a Tensor, got {dtype!r}") from None
    if dtype.kind not in "biuf":
        raise TypeError(f"to: dtype {dtype} is not supported (booleans, integers and floats are)")
    return dtype


def check_in_place_result(t: Tensor, other: Any, symbol: str, index: Any) -> None:
    """An in-place operator keeps the shape and dtype: ``other`` must broadcast to t's shape (or
    to ``t[index]``'s), and an operator's result must cast to t's dtype under NumPy's same-kind
    rule (item assignment casts, as in NumPy and PyTorch)."""
    if isinstance(other, (list, tuple)):
        other = np.asarray(other)
    target = t._data.shape if index is None else np.shape(t._data[index])
    other_shape = np.shape(other)
    try:
        shape = np.broadcast_shapes(target, other_shape)
    except ValueError:
        shape = None
    if shape != target:
        raise ValueError(f"in-place {symbol}: a value of shape {other_shape} does not broadcast to the shape {target}")
    if index is None:
        result = np.result_type(t._data, other)
        if not np.can_cast(result, t._data.dtype, casting="same_kind"):
            raise TypeError(
                f"in-place {symbol}: the result has dtype {result}, which cannot be written into a tensor of dtype "
                f"{t._data.dtype} (NumPy's same-kind rule); convert explicitly, e.g. t = t.astype(...)"
            )


def _check_array(array: np.ndarray, where: str) -> None:
    if array.dtype == object:
        raise TypeError(f"{where}: cannot hold Python objects (object array); give numbers")
    if array.dtype.kind == "c":
        raise TypeError(f"{where}: complex values are not supported")


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _checked_grad(t: Tensor, value: Any) -> np.ndarray:
    """``value`` as a gradient for ``t``: an array of t's exact shape, in t's float dtype."""
    if isinstance(value, Tensor):
        if value._requires_grad:
            raise TypeError(".grad: assign an array or a Tensor that does not require grad (use .detach())")
        value = value._data
    array = np.asarray(value)
    if array.shape != t._data.shape:
        raise ValueError(f".grad: a gradient of shape {array.shape} for a tensor of shape {t._data.shape}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f".grad: needs a real numeric array, got dtype {array.dtype}")
    return array if array.dtype == t._data.dtype else array.astype(t._data.dtype)
