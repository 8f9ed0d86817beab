"""Every op of ``autograd_np.ops.OPS`` against central finite differences (float64).

Two layers:

1. ``CASES``: a table of hand-picked cases, at least one per op (the test
   ``test_every_op_has_a_gradcheck_case`` fails when an op is added to the
   table in ops.py without a case here), each also checked to really record
   its op on the tape;
2. hypothesis tests over random shapes, axes, broadcasting and indices.

And gradcheck itself is checked: it must reject a deliberately wrong VJP.
"""
from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import autograd_np as ag
from autograd_np import GradcheckError, Tensor, convolution, func, functional as F, ops
from autograd_np.ops import OPS, Primitive

from helpers import away_from_zero, check, distinct, ops_in_graph, positive, randn, seeds, shapes


# ----------------------------------------------------------------------------
# 1. One table of cases, at least one per op
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    op: str  # the OPS entry this case exists for
    label: str
    fn: Callable[..., Tensor]
    inputs: Callable[[np.random.Generator], list[np.ndarray]]

    @property
    def id(self) -> str:
        return f"{self.op}:{self.label}"


def _n(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda r: r.standard_normal(shape)


def _p(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda r: r.uniform(0.5, 2.0, size=shape)


def _inputs(*makers: Callable) -> Callable[[np.random.Generator], list[np.ndarray]]:
    return lambda r: [m(r) for m in makers]


def _away(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Values with |x| >= 0.1: off the kink of abs, relu and sign."""
    return lambda r: away_from_zero(int(r.integers(1 << 30)), shape)


def _off_grid(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Values at least 0.1 from every integer and half-integer (off the steps of floor/ceil/round)."""
    return lambda r: r.integers(-3, 3, size=shape) + r.choice([0.15, 0.35, 0.65, 0.85], size=shape) + r.uniform(
        -0.04, 0.04, size=shape)


def _off_bounds(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Values at least 0.05 from ±0.5 and 0.1 (the bounds the clip and maximum cases use)."""
    return lambda r: r.choice([-0.9, -0.3, 0.0, 0.3, 0.8], size=shape) + r.uniform(-0.05, 0.05, size=shape)


def _u(low: float, high: float, *shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda r: r.uniform(low, high, size=shape)


def _off_multiples(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """|a| in (0.1, 0.6): against divisors in (0.7, 1.3), a / b stays strictly between -1 and 0 or 0 and 1,
    off the jumps of ``%`` and ``fmod``."""
    return lambda r: r.choice([-1.0, 1.0], size=shape) * r.uniform(0.1, 0.6, size=shape)


def _well_conditioned(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    """Square matrices (last axis repeated) near 3 I: far from singular."""
    return lambda r: r.standard_normal(shape + shape[-1:]) + 3 * np.eye(shape[-1])


def _sym(x: Tensor) -> Tensor:
    return (x + x.swapaxes(-1, -2)) * 0.5


def _spd(x: Tensor) -> Tensor:
    return x @ x.swapaxes(-1, -2) + 3 * np.eye(x.shape[-1])


def _sign_fixed(vectors: Tensor) -> Tensor:
    """Columns with a positive first entry: a function of the eigen/singular vectors that does not
    depend on their arbitrary signs (the one kind that has a gradient)."""
    return vectors * np.sign(vectors.data[..., :1, :])


def _svd_gauge_fixed(x: Tensor, m: int, n: int) -> Tensor:
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    signs = np.sign(u.data[..., :1, :])
    return ag.cat([(u * signs).reshape(-1), (vh * signs.swapaxes(-1, -2)).reshape(-1), s.reshape(-1)])


_ZEROS = np.array([[1.0, 1, 1, 1], [1, 0, 1, 1], [0, 1, 1, 0]])  # rows with no zero, one zero, two zeros
_C34 = np.linspace(-1, 1, 12).reshape(3, 4)  # an ndarray constant
_T = np.array([2, 0, 2, 1, 2])  # class targets with repeats
_MASK = np.array([True, False, True, True])

def _assigned(x: Tensor, v: Tensor) -> Tensor:
    """``h[1] = v`` on an intermediate: recorded as setitem."""
    h = x * 1.0
    h[1] = v * 2.0
    return h


CASES = [
    # broadcasting and its adjoint
    Case("sum_to", "(2,3,4)->(3,1)", lambda x: ops.sum_to(x, (3, 1)), _inputs(_n(2, 3, 4))),
    Case("sum_to", "to 0-d", lambda x: ops.sum_to(x, ()), _inputs(_n(2, 3))),
    Case("broadcast_to", "(3,1)->(2,3,4)", lambda x: ops.broadcast_to(x, shape=(2, 3, 4)), _inputs(_n(3, 1))),
    Case("broadcast_to", "0-d->(2,2)", lambda x: ops.broadcast_to(x, shape=(2, 2)), _inputs(_n())),
    # elementwise arithmetic
    Case("add", "(3,1)+(1,4)", lambda a, b: a + b, _inputs(_n(3, 1), _n(1, 4))),
    Case("add", "(4,)+(3,4)", lambda a, b: a + b, _inputs(_n(4), _n(3, 4))),
    Case("add", "scalar const + x", lambda x: 2.5 + x, _inputs(_n(3))),
    Case("add", "ndarray const + x", lambda x: _C34 + x, _inputs(_n(4))),
    Case("add", "0-d + 0-d", lambda a, b: a + b, _inputs(_n(), _n())),
    Case("sub", "(3,4)-(4,)", lambda a, b: a - b, _inputs(_n(3, 4), _n(4))),
    Case("sub", "scalar const - x", lambda x: 1.5 - x, _inputs(_n(2, 3))),
    Case("sub", "x - ndarray const", lambda x: x - _C34, _inputs(_n(3, 1))),
    Case("mul", "(3,1)*(1,4)", lambda a, b: a * b, _inputs(_n(3, 1), _n(1, 4))),
    Case("mul", "ndarray const * x", lambda x: _C34 * x, _inputs(_n(1, 4))),
    Case("mul", "x * x", lambda x: x * x, _inputs(_n(3))),
    Case("div", "(3,4)/(4,)", lambda a, b: a / b, _inputs(_n(3, 4), _p(4))),
    Case("div", "scalar const / x", lambda x: 2.0 / x, _inputs(_p(3, 2))),
    Case("div", "x / ndarray const", lambda x: x / (_C34 + 2), _inputs(_n(3, 4))),
    Case("neg", "-x", lambda x: -x, _inputs(_n(2, 3))),
    Case("pow", "tensor ** tensor (broadcast)", lambda a, b: a**b, _inputs(_p(3, 4), _n(4))),
    Case("pow", "x ** 3", lambda x: x**3, _inputs(_n(5))),
    Case("pow", "2 ** x", lambda x: 2.0**x, _inputs(_n(5))),
    Case("pow", "sqrt", lambda x: x.sqrt(), _inputs(_p(4))),
    Case("astype", "float64 -> longdouble -> float64",
         lambda x: (x.astype(np.longdouble) * 1.5).astype(np.float64), _inputs(_n(2, 3))),
    # elementwise functions
    Case("tanh", "tanh", lambda x: x.tanh(), _inputs(_n(3, 4))),
    Case("sigmoid", "sigmoid", lambda x: x.sigmoid(), _inputs(_n(3, 4))),
    Case("exp", "exp", lambda x: x.exp(), _inputs(_n(3, 4))),
    Case("log", "log", lambda x: x.log(), _inputs(_p(3, 4))),
    Case("relu", "relu", lambda x: x.relu(), _inputs(lambda r: away_from_zero(int(r.integers(1 << 30)), (3, 4)))),
    # linear algebra
    Case("matmul", "(3,4)@(4,5)", lambda a, b: a @ b, _inputs(_n(3, 4), _n(4, 5))),
    Case("matmul", "(4,)@(4,5)", lambda a, b: a @ b, _inputs(_n(4), _n(4, 5))),
    Case("matmul", "(3,4)@(4,)", lambda a, b: a @ b, _inputs(_n(3, 4), _n(4))),
    Case("matmul", "(4,)@(4,)", lambda a, b: a @ b, _inputs(_n(4), _n(4))),
    Case("matmul", "batched (2,1,3,4)@(5,4,2)", lambda a, b: a @ b, _inputs(_n(2, 1, 3, 4), _n(5, 4, 2))),
    Case("matmul", "(4,)@(2,4,3)", lambda a, b: a @ b, _inputs(_n(4), _n(2, 4, 3))),
    Case("matmul", "ndarray const @ x", lambda x: _C34 @ x, _inputs(_n(4, 2))),
    Case("linear", "(5,4)W(4,3)+b(3,)", lambda x, w, b: F.linear(x, w, b), _inputs(_n(5, 4), _n(4, 3), _n(3))),
    Case("linear", "batch axes (2,3,4)", lambda x, w, b: F.linear(x, w, b), _inputs(_n(2, 3, 4), _n(4, 3), _n(3))),
    Case("linear", "1-D input", lambda x, w, b: F.linear(x, w, b), _inputs(_n(4), _n(4, 2), _n(2))),
    Case("linear", "bias (5,1) broadcast", lambda x, w, b: F.linear(x, w, b), _inputs(_n(5, 4), _n(4, 3), _n(5, 1))),
    Case("linear", "0-d bias", lambda x, w, b: F.linear(x, w, b), _inputs(_n(5, 4), _n(4, 3), _n())),
    Case("linear", "constant input and bias", lambda w: ops.linear(_C34, w, np.ones(2)), _inputs(_n(4, 2))),
    Case("linear", "repeated input x W + x", lambda x: F.linear(x, x, x[0]), _inputs(_n(3, 3))),
    # reductions
    Case("sum", "axis=None", lambda x: x.sum(), _inputs(_n(2, 3, 4))),
    Case("sum", "axis=-1 keepdims", lambda x: x.sum(axis=-1, keepdims=True), _inputs(_n(2, 3, 4))),
    Case("sum", "axis=(0,2)", lambda x: x.sum(axis=(0, 2)), _inputs(_n(2, 3, 4))),
    Case("mean", "axis=None", lambda x: x.mean(), _inputs(_n(2, 3, 4))),
    Case("mean", "axis=1", lambda x: x.mean(axis=1), _inputs(_n(2, 3, 4))),
    Case("mean", "axis=(-1,0) keepdims", lambda x: x.mean(axis=(-1, 0), keepdims=True), _inputs(_n(2, 3, 4))),
    Case("max", "axis=None", lambda x: x.max(), _inputs(lambda r: distinct(1, (3, 4)))),
    Case("max", "axis=-1", lambda x: x.max(axis=-1), _inputs(lambda r: distinct(2, (3, 4)))),
    Case("max", "axis=(0,1) keepdims", lambda x: x.max(axis=(0, 1), keepdims=True), _inputs(lambda r: distinct(3, (2, 3, 2)))),
    # shape ops
    Case("reshape", "(2,3,4)->(4,-1)", lambda x: x.reshape(4, -1), _inputs(_n(2, 3, 4))),
    Case("reshape", "flatten(1)", lambda x: x.flatten(1), _inputs(_n(2, 3, 4))),
    Case("transpose", ".T", lambda x: x.T, _inputs(_n(3, 4))),
    Case("transpose", "permute (2,0,1)", lambda x: x.permute(2, 0, 1), _inputs(_n(2, 3, 4))),
    Case("transpose", "permute negative axes (-1,0,1)", lambda x: x.permute(-1, 0, 1), _inputs(_n(2, 3, 4))),
    Case("transpose", "swap two axes (0,-1)", lambda x: x.transpose(0, -1), _inputs(_n(2, 3, 4))),
    Case("getitem", "repeated ints", lambda x: x[[0, 2, 0, 0]], _inputs(_n(3, 2))),
    Case("getitem", "slice/None/Ellipsis", lambda x: x[None, 1:, ..., ::2], _inputs(_n(3, 2, 4))),
    Case("getitem", "boolean mask", lambda x: x[_MASK], _inputs(_n(4, 2))),
    Case("getitem", "tuple of int arrays", lambda x: x[np.array([0, 1, 1]), np.array([2, 2, 0])], _inputs(_n(2, 3))),
    Case("getitem", "tuple of int arrays, (0,2) twice",
         lambda x: x[np.array([0, 1, 0, 1]), np.array([2, 0, 2, 2])], _inputs(_n(2, 3))),
    Case("getitem", "mask, slice and repeats", lambda x: x[_MASK, 1:][[0, 0, 2]], _inputs(_n(4, 3))),
    Case("getitem", "0-d result", lambda x: x[1, 2], _inputs(_n(2, 3))),
    Case("setitem", "slice", lambda x, v: ops.setitem(x, v, index=(slice(1, 3),)), _inputs(_n(4, 3), _n(2, 3))),
    Case("setitem", "broadcast value, int arrays",
         lambda x, v: ops.setitem(x, v, index=(np.array([0, 2]), np.array([1, 1]))), _inputs(_n(3, 2), _n(1))),
    Case("setitem", "in place on a tensor in a graph", lambda x, v: _assigned(x, v), _inputs(_n(4, 2), _n(2))),
    Case("scatter_add", "repeated rows",
         lambda g: ops.scatter_add(g, index=np.array([1, 3, 1, 1]), shape=(5, 2)), _inputs(_n(4, 2))),
    Case("scatter_add", "basic slice",
         lambda g: ops.scatter_add(g, index=(slice(None), slice(1, 3)), shape=(2, 4)), _inputs(_n(2, 2))),
    Case("concatenate", "axis=0 with const", lambda a, b: ag.concatenate([a, _C34, b], axis=0),
         _inputs(_n(2, 4), _n(1, 4))),
    Case("concatenate", "axis=-1", lambda a, b: ag.concatenate([a, b], axis=-1), _inputs(_n(2, 3), _n(2, 1))),
    Case("stack", "axis=0", lambda a, b: ag.stack([a, b]), _inputs(_n(2, 3), _n(2, 3))),
    Case("stack", "axis=-1 with const", lambda a: ag.stack([_C34, a], axis=-1), _inputs(_n(3, 4))),
    # the NumPy/PyTorch vocabulary: elementwise
    Case("abs", "abs", lambda x: x.abs(), _inputs(_away(3, 4))),
    Case("abs", "np.abs", lambda x: np.abs(x), _inputs(_away(5))),
    Case("sign", "x * sign(x)", lambda x: x * x.sign(), _inputs(_away(3, 4))),
    Case("sin", "sin", lambda x: x.sin(), _inputs(_n(3, 4))),
    Case("cos", "cos", lambda x: x.cos(), _inputs(_n(3, 4))),
    Case("erf", "erf", lambda x: x.erf(), _inputs(_n(3, 4))),
    Case("softplus", "softplus", lambda x: ops.softplus(x * 10), _inputs(_n(3, 4))),
    Case("logaddexp", "np.logaddexp (3,1) vs (4,)", lambda a, b: np.logaddexp(a, b), _inputs(_n(3, 1), _n(4))),
    Case("logaddexp", "large values, constant", lambda a: np.logaddexp(a * 100, 50.0), _inputs(_n(5))),
    Case("floor", "x * floor(x)", lambda x: x * x.floor(), _inputs(_off_grid(3, 4))),
    Case("ceil", "x * ceil(x)", lambda x: x * x.ceil(), _inputs(_off_grid(3, 4))),
    Case("round", "x * round(x)", lambda x: x * x.round(), _inputs(_off_grid(3, 4))),
    Case("round", "decimals=1", lambda x: x * (x * 10).round(decimals=1), _inputs(_off_grid(5))),
    Case("trunc", "x * trunc(x)", lambda x: x * x.trunc(), _inputs(_off_grid(3, 4))),
    Case("clip", "both bounds", lambda x: x.clamp(-0.5, 0.5), _inputs(_off_bounds(4, 5))),
    Case("clip", "min only", lambda x: x.clamp(min=-0.5), _inputs(_off_bounds(4, 5))),
    Case("clip", "max only", lambda x: ag.clip(x, a_max=0.5), _inputs(_off_bounds(4, 5))),
    Case("clip", "tensor bounds (broadcast)", lambda x, lo, hi: x.clamp(lo, hi),
         _inputs(_n(3, 4), lambda r: r.uniform(-0.6, -0.4, 4), lambda r: r.uniform(0.4, 0.6, (3, 1)))),
    Case("maximum", "(3,1) vs (1,4)", lambda a, b: ag.maximum(a, b), _inputs(_n(3, 1), _n(1, 4))),
    Case("maximum", "with a constant", lambda a: np.maximum(a, 0.1), _inputs(_off_bounds(3, 4))),
    Case("minimum", "(3,4) vs (4,)", lambda a, b: ag.minimum(a, b), _inputs(_n(3, 4), _n(4))),
    # selection
    Case("where", "cond, a, b broadcast", lambda a, b: ag.where(_MASK, a, b), _inputs(_n(3, 4), _n(3, 1))),
    Case("where", "where(x > 0, x, 0)", lambda x: np.where(x > 0, x, 0), _inputs(_away(3, 4))),
    Case("where", "masked_fill", lambda x: x.masked_fill(_MASK, -1.0), _inputs(_n(2, 4))),
    Case("gather", "dim=1 with repeats", lambda x: x.gather(1, np.array([[0, 0, 2], [1, 3, 1], [2, 2, 2]])),
         _inputs(_n(3, 4))),
    Case("gather", "dim=0, index smaller", lambda x: ag.gather(x, 0, np.array([[2, 0], [2, 2]])), _inputs(_n(3, 4))),
    Case("gather", "np.take_along_axis broadcast", lambda x: np.take_along_axis(x, np.array([[1], [0], [1]]), 1),
         _inputs(_n(3, 2))),
    # reductions (more)
    Case("min", "axis=None", lambda x: x.min(), _inputs(lambda r: distinct(4, (3, 4)))),
    Case("min", "axis=1 keepdim", lambda x: x.min(axis=1, keepdim=True), _inputs(lambda r: distinct(5, (3, 4)))),
    Case("var", "axis=None", lambda x: x.var(), _inputs(_n(3, 4))),
    Case("var", "dim=0 correction=1", lambda x: x.var(dim=0, correction=1), _inputs(_n(3, 4))),
    Case("std", "ddof=1 keepdims", lambda x: x.std(axis=(0, 2), ddof=1, keepdims=True), _inputs(_n(2, 3, 4))),
    Case("std", "np.std all", lambda x: np.std(x), _inputs(_n(3, 4))),
    Case("logsumexp", "axis=-1", lambda x: x.logsumexp(axis=-1), _inputs(_n(3, 4))),
    Case("logsumexp", "all, large values", lambda x: ag.logsumexp(x * 100), _inputs(_n(2, 3))),
    Case("logsumexp", "dim=0 keepdim", lambda x: x.logsumexp(dim=0, keepdim=True), _inputs(_n(3, 4))),
    Case("cumsum", "dim=1", lambda x: x.cumsum(dim=1), _inputs(_n(3, 4))),
    Case("cumsum", "flattened", lambda x: np.cumsum(x), _inputs(_n(2, 3))),
    # shape ops (more)
    Case("flip", "dims=(0, 2)", lambda x: x.flip(0, 2), _inputs(_n(2, 3, 4))),
    Case("flip", "all", lambda x: np.flip(x), _inputs(_n(2, 3))),
    Case("tile", "repeat(2, 1, 3)", lambda x: x.repeat(2, 1, 3), _inputs(_n(2, 3))),
    Case("tile", "np.tile (2,)", lambda x: np.tile(x, 2), _inputs(_n(2, 3))),
    Case("pad", "np.pad ((1, 0), (2, 1))", lambda x: np.pad(x, ((1, 0), (2, 1))), _inputs(_n(2, 3))),
    Case("pad", "F.pad last axis first", lambda x: F.pad(x, (1, 2), value=3.0), _inputs(_n(2, 3))),
    Case("tril", "tril", lambda x: x.tril(), _inputs(_n(3, 4))),
    Case("tril", "batched, diagonal=-1", lambda x: ag.tril(x, -1), _inputs(_n(2, 3, 3))),
    Case("triu", "triu diagonal=1", lambda x: x.triu(1), _inputs(_n(4, 3))),
    # softmax family
    Case("log_softmax", "axis=-1", lambda x: x.log_softmax(), _inputs(_n(3, 5))),
    Case("log_softmax", "axis=0", lambda x: x.log_softmax(axis=0), _inputs(_n(3, 5))),
    Case("log_softmax", "softmax", lambda x: x.softmax(axis=1), _inputs(_n(2, 3, 2))),
    Case("cross_entropy", "fused", lambda x: F.cross_entropy(x, _T), _inputs(_n(5, 3))),
    Case("cross_entropy", "ops.cross_entropy", lambda x: ops.cross_entropy(x, _T), _inputs(_n(5, 4))),
    Case("masked_cross_entropy", "ignore_index, two rows ignored",
         lambda x: F.cross_entropy(x, np.array([0, -1, 2, 1, -1]), ignore_index=-1), _inputs(_n(5, 3))),
    Case("masked_cross_entropy", "ops.masked_cross_entropy, none ignored",
         lambda x: ops.masked_cross_entropy(x, _T, ignore_index=9), _inputs(_n(5, 4))),
    # convolution and pooling (convolution.py)
    Case("conv2d", "3x3, bias", lambda x, w, b: F.conv2d(x, w, b), _inputs(_n(2, 2, 5, 5), _n(3, 2, 3, 3), _n(3))),
    Case("conv2d", "stride, padding, dilation, groups",
         lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2),
         _inputs(_n(2, 4, 7, 6), _n(6, 2, 3, 2))),
    Case("conv2d", "conv1d, padding='same'", lambda x, w: F.conv1d(x, w, padding="same"), _inputs(_n(2, 3, 7), _n(2, 3, 4))),
    Case("conv2d", "avg_pool2d count_include_pad=False", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
         _inputs(_n(2, 2, 5, 6))),
    Case("conv_transpose2d", "stride 2, padding, output_padding",
         lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
         _inputs(_n(2, 2, 3, 3), _n(2, 3, 3, 3), _n(3))),
    Case("conv_transpose2d", "groups, dilation", lambda x, w: F.conv_transpose2d(x, w, groups=2, dilation=(2, 1)),
         _inputs(_n(1, 4, 3, 4), _n(4, 1, 2, 3))),
    Case("conv2d_weight", "stride 2, padding 1",
         lambda x, g: convolution.conv2d_weight(x, g, kernel_size=(3, 2), stride=(2, 2), padding=(1, 1)),
         _inputs(_n(2, 2, 5, 4), _n(2, 3, 3, 3))),
    Case("max_pool2d", "2x2", lambda x: F.max_pool2d(x, 2), _inputs(lambda r: distinct(6, (2, 2, 4, 6)))),
    Case("max_pool2d", "overlapping, padding, ceil_mode",
         lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), _inputs(lambda r: distinct(7, (1, 2, 6, 5)))),
    Case("max_pool2d", "dilation", lambda x: F.max_pool2d(x, 2, stride=1, dilation=2), _inputs(lambda r: distinct(8, (1, 2, 5, 5)))),
    # more elementwise functions
    Case("tan", "tan", lambda x: x.tan(), _inputs(_u(-1.2, 1.2, 3, 4))),
    Case("sinh", "sinh", lambda x: x.sinh(), _inputs(_n(3, 4))),
    Case("cosh", "np.cosh", lambda x: np.cosh(x), _inputs(_n(3, 4))),
    Case("arctan", "arctan", lambda x: x.arctan(), _inputs(_n(3, 4))),
    Case("arcsin", "arcsin", lambda x: x.arcsin(), _inputs(_u(-0.9, 0.9, 3, 4))),
    Case("arccos", "np.arccos", lambda x: np.arccos(x), _inputs(_u(-0.9, 0.9, 3, 4))),
    Case("arctanh", "atanh", lambda x: x.atanh(), _inputs(_u(-0.9, 0.9, 3, 4))),
    Case("log1p", "log1p", lambda x: x.log1p(), _inputs(_u(-0.5, 2.0, 3, 4))),
    Case("expm1", "expm1", lambda x: x.expm1(), _inputs(_n(3, 4))),
    Case("log2", "log2", lambda x: x.log2(), _inputs(_p(3, 4))),
    Case("log10", "np.log10", lambda x: np.log10(x), _inputs(_p(3, 4))),
    Case("exp2", "exp2", lambda x: x.exp2(), _inputs(_n(3, 4))),
    Case("remainder", "a % b broadcast", lambda a, b: a % b, _inputs(_off_multiples(3, 4), _u(0.7, 1.3, 4))),
    Case("remainder", "a % -b and 5 % b", lambda a, b: a % -b + 5.0 % b, _inputs(_off_multiples(3, 4), _u(0.7, 1.3, 4))),
    Case("fmod", "fmod", lambda a, b: a.fmod(b), _inputs(_off_multiples(3, 4), _u(0.7, 1.3, 3, 1))),
    Case("hypot", "hypot (3,1) (4,)", lambda a, b: ag.hypot(a, b), _inputs(_n(3, 1), _n(4))),
    # products and rolls
    Case("prod", "axis=None", lambda x: x.prod(), _inputs(_n(2, 3))),
    Case("prod", "dim=1 keepdim", lambda x: x.prod(dim=1, keepdim=True), _inputs(_n(3, 4))),
    Case("prod", "axis=(0,2)", lambda x: np.prod(x, axis=(0, 2)), _inputs(_n(2, 3, 2))),
    Case("prod", "one zero and two zeros", lambda x: (x * _ZEROS).prod(axis=1), _inputs(_n(3, 4))),
    Case("cumprod", "dim=1", lambda x: x.cumprod(dim=1), _inputs(_n(3, 4))),
    Case("cumprod", "flattened", lambda x: np.cumprod(x), _inputs(_n(2, 3))),
    Case("cumprod", "one zero and two zeros", lambda x: (x * _ZEROS).cumprod(1), _inputs(_n(3, 4))),
    Case("roll", "roll(1, 0)", lambda x: x.roll(1, 0), _inputs(_n(3, 4))),
    Case("roll", "np.roll flattened", lambda x: np.roll(x, -2), _inputs(_n(3, 4))),
    Case("roll", "two axes", lambda x: x.roll((1, -1), (0, 1)), _inputs(_n(3, 4))),
    # contractions (einsum; tensordot, outer, inner, kron, trace, dot are einsums)
    Case("einsum", "ij,jk->ik", lambda a, b: ag.einsum("ij,jk->ik", a, b), _inputs(_n(2, 3), _n(3, 4))),
    Case("einsum", "...ij,...jk broadcast", lambda a, b: np.einsum("...ij,...jk", a, b), _inputs(_n(1, 2, 3), _n(4, 3, 2))),
    Case("einsum", "ii->i diagonal", lambda a: ag.einsum("ii->i", a), _inputs(_n(3, 3))),
    Case("einsum", "iij->j, ij-> (sums)", lambda a, b: ag.einsum("iij->j", a) + ag.einsum("ij->", b),
         _inputs(_n(3, 3, 2), _n(2, 3))),
    Case("einsum", "three operands", lambda a, b, c: ag.einsum("ij,jk,kl->il", a, b, c),
         _inputs(_n(2, 3), _n(3, 4), _n(4, 2))),
    Case("einsum", "tensordot", lambda a, b: ag.tensordot(a, b, axes=([1, 2], [1, 0])), _inputs(_n(2, 3, 4), _n(4, 3, 2))),
    Case("einsum", "outer, inner, kron", lambda a, b: ag.outer(a, b).sum() + ag.inner(a, b) + ag.kron(a, b),
         _inputs(_n(3), _n(3))),
    Case("einsum", "trace, dot", lambda a, b: a.trace() * a[0].dot(b), _inputs(_n(3, 3), _n(3))),
    # linear algebra
    Case("solve", "batched A, matrix b", lambda a, b: ag.linalg.solve(a, b), _inputs(_well_conditioned(2, 3), _n(3, 2))),
    Case("solve", "np.linalg.solve vector b", lambda a, b: np.linalg.solve(a, b), _inputs(_well_conditioned(3), _n(3))),
    Case("inv", "batched", lambda a: ag.linalg.inv(a), _inputs(_well_conditioned(2, 3))),
    Case("inv", "np.linalg.inv", lambda a: np.linalg.inv(a), _inputs(_well_conditioned(3))),
    Case("det", "batched", lambda a: ag.linalg.det(a), _inputs(_n(2, 3, 3))),
    Case("det", "t.det()", lambda a: a.det(), _inputs(_n(3, 3))),
    Case("slogdet", "logabsdet", lambda a: np.linalg.slogdet(a)[1], _inputs(_n(2, 3, 3))),
    Case("cholesky", "of X X^T + 3I", lambda x: ag.linalg.cholesky(_spd(x)), _inputs(_n(2, 3, 3))),
    Case("eigh", "eigenvalues", lambda x: ag.linalg.eigh(_sym(x)).eigenvalues, _inputs(_n(2, 3, 3))),
    Case("eigh", "eigenvectors (sign fixed)", lambda x: _sign_fixed(np.linalg.eigh(_sym(x))[1]), _inputs(_n(3, 3))),
    Case("svd", "singular values, batched", lambda x: ag.linalg.svdvals(x), _inputs(_n(2, 4, 3))),
    Case("svd", "U and Vh of a tall matrix", lambda x: _svd_gauge_fixed(x, 4, 3), _inputs(_n(4, 3))),
    Case("svd", "U and Vh of a wide matrix", lambda x: _svd_gauge_fixed(x, 3, 4), _inputs(_n(3, 4))),
    Case("qr", "Q and R of a tall matrix", lambda x: ag.cat([t.reshape(-1) for t in np.linalg.qr(x)]), _inputs(_n(4, 3))),
    Case("qr", "R of a batch of square matrices", lambda x: ag.linalg.qr(x).R, _inputs(_n(2, 3, 3))),
    Case("vector_norm", "np.linalg.norm", lambda x: np.linalg.norm(x), _inputs(_n(3, 4))),
    Case("vector_norm", "ord=3 axis=1 keepdims", lambda x: ag.linalg.vector_norm(x, 3, axis=1, keepdims=True),
         _inputs(_n(3, 4))),
    Case("vector_norm", "t.norm(dim=0)", lambda x: x.norm(dim=0), _inputs(_n(3, 4))),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_gradcheck(case: Case) -> None:
    inputs = case.inputs(np.random.default_rng(sum(map(ord, case.id))))
    assert case.op in ops_in_graph(case.fn, *inputs), f"case {case.id} does not record op {case.op}"
    assert check(case.fn, *inputs)


def test_every_op_has_a_gradcheck_case() -> None:
    covered = {case.op for case in CASES}
    missing = sorted(set(OPS) - covered)
    assert not missing, f"ops without a gradcheck case in tests/test_ops_finite_differences.py: {missing}"
    unknown = sorted(covered - set(OPS))
    assert not unknown, f"cases name ops that are not in OPS: {unknown}"


def test_op_table_is_consistent() -> None:
    for name, op in OPS.items():
        assert isinstance(op, Primitive) and op.name == name
        assert op.vjps or op.vjp_argnum is not None, f"op {name} has no VJP"
        assert op.__doc__ and "VJP" in op.__doc__, f"op {name} has no VJP in its docstring"


# ----------------------------------------------------------------------------
# 1b. The same table drives forward mode: each JVP against central finite differences, and the
#     JVP and the VJP adjoint: <v, J u> = <J^T v, u> on random u, v
# ----------------------------------------------------------------------------
def _tangents(case: Case, inputs: list[np.ndarray]) -> list[np.ndarray]:
    rng = np.random.default_rng(sum(map(ord, case.id)) + 1)
    return [rng.standard_normal(np.shape(x)) for x in inputs]


def _directional_difference(fn: Callable, inputs: list[np.ndarray], tangents: list[np.ndarray], eps: float = 1e-6) -> np.ndarray:
    plus = fn(*[Tensor(x + eps * u) for x, u in zip(inputs, tangents)]).data
    minus = fn(*[Tensor(x - eps * u) for x, u in zip(inputs, tangents)]).data
    return (plus - minus) / (2 * eps)


@pytest.mark.parametrize("on_tensors", [False, True], ids=["on arrays", "on tensors"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_jvp_against_finite_differences(case: Case, on_tensors: bool) -> None:
    """J u by forward mode against (f(x + eps u) - f(x - eps u)) / 2 eps. On tensors: the inputs
    require grad, so the JVPs run on Tensors (and are recorded), as when modes nest."""
    inputs = [np.asarray(x, dtype=np.float64) for x in case.inputs(np.random.default_rng(sum(map(ord, case.id))))]
    tangents = _tangents(case, inputs)
    primals = [Tensor(x, requires_grad=on_tensors) for x in inputs]
    out, tangent_out = func.jvp(case.fn, primals, tangents)
    np.testing.assert_allclose(out.data, case.fn(*map(Tensor, inputs)).data)
    assert tangent_out.shape == out.shape
    numeric = _directional_difference(case.fn, inputs, tangents)
    np.testing.assert_allclose(tangent_out.data, numeric, rtol=1e-3, atol=1e-5, err_msg=f"JVP of {case.id}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_jvp_and_vjp_are_adjoint(case: Case) -> None:
    inputs = [np.asarray(x, dtype=np.float64) for x in case.inputs(np.random.default_rng(sum(map(ord, case.id))))]
    u = _tangents(case, inputs)
    out, ju = func.jvp(case.fn, inputs, u)
    v = np.random.default_rng(sum(map(ord, case.id)) + 2).standard_normal(out.shape)
    _, vjp_fn = func.vjp(case.fn, *inputs)
    jtv = vjp_fn(v)
    left = float(np.sum(v * ju.data))
    right = float(builtins.sum(np.sum(g.data * ui) for g, ui in zip(jtv, u)))
    assert left == pytest.approx(right, rel=1e-9, abs=1e-12), f"<v, J u> = {left} but <J^T v, u> = {right}"


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_has_a_jvp_and_its_rule(name: str) -> None:
    op = OPS[name]
    op.jvps[0]  # raises NotImplementedError naming the op when it has none
    assert op.jvp_rule and op.jvp_rule.isascii() and re.match(r"^d\w+ = \S", op.jvp_rule), (
        f"op {name}: no one-line 'JVP: dy = ...' in its docstring")
    lines = op.__doc__.splitlines()
    vjp_line = next(k for k, line in enumerate(lines) if line.strip().startswith("VJP:"))
    assert lines[vjp_line + 1].strip().startswith("JVP:"), f"op {name}: the JVP line should follow the VJP line"


def test_forward_mode_rejects_a_wrong_jvp() -> None:
    op = Primitive("bogus_square_jvp", lambda x: x * x)
    op.defvjp(lambda g, y, x: 2 * g * x)
    op.defjvp(lambda dx, y, x: dx * x)  # wrong: the derivative of x^2 is 2x
    x, u = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.5, -0.25])
    _, ju = func.jvp(lambda t: op(t), (x,), (u,))
    assert not np.allclose(ju.data, _directional_difference(lambda t: op(t), [x], [u]), rtol=1e-3)


# ----------------------------------------------------------------------------
# 2. gradcheck itself must fail on a wrong VJP
# ----------------------------------------------------------------------------
def _bogus_square() -> Primitive:
    op = Primitive("bogus_square", lambda x: x * x)
    op.defvjp(lambda g, y, x: g * x)  # wrong: the derivative of x² is 2x
    return op


def test_gradcheck_rejects_a_wrong_vjp() -> None:
    square = _bogus_square()
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(GradcheckError, match=r"input 0 .*analytic .* vs numerical"):
        check(lambda t: square(t), x)


def test_gradcheck_rejects_a_wrong_vjp_of_a_second_input() -> None:
    op = Primitive("bogus_mul", lambda a, b: a * b)
    op.defvjp(lambda g, y, a, b: g * b, lambda g, y, a, b: g * b)  # second rule should be g * a
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(2, 2\)\)"):
        check(lambda a, b: op(a, b), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, 0.25], [2.0, 1.0]]))


def test_gradcheck_rejects_a_missing_broadcast_adjoint() -> None:
    """A VJP that forgets a factor on broadcast axes is wrong and must be caught."""
    op = Primitive("bogus_mean_rows", lambda x: x.mean(axis=0))
    op.defvjp(lambda g, y, x: ops.broadcast_to(g, shape=x.shape))  # forgets the 1/n
    with pytest.raises(GradcheckError):
        check(lambda t: op(t), np.arange(6.0).reshape(3, 2))


def test_gradcheck_accepts_a_correct_custom_vjp() -> None:
    op = Primitive("square", lambda x: x * x)
    op.defvjp(lambda g, y, x: 2 * g * x)
    assert check(lambda t: op(t), np.array([0.5, -1.0, 2.0]))


def test_gradcheck_checks_against_an_arbitrary_cotangent() -> None:
    """A VJP that is right only for the all-ones cotangent (a plain sum) is still caught.

    y = x[::-1] ⊙ [1, 2, 3] has x̄ = ȳ[::-1] ⊙ [3, 2, 1]; forgetting the flip gives
    ȳ ⊙ [3, 2, 1], which agrees whenever ȳ is constant.
    """
    weights = np.arange(1.0, 4.0)
    right = Primitive("flip_scale", lambda x: x[::-1] * weights)
    right.defvjp(lambda g, y, x: g[::-1] * weights[::-1])
    wrong = Primitive("bogus_flip_scale", lambda x: x[::-1] * weights)
    wrong.defvjp(lambda g, y, x: g * weights[::-1])
    x = np.array([1.0, 2.0, 3.0])
    assert check(lambda t: right(t), x)
    assert check(lambda t: wrong(t).sum(), x)  # the all-ones cotangent cannot tell them apart
    with pytest.raises(GradcheckError):
        check(lambda t: wrong(t), x)


# ----------------------------------------------------------------------------
# 3. hypothesis: random shapes, broadcasting, axes, indices
# ----------------------------------------------------------------------------
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}
broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


def _binary_operands(name: str, seed: int, sa: tuple, sb: tuple) -> tuple[np.ndarray, np.ndarray]:
    a = positive(seed, sa) if name == "pow" else randn(seed, sa)
    b = positive(seed + 1, sb) if name == "div" else randn(seed + 1, sb)
    return a, b


@given(name=st.sampled_from(sorted(BINARY)), pair=broadcast_pairs, seed=seeds)
def test_binary_ops_broadcast_both_ways(name: str, pair: Any, seed: int) -> None:
    sa, sb = pair.input_shapes
    a, b = _binary_operands(name, seed, sa, sb)
    assert check(BINARY[name], a, b)


@given(name=st.sampled_from(sorted(BINARY)), pair=broadcast_pairs, seed=seeds)
def test_binary_ops_broadcast_both_ways_in_forward_mode(name: str, pair: Any, seed: int) -> None:
    """Forward mode broadcasts each input's tangent where reverse mode sums: J u against finite
    differences, and adjoint to the VJP, for every broadcast pair."""
    sa, sb = pair.input_shapes
    a, b = _binary_operands(name, seed, sa, sb)
    u = [randn(seed + 2, sa), randn(seed + 3, sb)]
    out, ju = func.jvp(BINARY[name], (a, b), u)
    np.testing.assert_allclose(ju.data, _directional_difference(BINARY[name], [a, b], u), rtol=1e-4, atol=1e-6)
    v = randn(seed + 4, out.shape)
    _, vjp_fn = func.vjp(BINARY[name], a, b)
    left = np.sum(v * ju.data)
    right = builtins.sum(np.sum(g.data * ui) for g, ui in zip(vjp_fn(v), u))
    assert left == pytest.approx(right, rel=1e-9, abs=1e-12)


@given(
    name=st.sampled_from(sorted(BINARY)),
    pair=broadcast_pairs,
    constant=st.sampled_from(["left ndarray", "right ndarray", "left scalar", "right scalar"]),
    seed=seeds,
)
def test_binary_ops_with_constants(name: str, pair: Any, constant: str, seed: int) -> None:
    sa, sb = pair.input_shapes
    a, b = _binary_operands(name, seed, sa, sb)
    side, kind = constant.split()
    if kind == "scalar":  # a Python float, as in 2.0 * x
        a, b = (float(a.flat[0]) if a.size else 1.5, b) if side == "left" else (a, float(b.flat[0]) if b.size else 1.5)
    fn = BINARY[name]
    if side == "left":
        out = fn(a, Tensor(b))
        assert isinstance(out, Tensor)  # reflected operator: ndarray/float op Tensor is a Tensor
        assert np.allclose(out.data, fn(a, b))
        assert check(lambda t: fn(a, t), b)
    else:
        assert check(lambda t: fn(t, b), a)


@st.composite
def linear_shapes(draw: Any) -> tuple[tuple[int, ...], tuple[int, int], tuple[int, ...]]:
    """x (..., in), W (in, out) and a bias shape that broadcasts to (..., out)."""
    lead = draw(shapes(min_dims=0, max_dims=2))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    out_shape = lead + (n_out,)
    bias_dims = draw(st.integers(0, len(out_shape)))
    bias = tuple(draw(st.sampled_from([1, s])) for s in out_shape[len(out_shape) - bias_dims:])
    return lead + (n_in,), (n_in, n_out), bias


@given(shapes_=linear_shapes(), seed=seeds)
def test_linear_equals_matmul_plus_bias(shapes_: tuple, seed: int) -> None:
    """The fused op: same value and same gradients as ``x @ W + b``, and gradchecked."""
    sx, sw, sb = shapes_
    x, w, b = randn(seed, sx), randn(seed + 1, sw), randn(seed + 2, sb)
    fused = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    composed = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y_fused = F.linear(*fused)
    y_composed = composed[0] @ composed[1] + composed[2]
    assert y_fused.op == "linear" and y_fused.shape == y_composed.shape
    np.testing.assert_allclose(y_fused.data, y_composed.data, rtol=1e-12, atol=1e-12)
    cotangent = randn(seed + 3, y_fused.shape)
    (y_fused * cotangent).sum().backward()
    (y_composed * cotangent).sum().backward()
    for f, c in zip(fused, composed):
        np.testing.assert_allclose(f.grad, c.grad, rtol=1e-10, atol=1e-12)
    assert check(F.linear, x, w, b)


def test_linear_keeps_the_dtype_promotion_of_the_composition() -> None:
    x, w = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    assert F.linear(Tensor(x), Tensor(w), Tensor(np.ones(4, np.float32))).dtype == np.float32
    assert F.linear(Tensor(x), Tensor(w), Tensor(np.ones(4))).dtype == np.float64  # as x @ W + b
    assert F.linear(Tensor(x), Tensor(w), 0.5).dtype == np.float32  # a Python float does not promote
    assert F.linear(Tensor(x, requires_grad=True), Tensor(w)).op == "matmul"  # no bias: plain matmul


UNARY = {
    "neg": (lambda x: -x, randn),
    "exp": (lambda x: x.exp(), randn),
    "log": (lambda x: x.log(), positive),
    "tanh": (lambda x: x.tanh(), randn),
    "sigmoid": (lambda x: x.sigmoid(), randn),
    "relu": (lambda x: x.relu(), away_from_zero),
    "sqrt": (lambda x: x.sqrt(), positive),
    "square": (lambda x: x**2, randn),
    "reciprocal": (lambda x: 1 / x, positive),
    "softmax": (lambda x: x.softmax(axis=0) if x.ndim else x.exp(), randn),
}


@given(name=st.sampled_from(sorted(UNARY)), shape=shapes(min_dims=0), seed=seeds)
def test_unary_ops(name: str, shape: tuple, seed: int) -> None:
    fn, make = UNARY[name]
    assert check(fn, make(seed, shape))


@st.composite
def axis_and_shape(draw: Any) -> tuple[tuple[int, ...], Any]:
    shape = draw(shapes(min_dims=0, max_dims=3))
    ndim = len(shape)
    single = st.integers(-max(ndim, 1), max(ndim, 1) - 1)  # 0-d tensors accept axis 0 / -1
    several = st.lists(st.integers(0, max(ndim, 1) - 1), unique=True, max_size=max(ndim, 1)).flatmap(
        lambda axes: st.tuples(*[st.sampled_from([a, a - max(ndim, 1)]) for a in axes])
    )
    return shape, draw(st.one_of(st.none(), single, several))


@given(op=st.sampled_from(["sum", "mean", "max"]), shape_axis=axis_and_shape(), keepdims=st.booleans(), seed=seeds)
def test_reductions(op: str, shape_axis: tuple, keepdims: bool, seed: int) -> None:
    shape, axis = shape_axis
    x = distinct(seed, shape) if op == "max" else randn(seed, shape)
    fn = lambda t: getattr(t, op)(axis=axis, keepdims=keepdims)  # noqa: E731
    expected = getattr(np, op)(x, axis=None if axis is None else _np_axis(axis, x.ndim), keepdims=keepdims)
    got = fn(Tensor(x))
    assert got.shape == np.shape(expected)
    assert np.allclose(got.data, expected)
    assert check(fn, x)


def _np_axis(axis: Any, ndim: int) -> Any:
    """NumPy's spelling of an axis (a 0-d array has no axis 0: reduce over none)."""
    if ndim == 0:
        return ()
    return axis


def test_max_splits_the_gradient_between_ties() -> None:
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]])


@st.composite
def reshape_target(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = draw(shapes(min_dims=0, max_dims=3))
    target = list(draw(st.permutations(shape)))
    for _ in range(draw(st.integers(0, 2))):
        target.insert(draw(st.integers(0, len(target))), 1)
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@given(shapes_=reshape_target(), seed=seeds)
def test_reshape(shapes_: tuple, seed: int) -> None:
    shape, target = shapes_
    x = randn(seed, shape)
    assert Tensor(x).reshape(target).shape == x.reshape(target).shape
    assert check(lambda t: t.reshape(target), x)


@st.composite
def transpose_axes(draw: Any) -> tuple[tuple[int, ...], Any]:
    shape = draw(shapes(min_dims=1, max_dims=4, max_side=3))
    ndim = len(shape)
    kind = draw(st.sampled_from(["T", "none", "perm", "swap"]))
    if kind == "swap":
        return shape, ("swap", draw(st.integers(-ndim, ndim - 1)), draw(st.integers(-ndim, ndim - 1)))
    if kind != "perm":
        return shape, kind
    perm = draw(st.permutations(range(ndim)))
    return shape, tuple(draw(st.sampled_from([a, a - ndim])) for a in perm)  # some axes spelled negative


@given(shape_axes=transpose_axes(), seed=seeds)
def test_transpose(shape_axes: tuple, seed: int) -> None:
    shape, axes = shape_axes
    x = randn(seed, shape)
    if axes == "T":
        fn, expected = (lambda t: t.T), x.T
    elif axes == "none":
        fn, expected = (lambda t: t.transpose()), x.transpose()
    elif axes[0] == "swap":
        fn, expected = (lambda t: t.transpose(axes[1], axes[2])), np.swapaxes(x, axes[1], axes[2])
    else:
        fn, expected = (lambda t: t.permute(*axes)), x.transpose(axes)
    np.testing.assert_array_equal(fn(Tensor(x)).data, expected)
    assert check(fn, x)


matmul_shapes = hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2, max_side=3)


@given(shapes_=matmul_shapes, seed=seeds)
def test_matmul(shapes_: Any, seed: int) -> None:
    sa, sb = shapes_.input_shapes
    a, b = randn(seed, sa), randn(seed + 1, sb)
    out = Tensor(a) @ Tensor(b)
    assert out.shape == shapes_.result_shape
    np.testing.assert_allclose(out.data, a @ b)
    assert check(lambda x, y: x @ y, a, b)


@st.composite
def index_for(draw: Any, shape: tuple[int, ...]) -> Any:
    """An index mixing ints, slices, None, Ellipsis, integer arrays (repeats likely) and a mask."""
    parts: list[Any] = []
    array_len = draw(st.integers(1, 4))
    has_array = has_mask = False
    for side in shape:
        kind = draw(st.sampled_from(["slice", "int", "array", "mask"]))
        if kind == "int":
            parts.append(draw(st.integers(-side, side - 1)))
        elif kind == "array" and not has_mask:
            values = draw(st.lists(st.integers(-side, side - 1), min_size=array_len, max_size=array_len))
            parts.append(values if draw(st.booleans()) else np.array(values))
            has_array = True
        elif kind == "mask" and not has_array and not has_mask:
            parts.append(np.array(draw(st.lists(st.booleans(), min_size=side, max_size=side))))
            has_mask = True
        else:
            parts.append(draw(st.slices(side)))
    start = draw(st.integers(0, len(parts)))
    if draw(st.booleans()):  # Ellipsis stands for the axes start..stop-1
        stop = draw(st.integers(start, len(parts)))
        parts = parts[:start] + [Ellipsis] + parts[stop:]
    else:  # trailing axes left implicit
        parts = parts[:start]
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return parts[0] if len(parts) == 1 and draw(st.booleans()) else tuple(parts)


@st.composite
def shape_and_index(draw: Any) -> tuple[tuple[int, ...], Any]:
    shape = draw(shapes(min_dims=0, max_dims=3))
    return shape, draw(index_for(shape))


@given(shape_index=shape_and_index(), seed=seeds)
def test_getitem(shape_index: tuple, seed: int) -> None:
    shape, index = shape_index
    x = randn(seed, shape)
    np_index = tuple(np.asarray(i) if isinstance(i, list) else i for i in index) if isinstance(index, tuple) else (
        np.asarray(index) if isinstance(index, list) else index
    )
    expected = x[np_index]
    got = Tensor(x)[index]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.data, expected)
    assert check(lambda t: t[index], x)


@given(shape=shapes(min_dims=1, max_dims=3), picks=st.lists(st.integers(0, 100), min_size=1, max_size=8), seed=seeds)
def test_getitem_repeated_indices_add_up(shape: tuple, picks: list, seed: int) -> None:
    rows = [p % shape[0] for p in picks]
    x = Tensor(randn(seed, shape), requires_grad=True)
    x[rows].sum().backward()
    counts = np.bincount(rows, minlength=shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    np.testing.assert_array_equal(x.grad, np.broadcast_to(counts, shape))
    assert check(lambda t: t[rows], x.data)


@st.composite
def joined(draw: Any) -> tuple[list[np.ndarray], int, list[bool]]:
    base = list(draw(shapes(min_dims=1, max_dims=3, max_side=3)))
    axis = draw(st.integers(-len(base), len(base) - 1))
    count = draw(st.integers(1, 3))
    seed = draw(seeds)
    parts = []
    for k in range(count):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 3))
        parts.append(randn(seed + k, tuple(shape)))
    constant = [draw(st.booleans()) for _ in range(count)]
    constant[draw(st.integers(0, count - 1))] = False  # at least one input is differentiated
    return parts, axis, constant


def _with_constants(parts: list[np.ndarray], constant: list[bool], join: Callable) -> tuple[Callable, list]:
    variables = [p for p, c in zip(parts, constant) if not c]

    def fn(*ts: Tensor) -> Tensor:
        it = iter(ts)
        return join([p if c else next(it) for p, c in zip(parts, constant)])

    return fn, variables


@given(spec=joined())
def test_concatenate(spec: tuple) -> None:
    parts, axis, constant = spec
    fn, variables = _with_constants(parts, constant, lambda xs: ag.concatenate(xs, axis=axis))
    np.testing.assert_array_equal(fn(*map(Tensor, variables)).data, np.concatenate(parts, axis=axis))
    assert check(fn, *variables)


@given(shape=shapes(min_dims=0, max_dims=3, max_side=3), count=st.integers(1, 3), data=st.data(), seed=seeds)
def test_stack(shape: tuple, count: int, data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    constant = data.draw(st.lists(st.booleans(), min_size=count, max_size=count))
    constant[data.draw(st.integers(0, count - 1))] = False
    parts = [randn(seed + k, shape) for k in range(count)]
    fn, variables = _with_constants(parts, constant, lambda xs: ag.stack(xs, axis=axis))
    np.testing.assert_array_equal(fn(*map(Tensor, variables)).data, np.stack(parts, axis=axis))
    assert check(fn, *variables)


@given(shape=shapes(min_dims=1, max_dims=3), data=st.data(), seed=seeds)
def test_log_softmax(shape: tuple, data: Any, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = randn(seed, shape) * 3
    out = Tensor(x).log_softmax(axis=axis)
    np.testing.assert_allclose(np.exp(out.data).sum(axis=axis), 1.0)
    assert check(lambda t: t.log_softmax(axis=axis), x)


@given(batch=st.integers(1, 6), classes=st.integers(1, 5), data=st.data(), seed=seeds)
def test_cross_entropy(batch: int, classes: int, data: Any, seed: int) -> None:
    targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    logits = randn(seed, (batch, classes)) * 2
    expected = -np.mean([lp[t] for lp, t in zip(logits - np.log(np.exp(logits).sum(1, keepdims=True)), targets)])
    np.testing.assert_allclose(F.cross_entropy(Tensor(logits), targets).item(), expected, rtol=1e-12, atol=1e-12)
    assert check(lambda t: F.cross_entropy(t, targets), logits)


@st.composite
def broadcast_source(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(small, big): ``small`` broadcasts to ``big`` (leading axes dropped, some axes of size 1)."""
    big = draw(shapes(min_dims=0, max_dims=3))
    small = list(big[draw(st.integers(0, len(big))):])
    for i in range(len(small)):
        if draw(st.booleans()):
            small[i] = 1
    return tuple(small), big


@given(shapes_=broadcast_source(), seed=seeds)
def test_broadcast_to_and_sum_to(shapes_: tuple, seed: int) -> None:
    small, big = shapes_
    np.testing.assert_array_equal(ops.broadcast_to(Tensor(np.ones(small)), shape=big).data, np.ones(big))
    assert check(lambda t: ops.broadcast_to(t, shape=big), randn(seed, small))
    x = randn(seed, big)
    summed = ops.sum_to(Tensor(x), small)
    assert summed.shape == small
    np.testing.assert_allclose(summed.sum().item(), x.sum())
    assert check(lambda t: ops.sum_to(t, small), x)


@given(shape=shapes(min_dims=1, max_dims=3), picks=st.lists(st.integers(0, 100), min_size=1, max_size=6), seed=seeds)
def test_scatter_add(shape: tuple, picks: list, seed: int) -> None:
    index = ops.normalize_index([p % shape[0] for p in picks])
    g = randn(seed, (len(picks),) + shape[1:])
    expected = np.zeros(shape)
    np.add.at(expected, index, g)
    np.testing.assert_allclose(ops.scatter_add(Tensor(g), index=index, shape=shape).data, expected)
    assert check(lambda t: ops.scatter_add(t, index=index, shape=shape), g)


@given(shape=shapes(min_dims=0), seed=seeds)
def test_astype_round_trip(shape: tuple, seed: int) -> None:
    x = randn(seed, shape)
    assert check(lambda t: (t.astype(np.longdouble) * 2.0).astype(np.float64).tanh(), x)


@given(shape=shapes(min_dims=0, max_dims=2), seed=seeds)
def test_composite_methods(shape: tuple, seed: int) -> None:
    """Methods composed from several ops: var, flatten, softmax."""
    x = randn(seed, shape)
    assert check(lambda t: t.var(), x)
    if x.ndim:
        assert check(lambda t: t.var(axis=-1, keepdims=True), x)
        assert check(lambda t: t.flatten(), x)
