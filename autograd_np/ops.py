"""Every op of the engine, in one table: forward, VJP, and the math.

How to read this file
---------------------
An op is a function ``y = f(x1, x2, ...)`` on arrays. Reverse mode needs, for
each input ``xi``, its *vector-Jacobian product* (VJP): given ``g = ∂L/∂y``
(written ȳ or G, the same shape as ``y``), return ``∂L/∂xi = ȳ · ∂y/∂xi``
(written x̄i or dxi, the same shape as ``xi``). Each op below reads

    @primitive("tanh")
    def tanh(x):                              # forward, on NumPy arrays
        '''y = tanh(x)

        VJP: dx = G (1 - y^2)
        '''
        return np.tanh(x)


    tanh.defvjp(lambda g, y, x: g * (1 - y * y), reads=("y",))

``defvjp`` takes one VJP per input, ``vjp(g, y, *inputs, **kwargs)``. The rule is
stated once, on the docstring's ``VJP:`` line in plain ASCII: ``op.rule`` is read
from it (what ``viz.draw(..., show_rule=True)`` writes on the op's nodes).
``reads`` names what each VJP reads (the in-place checks of ``graph.py`` use it).

Beside each VJP stands the op's JVP for forward mode, ``jvp(dx, y, *inputs, **kwargs)``:
input i's tangent carried to the output's (``tanh.defjvp(lambda dx, y, x: dx * (1 - y * y))``),
with its rule on the docstring's ``JVP: dy = dx (1 - y^2)`` line, right after the VJP's. It is
the same derivative used the other way round: where a VJP sums a gradient down to a broadcast
input's shape, a JVP's term keeps the input's shape and is broadcast up (``forward_mode.py``).

The VJPs use operators and the ops of this file, never raw NumPy on ``g``: during
``backward()`` they run on plain arrays; under ``grad(..., create_graph=True)``
the same rules run on Tensors and are recorded, so gradients can be
differentiated again. Where a rule has a faster way on raw arrays, a named kernel
of ``kernels.py`` stands behind it (``on_arrays=`` for tanh; a type check for the
matrix products): the line still reads as the math.

The ops come by kind: broadcasting, elementwise arithmetic, elementwise
functions, reductions, shape, indexing, matrix products, softmax and losses.
The rules' building blocks written with ops (``sum_to``, ``unreduce``, ...)
stand beside the ops that use them; what they compute that is never
differentiated (shapes, counts, masks) is in ``rule_helpers.py``. Broadcasting:
an input that the forward broadcast gets the incoming gradient summed back to its
own shape, ``sum_to`` (the adjoint of broadcasting).

The machinery (``primitive``, registration, errors) is in ``primitives.py``; the
backward walk is in ``graph.py``; the names (methods, ``autograd_np.<name>``,
NumPy's functions) in ``api.py``.
"""
from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from . import kernels
from .tensor_type import Tensor
from .primitives import (  # noqa: F401  (normalize_index: ops.normalize_index is public)
    Primitive, array_of, normalize_axis, normalize_index, not_differentiable, ops_defined_in, primitive, shape_of,
)
from .rule_helpers import (
    along_axis, clip_regions, dense_shapes_align, einsum_sizes, inverse_permutation, matmul_shape_error, onehot,
    overwritten, reciprocal, reduced_count, reduced_shape, tie_repeated_letters, tie_share,
)

# ----------------------------------------------------------------------------
# Broadcasting and its adjoint
# ----------------------------------------------------------------------------
@primitive("sum_to")
def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """y = x summed over the axes that broadcasting added or stretched, down to ``shape``.

    VJP: dx = G broadcast to x.shape
    JVP: dy = dx summed to shape
    (the adjoint of broadcasting)
    """
    return kernels.sum_to(x, shape)


_sum_to.defvjp(lambda g, y, x, shape: broadcast_to(g, shape=x.shape), reads=("",))
_sum_to.defjvp(lambda dx, y, x, shape: sum_to(dx, shape))


def sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` down to ``shape``: nothing to do (and no tape entry) when it already has it."""
    if not isinstance(x, Tensor):  # raw arrays (backward): skip the op machinery
        return x if x.shape == shape else kernels.sum_to(x, shape)
    return x if x.shape == shape else _sum_to(x, shape=shape)


@primitive("broadcast_to")
def broadcast_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """y = x broadcast (NumPy rules) to ``shape``.

    VJP: dx = G summed to x.shape
    JVP: dy = dx broadcast to shape
    """
    return np.broadcast_to(x, shape)


broadcast_to.defvjp(lambda g, y, x, shape: sum_to(g, x.shape), reads=("",))
broadcast_to.defjvp(lambda dx, y, x, shape: broadcast_to(dx, shape=shape))

# ----------------------------------------------------------------------------
# Elementwise arithmetic (all broadcast like NumPy)
# ----------------------------------------------------------------------------
@primitive("add")
def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a + b

    VJP: da = G, db = G (summed to shape)
    JVP: dy = da + db (broadcast)
    (The derivation's bias rule: ∂L/∂b is the batch sum of the pre-activation gradient.)
    """
    return a + b


add.defvjp(
    lambda g, y, a, b: sum_to(g, a.shape),
    lambda g, y, a, b: sum_to(g, b.shape),
    reads=("", ""),
)
add.defjvp(lambda da, y, a, b: da, lambda db, y, a, b: db)


@primitive("sub")
def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a - b

    VJP: da = G, db = -G (summed to shape)
    JVP: dy = da - db (broadcast)
    """
    return a - b


sub.defvjp(
    lambda g, y, a, b: sum_to(g, a.shape),
    lambda g, y, a, b: -sum_to(g, b.shape),
    reads=("", ""),
)
sub.defjvp(lambda da, y, a, b: da, lambda db, y, a, b: -db)


@primitive("mul")
def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a ⊙ b

    VJP: da = G b, db = G a
    JVP: dy = da b + a db
    """
    return a * b


mul.defvjp(
    lambda g, y, a, b: sum_to(g * b, a.shape),
    lambda g, y, a, b: sum_to(g * a, b.shape),
    reads=("b", "a"),
)
mul.defjvp(lambda da, y, a, b: da * b, lambda db, y, a, b: a * db)


@primitive("div")
def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a / b

    VJP: da = G / b, db = -G y / b
    JVP: dy = da / b - db y / b
    (∂y/∂b = -a/b² = -y/b)
    """
    return a / b


div.defvjp(
    lambda g, y, a, b: sum_to(g / b, a.shape),
    lambda g, y, a, b: sum_to(-g * y / b, b.shape),
    reads=("b", "y b"),
)
div.defjvp(lambda da, y, a, b: da / b, lambda db, y, a, b: -db * y / b)


@primitive("neg")
def neg(x: np.ndarray) -> np.ndarray:
    """y = -x

    VJP: dx = -G
    JVP: dy = -dx
    """
    return -x


neg.defvjp(lambda g, y, x: -g, reads=("",))
neg.defjvp(lambda dx, y, x: -dx)


@primitive("pow")
def pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # noqa: A001 (the op's name)
    """y = a ** b

    VJP: da = G b a^(b-1), db = G y ln(a)
    JVP: dy = da b a^(b-1) + db y ln(a)
    each summed to its input's shape; ā is 0 where b = 0 (y = 1 whatever a is), b̄ is 0
    where a = 0 and b ≥ 0 (y = 0 or 1 there). Both are selected (``where``), as in PyTorch,
    so the inf or NaN of the other branch at a = 0 does not leak in. (b̄ otherwise needs a > 0.)
    """
    return a**b


def _pow_vjp_a(g: Any, y: Any, a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 in the entries selected away
        return sum_to(where(b == 0, 0.0, g * b * a ** (b - 1)), a.shape)


def _pow_vjp_b(g: Any, y: Any, a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):  # ln 0 in the entries selected away
        return sum_to(where((a == 0) & (b >= 0), 0.0, g * y * log(a)), b.shape)


def _pow_jvp_a(da: Any, y: Any, a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return where(b == 0, 0.0, da * b * a ** (b - 1))


def _pow_jvp_b(db: Any, y: Any, a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return where((a == 0) & (b >= 0), 0.0, db * y * log(a))


pow.defvjp(
    _pow_vjp_a,
    _pow_vjp_b,
    reads=("a b", "y a"),
)
pow.defjvp(_pow_jvp_a, _pow_jvp_b)


@primitive("astype")
def astype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """y = x converted to ``dtype``

    VJP: dx = G as x.dtype
    JVP: dy = dx as dtype
    """
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        raise TypeError(f"astype: casting complex values to {np.dtype(dtype)} would drop their imaginary part")
    return x.astype(dtype)


astype.defvjp(lambda g, y, x, dtype: astype(g, dtype=array_of(x).dtype), reads=("",))
astype.defjvp(lambda dx, y, x, dtype: astype(dx, dtype=dtype))

# ----------------------------------------------------------------------------
# Elementwise functions
# ----------------------------------------------------------------------------
@primitive("tanh")
def tanh(x: np.ndarray) -> np.ndarray:
    """y = tanh(x)

    VJP: dx = G (1 - y^2)
    JVP: dy = dx (1 - y^2)
    (the derivation's σ'(z) for σ = tanh)
    """
    return np.tanh(x)


tanh.defvjp(
    lambda g, y, x: g * (1 - y * y),
    reads=("y",),
    on_arrays=[lambda g, y, x: g * kernels.one_minus_square(y)],
)
tanh.defjvp(lambda dx, y, x: dx * (1 - y * y))


@primitive("sigmoid")
def sigmoid(x: np.ndarray) -> np.ndarray:
    """y = 1 / (1 + e^-x)    (computed as (tanh(x/2) + 1) / 2: no overflow for large |x|)

    VJP: dx = G y (1 - y)
    JVP: dy = dx y (1 - y)
    """
    return 0.5 * (np.tanh(0.5 * x) + 1)


sigmoid.defvjp(lambda g, y, x: g * y * (1 - y), reads=("y",))
sigmoid.defjvp(lambda dx, y, x: dx * y * (1 - y))


@primitive("exp")
def exp(x: np.ndarray) -> np.ndarray:
    """y = eˣ

    VJP: dx = G y
    JVP: dy = dx y
    """
    return np.exp(x)


exp.defvjp(lambda g, y, x: g * y, reads=("y",))
exp.defjvp(lambda dx, y, x: dx * y)


@primitive("log")
def log(x: np.ndarray) -> np.ndarray:
    """y = ln x

    VJP: dx = G / x
    JVP: dy = dx / x
    """
    return np.log(x)


log.defvjp(lambda g, y, x: g / x, reads=("x",))
log.defjvp(lambda dx, y, x: dx / x)


@primitive("relu")
def relu(x: np.ndarray) -> np.ndarray:
    """y = max(x, 0)

    VJP: dx = G [y > 0]
    JVP: dy = dx [y > 0]
    selected, not multiplied: an inf or NaN ȳ stays out of x ≤ 0, as in PyTorch (and, as
    PyTorch's, it reads the output)
    """
    return kernels.relu(x)


relu.defvjp(lambda g, y, x: where(array_of(y) > 0, g, 0), reads=("y",),
            on_arrays=[lambda g, y, x: kernels.select_where_positive(y, g)])
relu.defjvp(lambda dx, y, x: where(array_of(y) > 0, dx, 0))


@primitive("abs")
def abs(x: np.ndarray) -> np.ndarray:  # noqa: A001 (the op's name)
    """y = |x|

    VJP: dx = G sign(x)
    JVP: dy = dx sign(x)
    (0 at x = 0, the subgradient PyTorch also takes)
    """
    return np.abs(x)


abs.defvjp(lambda g, y, x: g * np.sign(array_of(x)), reads=("x",))
abs.defjvp(lambda dx, y, x: dx * np.sign(array_of(x)))


@primitive("sin")
def sin(x: np.ndarray) -> np.ndarray:
    """y = sin x

    VJP: dx = G cos(x)
    JVP: dy = dx cos(x)
    """
    return np.sin(x)


sin.defvjp(lambda g, y, x: g * cos(x), reads=("x",))
sin.defjvp(lambda dx, y, x: dx * cos(x))


@primitive("cos")
def cos(x: np.ndarray) -> np.ndarray:
    """y = cos x

    VJP: dx = -G sin(x)
    JVP: dy = -dx sin(x)
    """
    return np.cos(x)


cos.defvjp(lambda g, y, x: -g * sin(x), reads=("x",))
cos.defjvp(lambda dx, y, x: -dx * sin(x))


_erf_elementwise = np.frompyfunc(math.erf, 1, 1)


@primitive("erf")
def erf(x: np.ndarray) -> np.ndarray:
    """y = erf x = (2/√π) ∫₀ˣ e^(-t²) dt   (``math.erf`` per element: NumPy has no erf)

    VJP: dx = G 2/sqrt(pi) exp(-x^2)
    JVP: dy = dx 2/sqrt(pi) exp(-x^2)
    """
    return np.asarray(_erf_elementwise(x), dtype=np.result_type(x, np.float16))


erf.defvjp(lambda g, y, x: g * (2 / math.sqrt(math.pi)) * exp(-(x * x)), reads=("x",))
erf.defjvp(lambda dx, y, x: dx * (2 / math.sqrt(math.pi)) * exp(-(x * x)))


@primitive("softplus")
def softplus(x: np.ndarray) -> np.ndarray:
    """y = ln(1 + eˣ)   (computed as ``logaddexp(0, x)``: no overflow for large x)

    VJP: dx = G sigmoid(x)
    JVP: dy = dx sigmoid(x)
    """
    return np.logaddexp(0, x).astype(np.result_type(x, np.float16), copy=False)


softplus.defvjp(lambda g, y, x: g * sigmoid(x), reads=("x",))
softplus.defjvp(lambda dx, y, x: dx * sigmoid(x))


@primitive("logaddexp")
def logaddexp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = ln(eᵃ + eᵇ) elementwise (broadcasting; NumPy's stable ``logaddexp``)

    VJP: da = G exp(a - y), db = G exp(b - y)
    JVP: dy = da exp(a - y) + db exp(b - y)
    (e^(a - y) = sigmoid(a - b); written with y, so that the second derivative through y is
    right: ∂²y/∂a² = σ(1 - σ), ¼ at a = b)
    """
    return np.logaddexp(a, b)


logaddexp.defvjp(
    lambda g, y, a, b: sum_to(g * exp(a - y), shape_of(a)),
    lambda g, y, a, b: sum_to(g * exp(b - y), shape_of(b)),
    reads=("a b y", "a b y"),
)
logaddexp.defjvp(lambda da, y, a, b: da * exp(a - y), lambda db, y, a, b: db * exp(b - y))


def step_function(name: str, numpy_fn: Any, formula: str) -> Primitive:
    """An elementwise step function y = f(x): flat almost everywhere, so x̄ = 0."""
    def forward(x: np.ndarray) -> np.ndarray:
        return numpy_fn(x)

    forward.__doc__ = f"y = {formula}\n\n    VJP: dx = 0 G (flat almost everywhere)\n    JVP: dy = 0 dx\n"
    op = primitive(name)(forward)
    op.defjvp(lambda dx, y, x: zero_gradient(dx, y))
    return op.defvjp(lambda g, y, x: zero_gradient(g, x), reads=("",))


def zero_gradient(g: Any, x: Any) -> Any:
    """A zero gradient of x's shape, a constant (the rule of a step function)."""
    zeros = np.zeros(shape_of(x), dtype=array_of(g).dtype)
    return Tensor._of(zeros) if isinstance(g, Tensor) else zeros


sign = step_function("sign", np.sign, "sign(x) ∈ {-1, 0, 1}")
floor = step_function("floor", np.floor, "⌊x⌋")
ceil = step_function("ceil", np.ceil, "⌈x⌉")
trunc = step_function("trunc", np.trunc, "x rounded towards zero")


@primitive("round")
def round(x: np.ndarray, decimals: int = 0) -> np.ndarray:  # noqa: A001
    """y = x rounded to ``decimals`` places, halves to even (NumPy's and PyTorch's rule)

    VJP: dx = 0 G (flat almost everywhere)
    JVP: dy = 0 dx (flat almost everywhere)
    """
    return np.round(x, decimals)


round.defvjp(lambda g, y, x, decimals=0: zero_gradient(g, x), reads=("",))
round.defjvp(lambda dx, y, x, decimals=0: zero_gradient(dx, y))


@primitive("clip")
def clip(x: np.ndarray, low: Any, high: Any) -> np.ndarray:
    """y = min(max(x, low), high)   (``low`` or ``high`` may be None: no bound on that side)

    VJP: dx = G [lo<=x<=hi], dlo = G [x<lo], dhi = G [x>hi]
    JVP: dy = dx [lo<=x<=hi] + dlo [x<lo] + dhi [x>hi]
    each summed to its input's shape; a value on a bound keeps its gradient, as in PyTorch's
    clamp; where low > high the result is ``high`` everywhere, as in NumPy, and only high
    gets ȳ. Each ȳ is selected by its region (``where``), so an inf or NaN ȳ stays in its region.
    """
    return np.clip(x, low, high)


clip.defvjp(
    lambda g, y, x, low, high: sum_to(where(clip_regions(x, low, high)[0], g, 0), shape_of(x)),
    lambda g, y, x, low, high: sum_to(where(clip_regions(x, low, high)[1], g, 0), shape_of(low)),
    lambda g, y, x, low, high: sum_to(where(clip_regions(x, low, high)[2], g, 0), shape_of(high)),
    reads=("x low high", "x low high", "x low high"),
)
clip.defjvp(
    lambda dx, y, x, low, high: where(clip_regions(x, low, high)[0], dx, 0),
    lambda dlow, y, x, low, high: where(clip_regions(x, low, high)[1], dlow, 0),
    lambda dhigh, y, x, low, high: where(clip_regions(x, low, high)[2], dhigh, 0),
)


@primitive("maximum")
def maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = max(a, b) elementwise (broadcasting)

    VJP: da = G [a > b] (1/2 on ties), db = G [b > a]
    JVP: dy = da [a > b] + db [b > a] (1/2 each on ties)
    Ties share the gradient equally, as tied maxima do in ``max``; ȳ is selected (``where``), so an
    inf or NaN ȳ does not reach the input that lost.
    """
    return np.maximum(a, b)


maximum.defvjp(
    lambda g, y, a, b: sum_to(winner_share(a, b, g), shape_of(a)),
    lambda g, y, a, b: sum_to(winner_share(b, a, g), shape_of(b)),
    reads=("a b", "a b"),
)
maximum.defjvp(lambda da, y, a, b: winner_share(a, b, da), lambda db, y, a, b: winner_share(b, a, db))


@primitive("minimum")
def minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = min(a, b) elementwise (broadcasting)

    VJP: da = G [a < b] (1/2 on ties), db = G [b < a]
    JVP: dy = da [a < b] + db [b < a] (1/2 each on ties)
    (``maximum``'s rule with the comparison turned round)
    """
    return np.minimum(a, b)


minimum.defvjp(
    lambda g, y, a, b: sum_to(winner_share(b, a, g), shape_of(a)),
    lambda g, y, a, b: sum_to(winner_share(a, b, g), shape_of(b)),
    reads=("a b", "a b"),
)
minimum.defjvp(lambda da, y, a, b: winner_share(b, a, da), lambda db, y, a, b: winner_share(a, b, db))


def winner_share(a: Any, b: Any, g: Any) -> Any:
    """a's share of ``maximum``'s gradient: ȳ where a > b, ½ ȳ where a = b, else 0. Selected, not
    multiplied by a mask, so an inf or NaN ȳ does not reach the input that lost (PyTorch's rule)."""
    a, b = array_of(a), array_of(b)
    return where(a > b, g, where(a == b, g * 0.5, 0))


@primitive("where")
def where(condition: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a where ``condition`` holds, else b (all three broadcast)

    VJP: da = G [cond], db = G [not cond]
    JVP: dy = where(cond, da, db)
    the condition (boolean or integer) gets no gradient.
    """
    if np.asarray(condition).dtype.kind not in "biu":
        raise TypeError(
            f"where: the condition must be a boolean (or integer) tensor, got dtype {np.asarray(condition).dtype}; "
            "compare first, e.g. where(x > 0, x, 0)"
        )
    out = np.where(condition, a, b)
    if out.dtype.kind not in "biufc":
        raise TypeError(f"where: a and b must be numbers, got a result of dtype {out.dtype}")
    return out


where.defvjp(
    None,
    lambda g, y, condition, a, b: sum_to(where(condition, g, 0), shape_of(a)),
    lambda g, y, condition, a, b: sum_to(where(condition, 0, g), shape_of(b)),
    reads=("", "condition", "condition"),
)
where.defjvp(
    None,
    lambda da, y, condition, a, b: where(condition, da, 0),
    lambda db, y, condition, a, b: where(condition, 0, db),
)

# ----------------------------------------------------------------------------
# Reductions
# ----------------------------------------------------------------------------
@primitive("sum")
def sum(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:  # noqa: A001
    """y = Σ x over ``axis``

    VJP: dx = G broadcast
    JVP: dy = sum(dx)
    """
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


sum.defvjp(lambda g, y, x, axis=None, keepdims=False: unreduce(g, x.shape, axis, keepdims), reads=("",))
sum.defjvp(lambda dx, y, x, axis=None, keepdims=False: sum(dx, axis=axis, keepdims=keepdims))


def unreduce(g: Any, x_shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """Broadcast a reduction's gradient back over the reduced axes."""
    if not isinstance(g, Tensor):  # raw arrays (backward): skip the op machinery
        return np.broadcast_to(g if keepdims else np.reshape(g, reduced_shape(x_shape, axis)), x_shape)
    if not keepdims:
        g = reshape(g, shape=reduced_shape(x_shape, axis))
    return broadcast_to(g, shape=x_shape)


@primitive("mean")
def mean(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:
    """y = (1/n) Σ x over ``axis`` (n = number of elements averaged)

    VJP: dx = G / n broadcast
    JVP: dy = mean(dx)
    """
    total = np.add.reduce(x, axis=axis, keepdims=keepdims)
    return total / reduced_count(x, total) if np.size(x) else np.mean(x, axis=axis, keepdims=keepdims)


mean.defvjp(
    lambda g, y, x, axis=None, keepdims=False: unreduce(g / builtins.max(reduced_count(x, y), 1), x.shape, axis, keepdims),
    # G / n before broadcasting: a view, not a full array (n = 0 only for an empty x, whose gradient is empty)
    reads=("",),
)
mean.defjvp(lambda dx, y, x, axis=None, keepdims=False: mean(dx, axis=axis, keepdims=keepdims))


@primitive("max", saves=True)
def max(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:  # noqa: A001
    """y = max x over ``axis``

    VJP: dx = G [x = max] / ties
    JVP: dy = sum(dx [x = max] / ties)
    ȳ goes to the arg-max, and tied maxima share it equally (a valid subgradient). The
    forward saves that share (where the maxima are), so the VJP reads neither x nor y.
    """
    y = np.maximum.reduce(x, axis=axis, keepdims=keepdims)
    return y, tie_share(x, y, axis)


max.defvjp(
    lambda g, y, x, axis=None, keepdims=False, saved=None: unreduce(g, x.shape, axis, keepdims) * saved,
    reads=("",),
)
max.defjvp(
    lambda dx, y, x, axis=None, keepdims=False, saved=None: sum(dx * saved, axis=axis, keepdims=keepdims),
)


@primitive("min", saves=True)
def min(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:  # noqa: A001
    """y = min x over ``axis``

    VJP: dx = G [x = min] / ties
    JVP: dy = sum(dx [x = min] / ties)
    tied minima share ȳ equally, as in ``max`` (saved by the forward).
    """
    y = np.min(x, axis=axis, keepdims=keepdims)
    return y, tie_share(x, y, axis)


min.defvjp(
    lambda g, y, x, axis=None, keepdims=False, saved=None: unreduce(g, x.shape, axis, keepdims) * saved,
    reads=("",),
)
min.defjvp(
    lambda dx, y, x, axis=None, keepdims=False, saved=None: sum(dx * saved, axis=axis, keepdims=keepdims),
)


@primitive("var")
def var(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False, ddof: int = 0) -> np.ndarray:
    """y = Σ (x - x̄)² / (n - ddof) over ``axis`` (x̄ the mean; ddof=0 biased, ddof=1 unbiased)

    VJP: dx = G 2 (x - mean) / (n - ddof)
    JVP: dy = sum(2 (x - mean) dx) / (n - ddof)
    broadcast back over the reduced axes (the gradient through the mean is zero: Σ (x - mean x) = 0)
    """
    return np.var(x, axis=axis, keepdims=keepdims, ddof=ddof)


var.defvjp(
    lambda g, y, x, axis=None, keepdims=False, ddof=0: unreduce(g, x.shape, axis, keepdims)
    * (2.0 * reciprocal(reduced_count(x, y) - ddof))
    * centered(x, axis),
    reads=("x",),
)
var.defjvp(
    lambda dx, y, x, axis=None, keepdims=False, ddof=0: sum(centered(x, axis) * dx, axis=axis, keepdims=keepdims)
    * (2.0 * reciprocal(reduced_count(x, y) - ddof)),
)


def centered(x: Any, axis: Any) -> Any:
    """x - mean(x) over ``axis`` (x itself when empty: nothing to centre, and no "mean of an
    empty slice" warning in a backward pass)."""
    return x - mean(x, axis=axis, keepdims=True) if x.size else x


@primitive("std")
def std(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False, ddof: int = 0) -> np.ndarray:
    """y = √var(x) = √(Σ (x - x̄)² / (n - ddof)) over ``axis``

    VJP: dx = G (x - mean) / ((n - ddof) y), 0 where y = 0
    JVP: dy = sum((x - mean) dx) / ((n - ddof) y), 0 where y = 0
    broadcast back over the reduced axes; at y = 0 (a constant slice) the formula is 0/0,
    and 0 is a subgradient at std's minimum (PyTorch's choice too)
    """
    return np.std(x, axis=axis, keepdims=keepdims, ddof=ddof)


def _std_vjp(g: Any, y: Any, x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    constant = y == 0
    per_slice = where(constant, 0.0, g / where(constant, 1.0, y))  # y = 1 there: no 0/0, even in a second derivative
    return (
        unreduce(per_slice, x.shape, axis, keepdims)
        * reciprocal(reduced_count(x, y) - ddof)
        * centered(x, axis)
    )


def _std_jvp(dx: Any, y: Any, x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    constant = y == 0
    spread = sum(centered(x, axis) * dx, axis=axis, keepdims=keepdims) * reciprocal(reduced_count(x, y) - ddof)
    return where(constant, 0.0, spread / where(constant, 1.0, y))


std.defvjp(_std_vjp, reads=("x y",))
std.defjvp(_std_jvp)


@primitive("logsumexp")
def logsumexp(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:
    """y = log Σ exp(x) over ``axis``   (computed as m + log Σ exp(x - m), m = max x: finite for large x)

    VJP: dx = G softmax(x)
    JVP: dy = sum(softmax(x) dx)
    """
    if np.size(x) == 0:  # no max to shift by; an empty sum is 0, and log 0 = -inf
        with np.errstate(divide="ignore"):
            return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    total = np.sum(np.exp(x - top), axis=axis, keepdims=keepdims)
    return np.log(total) + (top if keepdims else top.reshape(total.shape))


logsumexp.defvjp(
    lambda g, y, x, axis=None, keepdims=False: unreduce(g, x.shape, axis, keepdims)
    * exp(x - keep_reduced(y, x.shape, axis, keepdims)),
    reads=("x y",),
)
logsumexp.defjvp(
    lambda dx, y, x, axis=None, keepdims=False: sum(
        dx * exp(x - keep_reduced(y, x.shape, axis, keepdims)), axis=axis, keepdims=keepdims),
)


def keep_reduced(y: Any, x_shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """A reduction's result with its reduced axes kept (size 1), so it broadcasts against x."""
    return y if keepdims else reshape(y, shape=reduced_shape(x_shape, axis))


@primitive("cumsum")
def cumsum(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """y_i = Σ_{j ≤ i} x_j along ``axis`` (None: over the flattened array)

    VJP: dx = reverse cumsum of G
    JVP: dy = cumsum(dx)
    (x̄_j = Σ_{i ≥ j} ȳ_i: flip(cumsum(flip(ȳ))))
    """
    return np.cumsum(x, axis=axis)


cumsum.defvjp(lambda g, y, x, axis=None: reverse_cumsum(g, shape_of(x), axis), reads=("",))
cumsum.defjvp(lambda dx, y, x, axis=None: cumsum(dx, axis=axis))


def reverse_cumsum(g: Any, x_shape: tuple[int, ...], axis: int | None) -> Any:
    """``cumsum``'s adjoint: Σ_{i ≥ j} g_i along ``axis`` (None: g is the flattened x), in x's shape."""
    along = 0 if axis is None else axis
    return reshape(flip(cumsum(flip(g, axis=(along,)), axis=along), axis=(along,)), shape=x_shape)

# ----------------------------------------------------------------------------
# Shape
# ----------------------------------------------------------------------------
@primitive("reshape")
def reshape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """y = x with a new shape (same elements, C order)

    VJP: dx = G reshaped to x.shape
    JVP: dy = dx reshaped
    """
    return x.reshape(shape) if isinstance(x, (np.ndarray, np.generic)) else np.reshape(x, shape)


reshape.defvjp(lambda g, y, x, shape: reshape(g, shape=x.shape), reads=("",))
reshape.defjvp(lambda dx, y, x, shape: reshape(dx, shape=y.shape))


@primitive("transpose")
def transpose(x: np.ndarray, axes: tuple[int, ...] | None = None) -> np.ndarray:
    """y = x with its axes permuted (reversed when ``axes`` is None)

    VJP: dx = G^T
    JVP: dy = dx^T
    """
    return np.transpose(x, axes)


transpose.defvjp(lambda g, y, x, axes=None: transpose(g, axes=inverse_permutation(axes)), reads=("",))
transpose.defjvp(lambda dx, y, x, axes=None: transpose(dx, axes=axes))


@primitive("flip")
def flip(x: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
    """y = x with the order of its elements reversed along ``axis`` (None: every axis)

    VJP: dx = G flipped
    JVP: dy = dx flipped
    """
    return np.flip(x, axis)


flip.defvjp(lambda g, y, x, axis=None: flip(g, axis=axis), reads=("",))
flip.defjvp(lambda dx, y, x, axis=None: flip(dx, axis=axis))


@primitive("tile")
def tile(x: np.ndarray, reps: tuple[int, ...]) -> np.ndarray:
    """y = x repeated ``reps[k]`` times along axis k (NumPy's ``tile``, PyTorch's ``repeat``)

    VJP: dx = sum of G over the copies
    JVP: dy = dx tiled
    (ȳ reshaped to (r₀, s₀, r₁, s₁, ...), summed over the r axes)
    """
    return np.tile(x, reps)


tile.defvjp(lambda g, y, x, reps: untile(g, shape_of(x), reps), reads=("",))
tile.defjvp(lambda dx, y, x, reps: tile(dx, reps=reps))


def untile(g: Any, x_shape: tuple[int, ...], reps: tuple[int, ...]) -> Any:
    """``tile``'s adjoint: the gradient of every copy summed into x's shape."""
    ndim = builtins.max(len(reps), len(x_shape))
    reps = (1,) * (ndim - len(reps)) + tuple(reps)
    sides = (1,) * (ndim - len(x_shape)) + tuple(x_shape)
    interleaved = tuple(n for pair in zip(reps, sides) for n in pair)
    copies = sum(reshape(g, shape=interleaved), axis=tuple(range(0, 2 * ndim, 2)))
    return reshape(copies, shape=x_shape)


@primitive("pad")
def pad(x: np.ndarray, widths: tuple[tuple[int, int], ...], value: float = 0.0) -> np.ndarray:
    """y = x with ``widths[k] = (before, after)`` elements of ``value`` added along axis k

    VJP: dx = G without the padding
    JVP: dy = dx padded with 0
    (the padding is a constant)
    """
    if len(widths) != np.ndim(x) or builtins.any(w < 0 for pair in widths for w in pair):
        raise ValueError(f"pad: widths {widths} need one non-negative (before, after) pair per axis of shape {shape_of(x)}")
    return np.pad(x, widths, mode="constant", constant_values=value)


pad.defvjp(
    lambda g, y, x, widths, value=0.0: getitem(
        g, index=tuple(slice(before, before + n) for (before, _), n in zip(widths, shape_of(x)))
    ),
    reads=("",),
)
pad.defjvp(lambda dx, y, x, widths, value=0.0: pad(dx, widths=widths, value=0.0))


@primitive("tril")
def tril(x: np.ndarray, k: int = 0) -> np.ndarray:
    """y = x with the elements above diagonal ``k`` zeroed (last two axes)

    VJP: dx = tril(G)
    JVP: dy = tril(dx)
    """
    return np.tril(x, k)


tril.defvjp(lambda g, y, x, k=0: tril(g, k=k), reads=("",))
tril.defjvp(lambda dx, y, x, k=0: tril(dx, k=k))


@primitive("triu")
def triu(x: np.ndarray, k: int = 0) -> np.ndarray:
    """y = x with the elements below diagonal ``k`` zeroed (last two axes)

    VJP: dx = triu(G)
    JVP: dy = triu(dx)
    """
    return np.triu(x, k)


triu.defvjp(lambda g, y, x, k=0: triu(g, k=k), reads=("",))
triu.defjvp(lambda dx, y, x, k=0: triu(dx, k=k))


@primitive("concatenate")
def _concatenate(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    """y = [x1, x2, ...] joined along ``axis``

    VJP: dx_i = G[slice of x_i]
    JVP: dy = [dx_1, dx_2, ...] joined
    """
    return np.concatenate(xs, axis=axis)


def _concatenate_vjp(i: int, g: Any, y: Any, *xs: Any, axis: int = 0) -> Any:
    axis = axis % g.ndim
    start = builtins.sum(x.shape[axis] for x in xs[:i])
    return getitem(g, index=(slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),))


def _concatenate_jvp(i: int, dx: Any, y: Any, *xs: Any, axis: int = 0) -> Any:
    axis = axis % y.ndim
    start = builtins.sum(x.shape[axis] for x in xs[:i])
    return scatter_add(dx, index=(slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),), shape=y.shape)


_concatenate.defvjp_argnum(_concatenate_vjp, reads="")
_concatenate.defjvp_argnum(_concatenate_jvp)


@primitive("stack")
def _stack(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    """y = [x1, x2, ...] stacked along a new ``axis``

    VJP: dx_i = G[i]
    JVP: dy = [dx_1, dx_2, ...] stacked
    """
    return np.stack(xs, axis=axis)


_stack.defvjp_argnum(
    lambda i, g, y, *xs, axis=0: getitem(g, index=(slice(None),) * (axis % g.ndim) + (i,)),
    reads="",
)
_stack.defjvp_argnum(
    lambda i, dx, y, *xs, axis=0: scatter_add(dx, index=(slice(None),) * (axis % y.ndim) + (i,), shape=y.shape),
)

# ----------------------------------------------------------------------------
# Indexing
# ----------------------------------------------------------------------------
@primitive("getitem")
def getitem(x: np.ndarray, index: Any) -> np.ndarray:
    """y = x[index]   (ints, slices, None, Ellipsis, integer/boolean arrays, tuples)

    VJP: dx = scatter-add of G
    JVP: dy = dx[index]
    zeros like x, then ȳ *added* at ``index``: an element picked k times (repeated
    integer indices) receives the sum of its k gradients. Embedding lookup ``C[X]`` is
    this op; its VJP is the derivation's "update the embedding rows from the input gradient".
    """
    return x[index]


getitem.defvjp(lambda g, y, x, index: scatter_add(g, index=index, shape=x.shape), reads=("",))
getitem.defjvp(lambda dx, y, x, index: getitem(dx, index=index))


@primitive("scatter_add")
def scatter_add(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """y = zeros(shape) with g added at ``index`` (duplicates accumulate)

    VJP: dg = G[index]
    JVP: dy = scatter-add of dg
    (scatter_add and getitem are adjoint)
    """
    return kernels.scatter_add(g, index, shape)


scatter_add.defvjp(lambda g, y, grad_in, index, shape: getitem(g, index=index), reads=("",))
scatter_add.defjvp(lambda dg, y, g, index, shape: scatter_add(dg, index=index, shape=shape))


@primitive("setitem")
def setitem(x: np.ndarray, value: Any, index: Any) -> np.ndarray:
    """y = x with y[index] = value   (``t[index] = value`` on a tensor in a graph)

    VJP: dx = G with 0 at index, dvalue = G[index]
    JVP: dy = dx with dvalue at index
    (those positions of y no longer depend on x; value̅ is summed to value's shape. With
    repeated indices the last write wins, as in NumPy; each repeat gets ȳ.)
    """
    y = x.copy()
    y[index] = value
    return y


setitem.defvjp(
    lambda g, y, x, value, index: where(overwritten(shape_of(x), index), 0.0, g),
    lambda g, y, x, value, index: sum_to(getitem(g, index=index), shape_of(value)),
    reads=("", ""),
)
setitem.defjvp(
    lambda dx, y, x, value, index: where(overwritten(shape_of(x), index), 0.0, dx),
    lambda dvalue, y, x, value, index: setitem(zero_gradient(dvalue, y), dvalue, index=index),
)


@primitive("gather")
def gather(x: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """y[..., i, ...] = x[..., index[..., i, ...], ...] along ``axis`` (PyTorch's ``gather``;
    NumPy's ``take_along_axis``). ``index`` has x's number of axes; y has index's shape.

    VJP: dx = scatter-add of G along axis
    JVP: dy = gather(dx)
    ȳ *added* at the gathered positions (an element gathered twice receives both
    gradients); the index gets no gradient.
    """
    return x[along_axis(x, index, axis)]


gather.defvjp(
    lambda g, y, x, index, axis: scatter_add(g, index=along_axis(x, index, axis), shape=shape_of(x)),
    None,
    reads=("index", ""),
)
gather.defjvp(lambda dx, y, x, index, axis: gather(dx, index, axis=axis), None)

# ----------------------------------------------------------------------------
# Matrix products
# ----------------------------------------------------------------------------
@primitive("matmul")
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Y = A @ B  (NumPy matmul: batched over leading axes, 1-D operands promoted)

    VJP: dA = G B^T, dB = A^T G
    JVP: dy = dA B + A dB
    (each summed over broadcast batch axes)

    With a batch in the rows of X and the layer Z = X W, G = ∂L/∂Z gives
    ∂L/∂W = Xᵀ G and ∂L/∂X = G Wᵀ. The derivation stores W transposed
    (z = W x, so Z = X Wᵀ): there the same two rules read Gᵀ X and G W.
    Rows of any batch shape times one matrix, (..., k) @ (k, m), are one 2-D product.
    """
    try:
        if getattr(a, "ndim", 0) > 2 and getattr(b, "ndim", 0) == 2:
            return unfold_rows(fold_rows(a) @ b, a.shape[:-1])
        return a @ b
    except ValueError:
        raise matmul_shape_error(a, b) from None


def _matmul_vjp_a(g: Any, y: Any, a: Any, b: Any) -> Any:  # Ā = Ȳ Bᵀ
    if b.ndim == 2 and a.ndim >= 2:
        return matmul2d(g, b.T) if a.ndim == 2 else matmul(g, b.T)
    g, a2, b2 = _as_matrices(g, a, b)
    return reshape(sum_to(matmul(g, swap_last(b2)), a2.shape), shape=a.shape)


def _matmul_vjp_b(g: Any, y: Any, a: Any, b: Any) -> Any:  # B̄ = Aᵀ Ȳ
    if b.ndim == 2 and a.ndim >= 2:
        return rows_transposed_times(a, g)
    g, a2, b2 = _as_matrices(g, a, b)
    return reshape(sum_to(matmul(swap_last(a2), g), b2.shape), shape=b.shape)


matmul.defvjp(_matmul_vjp_a, _matmul_vjp_b, reads=("b", "a"))
matmul.defjvp(lambda da, y, a, b: matmul(da, b), lambda db, y, a, b: matmul(a, db))


def matmul2d(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D operands: ``ndarray.dot`` (the BLAS product, without the op call) on raw
    arrays, the matmul op on Tensors."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return matmul(a, b)
    return kernels.matmul_2d(a, b)


def rows_transposed_times(x: Any, g: Any) -> Any:
    """Xᵀ G with the leading axes of X (..., n) and G (..., m) folded into rows: a dense layer's
    weight gradient, summed over every example."""
    if isinstance(x, Tensor) or isinstance(g, Tensor):
        return matmul(fold_rows(x).T, fold_rows(g))
    return kernels.rows_transposed_times(x, g)


def fold_rows(x: Any) -> Any:
    """(..., n) -> (rows, n): the leading axes folded into rows (a 2-D x is returned as is)."""
    return x if x.ndim == 2 else reshape(x, shape=(math.prod(x.shape[:-1]), x.shape[-1]))  # not -1: n may be 0


def unfold_rows(x: Any, leading: tuple[int, ...]) -> Any:
    """(rows, n) -> (*leading, n): the inverse of ``fold_rows``."""
    return reshape(x, shape=leading + x.shape[-1:])


def swap_last(x: Any) -> Any:
    """x with its last two axes swapped (the matrix transpose of a batch of matrices)."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes=tuple(axes))


def _as_matrices(g: Any, a: Any, b: Any) -> tuple[Any, Any, Any]:
    """Promote 1-D matmul operands to matrices (and g to match), as NumPy's matmul does."""
    if a.ndim == 1:
        a = reshape(a, shape=(1,) + a.shape)
        g = reshape(g, shape=g.shape[:-1] + (1,) + g.shape[-1:])
    if b.ndim == 1:
        b = reshape(b, shape=b.shape + (1,))
        g = reshape(g, shape=g.shape + (1,))
    return g, a, b


@primitive("linear")
def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Y = X W + b   (a dense layer: one example per row of X, any leading batch axes)

    X is (..., in), W is (in, out), b broadcasts to (..., out) (usually (out,)).

    VJP: dX = G W^T, dW = X^T G, db = sum_rows G
    JVP: dY = dX W + X dW + db
    with X's leading axes folded into rows. These are the derivation's layer rules: it
    stores W transposed (z = W x, so Z = X Wᵀ), where the same rules read G W and Gᵀ X, and
    the bias gradient is the batch sum of the pre-activation gradient.
    The same gradients as ``matmul`` then ``add``, in one tape node instead of two.
    """
    if not dense_shapes_align(x, weight):
        raise ValueError(
            f"linear: input of shape {shape_of(x)} and weight of shape {shape_of(weight)} do not align "
            "(need input (..., in) and weight (in, out))"
        )
    return kernels.linear(x, weight, bias)


linear.defvjp(
    lambda g, y, x, weight, bias: matmul2d(g, weight.T) if g.ndim == 2 else matmul(g, weight.T),
    lambda g, y, x, weight, bias: rows_transposed_times(x, g),
    lambda g, y, x, weight, bias: sum_to(g, bias.shape),
    reads=("weight", "x", ""),
)
linear.defjvp(
    lambda dx, y, x, weight, bias: matmul(dx, weight),
    lambda dweight, y, x, weight, bias: matmul(x, dweight),
    lambda dbias, y, x, weight, bias: dbias,
)

# ----------------------------------------------------------------------------
# More elementwise functions
# ----------------------------------------------------------------------------
@primitive("tan")
def tan(x: np.ndarray) -> np.ndarray:
    """y = tan x

    VJP: dx = G (1 + y^2)
    JVP: dy = dx (1 + y^2)
    """
    return np.tan(x)


tan.defvjp(lambda g, y, x: g * (1 + y * y), reads=("y",))
tan.defjvp(lambda dx, y, x: dx * (1 + y * y))


@primitive("sinh")
def sinh(x: np.ndarray) -> np.ndarray:
    """y = sinh x = (eˣ - e⁻ˣ) / 2

    VJP: dx = G cosh(x)
    JVP: dy = dx cosh(x)
    """
    return np.sinh(x)


sinh.defvjp(lambda g, y, x: g * cosh(x), reads=("x",))
sinh.defjvp(lambda dx, y, x: dx * cosh(x))


@primitive("cosh")
def cosh(x: np.ndarray) -> np.ndarray:
    """y = cosh x = (eˣ + e⁻ˣ) / 2

    VJP: dx = G sinh(x)
    JVP: dy = dx sinh(x)
    """
    return np.cosh(x)


cosh.defvjp(lambda g, y, x: g * sinh(x), reads=("x",))
cosh.defjvp(lambda dx, y, x: dx * sinh(x))


@primitive("arctan")
def arctan(x: np.ndarray) -> np.ndarray:
    """y = arctan x

    VJP: dx = G / (1 + x^2)
    JVP: dy = dx / (1 + x^2)
    """
    return np.arctan(x)


arctan.defvjp(lambda g, y, x: g / (1 + x * x), reads=("x",))
arctan.defjvp(lambda dx, y, x: dx / (1 + x * x))


@primitive("arcsin")
def arcsin(x: np.ndarray) -> np.ndarray:
    """y = arcsin x   (|x| ≤ 1)

    VJP: dx = G / sqrt(1 - x^2)
    JVP: dy = dx / sqrt(1 - x^2)
    (infinite at x = ±1)
    """
    return np.arcsin(x)


arcsin.defvjp(lambda g, y, x: g / (1 - x * x) ** 0.5, reads=("x",))
arcsin.defjvp(lambda dx, y, x: dx / (1 - x * x) ** 0.5)


@primitive("arccos")
def arccos(x: np.ndarray) -> np.ndarray:
    """y = arccos x   (|x| ≤ 1)

    VJP: dx = -G / sqrt(1 - x^2)
    JVP: dy = -dx / sqrt(1 - x^2)
    """
    return np.arccos(x)


arccos.defvjp(lambda g, y, x: -g / (1 - x * x) ** 0.5, reads=("x",))
arccos.defjvp(lambda dx, y, x: -dx / (1 - x * x) ** 0.5)


@primitive("arctanh")
def arctanh(x: np.ndarray) -> np.ndarray:
    """y = arctanh x   (|x| < 1)

    VJP: dx = G / (1 - x^2)
    JVP: dy = dx / (1 - x^2)
    """
    return np.arctanh(x)


arctanh.defvjp(lambda g, y, x: g / (1 - x * x), reads=("x",))
arctanh.defjvp(lambda dx, y, x: dx / (1 - x * x))


@primitive("log1p")
def log1p(x: np.ndarray) -> np.ndarray:
    """y = ln(1 + x)   (accurate for small x)

    VJP: dx = G / (1 + x)
    JVP: dy = dx / (1 + x)
    """
    return np.log1p(x)


log1p.defvjp(lambda g, y, x: g / (1 + x), reads=("x",))
log1p.defjvp(lambda dx, y, x: dx / (1 + x))


@primitive("expm1")
def expm1(x: np.ndarray) -> np.ndarray:
    """y = eˣ - 1   (accurate for small x)

    VJP: dx = G (y + 1)
    JVP: dy = dx (y + 1)
    """
    return np.expm1(x)


expm1.defvjp(lambda g, y, x: g * (y + 1), reads=("y",))
expm1.defjvp(lambda dx, y, x: dx * (y + 1))


@primitive("log2")
def log2(x: np.ndarray) -> np.ndarray:
    """y = log₂ x

    VJP: dx = G / (x ln 2)
    JVP: dy = dx / (x ln 2)
    """
    return np.log2(x)


log2.defvjp(lambda g, y, x: g / (x * math.log(2)), reads=("x",))
log2.defjvp(lambda dx, y, x: dx / (x * math.log(2)))


@primitive("log10")
def log10(x: np.ndarray) -> np.ndarray:
    """y = log₁₀ x

    VJP: dx = G / (x ln 10)
    JVP: dy = dx / (x ln 10)
    """
    return np.log10(x)


log10.defvjp(lambda g, y, x: g / (x * math.log(10)), reads=("x",))
log10.defjvp(lambda dx, y, x: dx / (x * math.log(10)))


@primitive("exp2")
def exp2(x: np.ndarray) -> np.ndarray:
    """y = 2ˣ

    VJP: dx = G y ln 2
    JVP: dy = dx y ln 2
    """
    return np.exp2(x)


exp2.defvjp(lambda g, y, x: g * y * math.log(2), reads=("y",))
exp2.defjvp(lambda dx, y, x: dx * y * math.log(2))


@primitive("remainder")
def remainder(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a mod b = a - floor(a / b) b   (the sign of b, as Python's ``%``, NumPy's ``mod``, PyTorch's ``remainder``)

    VJP: da = G, db = -G floor(a / b)
    JVP: dy = da - db floor(a / b)
    (floor(a / b) is piecewise constant: y jumps where a / b crosses an integer)
    """
    return np.remainder(a, b)


remainder.defvjp(
    lambda g, y, a, b: sum_to(g, shape_of(a)),
    lambda g, y, a, b: sum_to(-g * floor(a / b), shape_of(b)),
    reads=("", "a b"),
)
remainder.defjvp(lambda da, y, a, b: da, lambda db, y, a, b: -db * floor(a / b))


@primitive("fmod")
def fmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = a - trunc(a / b) b   (the sign of a, as C's ``fmod``)

    VJP: da = G, db = -G trunc(a / b)
    JVP: dy = da - db trunc(a / b)
    """
    return np.fmod(a, b)


fmod.defvjp(
    lambda g, y, a, b: sum_to(g, shape_of(a)),
    lambda g, y, a, b: sum_to(-g * trunc(a / b), shape_of(b)),
    reads=("", "a b"),
)
fmod.defjvp(lambda da, y, a, b: da, lambda db, y, a, b: -db * trunc(a / b))


@primitive("hypot")
def hypot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """y = sqrt(a² + b²)   (without overflow for large a, b)

    VJP: da = G a / y, db = G b / y
    JVP: dy = (da a + db b) / y
    (0 / 0 at a = b = 0, as 2-norms are there; ``linalg.vector_norm`` gives 0 instead)
    """
    return np.hypot(a, b)


hypot.defvjp(
    lambda g, y, a, b: sum_to(g * a / y, shape_of(a)),
    lambda g, y, a, b: sum_to(g * b / y, shape_of(b)),
    reads=("a y", "b y"),
)
hypot.defjvp(lambda da, y, a, b: da * a / y, lambda db, y, a, b: db * b / y)

# ----------------------------------------------------------------------------
# Products and rolls along axes
# ----------------------------------------------------------------------------
@primitive("prod")
def prod(x: np.ndarray, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> np.ndarray:
    """y = Π x over ``axis`` (all axes when None)

    VJP: dx_i = G prod_{j != i} x_j
    JVP: dy = sum_i dx_i prod_{j != i} x_j
    The product of the others is the product of the exclusive cumulative products from
    the left and from the right: no division by x_i, so the gradient at a single zero is
    the product of the others, and with two zeros every gradient is 0 (PyTorch's answers).
    """
    return np.prod(x, axis=axis, keepdims=keepdims)


def product_of_others(x: Any, axis: tuple[int, ...] | None) -> Any:
    """Π_{j ≠ i} x_j over ``axis``, for every i, in x's shape (written with ops: differentiable)."""
    ndim = len(shape_of(x))
    reduced = tuple(range(ndim)) if axis is None else tuple(axis)
    kept = tuple(a for a in range(ndim) if a not in reduced)
    order = kept + reduced
    moved = transpose(x, axes=order)
    rows = reshape(moved, shape=moved.shape[:len(kept)] + (math.prod(moved.shape[len(kept):]),))
    left = exclusive_cumprod(rows)
    right = flip(exclusive_cumprod(flip(rows, axis=(rows.ndim - 1,))), axis=(rows.ndim - 1,))
    others = reshape(left * right, shape=moved.shape)
    return transpose(others, axes=inverse_permutation(order))


def exclusive_cumprod(rows: Any) -> Any:
    """Π_{j < i} x_j along the last axis (1 for the first element)."""
    n = rows.shape[-1]
    if n == 0:
        return rows
    shifted = getitem(cumprod(rows, axis=rows.ndim - 1), index=(Ellipsis, slice(0, n - 1)))
    return pad(shifted, widths=((0, 0),) * (rows.ndim - 1) + ((1, 0),), value=1.0)


prod.defvjp(
    lambda g, y, x, axis=None, keepdims=False: unreduce(g, x.shape, axis, keepdims) * product_of_others(x, axis),
    reads=("x",),
)
prod.defjvp(lambda dx, y, x, axis=None, keepdims=False: sum(dx * product_of_others(x, axis), axis=axis, keepdims=keepdims))


@primitive("cumprod")
def cumprod(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """y_i = Π_{j ≤ i} x_j along ``axis`` (None: over the flattened array)

    VJP: dx_j = sum_{i >= j} G_i prod_{k <= i, k != j} x_k
    JVP: dy_i = sum_{j <= i} dx_j prod_{k <= i, k != j} x_k
    Before the first zero along the axis this is reverse-cumsum(G y) / x_j; at the first
    zero z it is (Π_{k<z} x_k) Σ_{i≥z} G_i Π_{z<k≤i} x_k; after it, 0. No division by zero.
    The zeros' positions are constants of the rule: second derivatives are exact away from
    zeros, not at them (``prod``'s are exact everywhere).
    """
    return np.cumprod(x, axis=axis)


def _cumprod_parts(x: Any, axis: int | None) -> tuple[Any, int, np.ndarray, np.ndarray]:
    """x along one axis (flattened when axis is None), that axis, and two constant masks:
    before the first zero, at the first zero."""
    if axis is None:
        x, axis = reshape(x, shape=(-1,)), 0
    values = np.asarray(array_of(x))
    zero = values == 0
    seen = np.cumsum(zero, axis=axis)
    return x, axis, seen == 0, zero & (seen == 1)


def _cumprod_vjp(g: Any, y: Any, x: Any, axis: int | None = None) -> Any:
    flat, along, before, first_zero = _cumprod_parts(x, axis)
    g = reshape(g, shape=flat.shape)
    y = reshape(y, shape=flat.shape)
    safe = where(before, flat, 1.0)
    tail = reverse_cumsum(g * y, flat.shape, along)
    up_to_zero = where(before, tail / safe, 0.0)
    prefix = cumprod(where(before, flat, 1.0), axis=along)  # Π_{k<z} x_k, at z
    after = cumprod(where(before | first_zero, 1.0, flat), axis=along)  # Π_{z<k≤i} x_k
    at_zero = where(first_zero, prefix * reverse_cumsum(g * where(before, 0.0, after), flat.shape, along), 0.0)
    return reshape(up_to_zero + at_zero, shape=shape_of(x))


def _cumprod_jvp(dx: Any, y: Any, x: Any, axis: int | None = None) -> Any:
    flat, along, before, first_zero = _cumprod_parts(x, axis)
    dx = reshape(dx, shape=flat.shape)
    y = reshape(y, shape=flat.shape)
    safe = where(before, flat, 1.0)
    from_before = y * cumsum(where(before, dx / safe, 0.0), axis=along)  # y_i Σ_{j≤i, j<z} dx_j / x_j
    prefix = cumprod(where(before, flat, 1.0), axis=along)
    after = cumprod(where(before | first_zero, 1.0, flat), axis=along)
    from_zero = after * cumsum(where(first_zero, prefix * dx, 0.0), axis=along)  # 0 before z
    return from_before + from_zero  # in y's shape (flattened when axis is None)


cumprod.defvjp(_cumprod_vjp, reads=("x y",))
cumprod.defjvp(_cumprod_jvp)


@primitive("roll")
def roll(x: np.ndarray, shift: Any, axis: Any = None) -> np.ndarray:
    """y = x with its elements shifted by ``shift`` along ``axis`` (wrapping around; None: flattened)

    VJP: dx = roll(G, -shift)
    JVP: dy = roll(dx, shift)
    """
    return np.roll(x, shift, axis)


roll.defvjp(lambda g, y, x, shift, axis=None: roll(g, shift=negated(shift), axis=axis), reads=("",))
roll.defjvp(lambda dx, y, x, shift, axis=None: roll(dx, shift=shift, axis=axis))


def negated(shift: Any) -> Any:
    return -shift if isinstance(shift, (int, np.integer)) else tuple(-s for s in shift)

# ----------------------------------------------------------------------------
# Contractions
# ----------------------------------------------------------------------------
@primitive("einsum")
def einsum(*operands: np.ndarray, subscripts: str) -> np.ndarray:
    """y = einsum(subscripts, x1, x2, ...): products of the operands summed over the letters
    missing from the output. ``subscripts`` is explicit here (``"ij,jk->ik"``, no ``...``):
    ``autograd_np.einsum`` spells out the ellipsis and the implicit output first.

    VJP: dx_i = einsum(G, others -> subscripts_i)
    JVP: dy = sum_i einsum(subscripts with x_i -> dx_i)
    The VJP of an operand is an einsum with that operand's subscripts moved to the output
    and the output's (G's) moved among the inputs: ``ij,jk->ik`` gives Ā = einsum("jk,ik->ij",
    B, G) = G Bᵀ. A letter repeated in the operand (``ii->i``, a diagonal) is written once per
    copy and the copies are tied by identity matrices (the gradient lands on the diagonal);
    a letter only that operand has is summed over in y, so G is broadcast along it (a
    vector of ones); a size-1 axis that broadcast gets G summed back to size 1.
    """
    return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


def _einsum_vjp(i: int, g: Any, y: Any, *operands: Any, subscripts: str) -> Any:
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    target = terms[i]
    sizes = einsum_sizes(terms, operands)
    letters = [output] + [t for k, t in enumerate(terms) if k != i]
    arrays = [g] + [x for k, x in enumerate(operands) if k != i]
    renamed, ties = tie_repeated_letters(target, sizes, set(subscripts))
    for letter, first, copy in ties:  # δ between each copy and its first occurrence
        letters.append(first + copy)
        arrays.append(np.eye(sizes[letter], dtype=array_of(g).dtype))
    present = set("".join(letters))
    for letter in dict.fromkeys(target):
        if letter not in present:  # summed over in y by this operand alone
            letters.append(letter)
            arrays.append(np.ones(sizes[letter], dtype=array_of(g).dtype))
    grad = einsum(*arrays, subscripts=",".join(letters) + "->" + renamed)
    return sum_to_each_axis(grad, shape_of(operands[i]))


def _einsum_jvp(i: int, dx: Any, y: Any, *operands: Any, subscripts: str) -> Any:
    return einsum(*operands[:i], dx, *operands[i + 1:], subscripts=subscripts)


einsum.defvjp_argnum(_einsum_vjp, reads="all")
einsum.defjvp_argnum(_einsum_jvp)


def sum_to_each_axis(x: Any, shape: tuple[int, ...]) -> Any:
    """x summed (keeping the axis) along each axis where ``shape`` has 1 and x more: the adjoint
    of einsum's size-1 broadcasting."""
    axes = tuple(k for k, (n, m) in enumerate(zip(shape_of(x), shape)) if m == 1 and n != 1)
    return sum(x, axis=axes, keepdims=True) if axes else x

# ----------------------------------------------------------------------------
# Softmax and losses
# ----------------------------------------------------------------------------
@primitive("log_softmax")
def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """y = x - log Σ exp(x) over ``axis``  (computed as s - log Σ exp(s), s = x - max x)

    VJP: dx = G - softmax(x) sum(G)
    JVP: dy = dx - sum(softmax(x) dx)
    (softmax(x) = exp(y); the sum is over ``axis``)
    """
    if np.size(x) == 0:  # no max of an empty axis; the result is as empty as x
        return np.zeros_like(x, dtype=np.result_type(x, np.float16))
    shifted = x - np.maximum.reduce(x, axis=axis, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


log_softmax.defvjp(
    lambda g, y, x, axis=-1: g - exp(y) * sum(g, axis=normalize_axis(axis, y.ndim), keepdims=True),
    reads=("y",),
)
log_softmax.defjvp(
    lambda dx, y, x, axis=-1: dx - sum(exp(y) * dx, axis=normalize_axis(axis, y.ndim), keepdims=True),
)


@primitive("cross_entropy", saves=True)
def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fused mean cross-entropy: L = -(1/B) Σ_b log softmax(logits_b)[targets_b]

    ``logits`` has shape (B, C); ``targets`` holds B class indices.

    VJP: dlogits = G (probs - onehot) / B
    JVP: dy = sum((probs - onehot) dlogits) / B
    (the derivation's "probs - onehot", divided by B because the loss is a mean).
    Its composition ``-log_softmax(x)[arange(B), t].mean()`` gives the same gradient.
    The forward saves the softmax, so backward() needs no second one; under
    create_graph (Tensor inputs) the VJP recomputes it with ops, to be differentiable.
    """
    if logits.ndim != 2 or np.shape(targets) != logits.shape[:1]:
        raise ValueError(
            f"cross_entropy: logits must be (B, C) and targets (B,), got shapes {logits.shape} and {np.shape(targets)}"
        )
    return kernels.softmax_cross_entropy(logits, targets)


def _cross_entropy_vjp(g: Any, y: Any, logits: Any, targets: Any, saved: Any = None) -> Any:
    probs = softmax_of(logits) if isinstance(logits, Tensor) else saved  # saved: the forward's softmax
    return (probs - onehot(targets, probs.shape, probs.dtype)) * (g / builtins.max(len(targets), 1))


def _cross_entropy_jvp(dlogits: Any, y: Any, logits: Any, targets: Any, saved: Any = None) -> Any:
    probs = softmax_of(logits) if isinstance(logits, Tensor) else saved
    return sum((probs - onehot(targets, probs.shape, probs.dtype)) * dlogits) / builtins.max(len(targets), 1)


cross_entropy.defvjp(
    _cross_entropy_vjp,
    not_differentiable("cross_entropy's targets are class indices"),
    reads=("logits", ""),
)
cross_entropy.defjvp(_cross_entropy_jvp, None)


@primitive("masked_cross_entropy", saves=True)
def masked_cross_entropy(logits: np.ndarray, targets: np.ndarray, ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy over the rows whose target is not ``ignore_index``:
    L = -(1/N) Σ_b k_b log softmax(logits_b)[targets_b], k_b = [targets_b ≠ ignore_index], N = Σ_b k_b

    ``logits`` (B, C), ``targets`` (B,); no kept row (N = 0) gives NaN. The same shapes for any
    number of ignored rows (what ``cross_entropy(..., ignore_index=)`` runs).

    VJP: dlogits = G k (probs - onehot) / N
    JVP: dy = sum(k (probs - onehot) dlogits) / N
    """
    if logits.ndim != 2 or np.shape(targets) != logits.shape[:1]:
        raise ValueError(
            f"masked_cross_entropy: logits must be (B, C) and targets (B,), got shapes {logits.shape} and {np.shape(targets)}"
        )
    return kernels.masked_softmax_cross_entropy(logits, targets, ignore_index)


def _masked_cross_entropy_vjp(g: Any, y: Any, logits: Any, targets: Any, ignore_index: int, saved: Any = None) -> Any:
    kept = np.asarray(targets) != ignore_index
    safe = np.where(kept, targets, 0)
    probs = softmax_of(logits) if isinstance(logits, Tensor) else saved
    weights = (kept / builtins.max(int(kept.sum()), 1)).astype(probs.dtype)[:, None]
    return (probs - onehot(safe, probs.shape, probs.dtype)) * weights * g


masked_cross_entropy.defvjp(
    _masked_cross_entropy_vjp,
    not_differentiable("masked_cross_entropy's targets are class indices"),
    reads=("logits", ""),
)
masked_cross_entropy.defjvp(lambda dlogits, y, logits, targets, ignore_index, saved=None: sum(
    _masked_cross_entropy_vjp(1.0, y, logits, targets, ignore_index, saved) * dlogits), None)


def softmax_of(logits: Any) -> Any:
    """softmax(logits) over the last axis, as ops (differentiable)."""
    return exp(log_softmax(logits, axis=-1))


from . import convolution, linalg  # noqa: E402  (their ops are written with this file's: they join the table)

OPS: dict[str, Primitive] = ops_defined_in(__name__, convolution.__name__, linalg.__name__)
