"""What the rules of ``ops.py`` compute that is never differentiated: shapes, counts, constant
masks and index arrays. Plain NumPy on shapes and raw arrays (a Tensor argument is read through
``array_of``); the helpers that are themselves written with ops (``sum_to``, ``unreduce``, ...)
stand in ``ops.py`` beside the ops that use them.
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Sequence

import numpy as np

from .primitives import array_of, normalize_axis, shape_of


def dense_shapes_align(x: Any, weight: Any) -> bool:
    """Whether X (..., in) and W (in, out) fit a dense layer."""
    try:
        return weight.ndim == 2 and x.shape[-1] == weight.shape[0]
    except (AttributeError, IndexError):  # a scalar or a list
        x_shape, w_shape = shape_of(x), shape_of(weight)
        return len(w_shape) == 2 and len(x_shape) >= 1 and x_shape[-1] == w_shape[0]


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


def reduced_count(x: Any, y: Any) -> int:
    """How many elements each output of a reduction combined (0 for an empty input)."""
    return x.size // builtins.max(np.size(array_of(y)), 1)


def reciprocal(n: int) -> float:
    """1 / n as a Python float (it keeps float32 float32), and inf for n = 0 (an empty or
    fully corrected reduction) rather than an error or a warning."""
    return math.inf if n == 0 else 1.0 / n


def tie_share(x: Any, y: Any, axis: Any) -> np.ndarray:
    """[x = max] / (number of maxima), a constant: each tied maximum's share of the gradient."""
    x, y = array_of(x), array_of(y)
    winners = x == y.reshape(reduced_shape(x.shape, axis))
    return (winners / winners.sum(axis=axis, keepdims=True)).astype(x.dtype)


def overwritten(shape: tuple[int, ...], index: Any) -> np.ndarray:
    """A constant boolean mask: True at the positions ``index`` selects."""
    mask = np.zeros(shape, dtype=bool)
    mask[index] = True
    return mask


def onehot(targets: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A constant (B, C) array with a 1 at (b, targets[b])."""
    targets = array_of(targets)
    out = np.zeros(shape, dtype=dtype)
    out[np.arange(len(targets)), targets] = 1
    return out


def clip_regions(x: Any, low: Any, high: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constant boolean masks of where ``clip`` keeps x, takes ``low``, takes ``high``."""
    x, low, high = array_of(x), array_of(low), array_of(high)
    false = np.zeros(np.shape(x), dtype=bool)
    below = false if low is None else x < low
    above = false if high is None else x > high
    if low is not None and high is not None:
        crossed = np.greater(low, high)  # np.clip gives high there
        above, below = np.logical_or(above, crossed), np.logical_and(below, np.logical_not(crossed))
    kept = np.logical_not(np.logical_or(below, above))
    return kept, np.asarray(below), np.asarray(above)


def along_axis(x: Any, index: Any, axis: int) -> tuple[np.ndarray, ...]:
    """The integer-array index that picks ``index``'s entries of x along ``axis`` (gather's
    positions): ``index`` there, and each other axis its own arange, all broadcast together."""
    index = np.asarray(array_of(index))
    ndim = np.ndim(x)
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got dtype {index.dtype}")
    if index.ndim != ndim:
        raise ValueError(f"gather: index of shape {index.shape} needs as many axes as the input of shape {shape_of(x)}")
    axis = normalize_axis(axis, ndim)[0]
    for d, (n_index, n_x) in enumerate(zip(index.shape, shape_of(x))):
        if d != axis and n_index > n_x:
            raise ValueError(
                f"gather: index of shape {index.shape} is larger than the input of shape {shape_of(x)} in axis {d}"
            )
    return tuple(
        index if d == axis else np.arange(n).reshape((1,) * d + (n,) + (1,) * (ndim - d - 1))
        for d, n in enumerate(index.shape)
    )


def einsum_sizes(terms: Sequence[str], operands: Sequence[Any]) -> dict[str, int]:
    """The size of each letter of an explicit einsum (not 1 where one operand has it larger: size-1 axes broadcast)."""
    sizes: dict[str, int] = {}
    for term, x in zip(terms, operands):
        for letter, n in zip(term, shape_of(x)):
            if n != 1 or letter not in sizes:  # a size-1 axis broadcasts against the others
                sizes[letter] = n
    return sizes


def tie_repeated_letters(term: str, sizes: dict[str, int], used: set[str]) -> tuple[str, list[tuple[str, str, str]]]:
    """``"iij"`` -> ``("ikj", [("i", "i", "k")])``: each repeat of a letter renamed to a fresh letter,
    and the (letter, first, copy) pairs an identity matrix ties back together."""
    fresh = (c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    seen: set[str] = set()
    out, ties = [], []
    for letter in term:
        if letter in seen:
            copy = next(fresh)
            ties.append((letter, letter, copy))
            out.append(copy)
        else:
            seen.add(letter)
            out.append(letter)
    return "".join(out), ties
