"""Every op of the engine, in one table: forward, VJP, and the math.

How to read this file
---------------------
An op is a function ``y = f(x1, x2, ...)`` on arrays. Reverse mode needs, for
each input ``xi``, its *vector-Jacobian product* (VJP): given ``g = ∂L/∂y``
(written ȳ or G, the same shape as ``y``), return ``∂L/∂xi = ȳ · ∂y/∂xi``
(written x̄i, the same shape as ``xi``). Each op below reads

    @primitive("tanh")
    def tanh(x):                              # forward, on NumPy arrays
        '''y = tanh(x)   VJP: x̄ = ȳ ⊙ (1 - y²)'''
        return np.tanh(x)

    tanh.defvjp(lambda g, y, x: g * one_minus_square(y), rule="dx = G (1 - y^2)")

``defvjp`` takes one VJP per input, ``vjp(g, y, *inputs, **kwargs)``, and a one-line
ASCII ``rule`` (what ``viz.draw(..., show_rule=True)`` writes on the op's nodes).

The VJPs use operators and the ops of this file, never raw NumPy on ``g``: during
``backward()`` they run on plain arrays; under ``grad(..., create_graph=True)``
the same rules run on Tensors and are recorded, so gradients can be
differentiated again. Where computing a rule on arrays has a faster way, the op
calls a named kernel from ``kernels.py`` (the math is the same; see its docstrings).

Broadcasting: an input that the forward broadcast gets the incoming gradient
summed back to its own shape, ``sum_to`` (the adjoint of broadcasting).

The machinery (``primitive``, registration, errors) is in ``primitive.py``; the
backward walk is in ``graph.py``.
"""
from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from . import kernels
from .tensor import Tensor
from .primitive import (  # noqa: F401  (normalize_index: ops.normalize_index is public)
    Primitive, array_of, normalize_axis, normalize_index, not_differentiable, ops_defined_in, primitive, shape_of,
)


# ----------------------------------------------------------------------------
# Broadcasting and its adjoint
# ----------------------------------------------------------------------------
@primitive("sum_to")
def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """y = x summed over the axes that broadcasting added or stretched, down to ``shape``.

    VJP: x̄ = broadcast_to(ȳ, x.shape)        (the adjoint of broadcasting)
    """
    return kernels.sum_to(x, shape)


_sum_to.defvjp(lambda g, y, x, shape: broadcast_to(g, shape=x.shape), rule="dx = G broadcast to x.shape")


@primitive("broadcast_to")
def broadcast_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """y = x broadcast (NumPy rules) to ``shape``.

    VJP: x̄ = sum_to(ȳ, x.shape)
    """
    return np.broadcast_to(x, shape)


broadcast_to.defvjp(lambda g, y, x, shape: sum_to(g, x.shape), rule="dx = G summed to x.shape")


# ----------------------------------------------------------------------------
# Elementwise arithmetic (all broadcast like NumPy)
# ----------------------------------------------------------------------------
@primitive("add")
def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a + b

    VJP: ā = sum_to(ȳ, a.shape);  b̄ = sum_to(ȳ, b.shape)
    (The derivation's bias rule: ∂L/∂b is the batch sum of the pre-activation gradient.)
    """
    return a + b


add.defvjp(
    lambda g, y, a, b: sum_to(g, a.shape),
    lambda g, y, a, b: sum_to(g, b.shape),
    rule="da = G, db = G (summed to shape)",
)


@primitive("sub")
def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a - b

    VJP: ā = sum_to(ȳ, a.shape);  b̄ = -sum_to(ȳ, b.shape)
    """
    return a - b


sub.defvjp(
    lambda g, y, a, b: sum_to(g, a.shape),
    lambda g, y, a, b: -sum_to(g, b.shape),
    rule="da = G, db = -G (summed to shape)",
)


@primitive("mul")
def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a ⊙ b

    VJP: ā = sum_to(ȳ ⊙ b, a.shape);  b̄ = sum_to(ȳ ⊙ a, b.shape)
    """
    return a * b


mul.defvjp(
    lambda g, y, a, b: sum_to(g * b, a.shape),
    lambda g, y, a, b: sum_to(g * a, b.shape),
    rule="da = G b, db = G a",
)


@primitive("div")
def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a / b

    VJP: ā = sum_to(ȳ / b, a.shape);  b̄ = sum_to(-ȳ ⊙ y / b, b.shape)   (∂y/∂b = -a/b² = -y/b)
    """
    return a / b


div.defvjp(
    lambda g, y, a, b: sum_to(g / b, a.shape),
    lambda g, y, a, b: sum_to(-g * y / b, b.shape),
    rule="da = G / b, db = -G y / b",
)


@primitive("neg")
def neg(x: np.ndarray) -> np.ndarray:
    """y = -x

    VJP: x̄ = -ȳ
    """
    return -x


neg.defvjp(lambda g, y, x: -g, rule="dx = -G")


@primitive("pow")
def pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # noqa: A001 (the op's name)
    """y = a ** b

    VJP: ā = sum_to(ȳ ⊙ b ⊙ a^(b-1), a.shape);  b̄ = sum_to(ȳ ⊙ y ⊙ ln a, b.shape)
    (b̄ needs a > 0; it is only computed when the exponent requires grad.)
    """
    return a**b


pow.defvjp(
    lambda g, y, a, b: sum_to(g * b * a ** (b - 1), a.shape),
    lambda g, y, a, b: sum_to(g * y * log(a), b.shape),
    rule="da = G b a^(b-1), db = G y ln(a)",
)


@primitive("astype")
def astype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """y = x converted to ``dtype``

    VJP: x̄ = ȳ converted back to x.dtype
    """
    return x.astype(dtype)


astype.defvjp(lambda g, y, x, dtype: astype(g, dtype=array_of(x).dtype), rule="dx = G as x.dtype")


# ----------------------------------------------------------------------------
# Elementwise functions
# ----------------------------------------------------------------------------
@primitive("tanh")
def tanh(x: np.ndarray) -> np.ndarray:
    """y = tanh(x)

    VJP: x̄ = ȳ ⊙ (1 - y²)        (the derivation's σ'(z) for σ = tanh)
    """
    return np.tanh(x)


tanh.defvjp(lambda g, y, x: g * one_minus_square(y), rule="dx = G (1 - y^2)")


@primitive("sigmoid")
def sigmoid(x: np.ndarray) -> np.ndarray:
    """y = 1 / (1 + e^-x)    (computed as (tanh(x/2) + 1) / 2: no overflow for large |x|)

    VJP: x̄ = ȳ ⊙ y ⊙ (1 - y)
    """
    return 0.5 * (np.tanh(0.5 * x) + 1)


sigmoid.defvjp(lambda g, y, x: g * y * (1 - y), rule="dx = G y (1 - y)")


@primitive("exp")
def exp(x: np.ndarray) -> np.ndarray:
    """y = eˣ

    VJP: x̄ = ȳ ⊙ y
    """
    return np.exp(x)


exp.defvjp(lambda g, y, x: g * y, rule="dx = G y")


@primitive("log")
def log(x: np.ndarray) -> np.ndarray:
    """y = ln x

    VJP: x̄ = ȳ / x
    """
    return np.log(x)


log.defvjp(lambda g, y, x: g / x, rule="dx = G / x")


@primitive("relu")
def relu(x: np.ndarray) -> np.ndarray:
    """y = max(x, 0)

    VJP: x̄ = ȳ ⊙ [x > 0]         (the step is constant almost everywhere)
    """
    return np.maximum(x, 0)


relu.defvjp(lambda g, y, x: g * (array_of(x) > 0), rule="dx = G [x > 0]")


# ----------------------------------------------------------------------------
# Linear algebra
# ----------------------------------------------------------------------------
@primitive("matmul")
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Y = A @ B  (NumPy matmul: batched over leading axes, 1-D operands promoted)

    VJP: Ā = Ȳ Bᵀ;  B̄ = Aᵀ Ȳ   (each summed over broadcast batch axes)

    With a batch in the rows of X and the layer Z = X W, G = ∂L/∂Z gives
    ∂L/∂W = Xᵀ G and ∂L/∂X = G Wᵀ. The derivation stores W transposed
    (z = W x, so Z = X Wᵀ): there the same two rules read Gᵀ X and G W.
    Rows of any batch shape times one matrix, (..., k) @ (k, m), are one 2-D product.
    """
    try:
        if getattr(a, "ndim", 0) > 2 and getattr(b, "ndim", 0) == 2:
            return unfold_rows(fold_rows(a) @ b, a.shape[:-1])
        return a @ b
    except ValueError:
        raise matmul_shape_error(a, b) from None


def _matmul_vjp_a(g: Any, y: Any, a: Any, b: Any) -> Any:  # Ā = Ȳ Bᵀ
    if b.ndim == 2 and a.ndim >= 2:
        return matmul2d(g, b.T) if a.ndim == 2 else matmul(g, b.T)
    g, a2, b2 = _as_matrices(g, a, b)
    return reshape(sum_to(matmul(g, swap_last(b2)), a2.shape), shape=a.shape)


def _matmul_vjp_b(g: Any, y: Any, a: Any, b: Any) -> Any:  # B̄ = Aᵀ Ȳ
    if b.ndim == 2 and a.ndim >= 2:
        return rows_transposed_times(a, g)
    g, a2, b2 = _as_matrices(g, a, b)
    return reshape(sum_to(matmul(swap_last(a2), g), b2.shape), shape=b.shape)


matmul.defvjp(_matmul_vjp_a, _matmul_vjp_b, rule="dA = G B^T, dB = A^T G")


@primitive("linear")
def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Y = X W + b   (a dense layer: one example per row of X, any leading batch axes)

    X is (..., in), W is (in, out), b broadcasts to (..., out) (usually (out,)).

    VJP, with G = Ȳ and X with its leading axes folded into rows:
        X̄ = G Wᵀ;   W̄ = Xᵀ G;   b̄ = Σ_rows G
    These are the derivation's layer rules: it stores W transposed (z = W x,
    so Z = X Wᵀ), where the same rules read G W and Gᵀ X, and the bias
    gradient is the batch sum of the pre-activation gradient.
    The same gradients as ``matmul`` then ``add``, in one tape node instead of two.
    """
    if not dense_shapes_align(x, weight):
        raise ValueError(
            f"linear: input of shape {shape_of(x)} and weight of shape {shape_of(weight)} do not align "
            "(need input (..., in) and weight (in, out))"
        )
    return kernels.linear(x, weight, bias)


linear.defvjp(
    lambda g, y, x, weight, bias: matmul2d(g, weight.T) if g.ndim == 2 else matmul(g, weight.T),
    lambda g, y, x, weight, bias: rows_transposed_times(x, g),
    lambda g, y, x, weight, bias: sum_to(g, bias.shape),
    rule="dX = G W^T, dW = X^T G, db = sum_rows G",
)


# ----------------------------------------------------------------------------
# Reductions
# ----------------------------------------------------------------------------
@primitive("sum")
def sum(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:  # noqa: A001
    """y = Σ x over ``axis``

    VJP: x̄ = ȳ broadcast back over the summed axes
    """
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


sum.defvjp(lambda g, y, x, axis=None, keepdims=False: unreduce(g, x.shape, axis, keepdims), rule="dx = G broadcast")


@primitive("mean")
def mean(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:
    """y = (1/n) Σ x over ``axis`` (n = number of elements averaged)

    VJP: x̄ = ȳ / n broadcast back over the averaged axes
    """
    total = np.add.reduce(x, axis=axis, keepdims=keepdims)
    return total / reduced_count(x, total) if np.size(x) else np.mean(x, axis=axis, keepdims=keepdims)


mean.defvjp(
    lambda g, y, x, axis=None, keepdims=False: unreduce(g, x.shape, axis, keepdims) / reduced_count(x, y),
    rule="dx = G / n broadcast",
)


@primitive("max")
def max(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:  # noqa: A001
    """y = max x over ``axis``

    VJP: x̄ = ȳ ⊙ [x = y] / (number of ties): ȳ goes to the arg-max, and tied
    maxima share it equally (a valid subgradient).
    """
    return np.maximum.reduce(x, axis=axis, keepdims=keepdims)


max.defvjp(
    lambda g, y, x, axis=None, keepdims=False: unreduce(g, x.shape, axis, keepdims) * tie_share(x, y, axis),
    rule="dx = G [x = max] / ties",
)


# ----------------------------------------------------------------------------
# Shape ops
# ----------------------------------------------------------------------------
@primitive("reshape")
def reshape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """y = x with a new shape (same elements, C order)

    VJP: x̄ = reshape(ȳ, x.shape)
    """
    return x.reshape(shape) if isinstance(x, (np.ndarray, np.generic)) else np.reshape(x, shape)


reshape.defvjp(lambda g, y, x, shape: reshape(g, shape=x.shape), rule="dx = G reshaped to x.shape")


@primitive("transpose")
def transpose(x: np.ndarray, axes: tuple[int, ...] | None = None) -> np.ndarray:
    """y = x with its axes permuted (reversed when ``axes`` is None)

    VJP: x̄ = transpose(ȳ, inverse permutation)
    """
    return np.transpose(x, axes)


transpose.defvjp(lambda g, y, x, axes=None: transpose(g, axes=inverse_permutation(axes)), rule="dx = G^T")


@primitive("getitem")
def getitem(x: np.ndarray, index: Any) -> np.ndarray:
    """y = x[index]   (ints, slices, None, Ellipsis, integer/boolean arrays, tuples)

    VJP: x̄ = zeros like x, then ȳ *added* at ``index`` (scatter_add): an element
    picked k times (repeated integer indices) receives the sum of its k
    gradients. Embedding lookup ``C[X]`` is this op; its VJP is the
    derivation's "update the embedding rows from the input gradient".
    """
    return x[index]


getitem.defvjp(lambda g, y, x, index: scatter_add(g, index=index, shape=x.shape), rule="dx = scatter-add of G")


@primitive("scatter_add")
def scatter_add(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """y = zeros(shape) with g added at ``index`` (duplicates accumulate)

    VJP: ḡ = ȳ[index]               (scatter_add and getitem are adjoint)
    """
    return kernels.scatter_add(g, index, shape)


scatter_add.defvjp(lambda g, y, grad_in, index, shape: getitem(g, index=index), rule="dg = G[index]")


@primitive("concatenate")
def _concatenate(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    """y = [x1, x2, ...] joined along ``axis``

    VJP: x̄i = the slice of ȳ that xi occupies along ``axis``
    """
    return np.concatenate(xs, axis=axis)


def _concatenate_vjp(i: int, g: Any, y: Any, *xs: Any, axis: int = 0) -> Any:
    axis = axis % g.ndim
    start = builtins.sum(x.shape[axis] for x in xs[:i])
    return getitem(g, index=(slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),))


_concatenate.defvjp_argnum(_concatenate_vjp, rule="dx_i = G[slice of x_i]")


@primitive("stack")
def _stack(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    """y = [x1, x2, ...] stacked along a new ``axis``

    VJP: x̄i = ȳ indexed at position i of ``axis``
    """
    return np.stack(xs, axis=axis)


_stack.defvjp_argnum(
    lambda i, g, y, *xs, axis=0: getitem(g, index=(slice(None),) * (axis % g.ndim) + (i,)),
    rule="dx_i = G[i]",
)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along an existing axis (``numpy.concatenate``)."""
    return _concatenate(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along a new axis (``numpy.stack``)."""
    return _stack(*tensors, axis=axis)


# ----------------------------------------------------------------------------
# Softmax family
# ----------------------------------------------------------------------------
@primitive("log_softmax")
def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """y = x - log Σ exp(x) over ``axis``  (computed as s - log Σ exp(s), s = x - max x)

    VJP: x̄ = ȳ - softmax(x) ⊙ Σ ȳ   (softmax(x) = exp(y); the sum is over ``axis``)
    """
    shifted = x - np.maximum.reduce(x, axis=axis, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


log_softmax.defvjp(
    lambda g, y, x, axis=-1: g - exp(y) * sum(g, axis=normalize_axis(axis, y.ndim), keepdims=True),
    rule="dx = G - softmax(x) sum(G)",
)


@primitive("cross_entropy", saves=True)
def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fused mean cross-entropy: L = -(1/B) Σ_b log softmax(logits_b)[targets_b]

    ``logits`` has shape (B, C); ``targets`` holds B class indices.

    VJP: logits̄ = L̄ ⊙ (softmax(logits) - onehot(targets)) / B
    (the derivation's "probs - onehot", divided by B because the loss is a mean).
    Its composition ``-log_softmax(x)[arange(B), t].mean()`` gives the same gradient.
    The forward saves the softmax, so backward() needs no second one.
    """
    if logits.ndim != 2 or np.shape(targets) != logits.shape[:1]:
        raise ValueError(
            f"cross_entropy: logits must be (B, C) and targets (B,), got shapes {logits.shape} and {np.shape(targets)}"
        )
    return kernels.softmax_cross_entropy(logits, targets)


def _cross_entropy_vjp(g: Any, y: Any, logits: Any, targets: Any, saved: Any = None) -> Any:
    scale = g / builtins.max(len(targets), 1)
    if saved is not None:  # backward(): the softmax the forward saved, minus onehot, in one pass
        return kernels.probs_minus_onehot(saved, array_of(targets), scale)
    return (softmax_of(logits) - onehot(targets, logits.shape, logits.dtype)) * scale


cross_entropy.defvjp(
    _cross_entropy_vjp,
    not_differentiable("cross_entropy's targets are class indices"),
    rule="dlogits = G (probs - onehot) / B",
)


# ----------------------------------------------------------------------------
# Helpers the rules above share (the FunctionsManual of this table)
# ----------------------------------------------------------------------------
def sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` down to ``shape``: nothing to do (and no tape entry) when it already has it."""
    if not isinstance(x, Tensor):  # raw arrays (backward): skip the op machinery
        return x if x.shape == shape else kernels.sum_to(x, shape)
    return x if x.shape == shape else _sum_to(x, shape=shape)


def matmul2d(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D operands: ``ndarray.dot`` (the BLAS product, without the op call) on raw
    arrays, the matmul op on Tensors."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return matmul(a, b)
    return a.dot(b)


def one_minus_square(y: Any) -> Any:
    """1 - y², for tanh's VJP: one new array on raw arrays (``kernels``), ops on Tensors."""
    return 1 - y * y if isinstance(y, Tensor) else kernels.one_minus_square(y)


def dense_shapes_align(x: Any, weight: Any) -> bool:
    """Whether X (..., in) and W (in, out) fit a dense layer."""
    try:
        return weight.ndim == 2 and x.shape[-1] == weight.shape[0]
    except (AttributeError, IndexError):  # a scalar or a list
        x_shape, w_shape = shape_of(x), shape_of(weight)
        return len(w_shape) == 2 and len(x_shape) >= 1 and x_shape[-1] == w_shape[0]


def rows_transposed_times(x: Any, g: Any) -> Any:
    """Xᵀ G with the leading axes of X (..., n) and G (..., m) folded into rows: a dense layer's
    weight gradient, summed over every example."""
    if isinstance(x, Tensor) or isinstance(g, Tensor):
        return matmul(fold_rows(x).T, fold_rows(g))
    if x.ndim == 2:
        return x.T.dot(g)
    return x.reshape(-1, x.shape[-1]).T.dot(g.reshape(-1, g.shape[-1]))


def fold_rows(x: Any) -> Any:
    """(..., n) -> (rows, n): the leading axes folded into rows (a 2-D x is returned as is)."""
    return x if x.ndim == 2 else reshape(x, shape=(-1, x.shape[-1]))


def unfold_rows(x: Any, leading: tuple[int, ...]) -> Any:
    """(rows, n) -> (*leading, n): the inverse of ``fold_rows``."""
    return reshape(x, shape=leading + x.shape[-1:])


def swap_last(x: Any) -> Any:
    """x with its last two axes swapped (the matrix transpose of a batch of matrices)."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes=tuple(axes))


def _as_matrices(g: Any, a: Any, b: Any) -> tuple[Any, Any, Any]:
    """Promote 1-D matmul operands to matrices (and g to match), as NumPy's matmul does."""
    if a.ndim == 1:
        a = reshape(a, shape=(1,) + a.shape)
        g = reshape(g, shape=g.shape[:-1] + (1,) + g.shape[-1:])
    if b.ndim == 1:
        b = reshape(b, shape=b.shape + (1,))
        g = reshape(g, shape=g.shape + (1,))
    return g, a, b


def matmul_shape_error(a: Any, b: Any) -> ValueError:
    """What is wrong with the shapes of a failed ``a @ b``, in words."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return ValueError(f"matmul: shapes {shape_of(a)} and {shape_of(b)}: matmul needs at least 1-D operands")
    inner_b = shape_of(b)[0] if np.ndim(b) == 1 else shape_of(b)[-2]
    if shape_of(a)[-1] != inner_b:
        return ValueError(f"matmul: shapes {shape_of(a)} and {shape_of(b)} do not align")
    return ValueError(f"matmul: shapes {shape_of(a)} and {shape_of(b)}: the batch axes do not broadcast")


def inverse_permutation(axes: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if axes is None else tuple(int(i) for i in np.argsort([a % len(axes) for a in axes]))


def reduced_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The keepdims=True shape of a reduction over ``axis``."""
    if axis is None:
        return (1,) * len(shape)
    axis = normalize_axis(axis, len(shape))
    return tuple(1 if i in axis else s for i, s in enumerate(shape))


def unreduce(g: Any, x_shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """Broadcast a reduction's gradient back over the reduced axes."""
    if not isinstance(g, Tensor):  # raw arrays (backward): skip the op machinery
        return np.broadcast_to(g if keepdims else np.reshape(g, reduced_shape(x_shape, axis)), x_shape)
    if not keepdims:
        g = reshape(g, shape=reduced_shape(x_shape, axis))
    return broadcast_to(g, shape=x_shape)


def reduced_count(x: Any, y: Any) -> int:
    """How many elements each output of a reduction combined (0 for an empty input)."""
    return x.size // builtins.max(np.size(array_of(y)), 1)


def tie_share(x: Any, y: Any, axis: Any) -> np.ndarray:
    """[x = max] / (number of maxima), a constant: each tied maximum's share of the gradient."""
    x, y = array_of(x), array_of(y)
    winners = x == y.reshape(reduced_shape(x.shape, axis))
    return (winners / winners.sum(axis=axis, keepdims=True)).astype(x.dtype)


def onehot(targets: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A constant (B, C) array with a 1 at (b, targets[b])."""
    targets = array_of(targets)
    out = np.zeros(shape, dtype=dtype)
    out[np.arange(len(targets)), targets] = 1
    return out


def softmax_of(logits: Any) -> Any:
    """softmax(logits) over the last axis, as ops (differentiable)."""
    return exp(log_softmax(logits, axis=-1))


#: Every op of this file, by name (each registered itself when defined).
OPS: dict[str, Primitive] = ops_defined_in(__name__)
