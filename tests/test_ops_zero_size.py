"""Zero-size tensors through every op, as NumPy (and PyTorch) handle them.

Each case runs an op on float64 inputs with a size-0 axis. Where NumPy computes a result,
the engine's forward must give NumPy's shape and dtype, warn only where NumPy warns, and
its backward must give gradients of the input shapes with no crash and no warning. Where
NumPy refuses (a reduction with no identity over an empty axis), the engine must refuse
too, with an error that names the op.

PyTorch's answers for the same cases are recorded in ``tests/data/zero_size_torch.json`` by
``benchmarks/zero_size_vs_torch.py`` (run by hand; the tests never import torch). Where
PyTorch computes a result the engine must give the same shape; where it refuses, the
engine follows NumPy.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import autograd_np as ag
from autograd_np import Tensor, convolution, functional as F, nn, ops

FIXTURE = Path(__file__).parent / "data" / "zero_size_torch.json"
_I = np.zeros(0, dtype=np.int64)  # an empty integer index


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[float])(x)


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))


def _flatten(x: np.ndarray, start: int = 0) -> np.ndarray:
    return x.reshape(x.shape[:start] + (math.prod(x.shape[start:]),))


def _layer_norm(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)


def _assigned(x: np.ndarray, index: Any, value: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[index] = value
    return out


@dataclass(frozen=True)
class Case:
    id: str
    inputs: tuple[tuple[int, ...], ...]  # the shapes of the float64 inputs (each requires grad)
    fn: Callable[..., Any]  # on Tensors
    numpy: Callable[..., Any] | None = None  # on arrays; None: ``fn`` itself (NumPy dispatch)


def _c(id: str, inputs: Any, fn: Callable, numpy: Callable | None = None) -> Case:
    return Case(id, tuple(tuple(s) for s in inputs), fn, numpy)


CASES = [
    # broadcasting and its adjoint
    _c("sum_to (0,3)->(3,)", [(0, 3)], lambda x: ops.sum_to(x, (3,)), lambda x: x.sum(axis=0)),
    _c("sum_to (2,0)->(1,0)", [(2, 0)], lambda x: ops.sum_to(x, (1, 0)), lambda x: x.sum(axis=0, keepdims=True)),
    _c("broadcast_to (1,3)->(0,3)", [(1, 3)], lambda x: np.broadcast_to(x, (0, 3))),
    _c("expand (0,1)->(0,4)", [(0, 1)], lambda x: x.expand(0, 4), lambda x: np.broadcast_to(x, (0, 4))),
    # elementwise, unary
    _c("neg", [(0, 3)], lambda x: -x),
    _c("exp", [(0, 3)], np.exp),
    _c("log", [(2, 0)], np.log),
    _c("tanh", [(0, 3)], np.tanh),
    _c("sigmoid", [(0, 3)], lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    _c("relu", [(0, 3)], lambda x: x.relu(), lambda x: np.maximum(x, 0)),
    _c("abs", [(0,)], np.abs),
    _c("sin", [(0, 3)], np.sin),
    _c("cos", [(0, 3)], np.cos),
    _c("erf", [(0, 3)], lambda x: x.erf(), _erf),
    _c("softplus", [(0, 3)], lambda x: ops.softplus(x), lambda x: np.logaddexp(0, x)),
    _c("sign", [(0, 3)], np.sign),
    _c("floor", [(0, 3)], np.floor),
    _c("ceil", [(0, 3)], np.ceil),
    _c("trunc", [(0, 3)], np.trunc),
    _c("round", [(0, 3)], np.round),
    _c("sqrt", [(0, 3)], np.sqrt),
    _c("square", [(0, 3)], np.square),
    _c("astype float32", [(0, 3)], lambda x: x.astype(np.float32)),
    _c("gelu", [(0, 3)], lambda x: F.gelu(x), lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    _c("dropout", [(0, 3)], lambda x: F.dropout(x, 0.5, rng=0), lambda x: x * 2),
    # elementwise, binary (broadcasting a size-0 axis)
    _c("add (0,3)+(3,)", [(0, 3), (3,)], lambda a, b: a + b),
    _c("sub (2,0)-(2,1)", [(2, 0), (2, 1)], lambda a, b: a - b),
    _c("mul (0,1)*(1,4)", [(0, 1), (1, 4)], lambda a, b: a * b),
    _c("div (2,0)/()", [(2, 0), ()], lambda a, b: a / b),
    _c("pow (0,3)**(3,)", [(0, 3), (3,)], lambda a, b: a**b),
    _c("maximum (0,3) (1,3)", [(0, 3), (1, 3)], np.maximum),
    _c("minimum (2,0) (2,1)", [(2, 0), (2, 1)], np.minimum),
    _c("logaddexp (0,3) (3,)", [(0, 3), (3,)], np.logaddexp),
    _c("where (0,3)", [(0, 3), (3,)], lambda a, b: np.where(np.zeros((0, 3), bool), a, b)),
    _c("masked_fill (2,0)", [(2, 0)], lambda x: x.masked_fill(np.zeros((2, 0), bool), 1.0),
       lambda x: np.where(np.zeros((2, 0), bool), 1.0, x)),
    _c("clip (0,3) scalars", [(0, 3)], lambda x: np.clip(x, -1.0, 1.0)),
    _c("clip (0,3) tensor bounds", [(0, 3), (3,), (1, 3)], np.clip),
    # linear algebra
    _c("matmul (2,0)@(0,3)", [(2, 0), (0, 3)], np.matmul),
    _c("matmul (0,2)@(2,3)", [(0, 2), (2, 3)], np.matmul),
    _c("matmul (2,3)@(3,0)", [(2, 3), (3, 0)], np.matmul),
    _c("matmul (4,2,0)@(0,3)", [(4, 2, 0), (0, 3)], np.matmul),
    _c("matmul (0,2,3)@(3,4)", [(0, 2, 3), (3, 4)], np.matmul),
    _c("matmul (0,)@(0,)", [(0,), (0,)], np.matmul),
    _c("matmul (2,0)@(0,)", [(2, 0), (0,)], np.matmul),
    _c("matmul (2,1,1,0)@(3,0,4)", [(2, 1, 1, 0), (3, 0, 4)], np.matmul),
    _c("matmul (2,1,0)@(3,0,4) batch mismatch", [(2, 1, 0), (3, 0, 4)], np.matmul),
    _c("linear (2,0) W(0,3)", [(2, 0), (0, 3), (3,)], F.linear, lambda x, w, b: x @ w + b),
    _c("linear (0,4) W(4,3)", [(0, 4), (4, 3), (3,)], F.linear, lambda x, w, b: x @ w + b),
    _c("linear (2,5,0) W(0,3)", [(2, 5, 0), (0, 3), (3,)], F.linear, lambda x, w, b: x @ w + b),
    _c("linear (0,2,4) W(4,3)", [(0, 2, 4), (4, 3), (3,)], F.linear, lambda x, w, b: x @ w + b),
    _c("linear (2,4) W(4,0)", [(2, 4), (4, 0), (0,)], F.linear, lambda x, w, b: x @ w + b),
    # reductions
    _c("sum all (0,3)", [(0, 3)], np.sum),
    _c("sum axis 0 (0,3)", [(0, 3)], lambda x: np.sum(x, axis=0)),
    _c("sum axis 1 keepdims (2,0)", [(2, 0)], lambda x: np.sum(x, axis=1, keepdims=True)),
    _c("mean all (0,3)", [(0, 3)], np.mean),
    _c("mean axis 1 (0,3)", [(0, 3)], lambda x: np.mean(x, axis=1)),
    _c("mean axis 0 (0,3)", [(0, 3)], lambda x: np.mean(x, axis=0)),
    _c("var axis 0 (0,3)", [(0, 3)], lambda x: np.var(x, axis=0)),
    _c("var axis 1 (0,3)", [(0, 3)], lambda x: np.var(x, axis=1)),
    _c("std all (2,0)", [(2, 0)], np.std),
    _c("std axis 1 (0,3)", [(0, 3)], lambda x: np.std(x, axis=1)),
    _c("max all (0,3)", [(0, 3)], np.max),
    _c("max axis 0 (0,3)", [(0, 3)], lambda x: np.max(x, axis=0)),
    _c("max axis 1 (0,3)", [(0, 3)], lambda x: np.max(x, axis=1)),
    _c("min axis 1 (2,0)", [(2, 0)], lambda x: np.min(x, axis=1)),
    _c("min axis 0 (2,0)", [(2, 0)], lambda x: np.min(x, axis=0)),
    _c("logsumexp axis 1 (2,0)", [(2, 0)], lambda x: x.logsumexp(axis=1),
       lambda x: np.log(np.sum(np.exp(x), axis=1))),
    _c("logsumexp all (0,3)", [(0, 3)], lambda x: x.logsumexp(), lambda x: np.log(np.sum(np.exp(x)))),
    _c("logsumexp axis 1 (0,3)", [(0, 3)], lambda x: x.logsumexp(axis=1), lambda x: np.log(np.sum(np.exp(x), axis=1))),
    _c("cumsum axis 0 (0,3)", [(0, 3)], lambda x: np.cumsum(x, axis=0)),
    _c("cumsum flat (2,0)", [(2, 0)], np.cumsum),
    _c("argmax all (0,3)", [(0, 3)], lambda x: np.argmax(x)),
    _c("argmax axis 1 (0,3)", [(0, 3)], lambda x: np.argmax(x, axis=1)),
    _c("argmin axis 1 (2,0)", [(2, 0)], lambda x: np.argmin(x, axis=1)),
    # softmax family and losses
    _c("log_softmax (2,0)", [(2, 0)], lambda x: x.log_softmax(axis=-1), _log_softmax),
    _c("log_softmax (0,3) axis 0", [(0, 3)], lambda x: x.log_softmax(axis=0), lambda x: _log_softmax(x, 0)),
    _c("softmax (2,0)", [(2, 0)], lambda x: x.softmax(axis=-1), lambda x: np.exp(_log_softmax(x))),
    _c("softmax (0,3)", [(0, 3)], lambda x: x.softmax(axis=-1), lambda x: np.exp(_log_softmax(x))),
    _c("cross_entropy (0,3)", [(0, 3)], lambda x: F.cross_entropy(x, _I), lambda x: np.mean(x.sum(axis=1))),
    _c("cross_entropy sum (0,3)", [(0, 3)], lambda x: F.cross_entropy(x, _I, reduction="sum"),
       lambda x: np.sum(x.sum(axis=1))),
    _c("cross_entropy (2,0,3)", [(2, 0, 3)], lambda x: F.cross_entropy(x, np.zeros((2, 0), np.int64)),
       lambda x: np.mean(x.sum(axis=-1))),
    _c("cross_entropy ignore_index (0,3)", [(0, 3)], lambda x: F.cross_entropy(x, _I, ignore_index=-1),
       lambda x: np.mean(x.sum(axis=1))),
    _c("cross_entropy label_smoothing (0,3)", [(0, 3)], lambda x: F.cross_entropy(x, _I, label_smoothing=0.1),
       lambda x: np.mean(x.sum(axis=1))),
    _c("nll_loss (0,3)", [(0, 3)], lambda x: F.nll_loss(x, _I), lambda x: np.mean(x.sum(axis=1))),
    _c("mse_loss (0,3)", [(0, 3), (0, 3)], F.mse_loss, lambda a, b: np.mean((a - b) ** 2)),
    _c("l1_loss (0,3)", [(0, 3), (0, 3)], F.l1_loss, lambda a, b: np.mean(np.abs(a - b))),
    _c("bce_with_logits (2,0)", [(2, 0), (2, 0)], F.binary_cross_entropy_with_logits,
       lambda x, t: np.mean(np.logaddexp(0, x) - t * x)),
    _c("leaky_relu (0,3)", [(0, 3)], lambda x: F.leaky_relu(x), lambda x: np.where(x > 0, x, 0.01 * x)),
    _c("Linear (2,0,4)", [(2, 0, 4)], lambda x: nn.Linear(4, 3, dtype=np.float64)(x), lambda x: x @ np.zeros((4, 3))),
    _c("layer_norm (0,3)", [(0, 3)], lambda x: nn.LayerNorm(3, dtype=np.float64)(x), _layer_norm),
    _c("embedding of no indices", [(5, 2)], lambda w: w[_I], lambda w: w[_I]),
    # shape ops
    _c("reshape (0,3)->(3,0)", [(0, 3)], lambda x: np.reshape(x, (3, 0))),
    _c("reshape (0,3)->(-1,)", [(0, 3)], lambda x: np.reshape(x, (-1,))),
    _c("reshape (0,3)->(0,-1)", [(0, 3)], lambda x: np.reshape(x, (0, -1))),
    _c("reshape (2,0,3)->(0,2,3)", [(2, 0, 3)], lambda x: np.reshape(x, (0, 2, 3))),
    _c("flatten (0,2)", [(0, 2)], lambda x: x.flatten(), _flatten),
    _c("flatten(1) (0,2,3)", [(0, 2, 3)], lambda x: x.flatten(1), lambda x: _flatten(x, 1)),
    _c("flatten(1) (2,0,3)", [(2, 0, 3)], lambda x: x.flatten(1), lambda x: _flatten(x, 1)),
    _c("transpose (0,2,3)", [(0, 2, 3)], np.transpose),
    _c("permute (0,2,3) (1,0,2)", [(0, 2, 3)], lambda x: x.permute(1, 0, 2), lambda x: x.transpose(1, 0, 2)),
    _c("squeeze (0,1,3) axis 1", [(0, 1, 3)], lambda x: np.squeeze(x, axis=1)),
    _c("unsqueeze (0,3) dim 0", [(0, 3)], lambda x: x.unsqueeze(0), lambda x: x[None]),
    _c("flip (0,3)", [(0, 3)], lambda x: np.flip(x, axis=0)),
    _c("tile (0,3) 2", [(0, 3)], lambda x: np.tile(x, 2)),
    _c("tile (2,3) (0,1)", [(2, 3)], lambda x: np.tile(x, (0, 1))),
    _c("pad (0,3)", [(0, 3)], lambda x: np.pad(x, ((1, 1), (0, 0)))),
    _c("tril (0,3)", [(0, 3)], np.tril),
    _c("triu (2,0)", [(2, 0)], np.triu),
    _c("repeat_interleave (0,3)", [(0, 3)], lambda x: np.repeat(x, 2, axis=0)),
    _c("repeat_interleave (2,3) 0 times", [(2, 3)], lambda x: np.repeat(x, 0, axis=0)),
    _c("split (0,3) in 2", [(0, 3)], lambda x: x.split(2)[0], lambda x: x),
    _c("chunk (2,0) in 2 on dim 1", [(2, 0)], lambda x: x.chunk(2, dim=1)[0], lambda x: x),
    _c("np.split (0,3) in 3 on axis 0", [(0, 3)], lambda x: np.split(x, 3)[1]),
    # indexing, joining, gathering
    _c("setitem (0,3)[:, 1] = v", [(0, 3), (0,)], lambda x, v: ops.setitem(x, v, index=(slice(None), 1)),
       lambda x, v: _assigned(x, (slice(None), 1), v)),
    _c("setitem (5,3)[empty index] = v", [(5, 3), (3,)], lambda x, v: ops.setitem(x, v, index=_I),
       lambda x, v: _assigned(x, _I, v)),
    _c("getitem (0,3)[:, 1]", [(0, 3)], lambda x: x[:, 1]),
    _c("getitem (5,3)[empty index]", [(5, 3)], lambda x: x[_I]),
    _c("getitem (300,3)[empty index]", [(300, 3)], lambda x: x[_I]),
    _c("getitem (5,3)[all-False mask]", [(5, 3)], lambda x: x[np.zeros(5, bool)]),
    _c("getitem (2,0)[repeats]", [(2, 0)], lambda x: x[np.array([1, 1])]),
    _c("getitem (0,3)[empty, repeats]", [(0, 3)], lambda x: x[_I][:, [1, 1]]),
    _c("scatter_add (0,3) into (5,3)", [(0, 3)], lambda g: ops.scatter_add(g, index=_I, shape=(5, 3)),
       lambda g: np.zeros((5, 3))),
    _c("concatenate (0,3) (2,3)", [(0, 3), (2, 3)], lambda a, b: np.concatenate([a, b])),
    _c("concatenate (2,0) (2,3) axis 1", [(2, 0), (2, 3)], lambda a, b: np.concatenate([a, b], axis=1)),
    _c("concatenate (0,3) (0,3) axis 1", [(0, 3), (0, 3)], lambda a, b: np.concatenate([a, b], axis=1)),
    _c("stack (0,3) (0,3)", [(0, 3), (0, 3)], lambda a, b: np.stack([a, b])),
    _c("stack (0,3) (0,3) axis 1", [(0, 3), (0, 3)], lambda a, b: np.stack([a, b], axis=1)),
    _c("gather (0,3) index (0,3)", [(0, 3)], lambda x: x.gather(1, np.zeros((0, 3), np.int64)),
       lambda x: np.take_along_axis(x, np.zeros((0, 3), np.int64), 1)),
    _c("gather (2,3) index (2,0)", [(2, 3)], lambda x: x.gather(1, np.zeros((2, 0), np.int64)),
       lambda x: np.take_along_axis(x, np.zeros((2, 0), np.int64), 1)),
    _c("take_along_axis (0,3) indices (0,1)", [(0, 3)], lambda x: np.take_along_axis(x, np.zeros((0, 1), np.int64), 1)),
    _c("take_along_axis (2,3) indices (2,0)", [(2, 3)], lambda x: np.take_along_axis(x, np.zeros((2, 0), np.int64), 1)),
    _c("take_along_axis (2,0) indices (2,1)", [(2, 0)], lambda x: np.take_along_axis(x, np.zeros((2, 1), np.int64), 1)),
    _c("take_along_axis (0,3) indices (1,2)", [(0, 3)], lambda x: np.take_along_axis(x, np.zeros((1, 2), np.int64), 1)),
    _c("take_along_axis (2,3) indices (0,1)", [(2, 3)], lambda x: np.take_along_axis(x, np.zeros((0, 1), np.int64), 1)),
    # convolution and pooling (the NumPy side: zeros of the output shape PyTorch's formula gives)
    _c("conv2d (0,2,5,5) W(3,2,3,3)", [(0, 2, 5, 5), (3, 2, 3, 3)], F.conv2d, lambda x, w: np.zeros((0, 3, 3, 3))),
    _c("conv2d (2,2,5,5) W(0,2,3,3)", [(2, 2, 5, 5), (0, 2, 3, 3)], F.conv2d, lambda x, w: np.zeros((2, 0, 3, 3))),
    _c("conv1d (0,2,5) W(3,2,2)", [(0, 2, 5), (3, 2, 2)], F.conv1d, lambda x, w: np.zeros((0, 3, 4))),
    _c("conv_transpose2d (0,3,3,3) W(3,2,2,2)", [(0, 3, 3, 3), (3, 2, 2, 2)], F.conv_transpose2d,
       lambda x, w: np.zeros((0, 2, 4, 4))),
    _c("conv2d_weight (0,2,5,5) g(0,3,3,3)", [(0, 2, 5, 5), (0, 3, 3, 3)],
       lambda x, g: convolution.conv2d_weight(x, g, kernel_size=(3, 3)), lambda x, g: np.zeros((3, 2, 3, 3))),
    _c("max_pool2d (0,2,4,4)", [(0, 2, 4, 4)], lambda x: F.max_pool2d(x, 2), lambda x: np.zeros((0, 2, 2, 2))),
    _c("max_pool2d (2,0,4,4)", [(2, 0, 4, 4)], lambda x: F.max_pool2d(x, 2), lambda x: np.zeros((2, 0, 2, 2))),
    _c("avg_pool2d (0,2,4,4)", [(0, 2, 4, 4)], lambda x: F.avg_pool2d(x, 2), lambda x: np.zeros((0, 2, 2, 2))),
    _c("adaptive_avg_pool2d (0,2,4,4)", [(0, 2, 4, 4)], lambda x: F.adaptive_avg_pool2d(x, 3),
       lambda x: np.zeros((0, 2, 3, 3))),
    # more elementwise functions, products, contractions, linear algebra
    _c("tan (0,3)", [(0, 3)], np.tan),
    _c("sinh (0,3)", [(0, 3)], np.sinh),
    _c("cosh (2,0)", [(2, 0)], np.cosh),
    _c("arctan (0,3)", [(0, 3)], np.arctan),
    _c("arcsin (0,3)", [(0, 3)], np.arcsin),
    _c("arccos (0,3)", [(0, 3)], np.arccos),
    _c("arctanh (0,3)", [(0, 3)], np.arctanh),
    _c("log1p (0,3)", [(0, 3)], np.log1p),
    _c("expm1 (0,3)", [(0, 3)], np.expm1),
    _c("log2 (0,3)", [(0, 3)], np.log2),
    _c("log10 (0,3)", [(0, 3)], np.log10),
    _c("exp2 (0,3)", [(0, 3)], np.exp2),
    _c("remainder (0,3) % (3,)", [(0, 3), (3,)], lambda a, b: a % b),
    _c("fmod (2,0) (2,1)", [(2, 0), (2, 1)], np.fmod),
    _c("hypot (0,3) (3,)", [(0, 3), (3,)], np.hypot),
    _c("prod all (0,3)", [(0, 3)], np.prod),
    _c("prod axis 0 (0,3)", [(0, 3)], lambda x: np.prod(x, axis=0)),
    _c("prod axis 1 (0,3)", [(0, 3)], lambda x: np.prod(x, axis=1)),
    _c("cumprod axis 0 (0,3)", [(0, 3)], lambda x: np.cumprod(x, axis=0)),
    _c("cumprod flat (2,0)", [(2, 0)], np.cumprod),
    _c("roll (0,3)", [(0, 3)], lambda x: np.roll(x, 1, axis=1)),
    _c("einsum ij,jk (2,0) (0,3)", [(2, 0), (0, 3)], lambda a, b: np.einsum("ij,jk", a, b)),
    _c("einsum ...i->... (0,3)", [(0, 3)], lambda x: np.einsum("...i->...", x)),
    _c("einsum ii->i (0,0)", [(0, 0)], lambda x: np.einsum("ii->i", x)),
    _c("solve (0,3,3) (0,3,2)", [(0, 3, 3), (0, 3, 2)], np.linalg.solve),
    _c("solve (0,0) (0,)", [(0, 0), (0,)], np.linalg.solve),
    _c("inv (0,3,3)", [(0, 3, 3)], np.linalg.inv),
    _c("inv (0,0)", [(0, 0)], np.linalg.inv),
    _c("det (0,3,3)", [(0, 3, 3)], np.linalg.det),
    _c("det (0,0)", [(0, 0)], np.linalg.det),
    _c("slogdet (0,2,2)", [(0, 2, 2)], lambda x: np.linalg.slogdet(x)[1]),
    _c("cholesky (0,3,3)", [(0, 3, 3)], np.linalg.cholesky),
    _c("eigh values (0,3,3)", [(0, 3, 3)], lambda x: np.linalg.eigh(x)[0]),
    _c("eigh vectors (0,3,3)", [(0, 3, 3)], lambda x: np.linalg.eigh(x)[1]),
    _c("svd values (0,3,2)", [(0, 3, 2)], lambda x: np.linalg.svd(x, compute_uv=False)),
    _c("svd U (0,3,2)", [(0, 3, 2)], lambda x: np.linalg.svd(x, full_matrices=False)[0]),
    _c("svd values (2,0)", [(2, 0)], lambda x: np.linalg.svd(x, compute_uv=False)),
    _c("qr Q (0,3,2)", [(0, 3, 2)], lambda x: np.linalg.qr(x)[0]),
    _c("qr R (2,0)", [(2, 0)], lambda x: np.linalg.qr(x)[1]),
    _c("norm (0,3)", [(0, 3)], np.linalg.norm),
    _c("norm axis 1 (0,3)", [(0, 3)], lambda x: np.linalg.norm(x, axis=1)),
    _c("norm axis 0 (0,3)", [(0, 3)], lambda x: np.linalg.norm(x, axis=0)),
]
IDS = [c.id for c in CASES]

#: A clear error names the op (or function) first: ``max: input shape (0, 3): ...``.
NAMED = re.compile(r"^[\w.]+: ")
ERRORS = (ValueError, IndexError, TypeError, RuntimeError)


def _numpy_result(case: Case) -> tuple[Any, bool]:
    """NumPy's answer on zero-filled arrays (or the exception), and whether NumPy warned."""
    arrays = [np.zeros(s) for s in case.inputs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = np.asarray((case.numpy or case.fn)(*arrays))
        except ERRORS as error:
            result = error
    return result, bool(caught)


def _engine(case: Case) -> tuple[list[Tensor], Any, bool]:
    leaves = [Tensor(np.zeros(s), requires_grad=True) for s in case.inputs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = case.fn(*leaves)
        except ERRORS as error:
            out = error
    return leaves, out, bool(caught)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_zero_size_forward_and_backward_as_numpy(case: Case) -> None:
    agrees_with_numpy(case)


def agrees_with_numpy(case: Case) -> None:
    """The engine's forward as NumPy's (or both refuse), and a quiet backward of the input shapes."""
    expected, numpy_warned = _numpy_result(case)
    leaves, out, engine_warned = _engine(case)
    if isinstance(expected, Exception):
        assert isinstance(out, Exception), f"NumPy refuses ({expected}); the engine gave shape {out.shape}"
        assert NAMED.match(str(out)), f"the error does not name the op: {out}"
        return
    if isinstance(out, Exception):
        raise out
    assert out.shape == expected.shape and out.dtype == expected.dtype
    assert numpy_warned or not engine_warned, "the engine warns where NumPy does not"
    if not out.requires_grad:  # integer results (argmax) record nothing
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.backward(np.ones(out.shape))
    for leaf in leaves:
        assert leaf.grad is not None and leaf.grad.shape == leaf.shape and leaf.grad.dtype == leaf.dtype


def test_every_op_has_a_zero_size_case() -> None:
    """Each op of ``ops.OPS`` is recorded by at least one case (the cases whose forward runs)."""
    recorded = set()
    for case in CASES:
        leaves, out, _ = _engine(case)
        if isinstance(out, Tensor):
            recorded |= {t.op for t in ag.topological_order(out) if t.op}
    missing = sorted(set(ops.OPS) - recorded)
    assert not missing, f"ops with no zero-size case: {missing}"


def _fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def test_the_torch_fixture_has_the_same_cases() -> None:
    recorded = _fixture()["cases"]
    assert list(recorded) == IDS, "re-run benchmarks/zero_size_vs_torch.py: the cases changed"
    for case in CASES:
        assert [tuple(s) for s in recorded[case.id]["inputs"]] == list(case.inputs), case.id


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_zero_size_shapes_as_pytorch(case: Case) -> None:
    torch_answer = _fixture()["cases"][case.id]
    if "shape" not in torch_answer:  # PyTorch refuses (max of an empty axis, ...): NumPy's rule is checked above
        return
    _, out, _ = _engine(case)
    assert not isinstance(out, Exception), f"PyTorch gives shape {torch_answer['shape']}; the engine: {out}"
    assert list(out.shape) == torch_answer["shape"]


# ----------------------------------------------------------------------------
# Random programs: random shapes with a size-0 axis, random axes
# ----------------------------------------------------------------------------
UNARY: dict[str, tuple[Callable, Callable | None]] = {
    "neg": (np.negative, None), "exp": (np.exp, None), "log": (np.log, None), "tanh": (np.tanh, None),
    "sqrt": (np.sqrt, None), "square": (np.square, None), "abs": (np.abs, None), "sign": (np.sign, None),
    "sin": (np.sin, None), "round": (np.round, None), "floor": (np.floor, None),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0)),
    "erf": (lambda x: x.erf(), _erf), "softplus": (lambda x: ops.softplus(x), lambda x: np.logaddexp(0, x)),
    "x ** 3": (lambda x: x**3, None), "2 ** x": (lambda x: 2.0**x, None),
    "clip": (lambda x: np.clip(x, -1.0, 1.0), None), "transpose": (np.transpose, None), "flip": (np.flip, None),
    "ravel": (np.ravel, None), "flatten": (lambda x: x.flatten(), np.ravel), "cumsum": (np.cumsum, None),
    "log_softmax last axis": (lambda x: x.log_softmax(axis=-1), _log_softmax),
    "softmax axis 0": (lambda x: x.softmax(axis=0), lambda x: np.exp(_log_softmax(x, 0))),
    "tile": (lambda x: np.tile(x, 2), None), "pad": (lambda x: np.pad(x, 1), None),
    "stack with itself": (lambda x: np.stack([x, x * 2], axis=-1), None),
    "concatenate with itself": (lambda x: np.concatenate([x, x], axis=0), None),
    "getitem [::-1]": (lambda x: x[::-1], None), "getitem [[0, 0]]": (lambda x: x[[0, 0]], None),
}
REDUCTIONS: dict[str, tuple[Callable, Callable | None]] = {
    "sum": (np.sum, None), "mean": (np.mean, None), "var": (np.var, None), "std": (np.std, None),
    "max": (np.max, None), "min": (np.min, None), "argmax": (np.argmax, None),
    "logsumexp": (lambda x, axis, keepdims: x.logsumexp(axis=axis, keepdims=keepdims),
                  lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))),
}
BINARY: dict[str, Callable] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum, "logaddexp": np.logaddexp, "matmul-like (a * b).sum(-1)":
    lambda a, b: np.sum(a * b, axis=-1), "where": lambda a, b: np.where(np.ones(np.broadcast_shapes(
        np.shape(a), np.shape(b)), bool), a, b),
}
with_a_zero = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3).filter(lambda s: 0 in s)


@given(name=st.sampled_from(sorted(UNARY)), shape=with_a_zero)
def test_random_unary_programs(name: str, shape: tuple[int, ...]) -> None:
    fn, numpy = UNARY[name]
    if name.startswith("getitem [[0") and shape[0] == 0:
        shape = (1,) + shape[1:]
    agrees_with_numpy(Case(name, (shape,), fn, numpy))


@given(name=st.sampled_from(sorted(REDUCTIONS)), shape=with_a_zero, data=st.data(), keepdims=st.booleans())
def test_random_reductions(name: str, shape: tuple[int, ...], data: Any, keepdims: bool) -> None:
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    fn, numpy = REDUCTIONS[name]
    if name == "argmax":
        keepdims = False if axis is None else keepdims
    engine = lambda x: fn(x, axis=axis, keepdims=keepdims)  # noqa: E731
    agrees_with_numpy(Case(name, (shape,), engine, (lambda x: numpy(x, axis, keepdims)) if numpy else engine))


@given(name=st.sampled_from(sorted(BINARY)),
       pair=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=2).filter(
           lambda p: 0 in p.result_shape))
def test_random_binary_programs(name: str, pair: Any) -> None:
    agrees_with_numpy(Case(name, tuple(pair.input_shapes), BINARY[name]))
