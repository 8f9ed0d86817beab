"""Tensor: a NumPy array plus the link to the op that made it.

This class is deliberately thin: every operator and method delegates to an op
in ``ops.py`` (where the forward, the VJP and the math live), and the backward
walk lives in ``graph.py``.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import numpy as np



class Tensor:
    """An n-dimensional array that records the ops applied to it.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)`` accepts an
    ndarray, a (nested) list or a Python scalar; 0-d tensors work like the
    values of a scalar engine. ``data`` and ``grad`` are plain NumPy arrays and
    both may be assigned (``p.data -= lr * p.grad``; ``p.grad = None``); the
    assignments are checked, and an in-place change is remembered so that a
    graph that saved the old values refuses to backpropagate through them.
    """

    __slots__ = ("_data", "_grad", "_requires_grad", "_node", "_changed_at", "_hooks", "name", "__weakref__")
    # Make ``ndarray + Tensor`` defer to Tensor.__radd__ instead of looping elementwise.
    __array_ufunc__ = None

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data._data
        array = np.array(data, dtype=dtype) if dtype is not None else np.asarray(data)
        _check_array(array, "Tensor")
        self._data, self._grad, self._node, self._changed_at, self._hooks = array, None, None, 0, None
        self._requires_grad = False
        self.name = name
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _of(cls, data: np.ndarray, node: Any = None) -> "Tensor":
        """An op's output (made by ``primitive.py``; no validation): recorded when ``node`` is given,
        otherwise a constant (no input required grad, or recording was off)."""
        t = object.__new__(cls)
        t._data = data
        t._grad = None
        t._requires_grad = node is not None
        t._node = node
        t._changed_at = 0
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
            self._changed_at = next_stamp()
            return
        array = np.asarray(value)
        _check_array(array, ".data")
        if self._requires_grad and array.dtype.kind != "f":
            raise TypeError(f".data: this tensor requires grad, so it needs a floating-point array, got dtype {array.dtype}")
        if self._node is not None:  # the op's VJP may read its output: new values would give a wrong gradient
            self._changed_at = next_stamp()
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
    def parents(self) -> tuple["Tensor", ...]:
        """The tensors this one was computed from (``()`` for a leaf or a freed graph)."""
        return tuple(a for a in self.op_inputs if isinstance(a, Tensor))

    @property
    def op_inputs(self) -> tuple[Any, ...]:
        """The op's positional arguments in call order: Tensors and constants (scalars, arrays)."""
        return () if self._node is None else self._node.args

    @property
    def op_params(self) -> dict[str, Any]:
        """The op's keyword parameters (``axis``, ``shape``, ``index``, ...); ``{}`` for a leaf."""
        return {} if self._node is None else dict(self._node.kwargs)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def T(self) -> "Tensor":
        return ops.transpose(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.data
        return array if dtype is None else array.astype(dtype)

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
        """A new leaf sharing this tensor's data, outside any graph (read-only if an op made it)."""
        return Tensor._of(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    def astype(self, dtype: Any) -> "Tensor":
        return ops.astype(self, dtype=np.dtype(dtype))

    # ----- autodiff --------------------------------------------------------
    def backward(self, grad_output: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        A tensor of size 1 is seeded with 1; any other needs ``grad_output`` of
        its shape. The graph is freed afterwards unless ``retain_graph=True``.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph "
                "(did you forget requires_grad=True on a parameter, or call inside no_grad()?)"
            )
        graph.backprop([self], [seed_gradient(self, grad_output)], retain_graph=retain_graph)

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
        return self._in_place(ops.add, other, "+=")

    def __isub__(self, other: Any) -> "Tensor":
        return self._in_place(ops.sub, other, "-=")

    def __imul__(self, other: Any) -> "Tensor":
        return self._in_place(ops.mul, other, "*=")

    def __itruediv__(self, other: Any) -> "Tensor":
        return self._in_place(ops.div, other, "/=")

    def _in_place(self, op: Any, other: Any, symbol: str) -> "Tensor":
        """``self op= other``: in place under ``no_grad()`` (the tensor stays the same leaf); a leaf
        that requires grad refuses it otherwise; any other tensor becomes the recorded result."""
        recording = is_grad_enabled() and (self._requires_grad or (isinstance(other, Tensor) and other._requires_grad))
        if not recording:
            value = op(self._data, other._data if isinstance(other, Tensor) else other)
            np.copyto(self._data, value, casting="same_kind")
            self._changed_at = next_stamp()
            return self
        if self._node is None and self._requires_grad:
            raise RuntimeError(
                f"a leaf Tensor that requires grad is being used in an in-place operation ({symbol}); "
                "update parameters inside `with no_grad():`, or use the out-of-place form"
            )
        before = Tensor._of(self._data, self._node)
        self._changed_at = next_stamp()  # nodes recorded before now that took `self` must not backpropagate
        result = op(before, other)
        self._data, self._node, self._requires_grad = result._data, result._node, result._requires_grad
        return self

    # ----- operators --------------------------------------------------------
    def __add__(self, other: Any) -> "Tensor":
        return ops.add(self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return ops.add(other, self)

    def __sub__(self, other: Any) -> "Tensor":
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> "Tensor":
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return ops.div(other, self)

    def __pow__(self, other: Any) -> "Tensor":
        return ops.pow(self, other)

    def __rpow__(self, other: Any) -> "Tensor":
        return ops.pow(other, self)

    def __matmul__(self, other: Any) -> "Tensor":
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return ops.matmul(other, self)

    def __neg__(self) -> "Tensor":
        return ops.neg(self)

    def __getitem__(self, index: Any) -> "Tensor":
        return ops.getitem(self, index=normalize_index(index))

    # ----- methods (each one op from ops.py) ---------------------------------
    def tanh(self) -> "Tensor":
        return ops.tanh(self)

    def exp(self) -> "Tensor":
        return ops.exp(self)

    def log(self) -> "Tensor":
        return ops.log(self)

    def relu(self) -> "Tensor":
        return ops.relu(self)

    def sigmoid(self) -> "Tensor":
        return ops.sigmoid(self)

    def sqrt(self) -> "Tensor":
        return ops.pow(self, 0.5)

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        return ops.sum(self, axis=normalize_axis(axis, self.ndim), keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        return ops.mean(self, axis=normalize_axis(axis, self.ndim), keepdims=keepdims)

    def var(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        """Biased variance (divides by n), composed from mean and square."""
        centered = self - self.mean(axis=axis, keepdims=True)
        return (centered * centered).mean(axis=axis, keepdims=keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> "Tensor":
        return ops.max(self, axis=normalize_axis(axis, self.ndim), keepdims=keepdims)

    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape=shape)

    def flatten(self, start_axis: int = 0) -> "Tensor":
        """Merge axes ``start_axis..`` into one (``x.flatten(1)`` keeps the batch axis)."""
        return ops.reshape(self, shape=self.shape[:start_axis] + (-1,))

    def transpose(self, *axes: int) -> "Tensor":
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes=axes or None)

    def log_softmax(self, axis: int = -1) -> "Tensor":
        return ops.log_softmax(self, axis=axis)

    def softmax(self, axis: int = -1) -> "Tensor":
        return ops.exp(ops.log_softmax(self, axis=axis))


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


def seed_gradient(output: Tensor, grad_output: Any) -> np.ndarray:
    """The gradient backward starts from: 1 for a one-element output, else ``grad_output``."""
    if grad_output is None:
        if output._data.size != 1:
            raise RuntimeError(
                f"backward: output has shape {output.shape}; gradients can be implicitly "
                "created only for a scalar output, pass grad_output of the same shape"
            )
        seed = np.empty_like(output._data)
        seed.fill(1)
        return seed
    seed = grad_output._data if isinstance(grad_output, Tensor) else np.asarray(grad_output, dtype=output.dtype)
    if seed.shape != output.shape:
        raise ValueError(f"backward: grad_output has shape {seed.shape} but the output has shape {output.shape}")
    return seed


from . import graph, ops  # noqa: E402  (both need the Tensor class defined above)
from .grad_mode import is_grad_enabled  # noqa: E402
from .node import GradHooks, HookHandle, next_stamp  # noqa: E402
from .primitive import normalize_axis, normalize_index  # noqa: E402
