"""Functions built on the ops (the ``torch.nn.functional`` of this engine)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import creation, functions, ops
from .tensor_type import Tensor


def cross_entropy(
    logits: Tensor, targets: Any, ignore_index: int | None = None, label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy of ``logits`` (B, C) against integer ``targets`` (B,), averaged over the batch.

    Classes are the *last* axis: logits (..., C) with targets (...) (a sequence model's (B, T, C)
    and (B, T)) are folded into rows (PyTorch puts classes in axis 1 instead).
    ``ignore_index``: rows whose target equals it are left out, and the mean is over the others.
    ``label_smoothing`` ε: the target is (1 - ε) onehot + ε / C. ``reduction``: "mean", "sum" or "none".

    The plain case is one fused op (``ops.cross_entropy``) whose VJP is the derivation's
    (softmax - onehot) / B; it equals the composition
    ``-logits.log_softmax(-1)[np.arange(B), targets].mean()`` (see tests).
    """
    targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {targets.dtype}")
    if ignore_index is None and label_smoothing == 0.0 and reduction == "mean" and logits.ndim == 2:
        return ops.cross_entropy(logits, targets)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    logits, targets = _rows_of_classes("cross_entropy", logits, targets)
    if label_smoothing == 0.0 and reduction == "mean":
        if ignore_index is not None:
            kept = np.flatnonzero(targets != ignore_index)
            if kept.size < targets.size:
                return ops.cross_entropy(logits[kept], targets[kept])
        return ops.cross_entropy(logits, targets)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    return nll_loss(ops.log_softmax(logits, axis=-1), targets, ignore_index, reduction, label_smoothing=label_smoothing)


def nll_loss(
    log_probs: Tensor, targets: Any, ignore_index: int | None = None, reduction: str = "mean", *,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Negative log-likelihood: -log_probs[b, targets[b]], averaged over the rows (classes last,
    as in ``cross_entropy``; rows whose target is ``ignore_index`` are left out of the mean)."""
    targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: targets must be integer class indices, got dtype {targets.dtype}")
    log_probs, targets = _rows_of_classes("nll_loss", log_probs, targets)
    kept = np.ones(targets.shape, dtype=bool) if ignore_index is None else targets != ignore_index
    safe = np.where(kept, targets, 0)
    classes = log_probs.shape[-1]
    if safe.size and (safe.min() < 0 or safe.max() >= classes):
        bad = targets[kept & ((targets < 0) | (targets >= classes))][0]
        raise IndexError(f"nll_loss: target {bad} is out of range for {classes} classes")
    per_row = -log_probs[np.arange(len(safe)), safe]
    if label_smoothing:
        per_row = (1 - label_smoothing) * per_row - label_smoothing * log_probs.mean(axis=-1)
    if ignore_index is not None:
        per_row = ops.where(kept, per_row, 0.0)
    if reduction == "mean":
        return per_row.sum() / np.asarray(kept.sum() or np.nan, dtype=per_row.dtype)  # no row: NaN, not 0/0 (a warning)
    return _reduce("nll_loss", per_row, reduction)


def _rows_of_classes(name: str, scores: Tensor, targets: np.ndarray) -> tuple[Tensor, np.ndarray]:
    """Scores (..., C) and targets (...) as (rows, C) and (rows,)."""
    if scores.ndim < 1 or targets.shape != scores.shape[:-1]:
        raise ValueError(
            f"{name}: scores (..., C) need targets (...) (classes in the last axis), "
            f"got shapes {scores.shape} and {targets.shape}"
        )
    if scores.ndim == 2:
        return scores, targets
    return scores.reshape(targets.size, scores.shape[-1]), targets.reshape(-1)  # not -1: C may be 0


def _reduce(name: str, losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(name: str, prediction: Any, target: Any) -> None:
    if np.shape(getattr(prediction, "data", prediction)) != np.shape(getattr(target, "data", target)):
        raise ValueError(
            f"{name}: input of shape {np.shape(getattr(prediction, 'data', prediction))} and target of shape "
            f"{np.shape(getattr(target, 'data', target))} differ"
        )


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002 (PyTorch's name)
    """Mean squared error (input - target)²; shapes must match."""
    _same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce("mse_loss", diff * diff, reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error |input - target|; shapes must match."""
    _same_shape("l1_loss", input, target)
    return _reduce("l1_loss", ops.abs(input - target), reduction)


def binary_cross_entropy(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """-(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1]; each log is clamped at -100
    (as PyTorch) so p = 0 or 1 gives a finite loss. Prefer ``binary_cross_entropy_with_logits``."""
    _same_shape("binary_cross_entropy", input, target)
    p = getattr(input, "data", input)
    if np.size(p) and (np.min(p) < 0 or np.max(p) > 1):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1]; for scores use "
                         "binary_cross_entropy_with_logits")
    with np.errstate(divide="ignore"):
        log_p = ops.clip(ops.log(input), -100.0, None)
        log_not_p = ops.clip(ops.log(1 - input), -100.0, None)
    return _reduce("binary_cross_entropy", -(target * log_p + (1 - target) * log_not_p), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Binary cross-entropy of sigmoid(input), computed stably as softplus(x) - t x
    (finite for any logit; gradient sigmoid(x) - t)."""
    _same_shape("binary_cross_entropy_with_logits", input, target)
    return _reduce("binary_cross_entropy_with_logits", ops.softplus(input) - target * input, reduction)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Φ(x): ``approximate="none"`` is the exact ½ x (1 + erf(x/√2)); ``"tanh"`` is
    ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    # constants as Python floats: a NumPy float64 scalar would promote float32 inputs to float64
    if approximate == "none":
        return 0.5 * x * (1 + ops.erf(x * math.sqrt(0.5)))
    if approximate == "tanh":  # ½(1 + tanh u) = σ(2u): x σ(2√(2/π) (x + 0.044715 x³)), six ops
        scale = 2 * math.sqrt(2 / math.pi)
        return x * ops.sigmoid(x * ((x * x) * (scale * 0.044715) + scale))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Tensor) -> Tensor:
    """x sigmoid(x) (also called swish)."""
    return x * ops.sigmoid(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope x."""
    return ops.where(functions.gt(x, 0), x, x * negative_slope)


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """(1/β) ln(1 + e^(βx)), computed stably for any x (so PyTorch's ``threshold`` is not needed)."""
    return ops.softplus(x) if beta == 1.0 else ops.softplus(x * beta) / beta


def sigmoid(x: Tensor) -> Tensor:
    return ops.sigmoid(x)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Training: zero each element with probability ``p`` and scale the rest by 1/(1-p); otherwise
    the identity. The mask comes from ``rng`` (default: the generator ``manual_seed`` seeds)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * np.zeros(x.shape, dtype=x.dtype)
    keep = creation.generator(rng, name="dropout").random(x.shape) >= p
    return x * (keep * (1.0 / (1.0 - p))).astype(x.dtype)


def pad(x: Tensor, pad: Sequence[int], value: float = 0.0) -> Tensor:
    """PyTorch's pad: ``pad`` is (before, after) for the last axis, then the one before it, ...
    (constant padding; NumPy's per-axis spelling is ``autograd_np.pad``)."""
    pad = tuple(int(n) for n in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: {pad} must be (before, after) pairs for at most the {x.ndim} axes of shape {x.shape}")
    pairs = [pad[i:i + 2] for i in range(0, len(pad), 2)][::-1]
    widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs
    return ops.pad(x, widths=tuple(widths), value=value)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight + bias`` as one op (``ops.linear``), weight of shape (in, out).

    Same values and gradients as the two-op composition, one tape node instead
    of two. Without a bias it is ``x @ weight``.
    """
    if bias is None:
        return ops.matmul(x, weight)
    return ops.linear(x, weight, bias)


def log_softmax(x: Tensor, axis: Any = None, *, dim: Any = None) -> Tensor:
    """x - log Σ exp(x) over ``axis``/``dim`` (default the last): the ``log_softmax`` op."""
    return ops.log_softmax(x, axis=functions.pick_axis("log_softmax", axis, dim, -1))


def softmax(x: Tensor, axis: Any = None, *, dim: Any = None) -> Tensor:
    """exp(x) / Σ exp(x) over ``axis``/``dim`` (default the last), as exp(log_softmax(x))."""
    return ops.exp(ops.log_softmax(x, axis=functions.pick_axis("softmax", axis, dim, -1)))


def tanh(x: Tensor) -> Tensor:
    return ops.tanh(x)


def relu(x: Tensor) -> Tensor:
    return ops.relu(x)
