"""Named kernels: the speed tricks, each in one place with the math it computes.

The op table (``ops.py``) states each VJP as its math; where a faster way to
compute the same quantity on raw arrays pays for itself, the op calls one of
these kernels instead. Every kernel computes exactly its docstring's formula
(up to the order of floating-point additions); which ``benchmarks/step_speed.py``
configuration it pays for, and by how much, is recorded in
``benchmarks/README.md`` ("Named kernels"). All of them take and return plain
NumPy arrays; none is ever differentiated.
"""
from __future__ import annotations

import math

import numpy as np

from .primitive import is_basic_index

_BLAS_FLOATS = "fd"  # dtype.char of float32 and float64
IDENTITY_CACHE: dict[tuple[int, np.dtype], np.ndarray] = {}


def identity(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only n × n identity matrix, cached (its rows are one-hot vectors; at most 16 matrices)."""
    key = (n, dtype)
    matrix = IDENTITY_CACHE.get(key)
    if matrix is None:
        if len(IDENTITY_CACHE) >= 16:
            IDENTITY_CACHE.clear()
        matrix = IDENTITY_CACHE[key] = np.eye(n, dtype=dtype)
        matrix.flags.writeable = False
    return matrix


def sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """x summed over the axes broadcasting added (leading) or stretched (size 1 in ``shape``):
    the adjoint of broadcasting ``shape`` up to ``x.shape``."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Y = X W + b with X's leading axes folded into rows: one 2-D BLAS product."""
    if x.ndim == 2:
        y = x.dot(weight)
    else:
        y = x.reshape(-1, x.shape[-1]).dot(weight).reshape(x.shape[:-1] + weight.shape[1:])
    with_bias = y + bias
    if with_bias.shape != y.shape:
        raise ValueError(f"linear: bias of shape {np.shape(bias)} does not broadcast to the output shape {y.shape}")
    return with_bias


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, tuple]:
    """(L, (E, Z)) with L = -(1/B) Σ_b log softmax(logits_b)[targets_b], E = exp(s) and Z its row sums,
    so that softmax = E / Z (normalised only in the VJP, which scales every row anyway).

    Computed from s = x - max x (finite for large logits): -log P[b, t] = log Z_b - s_b[t].
    """
    batch = logits.shape[0]
    shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
    probs = np.exp(shifted)
    total = np.add.reduce(probs, axis=1)
    losses = np.log(total)
    losses -= shifted[np.arange(batch), targets]
    loss = np.add.reduce(losses) / batch if batch else np.array(np.nan, dtype=logits.dtype)
    return loss, (probs, total)


def one_minus_square(y: np.ndarray) -> np.ndarray:
    """1 - y² computed into one new array (y² in place, then 1 - it in place)."""
    out = np.multiply(y, y, out=np.empty_like(y))
    np.subtract(1, out, out=out)
    return out


def probs_minus_onehot(saved: tuple, targets: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(P - onehot(targets)) · scale as a new array, with P = E / Z from ``softmax_cross_entropy``:
    E scaled row by row by scale / Z, then ``scale`` subtracted at (b, targets_b).

    Two passes instead of building the one-hot matrix; the saved arrays (kept for retain_graph)
    are untouched.
    """
    exps, total = saved
    out = exps * (scale / total)[:, None]
    out[np.arange(len(targets)), targets] -= scale
    return out


def scatter_add(g: np.ndarray, index: object, shape: tuple[int, ...]) -> np.ndarray:
    """zeros(shape) with g added at ``index`` (repeated positions add up).

    An integer array picking rows of a small table (an embedding's gradient) is the
    product onehot(index)ᵀ G, one BLAS call, with the one-hot rows taken from a cached
    identity matrix; otherwise ``np.add.at``, or plain
    assignment for a basic index (which selects each element at most once).
    """
    if _rows_of_small_table(g, index, shape):
        picks = index.reshape(-1)
        onehot = identity(shape[0], g.dtype).take(picks, axis=0)  # (picks, rows); negative indices wrap
        return onehot.T.dot(g.reshape(picks.size, -1)).reshape(shape)
    out = np.zeros(shape, dtype=g.dtype)
    if is_basic_index(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _rows_of_small_table(g: np.ndarray, index: object, shape: tuple[int, ...]) -> bool:
    """Whether the one-hot product is the faster scatter: an integer array indexing the rows of
    a table of at most 256 rows (a character embedding), in a BLAS float dtype."""
    if type(index) is not np.ndarray or index.dtype.kind not in "iu" or not shape:
        return False
    if type(g) is not np.ndarray or g.dtype.char not in _BLAS_FLOATS or g.shape != index.shape + tuple(shape[1:]):
        return False
    rows, picks = shape[0], index.size
    if not (0 < rows <= 256 and rows * picks <= 2**24):
        return False
    # 0 · inf in the product would put NaN in rows never picked: only finite g (a sum is
    # finite only if every element is; an overflow to inf merely falls back).
    return math.isfinite(np.add.reduce(g, axis=None))
