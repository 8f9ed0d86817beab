"""The package-level functions, spelled as PyTorch spells them: ``autograd_np.where``,
``maximum``, ``clamp``, ``cat``, ``tril``, ``gather``, comparisons, ...

Each one checks its arguments (``dim=`` is accepted for ``axis=`` and ``keepdim=``
for ``keepdims=``; giving both is an error) and calls the ops of ``ops.py``, which
hold the forward, the VJP and the math. ``api.py``'s table makes each of them
``autograd_np.<name>``, the Tensor method of that name and the NumPy entry.

Where NumPy and PyTorch give one name two meanings, these follow PyTorch
(``transpose(x, a, b)`` swaps two axes; ``split(x, size)`` cuts pieces of that size);
NumPy's own functions keep NumPy's meaning through dispatch (``np.transpose``,
``np.split``).

Functions whose result has no gradient (comparisons, ``argmax``) return a Tensor
that never requires grad and record nothing.
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from . import ops
from .primitives import array_of, normalize_axis, shape_of
from .tensor_type import Tensor

_UNSET: Any = object()


# ----------------------------------------------------------------------------
# Argument plumbing: NumPy's and PyTorch's spellings of the same argument
# ----------------------------------------------------------------------------
def pick_axis(name: str, axis: Any, dim: Any, default: Any = None) -> Any:
    """``axis`` or its PyTorch spelling ``dim`` (both given is an error); ``default`` if neither."""
    if dim is not None:
        if axis is not None and axis is not _UNSET:
            raise TypeError(f"{name}: got both axis={axis!r} and dim={dim!r}; pass one of them")
        return dim
    return default if axis is None or axis is _UNSET else axis


def pick_keepdims(name: str, keepdims: Any, keepdim: Any) -> bool:
    """``keepdims`` or its PyTorch spelling ``keepdim`` (both given is an error)."""
    if keepdim is not None:
        if keepdims is not None:
            raise TypeError(f"{name}: got both keepdims={keepdims!r} and keepdim={keepdim!r}; pass one of them")
        return bool(keepdim)
    return bool(keepdims)


def _axes(name: str, x: Any, axis: Any) -> tuple[int, ...] | None:
    if isinstance(axis, (Tensor, np.ndarray)):
        hint = {"max": "maximum(a, b)", "min": "minimum(a, b)"}.get(name)
        raise TypeError(f"{name}: the second argument is an axis, got a {type(axis).__name__}"
                        + (f"; the elementwise {name}imum of two tensors is {hint}" if hint else ""))
    try:
        return normalize_axis(axis, np.ndim(array_of(x)))
    except (np.exceptions.AxisError, TypeError) as error:
        raise np.exceptions.AxisError(f"{name}: input shape {shape_of(x)}: {error}") from None


def _one_axis(name: str, x: Any, axis: Any) -> int:
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: dim/axis must be one integer, got {axis!r}")
    return _axes(name, x, axis)[0] if np.ndim(array_of(x)) else 0


def _sizes(name: str, sizes: tuple) -> tuple[int, ...]:
    """``f(2, 3)`` or ``f((2, 3))``: the sizes as one tuple of ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if not builtins.all(isinstance(s, (int, np.integer)) for s in sizes):
        raise TypeError(f"{name}: sizes must be integers, got {sizes!r}")
    return tuple(int(s) for s in sizes)


# ----------------------------------------------------------------------------
# Reductions
# ----------------------------------------------------------------------------
def sum(x: Any, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor:  # noqa: A001
    """Σ over ``axis`` (all axes by default)."""
    return ops.sum(x, axis=_axes("sum", x, pick_axis("sum", axis, dim)), keepdims=pick_keepdims("sum", keepdims, keepdim))


def mean(x: Any, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor:
    """The mean over ``axis`` (all axes by default)."""
    return ops.mean(x, axis=_axes("mean", x, pick_axis("mean", axis, dim)), keepdims=pick_keepdims("mean", keepdims, keepdim))


def max(x: Any, dim: Any = None, keepdim: Any = None, *, axis: Any = None, keepdims: Any = None) -> Any:  # noqa: A001
    """PyTorch's rule: ``max(x)`` is the overall maximum; ``max(x, dim)`` (positional or ``dim=``) is
    ``(values, indices)`` along that axis, the gradient going to the returned index. NumPy's ``axis=``
    (one axis or several) gives the values only, tied maxima sharing the gradient equally."""
    return _max_min("max", ops.max, np.argmax, x, dim, keepdim, axis, keepdims)


def min(x: Any, dim: Any = None, keepdim: Any = None, *, axis: Any = None, keepdims: Any = None) -> Any:  # noqa: A001
    """As ``max``: ``min(x, dim)`` is ``(values, indices)``; ``axis=`` gives the values only."""
    return _max_min("min", ops.min, np.argmin, x, dim, keepdim, axis, keepdims)


def _ddof(name: str, ddof: Any, correction: Any) -> int:
    if correction is not None:
        if ddof is not None:
            raise TypeError(f"{name}: got both ddof={ddof!r} and correction={correction!r}; pass one of them")
        return int(correction)
    return 0 if ddof is None else int(ddof)


def var(
    x: Any, axis: Any = None, keepdims: Any = None, *, ddof: Any = None, correction: Any = None,
    dim: Any = None, keepdim: Any = None,
) -> Tensor:
    """Variance over ``axis``, dividing by n - ddof. The default ddof=0 is NumPy's (biased);
    PyTorch's default is correction=1: pass ``correction=1`` (or ``ddof=1``) for the unbiased one."""
    return ops.var(
        x, axis=_axes("var", x, pick_axis("var", axis, dim)), keepdims=pick_keepdims("var", keepdims, keepdim),
        ddof=_ddof("var", ddof, correction),
    )


def std(
    x: Any, axis: Any = None, keepdims: Any = None, *, ddof: Any = None, correction: Any = None,
    dim: Any = None, keepdim: Any = None,
) -> Tensor:
    """Standard deviation, √var (same ``ddof``/``correction`` convention as ``var``)."""
    return ops.std(
        x, axis=_axes("std", x, pick_axis("std", axis, dim)), keepdims=pick_keepdims("std", keepdims, keepdim),
        ddof=_ddof("std", ddof, correction),
    )


def logsumexp(x: Any, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor:
    """log Σ exp(x) over ``axis``, computed stably (finite for large x)."""
    return ops.logsumexp(
        x, axis=_axes("logsumexp", x, pick_axis("logsumexp", axis, dim)),
        keepdims=pick_keepdims("logsumexp", keepdims, keepdim),
    )


def cumsum(x: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
    """Cumulative sum along ``axis`` (None: over the flattened tensor, as NumPy)."""
    axis = pick_axis("cumsum", axis, dim)
    return ops.cumsum(x, axis=None if axis is None else _one_axis("cumsum", x, axis))


def _arg_reduction(name: str, np_fn: Any, x: Any, axis: Any, keepdims: Any, dim: Any, keepdim: Any) -> Tensor:
    axis = pick_axis(name, axis, dim)
    keep = pick_keepdims(name, keepdims, keepdim)
    data = array_of(x)
    try:
        if axis is None:
            result = np_fn(data)
            return Tensor._of(np.asarray(result).reshape((1,) * data.ndim if keep else ()))
        return Tensor._of(np.asarray(np_fn(data, axis=_one_axis(name, x, axis), keepdims=keep)))
    except ValueError as error:  # an empty axis has no arg-max
        raise ValueError(f"{name}: input shape {shape_of(x)}: {error}") from None


def argmax(x: Any, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor:
    """Index of the maximum (of the flattened tensor when ``axis`` is None): an integer Tensor, no gradient.
    The first of tied maxima wins."""
    return _arg_reduction("argmax", np.argmax, x, axis, keepdims, dim, keepdim)


def argmin(x: Any, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor:
    """Index of the minimum: an integer Tensor, no gradient. The first of tied minima wins."""
    return _arg_reduction("argmin", np.argmin, x, axis, keepdims, dim, keepdim)


# ----------------------------------------------------------------------------
# Elementwise
# ----------------------------------------------------------------------------
def clamp(x: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (PyTorch's names)
    """Each element limited to [min, max]; either bound may be None (no limit) or a Tensor
    (which then gets the gradient where it is the result). A value on a bound keeps its gradient."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    for bound in (min, max):
        if bound is not None and np.asarray(array_of(bound)).dtype.kind == "c":
            raise TypeError("clamp: a complex bound is not supported")
    return ops.clip(x, min, max)


def clip(x: Any, a_min: Any = None, a_max: Any = None, *, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """``clamp`` under NumPy's name and argument names (``a_min``/``a_max``, or ``min``/``max``)."""
    return clamp(x, pick_axis("clip", a_min, min), pick_axis("clip", a_max, max))


def masked_fill(x: Any, mask: Any, value: Any) -> Tensor:
    """``x`` with ``value`` wherever the boolean ``mask`` is True (``where(mask, value, x)``)."""
    if np.asarray(array_of(mask)).dtype.kind != "b":
        raise TypeError(f"masked_fill: mask must be a boolean tensor, got dtype {np.asarray(array_of(mask)).dtype}")
    if np.iscomplexobj(array_of(value)) and not np.iscomplexobj(array_of(x)):
        raise TypeError("masked_fill: a complex value in a real tensor would drop its imaginary part")
    if not isinstance(value, Tensor):
        value = np.asarray(value, dtype=array_of(x).dtype)  # the fill value takes x's dtype, as in PyTorch
    return ops.where(mask, value, x)


def sqrt(x: Any) -> Tensor:
    """√x elementwise (``x ** 0.5``: the ``pow`` op)."""
    return ops.pow(x, 0.5)


def square(x: Any) -> Tensor:
    """x² elementwise (``x * x``: the ``mul`` op)."""
    return ops.mul(x, x)


# ----------------------------------------------------------------------------
# Shape
# ----------------------------------------------------------------------------
def reshape(x: Any, *shape: Any) -> Tensor:
    """``reshape(x, 2, 3)`` or ``reshape(x, (2, 3))``; one size may be -1."""
    return ops.reshape(x, shape=_sizes("reshape", shape))


def transpose(x: Any, *dims: int) -> Tensor:
    """PyTorch's transpose: ``transpose(x, a, b)`` swaps axes a and b; ``transpose(x)`` reverses
    all axes (NumPy's and ``.T``). A full permutation is ``permute``."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    ndim = np.ndim(array_of(x))
    if not dims:
        return ops.transpose(x, axes=None)
    if len(dims) != 2:
        raise TypeError(
            f"transpose: got {len(dims)} ax{'is' if len(dims) == 1 else 'es'} {dims}; transpose(a, b) swaps two axes, "
            f"transpose() reverses them, and a full permutation is permute({', '.join(map(str, dims))})"
        )
    a, b = (_one_axis("transpose", x, d) for d in dims)
    axes = list(range(ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return ops.transpose(x, axes=tuple(axes))


def permute(x: Any, *dims: int) -> Tensor:
    """The axes of x in the order ``dims`` (a permutation of 0..ndim-1; negative axes count from the end)."""
    dims = _sizes("permute", dims)
    ndim = np.ndim(array_of(x))
    if len(dims) != ndim or sorted(d % ndim if ndim and -ndim <= d < ndim else -1 for d in dims) != list(range(ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {ndim} axes of shape {shape_of(x)}")
    return ops.transpose(x, axes=tuple(d % ndim for d in dims))


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """x with axes ``axis1`` and ``axis2`` swapped (``transpose(x, axis1, axis2)``)."""
    return transpose(x, axis1, axis2)


def squeeze(x: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
    """Drop axes of size 1 (all of them, or those in ``axis``). Naming an axis whose size is
    not 1 is an error (NumPy's rule; PyTorch would leave it)."""
    shape = shape_of(x)
    axes = _axes("squeeze", x, pick_axis("squeeze", axis, dim))
    if axes is None:
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
    wrong = [a for a in axes if shape[a] != 1]
    if wrong:
        raise ValueError(f"squeeze: axis {wrong[0]} of shape {shape} has size {shape[wrong[0]]}, not 1")
    return ops.reshape(x, shape=tuple(n for i, n in enumerate(shape) if i not in axes))


def unsqueeze(x: Any, dim: int) -> Tensor:
    """A new axis of size 1 at position ``dim`` (negative counts from the end of the result)."""
    return expand_dims(x, dim)


def expand_dims(x: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
    """New axes of size 1 at the positions ``axis`` (of the result), NumPy's ``expand_dims``."""
    axis = pick_axis("expand_dims", axis, dim)
    if axis is None:
        raise TypeError("expand_dims: the position of the new axis (axis= or dim=) is required")
    shape = shape_of(x)
    positions = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    ndim = len(shape) + len(positions)
    try:
        new = normalize_axis(positions, ndim)
    except np.exceptions.AxisError as error:
        raise np.exceptions.AxisError(f"unsqueeze: input shape {shape}: {error}") from None
    rest = iter(shape)
    return ops.reshape(x, shape=tuple(1 if i in new else next(rest) for i in range(ndim)))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` (inclusive) into one."""
    shape = shape_of(x)
    if not shape:
        return ops.reshape(x, shape=(1,))
    start, end = _one_axis("flatten", x, start_dim), _one_axis("flatten", x, end_dim)
    return ops.reshape(x, shape=shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])  # not -1: 0 sizes


def broadcast_to(x: Any, *shape: Any) -> Tensor:
    """x broadcast to ``shape`` (NumPy rules)."""
    return ops.broadcast_to(x, shape=_sizes("broadcast_to", shape))


def expand(x: Any, *sizes: Any) -> Tensor:
    """PyTorch's expand: broadcast to ``sizes``, where -1 keeps that axis's size."""
    sizes = _sizes("expand", sizes)
    shape = shape_of(x)
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ValueError(f"expand: {sizes} has fewer axes than the input of shape {shape}")
    if builtins.any(s == -1 for s in sizes[:lead]):
        raise ValueError(f"expand: -1 is not allowed for a new leading axis in {sizes}")
    return ops.broadcast_to(x, shape=tuple(shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)))


def flip(x: Any, axis: Any = None, *, dims: Any = None) -> Tensor:
    """Reverse the order of elements along ``axis``/``dims`` (None: every axis)."""
    return ops.flip(x, axis=_axes("flip", x, pick_axis("flip", axis, dims)))


def tile(x: Any, reps: Any) -> Tensor:
    """Repeat the whole tensor ``reps[k]`` times along axis k (NumPy's ``tile``)."""
    reps = (reps,) if isinstance(reps, (int, np.integer)) else _sizes("tile", (reps,))
    if builtins.any(r < 0 for r in reps):
        raise ValueError(f"tile: repetitions {reps} must not be negative")
    return ops.tile(x, reps=reps)


def repeat(x: Any, *sizes: Any) -> Tensor:
    """PyTorch's ``repeat``: the whole tensor repeated ``sizes[k]`` times along axis k (NumPy's
    ``tile``; NumPy's ``repeat`` is ``repeat_interleave``)."""
    sizes = _sizes("repeat", sizes)
    if len(sizes) < np.ndim(array_of(x)):
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor of shape {shape_of(x)}; give at least one per axis")
    return tile(x, sizes)


def repeat_interleave(x: Any, repeats: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
    """Each element repeated ``repeats`` times along ``axis`` (NumPy's ``repeat``; None: flattened).
    Composed as indexing, so the gradient adds up the copies."""
    axis = pick_axis("repeat_interleave", axis, dim)
    if axis is None:
        x, axis = ops.reshape(x, shape=(-1,)), 0
    axis = _one_axis("repeat_interleave", x, axis)
    n = shape_of(x)[axis]
    try:
        picks = np.repeat(np.arange(n), np.asarray(array_of(repeats)))
    except ValueError as error:
        raise ValueError(f"repeat_interleave: input shape {shape_of(x)}, axis {axis}: {error}") from None
    return ops.getitem(x, index=(slice(None),) * axis + (picks,) if axis else picks)


def pad(x: Any, pad_width: Any, value: float = 0.0) -> Tensor:
    """NumPy's constant ``pad``: ``pad_width`` is n, (before, after) or one (before, after) per axis.
    (PyTorch's last-axis-first spelling is ``functional.pad``.)"""
    ndim = np.ndim(array_of(x))
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {shape_of(x)}") from None
    return ops.pad(x, widths=tuple((int(a), int(b)) for a, b in widths), value=value)


def tril(x: Any, diagonal: int = 0, *, k: Any = None) -> Tensor:
    """The lower triangle (zero above ``diagonal``) of the last two axes."""
    return ops.tril(x, k=int(pick_axis("tril", diagonal if diagonal else None, k, 0)))


def triu(x: Any, diagonal: int = 0, *, k: Any = None) -> Tensor:
    """The upper triangle (zero below ``diagonal``) of the last two axes."""
    return ops.triu(x, k=int(pick_axis("triu", diagonal if diagonal else None, k, 0)))


def gather(x: Any, dim: int, index: Any) -> Tensor:
    """PyTorch's gather: ``y[i][j] = x[index[i][j]][j]`` for dim 0 (x[i][index[i][j]] for dim 1, ...).
    ``index`` has x's number of axes and is no larger than x outside ``dim``; y has its shape."""
    return ops.gather(x, index, axis=_one_axis("gather", x, dim))


def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """NumPy's take_along_axis: ``gather`` with ``indices`` broadcast against x outside ``axis``."""
    axis = _one_axis("take_along_axis", x, axis)
    idx = np.asarray(array_of(indices))
    if idx.ndim != np.ndim(array_of(x)):
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} need as many axes as the input of shape {shape_of(x)}")
    target = tuple(n if d == axis or m == 1 else m for d, (n, m) in enumerate(zip(idx.shape, shape_of(x))))
    try:
        idx = np.broadcast_to(idx, target)
    except ValueError:
        raise ValueError(
            f"take_along_axis: indices of shape {idx.shape} do not broadcast against the input of shape "
            f"{shape_of(x)} outside axis {axis}"
        ) from None
    return ops.gather(x, idx, axis=axis)


def cat(tensors: Sequence[Any], dim: Any = None, *, axis: Any = None) -> Tensor:
    """Join along an existing axis (``dim``/``axis``, default 0)."""
    tensors = _tensor_sequence("cat", tensors)
    return ops._concatenate(*tensors, axis=pick_axis("cat", axis, dim, 0))


def concatenate(tensors: Sequence[Any], axis: Any = 0, *, dim: Any = None) -> Tensor:
    """Join along an existing axis (NumPy's name; ``cat`` is PyTorch's)."""
    tensors = _tensor_sequence("concatenate", tensors)
    return ops._concatenate(*tensors, axis=pick_axis("concatenate", None if axis == 0 else axis, dim, 0))


def stack(tensors: Sequence[Any], axis: Any = 0, *, dim: Any = None) -> Tensor:
    """Join along a new axis."""
    tensors = _tensor_sequence("stack", tensors)
    return ops._stack(*tensors, axis=pick_axis("stack", None if axis == 0 else axis, dim, 0))


def _tensor_sequence(name: str, tensors: Any) -> list:
    if isinstance(tensors, (Tensor, np.ndarray)):
        raise TypeError(f"{name}: expected a sequence of tensors, got a single {type(tensors).__name__}")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name}: needs at least one tensor")
    return tensors


def split(x: Any, split_size_or_sections: Any, dim: Any = None, *, axis: Any = None) -> tuple[Tensor, ...]:
    """PyTorch's split: pieces of ``split_size`` along ``dim`` (the last one may be smaller), or
    pieces of the sizes in a list. (NumPy's ``np.split`` takes split *positions* or a count.)"""
    axis = _one_axis("split", x, pick_axis("split", axis, dim, 0))
    n = shape_of(x)[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [builtins.min(size, n - start) for start in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} do not add up to {n}, the size of axis {axis} of shape {shape_of(x)}")
    return _pieces(x, axis, sizes)


def chunk(x: Any, chunks: int, dim: Any = None, *, axis: Any = None) -> tuple[Tensor, ...]:
    """PyTorch's chunk: at most ``chunks`` pieces of ceil(n / chunks) along ``dim``."""
    if int(chunks) <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    axis = _one_axis("chunk", x, pick_axis("chunk", axis, dim, 0))
    n = shape_of(x)[axis]
    return split(x, builtins.max(-(-n // int(chunks)), 1), axis)


def array_split_at(x: Any, indices_or_sections: Any, axis: int = 0) -> tuple[Tensor, ...]:
    """NumPy's ``split``: a count of equal sections, or the positions to cut at."""
    axis = _one_axis("split", x, axis)
    n = shape_of(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        count = int(indices_or_sections)
        if count <= 0 or n % count:
            raise ValueError(f"split: axis {axis} of shape {shape_of(x)} does not divide into {count} equal sections")
        return _pieces(x, axis, [n // count] * count)
    cuts = [0] + [builtins.min(builtins.max(int(i), 0), n) for i in indices_or_sections] + [n]
    return _pieces(x, axis, [builtins.max(b - a, 0) for a, b in zip(cuts, cuts[1:])], starts=cuts[:-1])


def _pieces(x: Any, axis: int, sizes: list[int], starts: list[int] | None = None) -> tuple[Tensor, ...]:
    if starts is None:
        starts = [builtins.sum(sizes[:i]) for i in range(len(sizes))]
    before = (slice(None),) * axis
    return tuple(ops.getitem(x, index=before + (slice(s, s + size),)) for s, size in zip(starts, sizes))


# ----------------------------------------------------------------------------
# Comparisons and logic: constant Tensors (never requiring grad, nothing recorded)
# ----------------------------------------------------------------------------
def elementwise_constant(name: str, ufunc: np.ufunc, *operands: Any) -> Tensor:
    """``ufunc`` on the operands' arrays, as a Tensor that does not require grad."""
    arrays = [array_of(a) for a in operands]
    try:
        return Tensor._of(np.asarray(ufunc(*arrays)))
    except (ValueError, TypeError) as error:
        shapes = " and ".join(str(shape_of(a)) for a in arrays)
        raise type(error)(f"{name}: shapes {shapes}: {error}") from None


def _elementwise_comparison(name: str, ufunc: np.ufunc) -> Callable[[Any, Any], Tensor]:
    def compare(a: Any, b: Any) -> Tensor:
        return elementwise_constant(name, ufunc, a, b)

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"Elementwise ``np.{ufunc.__name__}``: a boolean Tensor that never requires grad."
    return compare


eq = _elementwise_comparison("eq", np.equal)
ne = _elementwise_comparison("ne", np.not_equal)
lt = _elementwise_comparison("lt", np.less)
le = _elementwise_comparison("le", np.less_equal)
gt = _elementwise_comparison("gt", np.greater)
ge = _elementwise_comparison("ge", np.greater_equal)
logical_and = _elementwise_comparison("logical_and", np.logical_and)
logical_or = _elementwise_comparison("logical_or", np.logical_or)


def logical_not(a: Any) -> Tensor:
    """Elementwise ``np.logical_not``: a boolean Tensor that never requires grad."""
    return elementwise_constant("logical_not", np.logical_not, a)


def isnan(a: Any) -> Tensor:
    """Where the values are NaN: a boolean Tensor that never requires grad."""
    return elementwise_constant("isnan", np.isnan, a)


def isfinite(a: Any) -> Tensor:
    """Where the values are finite: a boolean Tensor that never requires grad."""
    return elementwise_constant("isfinite", np.isfinite, a)


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """Whether all values agree within ``atol + rtol * |b|`` (a Python bool)."""
    return bool(np.allclose(array_of(a), array_of(b), rtol=rtol, atol=atol))


def all(x: Any, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor:  # noqa: A001
    """Whether every value over ``axis`` is true: a boolean Tensor that never requires grad."""
    axes = _axes("all", x, pick_axis("all", axis, dim))
    return Tensor._of(np.asarray(np.all(array_of(x), axis=axes, keepdims=pick_keepdims("all", keepdims, keepdim))))


def any(x: Any, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor:  # noqa: A001
    """Whether any value over ``axis`` is true: a boolean Tensor that never requires grad."""
    axes = _axes("any", x, pick_axis("any", axis, dim))
    return Tensor._of(np.asarray(np.any(array_of(x), axis=axes, keepdims=pick_keepdims("any", keepdims, keepdim))))


# ----------------------------------------------------------------------------
# max/min along a dim: PyTorch's (values, indices)
# ----------------------------------------------------------------------------
class ValuesIndices(NamedTuple):
    """What ``max(dim)`` / ``min(dim)`` return (PyTorch's ``torch.return_types.max``)."""

    values: Tensor
    indices: Tensor


def _max_min(name: str, op: Any, arg_fn: Any, x: Any, dim: Any, keepdim: Any, axis: Any, keepdims: Any) -> Any:
    keep = pick_keepdims(name, keepdims, keepdim)
    if dim is None:
        return op(x, axis=_axes(name, x, axis), keepdims=keep)
    if axis is not None:
        raise TypeError(f"{name}: got both axis={axis!r} and dim={dim!r}; pass one of them")
    _axes(name, x, dim)  # a Tensor given as the axis: the error points to maximum/minimum
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name}: dim must be one integer ({name}(dim) returns (values, indices)); "
                        f"for the {name}imum over several axes pass axis={dim!r}")
    data = array_of(x)
    a = _one_axis(name, x, dim)
    if data.ndim == 0:  # PyTorch: a 0-d tensor's max(0) is itself, index 0
        return ValuesIndices(ops.reshape(x, shape=()), Tensor._of(np.zeros((), dtype=np.int64)))
    if data.shape[a] == 0:
        raise IndexError(f"{name}: input shape {data.shape}: dim {dim} has size 0, so there is no {name}imum")
    index = arg_fn(data, axis=a, keepdims=True).astype(np.int64)
    values = ops.gather(x, index, axis=a)
    if not keep:
        index = index.squeeze(a)
        values = ops.reshape(values, shape=index.shape)
    return ValuesIndices(values, Tensor._of(index))


# ----------------------------------------------------------------------------
# Products, contractions and more shape functions (composites of ops; einsum is the op)
# ----------------------------------------------------------------------------
def prod(x: Any, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Tensor:
    """Π over ``axis`` (all axes by default); the gradient at a single zero is the product of the others."""
    return ops.prod(x, axis=_axes("prod", x, pick_axis("prod", axis, dim)), keepdims=pick_keepdims("prod", keepdims, keepdim))


def cumprod(x: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
    """Cumulative product along ``axis`` (None: over the flattened tensor, as NumPy)."""
    axis = pick_axis("cumprod", axis, dim)
    return ops.cumprod(x, axis=None if axis is None else _one_axis("cumprod", x, axis))


def roll(x: Any, shifts: Any, dims: Any = None, *, axis: Any = None, shift: Any = None) -> Tensor:
    """Shift the elements by ``shifts`` along ``dims`` (PyTorch) or ``shift``/``axis`` (NumPy), wrapping around."""
    shifts = pick_axis("roll", shifts, shift)
    axis = pick_axis("roll", dims, axis)
    if axis is not None:
        axis = _axes("roll", x, axis) if isinstance(axis, (int, np.integer)) else tuple(
            _one_axis("roll", x, a) for a in axis)
        axis = axis[0] if len(axis) == 1 and isinstance(shifts, (int, np.integer)) else axis
    if not isinstance(shifts, (int, np.integer)):
        shifts = tuple(int(s) for s in shifts)
    return ops.roll(x, shift=shifts, axis=axis)


def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """Axes ``source`` moved to positions ``destination``, the others in order (a transpose)."""
    ndim = np.ndim(array_of(x))
    source = [source] if isinstance(source, (int, np.integer)) else list(source)
    destination = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: {len(source)} source axes but {len(destination)} destinations")
    src = [_one_axis("moveaxis", x, a) for a in source]
    dst = [normalize_axis(a, ndim)[0] for a in destination]
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return ops.transpose(x, axes=tuple(order))


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, any subscripts NumPy accepts: ``"ij,jk->ik"``, implicit output (``"ij,jk"``),
    ``...`` for broadcast leading axes, repeated letters (``"ii->i"``, ``"ii"``). PyTorch's list form
    ``einsum("ij,jk", [a, b])`` too. One ``einsum`` op records it (its VJP is an einsum)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return ops.einsum(*operands, subscripts=explicit_subscripts(subscripts, [shape_of(x) for x in operands]))


def explicit_subscripts(subscripts: str, shapes: Sequence[tuple[int, ...]]) -> str:
    """``"...ij,...jk"`` with shapes (2, 3, 4), (4, 5) -> ``"aij,jk->aik"``: the ellipsis spelled with
    unused letters (aligned from the right, as broadcasting) and the output made explicit."""
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, got {len(shapes)}")
    spare = [c for c in _LETTERS if c not in text]
    batch_ndims = [len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes) if "..." in t]
    batch = "".join(spare[:builtins.max(batch_ndims, default=0)])
    spelled = []
    for term, shape in zip(terms, shapes):
        named = term.replace("...", "")
        if (named and not named.isalpha()) or term.count("...") > 1:
            raise ValueError(f"einsum: {term!r} in {subscripts!r} is not letters with at most one '...'")
        if "..." in term:
            lead = len(shape) - len(named)
            term = term.replace("...", batch[len(batch) - lead:] if lead > 0 else "")
        if len(term) != len(shape):
            raise ValueError(f"einsum: {term!r} names {len(term)} axes but the operand has shape {shape}")
        spelled.append(term)
    if arrow:
        output = output.replace("...", batch)
    else:
        counts = "".join(t.replace("...", "") for t in terms)
        output = batch + "".join(sorted(c for c in set(counts) if counts.count(c) == 1))
    return ",".join(spelled) + "->" + output


def tensordot(a: Any, b: Any, axes: Any = 2, *, dims: Any = None) -> Tensor:
    """Σ over ``axes`` of a (its last n, or the listed ones) against b's (first n, or listed): NumPy's
    and PyTorch's ``tensordot``, as one einsum."""
    axes = pick_axis("tensordot", axes if axes != 2 else None, dims, 2)
    na, nb = np.ndim(array_of(a)), np.ndim(array_of(b))
    if isinstance(axes, (int, np.integer)):
        left, right = list(range(na - int(axes), na)), list(range(int(axes)))
    else:
        left, right = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    left = [_one_axis("tensordot", a, i) for i in left]
    right = [_one_axis("tensordot", b, i) for i in right]
    if len(left) != len(right):
        raise ValueError(f"tensordot: {len(left)} axes of a but {len(right)} of b")
    la, lb = list(_LETTERS[:na]), list(_LETTERS[na:na + nb])
    for i, j in zip(left, right):
        lb[j] = la[i]
    out = [c for k, c in enumerate(la) if k not in left] + [c for k, c in enumerate(lb) if k not in right]
    return ops.einsum(a, b, subscripts="".join(la) + "," + "".join(lb) + "->" + "".join(out))


def outer(a: Any, b: Any) -> Tensor:
    """a_i b_j of the flattened a and b."""
    return ops.einsum(ops.reshape(a, shape=(-1,)), ops.reshape(b, shape=(-1,)), subscripts="i,j->ij")


def inner(a: Any, b: Any) -> Tensor:
    """Σ over the last axis of a and of b: shape a.shape[:-1] + b.shape[:-1] (a 0-d operand multiplies)."""
    na, nb = np.ndim(array_of(a)), np.ndim(array_of(b))
    if na == 0 or nb == 0:
        return ops.mul(a, b)
    la, lb = _LETTERS[:na - 1], _LETTERS[na - 1:na + nb - 2]
    return ops.einsum(a, b, subscripts=f"{la}z,{lb}z->{la}{lb}")


def kron(a: Any, b: Any) -> Tensor:
    """The Kronecker product: blocks a_ij b (NumPy's and PyTorch's ``kron``)."""
    sa, sb = shape_of(a), shape_of(b)
    ndim = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (ndim - len(sa)) + tuple(sa), (1,) * (ndim - len(sb)) + tuple(sb)
    la, lb = _LETTERS[:ndim], _LETTERS[ndim:2 * ndim]
    pairs = ops.einsum(ops.reshape(a, shape=sa), ops.reshape(b, shape=sb),
                       subscripts=f"{la},{lb}->" + "".join(x + y for x, y in zip(la, lb)))
    return ops.reshape(pairs, shape=tuple(m * n for m, n in zip(sa, sb)))


def diagonal(x: Any, offset: int = 0, axis1: Any = None, axis2: Any = None, *, dim1: Any = None,
             dim2: Any = None) -> Tensor:
    """The diagonal ``offset`` of the (axis1, axis2) matrices, as the last axis (NumPy's and PyTorch's
    ``diagonal``); indexing, so the gradient lands on the diagonal."""
    a1 = _one_axis("diagonal", x, pick_axis("diagonal", axis1, dim1, 0))
    a2 = _one_axis("diagonal", x, pick_axis("diagonal", axis2, dim2, 1))
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {a1} twice for shape {shape_of(x)}")
    moved = moveaxis(x, (a1, a2), (-2, -1))
    rows, cols = shape_of(moved)[-2:]
    start_row, start_col = builtins.max(-offset, 0), builtins.max(offset, 0)
    n = builtins.max(builtins.min(rows - start_row, cols - start_col), 0)
    return ops.getitem(moved, index=(Ellipsis, np.arange(start_row, start_row + n), np.arange(start_col, start_col + n)))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Σ of the diagonal ``offset`` (NumPy's ``trace``; PyTorch's for a matrix)."""
    return ops.sum(diagonal(x, offset, axis1, axis2), axis=(np.ndim(array_of(x)) - 2,))


def diag(x: Any, k: int = 0, *, diagonal: Any = None) -> Tensor:  # noqa: A002
    """A 1-D x: the matrix with x on diagonal ``k``; a 2-D x: its diagonal ``k`` (NumPy's and PyTorch's ``diag``)."""
    k = int(pick_axis("diag", k if k else None, diagonal, 0))
    ndim = np.ndim(array_of(x))
    if ndim == 2:
        return globals()["diagonal"](x, k)
    if ndim != 1:
        raise ValueError(f"diag: needs a 1-D or 2-D input, got shape {shape_of(x)}")
    n = shape_of(x)[0]
    size = n + builtins.abs(k)
    index = (np.arange(n) + builtins.max(-k, 0), np.arange(n) + builtins.max(k, 0))
    return ops.scatter_add(x, index=index, shape=(size, size))


def atleast_1d(*xs: Any) -> Any:
    """Each input with at least one axis (a 0-d one becomes (1,)); a list for several inputs."""
    out = [x if np.ndim(array_of(x)) >= 1 else ops.reshape(x, shape=(1,)) for x in xs]
    return out[0] if len(out) == 1 else out


def atleast_2d(*xs: Any) -> Any:
    """Each input with at least two axes: (n,) becomes (1, n)."""
    out = [x if np.ndim(array_of(x)) >= 2 else ops.reshape(x, shape=(1, -1) if np.ndim(array_of(x)) else (1, 1))
           for x in xs]
    return out[0] if len(out) == 1 else out


def atleast_3d(*xs: Any) -> Any:
    """Each input with at least three axes: (n,) becomes (1, n, 1), (m, n) becomes (m, n, 1)."""
    def three(x: Any) -> Any:
        shape = shape_of(x)
        new = {0: (1, 1, 1), 1: (1,) + tuple(shape) + (1,), 2: tuple(shape) + (1,)}.get(len(shape))
        return x if new is None else ops.reshape(x, shape=new)

    out = [three(x) for x in xs]
    return out[0] if len(out) == 1 else out


def vstack(tensors: Sequence[Any]) -> Tensor:
    """Rows stacked: inputs made at least 2-D, joined along axis 0."""
    return cat([atleast_2d(t) for t in _tensor_sequence("vstack", tensors)], 0)


def hstack(tensors: Sequence[Any]) -> Tensor:
    """Joined along axis 1 (axis 0 for 1-D inputs)."""
    tensors = [atleast_1d(t) for t in _tensor_sequence("hstack", tensors)]
    return cat(tensors, 0 if np.ndim(array_of(tensors[0])) == 1 else 1)


def dstack(tensors: Sequence[Any]) -> Tensor:
    """Joined along axis 2, inputs made at least 3-D."""
    return cat([atleast_3d(t) for t in _tensor_sequence("dstack", tensors)], 2)


def column_stack(tensors: Sequence[Any]) -> Tensor:
    """1-D inputs as columns, 2-D inputs as they are, joined along axis 1."""
    tensors = _tensor_sequence("column_stack", tensors)
    return cat([ops.reshape(t, shape=(-1, 1)) if np.ndim(array_of(t)) < 2 else t for t in tensors], 1)


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """NumPy's ``array_split``: like ``np.split``, and a count need not divide the axis (the first
    pieces get one element more)."""
    if isinstance(indices_or_sections, (int, np.integer)):
        count = int(indices_or_sections)
        if count <= 0:
            raise ValueError(f"array_split: the number of sections must be positive, got {count}")
        a = _one_axis("array_split", x, axis)
        n = shape_of(x)[a]
        sizes = [n // count + (1 if i < n % count else 0) for i in range(count)]
        return list(_pieces(x, a, sizes))
    return list(array_split_at(x, indices_or_sections, axis))


def dot(a: Any, b: Any) -> Tensor:
    """PyTorch's ``dot``: Σ a_i b_i of two 1-D tensors of the same length (NumPy's ``np.dot`` keeps NumPy's rules)."""
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) != 1 or len(sb) != 1:
        raise RuntimeError(f"dot: 1-D tensors expected, but got shapes {sa} and {sb} (matmul or np.dot take more)")
    if sa != sb:
        raise RuntimeError(f"dot: shapes {sa} and {sb} differ; dot needs two vectors of the same length")
    return ops.einsum(a, b, subscripts="i,i->")


def triu_indices(row: int, col: int, offset: int = 0) -> Tensor:
    """PyTorch's ``triu_indices``: the (row, column) positions on and above diagonal ``offset`` of a
    row x col matrix, as a (2, N) integer Tensor (``x[i[0], i[1]]`` picks them, with gradient)."""
    return Tensor._of(np.stack(np.triu_indices(int(row), int(offset), int(col))).astype(np.int64))


def tril_indices(row: int, col: int, offset: int = 0) -> Tensor:
    """PyTorch's ``tril_indices``: the positions on and below diagonal ``offset``, as a (2, N) integer Tensor."""
    return Tensor._of(np.stack(np.tril_indices(int(row), int(offset), int(col))).astype(np.int64))
