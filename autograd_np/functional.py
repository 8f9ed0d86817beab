"""Functions built on the ops (the ``torch.nn.functional`` of this engine)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import creation, functions, ops
from . import convolution  # after ops: ops.py imports it last, so its ops join ops.OPS
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
        if ignore_index is not None:  # the rows weighted 0 or 1: the same shapes whatever the padding
            return ops.masked_cross_entropy(logits, targets, ignore_index=ignore_index)
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
    return x * dropout_mask(rng, x.shape, p, x.dtype)


def dropout_mask(rng: Any, shape: tuple, p: float, dtype: Any) -> np.ndarray:
    """Dropout's mask: 1/(1-p) where a uniform draw from ``rng`` is >= p, else 0, as ``dtype``
    (``compile`` replays this call as one instruction, so every step draws a new mask)."""
    keep = creation.generator(rng, name="dropout").random(shape) >= p
    return (keep * (1.0 / (1.0 - p))).astype(dtype)


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


# ----------------------------------------------------------------------------
# Convolution and pooling (NCHW, PyTorch's signatures; the ops are in convolution.py)
# ----------------------------------------------------------------------------
def _pair(name: str, value: Any, what: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (``stride=2`` is ``(2, 2)``)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name}: {what} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _batched(name: str, x: Tensor, ndim: int) -> tuple[Tensor, bool]:
    """x with a batch axis (PyTorch accepts unbatched (C, H, W)); whether one was added."""
    if x.ndim == ndim - 1:
        return x.reshape((1,) + x.shape), True
    if x.ndim != ndim:
        raise ValueError(f"{name}: input must have {ndim - 1} or {ndim} axes, got shape {x.shape}")
    return x, False


def _same_padding(name: str, weight_shape: tuple[int, ...], stride: tuple[int, int], dilation: tuple[int, int]) -> tuple:
    """padding='same': (before, after) per spatial axis so the output keeps the input's size (stride 1)."""
    if stride != (1, 1):
        raise ValueError(f"{name}: padding='same' needs stride 1, got {stride}")
    total = [d * (k - 1) for d, k in zip(dilation, weight_shape[2:])]
    return tuple((t // 2, t - t // 2) for t in total)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,  # noqa: A002
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch): input (N, C, H, W) or (C, H, W), weight
    (O, C/groups, kh, kw), bias (O,). ``padding``: an int, a pair, ``'valid'`` or ``'same'``.

    One op, ``convolution.conv2d``: im2col (a sliding-window view) times the weight as a matrix;
    its VJP is the transposed convolution (docs/convolution.md).
    """
    x, unbatched = _batched("conv2d", input, 4)
    stride, dilation = _pair("conv2d", stride, "stride"), _pair("conv2d", dilation, "dilation")
    if padding == "valid":
        padding = 0
    if padding == "same":
        (top, bottom), (left, right) = _same_padding("conv2d", weight.shape, stride, dilation)
        x = pad(x, (0, right - left, 0, bottom - top)) if (bottom, right) != (top, left) else x
        padding = (top, left)
    y = convolution.conv2d(x, weight, stride=stride, padding=_pair("conv2d", padding, "padding"), dilation=dilation,
                           groups=int(groups))
    if bias is not None:
        y = y + bias.reshape(-1, 1, 1)
    return y.reshape(y.shape[1:]) if unbatched else y


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1, padding: Any = 0,  # noqa: A002
           dilation: int = 1, groups: int = 1) -> Tensor:
    """1-D convolution: input (N, C, L) or (C, L), weight (O, C/groups, k): ``conv2d`` over a height of 1."""
    x, unbatched = _batched("conv1d", input, 3)
    if weight.ndim != 3:
        raise ValueError(f"conv1d: weight must be (O, C/groups, k), got shape {weight.shape} (input {input.shape})")
    padding = padding if isinstance(padding, str) else (0, int(padding))
    y = conv2d(x.reshape(x.shape[:2] + (1,) + x.shape[2:]), weight.reshape(weight.shape[:2] + (1,) + weight.shape[2:]),
               bias, (1, int(stride)), padding, (1, int(dilation)), groups)
    y = y.reshape(y.shape[:2] + y.shape[3:])
    return y.reshape(y.shape[1:]) if unbatched else y


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed convolution (the adjoint of ``conv2d`` in its input): input (N, C_in, H, W), weight
    (C_in, C_out/groups, kh, kw); output side (H - 1) s - 2p + d (k - 1) + output_padding + 1."""
    x, unbatched = _batched("conv_transpose2d", input, 4)
    stride, dilation = _pair("conv_transpose2d", stride, "stride"), _pair("conv_transpose2d", dilation, "dilation")
    padding = _pair("conv_transpose2d", padding, "padding")
    extra = _pair("conv_transpose2d", output_padding, "output_padding")
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"conv_transpose2d: output_padding {extra} must be smaller than stride {stride} or dilation {dilation}")
    if weight.ndim != 4:
        raise ValueError(f"conv_transpose2d: input of shape {input.shape} and weight of shape {weight.shape}: "
                         "weight must be (C_in, C_out/groups, kh, kw)")
    size = tuple((x.shape[2 + k] - 1) * stride[k] - 2 * padding[k] + dilation[k] * (weight.shape[2 + k] - 1) + extra[k] + 1
                 for k in (0, 1))
    y = convolution.conv_transpose2d(x, weight, size=size, stride=stride, padding=padding, dilation=dilation,
                                     groups=int(groups))
    if bias is not None:
        y = y + bias.reshape(-1, 1, 1)
    return y.reshape(y.shape[1:]) if unbatched else y


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """The maximum of each window (stride defaults to kernel_size); the gradient goes to each
    window's first maximum. (``return_indices`` is not supported.)"""
    if return_indices:
        raise NotImplementedError("max_pool2d: return_indices=True is not supported")
    x, unbatched = _batched("max_pool2d", input, 4)
    kernel = _pair("max_pool2d", kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair("max_pool2d", stride, "stride")
    y = convolution.max_pool2d(x, kernel_size=kernel, stride=stride, padding=_pair("max_pool2d", padding, "padding"),
                               dilation=_pair("max_pool2d", dilation, "dilation"), ceil_mode=bool(ceil_mode))
    return y.reshape(y.shape[1:]) if unbatched else y


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each window: a depthwise ``conv2d`` with the constant weight 1/(kh kw) per
    channel (a composite: its gradient spreads G evenly over each window). ``count_include_pad=False``
    divides by the number of input (not padding) values in each window."""
    if ceil_mode:
        raise NotImplementedError("avg_pool2d: ceil_mode=True is not supported")
    x, unbatched = _batched("avg_pool2d", input, 4)
    kernel = _pair("avg_pool2d", kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair("avg_pool2d", stride, "stride")
    padding = _pair("avg_pool2d", padding, "padding")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"avg_pool2d: padding {padding} must be at most half of kernel_size {kernel}")
    channels = x.shape[1]
    ones = np.ones((channels, 1) + kernel, dtype=x.dtype)
    total = convolution.conv2d(x, ones, stride=stride, padding=padding, groups=channels)
    if divisor_override is not None:
        y = total / float(divisor_override)
    elif count_include_pad or padding == (0, 0):
        y = total / float(kernel[0] * kernel[1])
    else:
        inside = convolution.conv2d(np.ones((1, 1) + x.shape[2:], x.dtype), ones[:1], stride=stride, padding=padding)
        y = total / inside
    return y.reshape(y.shape[1:]) if unbatched else y


def _bin_means(size: int, out: int, dtype: Any) -> np.ndarray:
    """The (out, size) matrix averaging PyTorch's adaptive bins [floor(i size/out), ceil((i+1) size/out))."""
    matrix = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, stop = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Average over PyTorch's adaptive bins to ``output_size`` (None keeps that side): y = P_h x P_w^T
    with constant bin-averaging matrices (a composite of two matmuls)."""
    x, unbatched = _batched("adaptive_avg_pool2d", input, 4)
    sizes = (output_size, output_size) if output_size is None or isinstance(output_size, (int, np.integer)) else output_size
    out = tuple(x.shape[2 + k] if s is None else int(s) for k, s in enumerate(sizes))
    if len(out) != 2 or min(out) < 0 or (min(out) == 0 and min(x.shape[2:]) > 0) or (min(x.shape[2:]) == 0 and min(out) > 0):
        raise ValueError(f"adaptive_avg_pool2d: output_size {output_size} does not fit input of shape {input.shape}")
    y = _bin_means(x.shape[2], out[0], x.dtype) @ x @ _bin_means(x.shape[3], out[1], x.dtype).T
    return y.reshape(y.shape[1:]) if unbatched else y


# ----------------------------------------------------------------------------
# More activations (composites of the ops)
# ----------------------------------------------------------------------------
def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else alpha (e^x - 1) (the exponential of min(x, 0): no overflow on the unused side)."""
    return ops.where(functions.gt(x, 0), x, (ops.exp(ops.minimum(x, 0.0)) - 1.0) * alpha)


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """max(0, x) + min(0, alpha (e^(x/alpha) - 1))."""
    return ops.where(functions.gt(x, 0), x, (ops.exp(ops.minimum(x, 0.0) / alpha) - 1.0) * alpha)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants (alpha ≈ 1.6733, scale ≈ 1.0507)."""
    return elu(x, SELU_ALPHA) * SELU_SCALE


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clipped to [min_val, max_val]; the gradient is 1 strictly between the bounds and 0 on and
    beyond them (as PyTorch; ``clip`` keeps it on a bound)."""
    return ops.where(functions.le(x, min_val), min_val, ops.where(functions.ge(x, max_val), max_val, x))


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6)."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: Tensor) -> Tensor:
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between."""
    return hardtanh(x / 6.0 + 0.5, 0.0, 1.0)


def hardswish(x: Tensor) -> Tensor:
    """x hardsigmoid(x)."""
    return x * hardsigmoid(x)


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return x / (ops.abs(x) + 1.0)


def mish(x: Tensor) -> Tensor:
    """x tanh(softplus(x))."""
    return x * ops.tanh(ops.softplus(x))


# ----------------------------------------------------------------------------
# Sampling and attention
# ----------------------------------------------------------------------------
def multinomial(input: Any, num_samples: int, replacement: bool = False, *, rng: Any = None) -> Tensor:  # noqa: A002
    """Draw ``num_samples`` class indices per row of non-negative weights ``input`` (C,) or (B, C),
    with probabilities proportional to the weights (no gradient: the result is int64).
    Without ``replacement`` a class is drawn at most once per row. ``rng``: a Generator or a seed
    (default: the generator ``manual_seed`` seeds)."""
    weights = np.asarray(getattr(input, "data", input), dtype=np.float64)
    if weights.ndim not in (1, 2) or weights.shape[-1] == 0:
        raise ValueError(f"multinomial: input must be (C,) or (B, C) with C > 0, got shape {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("multinomial: weights must be finite and non-negative")
    rows = weights.reshape(-1, weights.shape[-1])
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError("multinomial: every row needs a positive total weight")
    if not replacement and num_samples > (rows > 0).sum(axis=1).min():
        raise ValueError(f"multinomial: {num_samples} samples without replacement from a row with fewer non-zero weights")
    draw = creation.generator(rng, name="multinomial")
    samples = np.stack([draw.choice(rows.shape[1], size=int(num_samples), replace=bool(replacement), p=row / total)
                        for row, total in zip(rows, totals)])
    return Tensor(samples.reshape(weights.shape[:-1] + (int(num_samples),)).astype(np.int64))


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None, *,
                                 rng: Any = None) -> Tensor:
    """softmax(Q K^T * scale + mask) V over the last two axes (..., L, E), (..., S, E), (..., S, Ev).

    ``scale`` defaults to 1/sqrt(E). ``attn_mask``: boolean (True = may attend) or added to the
    scores, broadcast to (..., L, S); ``is_causal``: position l attends to s <= l (no mask then).
    ``dropout_p``: dropout on the attention weights (from ``rng``). A composite of the ops.
    """
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: query {query.shape}, key {key.shape} and value {value.shape} "
                         "need (..., L, E), (..., S, E) and (..., S, Ev)")
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query @ functions.swapaxes(key, -2, -1)) * factor
    if is_causal:
        attn_mask = np.tril(np.ones((query.shape[-2], key.shape[-2]), dtype=bool))
    if attn_mask is not None:
        raw = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        scores = ops.where(raw, scores, -np.inf) if raw.dtype == bool else scores + attn_mask
    weights = softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, rng=rng)
    return weights @ value
