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
            data = data.data
        array = np.array(data, dtype=dtype) if dtype is not None else np.asarray(data)
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
        return self.data if dtype is None else self.data.astype(dtype)

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


from . import graph, ops  # noqa: E402  (both need the Tensor class defined above)
from .primitive import normalize_axis, normalize_index  # noqa: E402
