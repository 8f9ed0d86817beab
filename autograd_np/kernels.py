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
import threading

import numpy as np

from .primitives import is_basic_index

_BLAS_FLOATS = "fd"  # dtype.char of float32 and float64
MAX_CACHED_ONES = 1 << 16
ONES_CACHE: dict[tuple[int, np.dtype], np.ndarray] = {}
IDENTITY_CACHE: dict[tuple[int, np.dtype], np.ndarray] = {}
ZEROS_CACHE: dict[tuple[int, np.dtype], np.ndarray] = {}


def ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones, cached (at most 16 vectors of at most 65,536 entries)."""
    key = (n, dtype)
    vector = ONES_CACHE.get(key)
    if vector is None:
        if len(ONES_CACHE) >= 16:  # many batch sizes: start over rather than grow
            ONES_CACHE.clear()
        vector = ONES_CACHE[key] = np.ones(n, dtype)
        vector.flags.writeable = False
    return vector


def zeros(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``n`` zeros, cached like ``ones``."""
    key = (n, dtype)
    vector = ZEROS_CACHE.get(key)
    if vector is None:
        if len(ZEROS_CACHE) >= 16:
            ZEROS_CACHE.clear()
        vector = ZEROS_CACHE[key] = np.zeros(n, dtype)
        vector.flags.writeable = False
    return vector


def identity(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only n × n identity matrix, cached like ``ones`` (its rows are one-hot vectors)."""
    key = (n, dtype)
    matrix = IDENTITY_CACHE.get(key)
    if matrix is None:
        if len(IDENTITY_CACHE) >= 16:
            IDENTITY_CACHE.clear()
        matrix = IDENTITY_CACHE[key] = np.eye(n, dtype=dtype)
        matrix.flags.writeable = False
    return matrix


def sum_rows(x: np.ndarray) -> np.ndarray:
    """Σ over every axis but the last, as the BLAS product 1ᵀ X (X = x with its leading axes as rows).

    A bias gradient Σ_rows G is this. Exactly the column sums; only the order of the
    additions differs from ``x.sum(axis=0)``. Falls back to ``sum`` off BLAS floats.
    """
    rows = x.size // x.shape[-1] if x.size else 0
    if x.dtype.char not in _BLAS_FLOATS or not x.flags.c_contiguous or not 0 < rows <= MAX_CACHED_ONES:
        return x.sum(axis=tuple(range(x.ndim - 1)))
    return ones(rows, x.dtype).dot(x.reshape(rows, x.shape[-1]))


def matmul_2d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A B for 2-D arrays: ``ndarray.dot``, the BLAS product, called directly (a VJP's
    matrix product on raw arrays, without going through the matmul op)."""
    return a.dot(b)


def rows_transposed_times(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Xᵀ G with the leading axes of X (..., n) and G (..., m) folded into rows: one BLAS product."""
    if x.ndim == 2:
        return x.T.dot(g)
    return as_rows(x).T.dot(as_rows(g))


def as_rows(x: np.ndarray) -> np.ndarray:
    """(..., n) -> (rows, n), the row count spelled out: ``reshape(-1, 0)`` is ambiguous and refused."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """x summed over the axes broadcasting added (leading) or stretched (size 1 in ``shape``).

    The adjoint of broadcasting ``shape`` up to ``x.shape``. The bias case, (..., n) -> (n,),
    goes to ``sum_rows``.
    """
    lead = x.ndim - len(shape)
    if len(shape) == 1 and lead >= 1 and x.shape[-1] == shape[0]:
        return sum_rows(x)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Y = X W + b with X's leading axes folded into rows: one 2-D BLAS product."""
    if x.ndim == 2:
        y = x.dot(weight)
    else:
        y = as_rows(x).dot(weight).reshape(x.shape[:-1] + weight.shape[1:])
    with_bias = y + bias
    if with_bias.shape != y.shape:
        raise ValueError(f"linear: bias of shape {np.shape(bias)} does not broadcast to the output shape {y.shape}")
    return with_bias


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, P) with P = softmax(logits) row-wise and L = -(1/B) Σ_b log P[b, targets_b], in one pass
    over the logits: from s = x - max x (finite for large logits), -log P[b, t] = log Σ exp(s_b) - s_b[t]."""
    batch = logits.shape[0]
    shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
    probs = np.exp(shifted)
    total = np.add.reduce(probs, axis=1)
    losses = np.log(total)
    losses -= shifted[np.arange(batch), targets]
    loss = np.add.reduce(losses) / batch if batch else np.array(np.nan, dtype=logits.dtype)
    probs /= total[:, None]
    return loss, probs


def masked_softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray, ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(L, P): ``softmax_cross_entropy`` with the rows whose target is ``ignore_index`` weighted 0 and the
    mean over the others, L = Σ_b k_b ℓ_b / Σ_b k_b (NaN when no row is kept), at fixed shapes."""
    kept = targets != ignore_index
    shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
    probs = np.exp(shifted)
    total = np.add.reduce(probs, axis=1)
    losses = np.log(total)
    losses -= shifted[np.arange(logits.shape[0]), np.where(kept, targets, 0)]
    losses *= kept
    count = int(np.count_nonzero(kept))
    loss = np.add.reduce(losses) / count if count else np.array(np.nan, dtype=logits.dtype)
    probs /= total[:, None]
    return loss, probs


def one_minus_square(y: np.ndarray) -> np.ndarray:
    """1 - y² computed into one new array (y² in place, then 1 - it in place)."""
    out = np.multiply(y, y, out=np.empty_like(y))
    np.subtract(1, out, out=out)
    return out


def scatter_add(g: np.ndarray, index: object, shape: tuple[int, ...]) -> np.ndarray:
    """zeros(shape) with g added at ``index`` (repeated positions add up).

    An integer array picking rows of a small table (an embedding's gradient) is the
    product onehot(index)ᵀ G, one BLAS call, with the one-hot rows taken from a cached
    identity matrix; indices that pick each position once (a basic index, or distinct rows in
    increasing order such as a mask's positions) are a plain assignment; otherwise ``np.add.at``, or plain
    assignment for a basic index (which selects each element at most once).
    """
    if _rows_of_small_table(g, index, shape):
        picks = index.reshape(-1)
        onehot = identity(shape[0], g.dtype).take(picks, axis=0)  # (picks, rows); negative indices wrap
        return onehot.T.dot(g.reshape(picks.size, -1)).reshape(shape)
    out = np.zeros(shape, dtype=g.dtype)
    if is_basic_index(index) or _distinct_rows(index) or _is_mask(index):
        out[index] = g  # every position is picked at most once: no sums needed
    else:
        np.add.at(out, index, g)
    return out


def _is_mask(index: object) -> bool:
    """A boolean mask picks each position at most once."""
    return type(index) is np.ndarray and index.dtype.kind == "b"


def _distinct_rows(index: object) -> bool:
    """A strictly increasing, non-negative 1-D integer array (``np.flatnonzero(mask)``, say)
    picks each row at most once."""
    return (
        type(index) is np.ndarray and index.ndim == 1 and index.dtype.kind in "iu"
        and (index.size < 2 or (index[0] >= 0 and bool((index[1:] > index[:-1]).all())))
    )


def _rows_of_small_table(g: np.ndarray, index: object, shape: tuple[int, ...]) -> bool:
    """Whether the one-hot product is the faster scatter: an integer array indexing the rows of
    a table of at most 256 rows (a character embedding), in a BLAS float dtype."""
    if type(index) is not np.ndarray or index.dtype.kind not in "iu" or not shape:
        return False
    if type(g) is not np.ndarray or g.dtype.char not in _BLAS_FLOATS or g.shape != index.shape + tuple(shape[1:]):
        return False
    rows, picks = shape[0], index.size
    if not (0 < rows <= 256 and 0 < picks and rows * picks <= 2**24):
        return False
    # 0 · inf in the product would put NaN in rows never picked: only finite g (isfinite
    # raises no floating-point warning, as a sum of +inf and -inf would).
    return bool(np.isfinite(g).all())


def add_at_positions(g: np.ndarray, positions: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """zeros(shape) with each g[k] added at flat position positions[k] (repeats add up): the same as
    ``scatter_add(g, positions, (size,))`` reshaped, as one ``np.bincount`` (a counting pass, much
    faster than ``np.add.at``); a max pool's input gradient."""
    size = int(np.prod(shape))
    total = np.bincount(positions.reshape(-1), weights=g.reshape(-1), minlength=size)
    return total.astype(g.dtype, copy=False).reshape(shape)


_SAME_SIZE_INTEGERS = {"f": np.int32, "d": np.int64}


def select_where_positive(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g where y > 0, else +0 (ReLU's VJP, ``np.where(y > 0, g, 0)``), without branches.

    The mask m = [y > 0] as integers, negated to all-ones (-1) or all-zeros bit patterns, ANDed
    with g's bits: each entry is g's own value or +0.0, exactly ``np.where``'s, and an inf or
    NaN of g where y <= 0 stays out (a product g·m would give NaN there). ``np.where`` branches
    per element and stalls on a mask with no pattern (a ReLU's); this is a few straight passes.
    Falls back to ``np.where`` off float32/float64, for 0-d arrays and when the shapes differ.
    """
    bits = _SAME_SIZE_INTEGERS.get(g.dtype.char)
    if bits is None or type(g) is not np.ndarray or type(y) is not np.ndarray or y.shape != g.shape or not g.ndim:
        return np.where(y > 0, g, 0)
    mask = np.greater(y, 0).astype(bits)
    np.negative(mask, out=mask)
    np.bitwise_and(mask, g.view(bits), out=mask)
    return mask.view(g.dtype)


MAX_SCRATCH_BYTES = 1 << 26
_SCRATCH = threading.local()


def scratch(shape: tuple[int, ...], dtype: np.dtype, slot: int = 0) -> np.ndarray:
    """An uninitialised array of ``shape``, in a buffer kept per thread and handed out again on the
    next call: for a temporary that does not outlive the kernel that asked for it (a convolution's
    im2col matrix or its gradient columns). A fresh array each time costs a page fault per 4 KiB
    when glibc returns large freed blocks to the system; the buffer is faulted in once. Sizes over
    64 MiB get a fresh array (the buffer stays bounded). ``slot`` picks one of several buffers, for
    a kernel that needs two temporaries at once."""
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_SCRATCH_BYTES:
        return np.empty(shape, dtype)
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    buffer = buffers.get(slot)
    if buffer is None or buffer.size < size:
        buffer = buffers[slot] = np.empty(size, np.uint8)
    return buffer[:size].view(dtype).reshape(shape)


def columns_in_scratch(windows: np.ndarray, groups: int) -> np.ndarray:
    """``convolution.im2col``'s matrices (N, groups, C/groups*kh*kw, Ho*Wo), copied from the windows
    (N, C, Ho, Wo, kh, kw) into the scratch buffer: valid until the next ``scratch`` call."""
    n, c, ho, wo, kh, kw = windows.shape
    out = scratch((n, c, kh, kw, ho, wo), windows.dtype)
    np.copyto(out, windows.transpose(0, 1, 4, 5, 2, 3))
    return out.reshape(n, groups, c // groups * kh * kw, ho * wo)


def matmul_in_scratch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b (``np.matmul``, stacked) written into the scratch buffer: valid until the next ``scratch`` call."""
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    return np.matmul(a, b, out=scratch(shape, np.result_type(a, b)))


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0) elementwise (``np.maximum(x, 0)``, NaN kept), against a cached row of zeros.

    NumPy's ``maximum`` with a scalar operand takes a slower loop than with two arrays; x's trailing
    axes are folded into rows of at least 64 entries and compared with a zero row broadcast down
    them. The same values bit for bit; falls back to the scalar form off float32/float64 and for
    arrays too small or too oddly shaped to fold.
    """
    row = 1
    for length in reversed(x.shape):
        if row >= 64:
            break
        row *= length
    if (type(x) is not np.ndarray or x.dtype.char not in _BLAS_FLOATS or not x.flags.c_contiguous
            or not 64 <= row <= MAX_CACHED_ONES):
        return np.maximum(x, 0)
    return np.maximum(x.reshape(-1, row), zeros(row, x.dtype)).reshape(x.shape)


CHUNK_BYTES = 1 << 20


def conv_transpose2d_stride1(y: np.ndarray, weight: np.ndarray, size: tuple[int, int], padding: tuple[int, int],
                             dilation: tuple[int, int], groups: int) -> np.ndarray:
    """``convolution.conv_transpose2d`` at stride 1, its col2im on whole flattened rows:

        xp[n, c, p] = sum_{i,j} P[n, c, (i, j), p - (i dh Wp + j dw)],   P_n = W^T @ Gfull_n  (per group)

    with xp the padded x (Hp × Wp) flattened per channel, Gfull the gradient y (Ho × Wo) placed in the
    top-left corner of an Hp × Wp grid of zeros. An output position (h, w) reaches xp at
    (h + i dh, w + j dw), the flat offset i dh Wp + j dw from h Wp + w, and w + j dw < Wp: no row
    wraps, so each tap's share is one shifted slice, added with long contiguous runs instead of
    one run per output row. The product grows by Hp Wp / (Ho Wo); it and the adds go in chunks of
    examples of about 1 MiB, which stay in cache between the product and the adds.
    """
    n, o, ho, wo = y.shape
    cg, kh, kw = weight.shape[1:]
    hp, wp = size[0] + 2 * padding[0], size[1] + 2 * padding[1]
    dtype = np.result_type(y, weight)
    grid = scratch((n, o, hp, wp), dtype, slot=0)
    grid[...] = 0
    grid[:, :, :ho, :wo] = y
    grid = grid.reshape(n, groups, o // groups, hp * wp)
    w = weight.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    xp = np.empty((n, groups, cg, hp * wp), dtype)
    offsets = [i * dilation[0] * wp + j * dilation[1] for i in range(kh) for j in range(kw)]
    step = max(1, CHUNK_BYTES // max(1, groups * cg * kh * kw * hp * wp * dtype.itemsize))
    for start in range(0, n, step):
        stop = min(n, start + step)
        taps = np.matmul(w, grid[start:stop], out=scratch((stop - start, groups, cg * kh * kw, hp * wp), dtype, slot=1))
        taps = taps.reshape(stop - start, groups, cg, kh * kw, hp * wp)
        out = xp[start:stop]
        out[...] = taps[..., 0, :]
        for tap in range(1, kh * kw):
            offset = offsets[tap]
            out[..., offset:] += taps[..., tap, : hp * wp - offset]
    x = xp.reshape(n, groups * cg, hp, wp)
    if padding == (0, 0):
        return x
    return np.ascontiguousarray(x[..., padding[0]: padding[0] + size[0], padding[1]: padding[1] + size[1]])
