"""Convolution and max pooling ops (NCHW, PyTorch's layout), as im2col + matmul.

How a convolution is computed
-----------------------------
x is (N, C, H, W), the weight W is (O, C/groups, kh, kw). Pad x by (ph, pw) to xp; each output
position (h, w) reads the window

    xp[n, c, h*sh + i*dh, w*sw + j*dw]      i < kh, j < kw      (stride s, dilation d)

``numpy.lib.stride_tricks.sliding_window_view`` gives every window at once without a copy
(im2col as a view); laid out, per example n, as a matrix ``cols_n`` with one row per (c, i, j)
and one column per output position (h, w), the convolution is one matrix product per example
(and group), whose result is already in NCHW order:

    y[n, o, h, w] = sum_{c,i,j} W[o, c, i, j] xp[n, c, h*sh + i*dh, w*sw + j*dw]
                  = (W.reshape(O, -1) @ cols_n)[o, (h, w)]

The three ops of this module
----------------------------
y is bilinear in (x, W), so one trilinear form T(x, W, y) = sum y[n,o,h,w] W[o,c,i,j] xp[...]
holds all three products of a convolution, each the adjoint of the others:

    conv2d(x, W)            -> y      (the forward)
    conv_transpose2d(G, W)  -> x-shaped  dx = the adjoint in x:  dx[n,c,p,q] = sum G[n,o,h,w] W[o,c,i,j]
                                         over p = h*sh + i*dh - ph (col2im: the gradient matrix
                                         G @ W scattered back onto the windows, overlaps added)
    conv2d_weight(x, G)     -> W-shaped  dW = the adjoint in W:  dW = sum_n G_n @ cols_n^T   (per group)

So the VJP of a convolution is the *transposed convolution* (and the weight correlation); the
VJP of a transposed convolution is a convolution; every rule below is one of the three, which
makes gradients of any order work (each VJP is an op with its own VJPs). The JVPs follow from
bilinearity: d conv2d(x, W) = conv2d(dx, W) + conv2d(x, dW).

``max_pool2d`` is its own op: the gradient goes to the first maximum of each window (PyTorch's
choice), which a composite through ``max`` (ties share) would not give.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import kernels
from .ops import getitem, reshape, scatter_add
from .primitives import primitive, shape_of

Pair = tuple[int, int]


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool = False) -> int:
    """Positions of a window of ``kernel`` taps (``dilation`` apart) sliding by ``stride`` over
    ``size + 2 padding`` values: floor((size + 2p - d (k - 1) - 1) / s) + 1 (PyTorch's formula)."""
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span
    if ceil_mode:
        count = -(-room // stride) + 1
        return count - 1 if (count - 1) * stride >= size + padding else count  # the last window starts in the input
    return room // stride + 1


def windows(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out: Pair) -> np.ndarray:
    """Every window of the padded input, a view of shape (N, C, Ho, Wo, kh, kw) (im2col without a copy)."""
    span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    view = sliding_window_view(xp, span, axis=(2, 3))
    return view[:, :, : (out[0] - 1) * stride[0] + 1 : stride[0], : (out[1] - 1) * stride[1] + 1 : stride[1],
                :: dilation[0], :: dilation[1]]


def _conv_shapes(x: Any, weight: Any, stride: Pair, padding: Pair, dilation: Pair, groups: int) -> Pair:
    """Check x (N, C, H, W) against W (O, C/groups, kh, kw); the output's (Ho, Wo)."""
    xs, ws = shape_of(x), shape_of(weight)
    if len(xs) != 4 or len(ws) != 4 or xs[1] != ws[1] * groups or ws[0] % groups:
        raise ValueError(
            f"conv2d: input of shape {xs} and weight of shape {ws} do not fit: need input (N, C, H, W) and weight "
            f"(O, C/groups, kh, kw) with O divisible by groups={groups}"
        )
    out = tuple(output_size(xs[2 + k], ws[2 + k], stride[k], padding[k], dilation[k]) for k in (0, 1))
    if min(out) < 1:
        raise ValueError(
            f"conv2d: input of shape {xs} with padding {padding} is smaller than weight {ws} "
            f"(dilation {dilation}) spans: no output position"
        )
    return out


def _padded(x: np.ndarray, padding: Pair) -> np.ndarray:
    if padding == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))


def im2col(cols: np.ndarray, groups: int) -> np.ndarray:
    """Windows (N, C, Ho, Wo, kh, kw) as one matrix per example and group: (N, groups, C/groups*kh*kw,
    Ho*Wo), a row per (c, i, j) and a column per output position (h, w); a copy whose inner runs
    are output rows."""
    n, c, ho, wo, kh, kw = cols.shape
    return cols.transpose(0, 1, 4, 5, 2, 3).reshape(n, groups, c // groups * kh * kw, ho * wo)


def weight_times_columns(columns: np.ndarray, weight: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """y_n = W @ columns_n per example and group, W as (groups, O/groups, C/groups*kh*kw): the
    products come out as (N, groups, O/groups, Ho*Wo), which is NCHW ``shape`` already."""
    groups, k = columns.shape[1:3]
    return np.matmul(weight.reshape(groups, shape[1] // groups, k), columns).reshape(shape)


def gradient_times_columns(columns: np.ndarray, g: np.ndarray, kernel_size: Pair) -> np.ndarray:
    """dW = sum_n g_n @ columns_n^T per group, as (columns_n @ g_n^T)^T: (O, C/groups, kh, kw)."""
    n, groups, k, positions = columns.shape
    rows = g.reshape(n, groups, g.shape[1] // groups, positions).transpose(0, 1, 3, 2)  # (N, groups, Ho*Wo, O/groups)
    dw = np.add.reduce(np.matmul(columns, rows), axis=0)  # (groups, C/groups*kh*kw, O/groups)
    return dw.transpose(0, 2, 1).reshape((g.shape[1], k // (kernel_size[0] * kernel_size[1])) + tuple(kernel_size))


def gradient_columns(y: np.ndarray, weight: np.ndarray, groups: int) -> np.ndarray:
    """W^T @ y_n per example and group, before col2im: (N, groups, C/groups, kh, kw, Ho, Wo)."""
    n, o, ho, wo = y.shape
    cg, kh, kw = weight.shape[1:]
    w = weight.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    return kernels.matmul_in_scratch(w, y.reshape(n, groups, o // groups, ho * wo)).reshape(n, groups, cg, kh, kw, ho, wo)


@primitive("conv2d")
def conv2d(x: np.ndarray, weight: np.ndarray, stride: Pair = (1, 1), padding: Pair = (0, 0), dilation: Pair = (1, 1),
           groups: int = 1) -> np.ndarray:
    """y[n,o,h,w] = sum_{c,i,j} W[o,c,i,j] xp[n, c, h*sh + i*dh, w*sw + j*dw]   (xp: x zero-padded)

    per group of channels; computed as im2col (a sliding-window view) times W as a matrix.

    VJP: dx = conv_transpose2d(G, W), dW = conv2d_weight(x, G)
    JVP: dy = conv2d(dx, W) + conv2d(x, dW)
    (the adjoint of a convolution in its input is the transposed convolution; in its weight,
    the correlation of the input's windows with G: dW = sum_n G_n cols_n^T)
    The im2col matrix lives in a reused buffer (``kernels.columns_in_scratch``) and is not saved:
    dW copies the windows again, which costs less than a fresh matrix's page faults.
    """
    out = _conv_shapes(x, weight, stride, padding, dilation, groups)
    columns = kernels.columns_in_scratch(windows(_padded(x, padding), weight.shape[2:], stride, dilation, out), groups)
    return weight_times_columns(columns, weight, (x.shape[0], weight.shape[0]) + out)


def _conv2d_vjp_x(g: Any, y: Any, x: Any, weight: Any, **settings: Any) -> Any:
    return conv_transpose2d(g, weight, size=shape_of(x)[2:], **settings)


def _conv2d_vjp_weight(g: Any, y: Any, x: Any, weight: Any, **settings: Any) -> Any:
    return conv2d_weight(x, g, kernel_size=shape_of(weight)[2:], **settings)


conv2d.defvjp(_conv2d_vjp_x, _conv2d_vjp_weight, reads=("weight", "x"))
conv2d.defjvp(
    lambda dx, y, x, weight, **kw: conv2d(dx, weight, **kw),
    lambda dw, y, x, weight, **kw: conv2d(x, dw, **kw),
)


@primitive("conv_transpose2d")
def conv_transpose2d(y: np.ndarray, weight: np.ndarray, size: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0),
                     dilation: Pair = (1, 1), groups: int = 1) -> np.ndarray:
    """x[n,c,p,q] = sum y[n,o,h,w] W[o,c,i,j] over p = h*sh + i*dh - ph, q = w*sw + j*dw - pw

    The adjoint of ``conv2d`` in its input: y (N, O, Ho, Wo) to x-shaped (N, C, *size), W as in
    conv2d (O, C/groups, kh, kw). Computed as col2im: the matrix y @ W scattered back onto the
    windows, overlapping windows added. (PyTorch's conv_transpose2d with in_channels = O.)

    VJP: dy = conv2d(G, W), dW = conv2d_weight(G, y)
    JVP: dx = conv_transpose2d(dy, W) + conv_transpose2d(y, dW)
    """
    n, o, ho, wo = np.shape(y)
    if np.ndim(weight) != 4 or weight.shape[0] != o or o % groups:
        raise ValueError(
            f"conv_transpose2d: input of shape {np.shape(y)} and weight of shape {np.shape(weight)} do not fit: need "
            f"input (N, C_in, H, W) and weight (C_in, C_out/groups, kh, kw) with C_in divisible by groups={groups}"
        )
    reach = [(out - 1) * s + d * (k - 1) + 1 for out, s, d, k in zip((ho, wo), stride, dilation, weight.shape[2:])]
    if any(r > size[k] + 2 * padding[k] for k, r in enumerate(reach)):
        raise ValueError(f"conv_transpose2d: input of shape {np.shape(y)} and weight of shape {np.shape(weight)} reach "
                         f"{tuple(reach)} rows and columns, more than size {tuple(size)} with padding {padding} holds")
    if stride == (1, 1):
        return kernels.conv_transpose2d_stride1(y, weight, size, padding, dilation, groups)
    kh, kw = weight.shape[2:]
    cg = weight.shape[1]
    xp = np.zeros((n, groups, cg, size[0] + 2 * padding[0], size[1] + 2 * padding[1]), dtype=np.result_type(y, weight))
    cols = gradient_columns(y, weight, groups)
    for i in range(kh):
        for j in range(kw):
            xp[..., i * dilation[0]: i * dilation[0] + (ho - 1) * stride[0] + 1: stride[0],
               j * dilation[1]: j * dilation[1] + (wo - 1) * stride[1] + 1: stride[1]] += cols[:, :, :, i, j]
    x = xp.reshape(n, groups * cg, *xp.shape[3:])
    if padding == (0, 0):
        return x
    return np.ascontiguousarray(x[..., padding[0]: padding[0] + size[0], padding[1]: padding[1] + size[1]])


conv_transpose2d.defvjp(
    lambda g, out, y, weight, size, **kw: conv2d(g, weight, **kw),
    lambda g, out, y, weight, size, **kw: conv2d_weight(g, y, kernel_size=shape_of(weight)[2:], **kw),
    reads=("weight", "y"),
)
conv_transpose2d.defjvp(
    lambda dy, out, y, weight, size, **kw: conv_transpose2d(dy, weight, size=size, **kw),
    lambda dw, out, y, weight, size, **kw: conv_transpose2d(y, dw, size=size, **kw),
)


@primitive("conv2d_weight")
def conv2d_weight(x: np.ndarray, g: np.ndarray, kernel_size: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0),
                  dilation: Pair = (1, 1), groups: int = 1) -> np.ndarray:
    """W[o,c,i,j] = sum_{n,h,w} g[n,o,h,w] xp[n, c, h*sh + i*dh, w*sw + j*dw]   (per group)

    The adjoint of ``conv2d`` in its weight: x's windows (im2col) correlated with g, g^T cols as
    matrices (summed over examples); shape (O, C/groups, *kernel_size). (PyTorch's ``torch.nn.grad.conv2d_weight``.)

    VJP: dx = conv_transpose2d(g, G), dg = conv2d(x, G)
    JVP: dW = conv2d_weight(dx, g) + conv2d_weight(x, dg)
    """
    n, o, ho, wo = np.shape(g)
    if np.ndim(x) != 4 or x.shape[0] != n or x.shape[1] % groups or o % groups:
        raise ValueError(f"conv2d_weight: input of shape {np.shape(x)} and gradient of shape {np.shape(g)} do not fit "
                         f"(groups={groups})")
    columns = kernels.columns_in_scratch(windows(_padded(x, padding), kernel_size, stride, dilation, (ho, wo)), groups)
    return gradient_times_columns(columns, g, kernel_size)


conv2d_weight.defvjp(
    lambda gw, y, x, g, kernel_size, **kw: conv_transpose2d(g, gw, size=shape_of(x)[2:], **kw),
    lambda gw, y, x, g, kernel_size, **kw: conv2d(x, gw, **kw),
    reads=("g", "x"),
)
conv2d_weight.defjvp(
    lambda dx, y, x, g, kernel_size, **kw: conv2d_weight(dx, g, kernel_size=kernel_size, **kw),
    lambda dg, y, x, g, kernel_size, **kw: conv2d_weight(x, dg, kernel_size=kernel_size, **kw),
)


@primitive("max_pool2d", saves=True)
def max_pool2d(x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair = (0, 0), dilation: Pair = (1, 1),
               ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """y[n,c,h,w] = max_{i,j} xp[n, c, h*sh + i*dh, w*sw + j*dw]   (xp: x padded with -inf)

    VJP: dx = G added at each window's argmax
    JVP: dy = dx at each window's argmax
    A running maximum over the kh*kw taps (each tap a strided view of xp: one value per window),
    replaced only where a later tap is strictly larger, so ties go to the first maximum (PyTorch's
    choice). The forward saves, per output, the flat position in x of that maximum; the gradient
    is scattered there (scatter_add: windows that overlap add).
    """
    if np.ndim(x) != 4:
        raise ValueError(f"max_pool2d: input must be (N, C, H, W), got shape {np.shape(x)}")
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"max_pool2d: padding {padding} must be at most half of kernel_size {kernel_size}")
    out = tuple(output_size(x.shape[2 + k], kernel_size[k], stride[k], padding[k], dilation[k], ceil_mode) for k in (0, 1))
    if min(out) < 1:
        raise ValueError(f"max_pool2d: input of shape {x.shape} is smaller than kernel_size {kernel_size}")
    extra = [max(0, (out[k] - 1) * stride[k] + dilation[k] * (kernel_size[k] - 1) + 1 - x.shape[2 + k] - 2 * padding[k])
             for k in (0, 1)]  # ceil_mode: the last window may reach past the padding
    values = x
    if padding != (0, 0) or max(extra) > 0:
        widths = ((0, 0), (0, 0), (padding[0], padding[0] + extra[0]), (padding[1], padding[1] + extra[1]))
        values = np.pad(x, widths, constant_values=-np.inf)
    best, offset_of_best = None, np.intp(0)
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            tap = values[:, :, i * dilation[0]: i * dilation[0] + (out[0] - 1) * stride[0] + 1: stride[0],
                         j * dilation[1]: j * dilation[1] + (out[1] - 1) * stride[1] + 1: stride[1]]
            if best is None:
                best = tap.copy()
                continue
            larger = tap > best
            np.maximum(best, tap, out=best)  # NaN wins, as in PyTorch
            offset_of_best = np.where(larger, i * dilation[0] * x.shape[3] + j * dilation[1], offset_of_best)
    return best, _window_starts(x.shape, out, stride, padding) + offset_of_best  # (an intp)


def _window_starts(shape: tuple[int, ...], out: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    """The flat position in x of each window's first tap: row h*sh - ph, column w*sw - pw (outside x
    for windows that start in the padding; a tap's offset i*dh*W + j*dw is added to it)."""
    n, c, height, width = shape
    rows = (np.arange(out[0]) * stride[0] - padding[0])[:, None] * width
    cols = np.arange(out[1]) * stride[1] - padding[1]
    return np.arange(n * c).reshape(n, c, 1, 1) * (height * width) + (rows + cols)


max_pool2d.defvjp(
    lambda g, y, x, kernel_size, stride, saved=None, **kw: reshape(
        scatter_add(g, index=saved, shape=(int(np.prod(shape_of(x))),)), shape=shape_of(x)),
    reads=("",),
    on_arrays=(lambda g, y, x, kernel_size, stride, saved=None, **kw: kernels.add_at_positions(g, saved, x.shape),),
)
max_pool2d.defjvp(
    lambda dx, y, x, kernel_size, stride, saved=None, **kw: getitem(
        reshape(dx, shape=(int(np.prod(shape_of(x))),)), index=saved),
)
