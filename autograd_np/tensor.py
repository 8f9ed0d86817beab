"""Tensor: a NumPy array plus the link to the op that made it.

This class is deliberately thin: every operator and method delegates to an op
in ``ops.py`` (where the forward, the VJP and the math live), and the backward
walk lives in ``graph.py``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np



class Tensor:
    """An n-dimensional array that records the ops applied to it.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)`` accepts an
    ndarray, a (nested) list or a Python scalar; 0-d tensors work like the
    values of a scalar engine. ``data`` and ``grad`` are plain NumPy arrays and
    both may be assigned (``p.data -= lr * p.grad``; ``p.grad = None``).
    """

    __slots__ = ("data", "grad", "_requires_grad", "_node", "name", "__weakref__")

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if dtype is not None:
            if np.iscomplexobj(data) and np.dtype(dtype).kind != "c":
                raise TypeError(f"Tensor: complex data with dtype {np.dtype(dtype)} would drop the imaginary part")
            array = np.array(data, dtype=dtype)
        else:
            array = np.asarray(data)
        if array.dtype == object:
            raise TypeError(f"Tensor: cannot build a tensor from {type(data).__name__} (object array)")
        self.data = array
        self.grad = None
        self._requires_grad = False
        self._node = None
        self.name = name
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _from_node(cls, data: np.ndarray, node: Any) -> "Tensor":
        """The output of a recorded op (made by ``primitive.py``; no validation)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t._requires_grad = True
        t._node = node
        t.name = None
        return t

    @classmethod
    def _constant(cls, data: np.ndarray) -> "Tensor":
        """An op's output when nothing is recorded (no input requires grad, or ``no_grad()``)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t._requires_grad = False
        t._node = None
        t.name = None
        return t

    # ----- attributes -------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {self.data.dtype}"
            )
        if not value and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf tensor; use detach()")
        self._requires_grad = bool(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

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
        if dtype is None or dtype == self.data.dtype:
            return self.data.copy() if copy else self.data  # NumPy trusts a copy=True answer not to alias
        return self.data.astype(dtype)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        extra = f", op={self.op}" if self._node is not None else ""
        extra += ", requires_grad=True" if self._requires_grad else ""
        return f"Tensor({np.array2string(self.data, threshold=20, precision=4)}, dtype={self.dtype}{extra})"

    # ----- conversion --------------------------------------------------------
    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's data, outside any graph."""
        return Tensor._constant(self.data)

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

    def sum(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis: Any = None, keepdims: Any = None, *, ddof: Any = None, correction: Any = None,
            dim: Any = None, keepdim: Any = None) -> "Tensor":
        """Variance dividing by n - ddof; ddof=0 (biased, NumPy's default) unless ``ddof``/``correction`` say otherwise."""
        return functions.var(self, axis, keepdims, ddof=ddof, correction=correction, dim=dim, keepdim=keepdim)

    def max(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape=shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        """Merge axes ``start_dim..end_dim`` into one (``x.flatten(1)`` keeps the batch axis)."""
        return functions.flatten(self, start_dim, end_dim)

    def transpose(self, *dims: int) -> "Tensor":
        """``t.transpose(a, b)`` swaps axes a and b (PyTorch); ``t.transpose()`` reverses all axes
        (NumPy, ``.T``). A full permutation is ``t.permute(...)``."""
        return functions.transpose(self, *dims)

    def log_softmax(self, axis: Any = None, *, dim: Any = None) -> "Tensor":
        return ops.log_softmax(self, axis=functions.pick_axis("log_softmax", axis, dim, -1))

    def softmax(self, axis: Any = None, *, dim: Any = None) -> "Tensor":
        return ops.exp(ops.log_softmax(self, axis=functions.pick_axis("softmax", axis, dim, -1)))

    # ----- comparisons and conversions ---------------------------------------
    # Elementwise, giving a boolean Tensor that never requires grad. Hashing stays by identity
    # (as in PyTorch), so Tensors still work as set members and dict keys.
    __hash__ = object.__hash__

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return functions.eq(self, other) if _comparable(other) else NotImplemented

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return functions.ne(self, other) if _comparable(other) else NotImplemented

    def __lt__(self, other: Any) -> "Tensor":
        return functions.lt(self, other)

    def __le__(self, other: Any) -> "Tensor":
        return functions.le(self, other)

    def __gt__(self, other: Any) -> "Tensor":
        return functions.gt(self, other)

    def __ge__(self, other: Any) -> "Tensor":
        return functions.ge(self, other)

    def __and__(self, other: Any) -> "Tensor":
        return functions.elementwise_constant("and", np.bitwise_and, self, other)

    __rand__ = __and__

    def __or__(self, other: Any) -> "Tensor":
        return functions.elementwise_constant("or", np.bitwise_or, self, other)

    __ror__ = __or__

    def __xor__(self, other: Any) -> "Tensor":
        return functions.elementwise_constant("xor", np.bitwise_xor, self, other)

    __rxor__ = __xor__

    def __invert__(self) -> "Tensor":
        return functions.elementwise_constant("invert", np.invert, self)

    def __bool__(self) -> bool:
        return bool(self.data)  # one element: its truth value; more: NumPy's "ambiguous" error

    def __float__(self) -> float:
        return float(self._one_value("float"))

    def __int__(self) -> int:
        return int(self._one_value("int"))

    def _one_value(self, name: str) -> Any:
        if self.data.size != 1:
            raise TypeError(f"{name}(): only a one-element tensor converts to a number, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    # ----- NumPy's functions on Tensors record ops (see numpy_api.py) -------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return numpy_api.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return numpy_api.array_function(func, args, kwargs)

    # ----- more methods (PyTorch's names; each delegates to functions.py / ops.py) ----
    def abs(self) -> "Tensor":
        return ops.abs(self)

    def sign(self) -> "Tensor":
        return ops.sign(self)

    def sin(self) -> "Tensor":
        return ops.sin(self)

    def cos(self) -> "Tensor":
        return ops.cos(self)

    def erf(self) -> "Tensor":
        return ops.erf(self)

    def floor(self) -> "Tensor":
        return ops.floor(self)

    def ceil(self) -> "Tensor":
        return ops.ceil(self)

    def round(self, decimals: int = 0) -> "Tensor":
        return ops.round(self, decimals=int(decimals))

    def trunc(self) -> "Tensor":
        return ops.trunc(self)

    def square(self) -> "Tensor":
        return ops.mul(self, self)

    def clamp(self, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002 (PyTorch's names)
        return functions.clamp(self, min, max)

    def clip(self, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002
        return functions.clamp(self, min, max)

    def maximum(self, other: Any) -> "Tensor":
        return ops.maximum(self, other)

    def minimum(self, other: Any) -> "Tensor":
        return ops.minimum(self, other)

    def masked_fill(self, mask: Any, value: Any) -> "Tensor":
        return functions.masked_fill(self, mask, value)

    def where(self, condition: Any, other: Any) -> "Tensor":
        """PyTorch's ``x.where(condition, y)``: x where the condition holds, else y."""
        return ops.where(condition, self, other)

    def min(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmax(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def std(self, axis: Any = None, keepdims: Any = None, *, ddof: Any = None, correction: Any = None,
            dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.std(self, axis, keepdims, ddof=ddof, correction=correction, dim=dim, keepdim=keepdim)

    def logsumexp(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def cumsum(self, axis: Any = None, *, dim: Any = None) -> "Tensor":
        return functions.cumsum(self, axis, dim=dim)

    def all(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.all(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def any(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> "Tensor":
        return functions.any(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def view(self, *shape: Any) -> "Tensor":
        """``reshape`` (NumPy arrays have no contiguity rule to enforce)."""
        return functions.reshape(self, *shape)

    def permute(self, *dims: int) -> "Tensor":
        return functions.permute(self, *dims)

    def swapaxes(self, axis1: int, axis2: int) -> "Tensor":
        return functions.transpose(self, axis1, axis2)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> "Tensor":
        return functions.squeeze(self, axis, dim=dim)

    def unsqueeze(self, dim: int) -> "Tensor":
        return functions.expand_dims(self, dim)

    def expand_dims(self, axis: Any) -> "Tensor":
        return functions.expand_dims(self, axis)

    def expand(self, *sizes: Any) -> "Tensor":
        return functions.expand(self, *sizes)

    def broadcast_to(self, *shape: Any) -> "Tensor":
        return functions.broadcast_to(self, *shape)

    def flip(self, *axes: Any, dims: Any = None, axis: Any = None) -> "Tensor":
        """``t.flip(0, 2)``, ``t.flip(dims=(0, 2))`` or ``t.flip(axis=0)``; nothing given: every axis."""
        if axes:
            if dims is not None or axis is not None:
                raise TypeError("flip: give the axes once (positionally, dims= or axis=)")
            axis = axes[0] if len(axes) == 1 else axes
        return functions.flip(self, axis, dims=dims)

    def repeat(self, *sizes: Any) -> "Tensor":
        """PyTorch's ``repeat`` (NumPy's ``tile``): the whole tensor ``sizes[k]`` times along axis k."""
        return functions.repeat(self, *sizes)

    def tile(self, *reps: Any) -> "Tensor":
        return functions.tile(self, reps[0] if len(reps) == 1 else reps)

    def repeat_interleave(self, repeats: Any, dim: Any = None) -> "Tensor":
        return functions.repeat_interleave(self, repeats, dim)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple["Tensor", ...]:
        return functions.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple["Tensor", ...]:
        return functions.chunk(self, chunks, dim)

    def tril(self, diagonal: int = 0) -> "Tensor":
        return functions.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> "Tensor":
        return functions.triu(self, diagonal)

    def gather(self, dim: int, index: Any) -> "Tensor":
        return functions.gather(self, dim, index)

    def pad(self, pad_width: Any, value: float = 0.0) -> "Tensor":
        return functions.pad(self, pad_width, value)


def _comparable(other: Any) -> bool:
    """Whether ``==`` with ``other`` is elementwise (arrays, numbers, nested lists) rather than identity."""
    return isinstance(other, (Tensor, np.ndarray, np.generic, int, float, bool, complex, list, tuple))


def seed_gradient(output: Tensor, grad_output: Any) -> np.ndarray:
    """The gradient backward starts from: 1 for a one-element output, else ``grad_output``."""
    if grad_output is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"backward: output has shape {output.shape}; gradients can be implicitly "
                "created only for a scalar output, pass grad_output of the same shape"
            )
        seed = np.empty_like(output.data)
        seed.fill(1)
        return seed
    seed = grad_output.data if isinstance(grad_output, Tensor) else np.asarray(grad_output, dtype=output.dtype)
    if seed.shape != output.shape:
        raise ValueError(f"backward: grad_output has shape {seed.shape} but the output has shape {output.shape}")
    return seed


from . import functions, graph, numpy_api, ops  # noqa: E402  (all need the Tensor class defined above)
from .primitive import normalize_axis, normalize_index  # noqa: E402
