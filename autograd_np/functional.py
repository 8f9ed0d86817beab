"""Functions built on the ops (the ``torch.nn.functional`` of this engine)."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .tensor import Tensor


def cross_entropy(logits: Tensor, targets: Any) -> Tensor:
    """Mean cross-entropy of ``logits`` (B, C) against integer ``targets`` (B,).

    One fused op (``ops.cross_entropy``) whose VJP is the derivation's
    (softmax - onehot) / B; it equals the composition
    ``-logits.log_softmax(-1)[np.arange(B), targets].mean()`` (see tests).
    """
    targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {targets.dtype}")
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
