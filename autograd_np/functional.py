"""Functions built on the ops (the ``torch.nn.functional`` of this engine)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import ops
from .tensor import Tensor


def cross_entropy(logits: Tensor, targets: Any, ignore_index: int | None = None) -> Tensor:
    """Mean cross-entropy of ``logits`` (B, C) against integer ``targets`` (B,).

    One fused op (``ops.cross_entropy``) whose VJP is the derivation's
    (softmax - onehot) / B; it equals the composition
    ``-logits.log_softmax(-1)[np.arange(B), targets].mean()`` (see tests).

    ``logits`` may have more leading axes, (..., C) with ``targets`` (...): they
    are folded into rows first. With ``ignore_index``, positions whose target
    equals it (padding) are left out: the rows kept, K = {b : t_b != ignore_index},
    are picked with one gather and
    L = -(1/|K|) Σ_{b in K} log softmax(logits_b)[t_b],
    the mean over the kept rows (as ``torch.nn.functional.cross_entropy``).
    Ignored rows get a zero gradient.
    """
    targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {targets.dtype}")
    if logits.ndim > 2:
        if targets.shape != logits.shape[:-1]:
            raise ValueError(
                f"cross_entropy: logits (..., C) need targets (...), got shapes {logits.shape} and {targets.shape}"
            )
        logits = logits.reshape(-1, logits.shape[-1])
        targets = targets.reshape(-1)
    if ignore_index is not None:
        if np.shape(targets) != logits.shape[:1]:
            raise ValueError(
                f"cross_entropy: logits must be (B, C) and targets (B,), got shapes {logits.shape} and {np.shape(targets)}"
            )
        kept = np.flatnonzero(targets != ignore_index)
        if kept.size == 0:
            raise ValueError(f"cross_entropy: every target equals ignore_index={ignore_index}; the mean is undefined")
        if kept.size < targets.shape[0]:
            logits, targets = logits[kept], targets[kept]
    return ops.cross_entropy(logits, targets)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight + bias`` as one op (``ops.linear``), weight of shape (in, out).

    Same values and gradients as the two-op composition, one tape node instead
    of two. Without a bias it is ``x @ weight``.
    """
    if bias is None:
        return ops.matmul(x, weight)
    return ops.linear(x, weight, bias)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.log_softmax(x, axis=axis)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.exp(ops.log_softmax(x, axis=axis))


def tanh(x: Tensor) -> Tensor:
    return ops.tanh(x)


def relu(x: Tensor) -> Tensor:
    return ops.relu(x)


_GELU_SCALE = 2.0 * math.sqrt(2.0 / math.pi)


def gelu(x: Tensor) -> Tensor:
    """GELU, tanh form (Hendrycks & Gimpel; GPT-2's ``NewGELU``):

        gelu(x) = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))
                = x σ(2√(2/π) (x + 0.044715 x³))        (since ½(1 + tanh u) = σ(2u))

    Composed of six ops (mul, mul, add, mul, sigmoid, mul); its gradient comes from theirs.
    """
    inner = x * ((x * x) * (_GELU_SCALE * 0.044715) + _GELU_SCALE)
    return x * ops.sigmoid(inner)
