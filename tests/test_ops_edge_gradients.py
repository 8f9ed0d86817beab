"""Gradients at the edges of an op's domain, where a careless rule gives NaN.

Each expected value is the closed form (or the limit PyTorch also takes), noted
next to what PyTorch 2.13 gives for the same expression.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

from autograd_np import Tensor, grad

from helpers import check


def gradients(fn: Callable[..., Tensor], *values: Any, dtype: Any = np.float64) -> list[np.ndarray]:
    """d(Σ fn)/d(each input), for inputs of ``dtype``; any warning fails the test."""
    leaves = [Tensor(np.array(v, dtype=dtype), requires_grad=True) for v in values]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return [g.data for g in grad(fn(*leaves).sum(), leaves)]


def hessian(fn: Callable[..., Tensor], *values: Any) -> np.ndarray:
    """The matrix of second derivatives of Σ fn over the (scalar) inputs, by create_graph."""
    leaves = [Tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]
    firsts = grad(fn(*leaves).sum(), leaves, create_graph=True)
    return np.array([[h.item() for h in grad(g.sum(), leaves, retain_graph=True)] for g in firsts])


# ----------------------------------------------------------------------------
# pow: x ** 0 and 0 ** y
# ----------------------------------------------------------------------------
def test_x_to_the_zero_has_gradient_zero_at_zero() -> None:
    """x⁰ = 1 for every x: 0, not 0 · 0⁻¹ = NaN (PyTorch: [0, 0], it masks exponent == 0)."""
    (gx,) = gradients(lambda x: x**0, [0.0, 1.5])
    np.testing.assert_array_equal(gx, [0.0, 0.0])
    gx, gy = gradients(lambda x, y: x**y, [0.0, 2.0], [0.0, 0.0])  # a tensor exponent
    np.testing.assert_array_equal(gx, [0.0, 0.0])  # PyTorch: [0, 0]
    np.testing.assert_allclose(gy, [0.0, np.log(2.0)])  # PyTorch: [0, ln 2]


def test_zero_to_a_non_negative_power_has_exponent_gradient_zero() -> None:
    """0^y = 0 for y > 0 (and 1 at y = 0): flat in y, so ∂/∂y = 0, not 0 · ln 0 = NaN.
    PyTorch: exponent gradient [0, 0, 0]; base gradient [0, inf, 0] (b a^(b-1) at a = 0)."""
    gx, gy = gradients(lambda x, y: x**y, [0.0, 0.0, 0.0], [2.0, 0.5, 0.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(gx, [0.0, np.inf, 0.0])
    (gy,) = gradients(lambda y: 0.0**y, [2.0, 0.0])  # a constant base (PyTorch: [0, 0])
    np.testing.assert_array_equal(gy, [0.0, 0.0])


def test_pow_away_from_zero_is_unchanged() -> None:
    assert check(lambda a, b: a**b, np.array([0.5, 1.5, 2.0]), np.array([0.0, -1.0, 2.5]))
    assert check(lambda a: a**0, np.array([0.5, -1.5]))


# ----------------------------------------------------------------------------
# std: one element, or a constant slice
# ----------------------------------------------------------------------------
def test_std_of_one_element_or_a_constant_has_gradient_zero() -> None:
    """std is 0 there (its minimum): gradient 0, not 0/0 (PyTorch's std_backward masks result == 0)."""
    np.testing.assert_array_equal(gradients(lambda x: x.std(), [3.0])[0], [0.0])  # PyTorch: [0]
    np.testing.assert_array_equal(gradients(lambda x: np.std(x), [2.0, 2.0, 2.0])[0], [0.0, 0.0, 0.0])
    (g,) = gradients(lambda x: x.std(axis=1, ddof=1), [[2.0, 2.0], [1.0, 3.0]])
    # PyTorch: [[0, 0], [-0.7071, 0.7071]]; the second row is (x - mean) / ((n - 1) std)
    np.testing.assert_allclose(g, [[0.0, 0.0], [-1 / np.sqrt(2), 1 / np.sqrt(2)]], rtol=1e-12)


def test_std_is_one_op_and_twice_differentiable_at_a_constant() -> None:
    x = Tensor(np.full(3, 2.0), requires_grad=True)
    assert x.std().op == "std"
    (g,) = grad(x.std(), x, create_graph=True)
    (gg,) = grad(g.sum(), x)
    np.testing.assert_array_equal(gg.data, np.zeros(3))  # PyTorch: [0, 0, 0]
    assert check(lambda t: t.std(axis=0, ddof=1), np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]))


def test_std_keeps_float32() -> None:
    (g,) = gradients(lambda x: x.std(axis=1), [[2.0, 2.0], [1.0, 3.0]], dtype=np.float32)
    assert g.dtype == np.float32


# ----------------------------------------------------------------------------
# logaddexp: an op, so its second derivative goes through y
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("a, b", [(1.0, 1.0), (0.3, -1.2), (-40.0, -40.0)])
def test_logaddexp_first_and_second_derivatives_are_the_closed_form(a: float, b: float) -> None:
    """∂y/∂a = σ(a - b); ∂²y/∂a² = σ(1 - σ) = -∂²y/∂a∂b: ¼ at a = b (PyTorch: [[¼, -¼], [-¼, ¼]])."""
    s = 1 / (1 + np.exp(b - a))
    ga, gb = gradients(lambda x, y: np.logaddexp(x, y), a, b)
    np.testing.assert_allclose([ga, gb], [s, 1 - s], rtol=1e-12)
    h = s * (1 - s)
    np.testing.assert_allclose(hessian(lambda x, y: np.logaddexp(x, y), a, b), [[h, -h], [-h, h]], rtol=1e-12)


def test_logaddexp_is_one_op_and_finite_for_large_values() -> None:
    """PyTorch: gradient [0.5, 0]."""
    a = Tensor(np.array([1000.0, -1000.0]), requires_grad=True)
    y = np.logaddexp(a, 1000.0)
    assert y.op == "logaddexp"
    np.testing.assert_allclose(y.data, [1000.0 + np.log(2.0), 1000.0])
    y.sum().backward()
    np.testing.assert_allclose(a.grad, [0.5, 0.0])


# ----------------------------------------------------------------------------
# Masks meet an infinite or NaN incoming gradient: selected, not multiplied
# ----------------------------------------------------------------------------
def test_relu_then_sqrt_has_gradient_zero_where_relu_is_flat() -> None:
    """sqrt'(0) = inf comes back to relu; x < 0 must get 0, not 0 · inf (PyTorch: [0, 0, 0.25])."""
    (g,) = gradients(lambda x: x.relu().sqrt(), [-1.0, 0.0, 4.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.25])
    (g,) = gradients(lambda x: x.relu() * np.nan, [-1.0, 0.0, 4.0])  # PyTorch: [0, 0, nan]
    np.testing.assert_array_equal(g, [0.0, 0.0, np.nan])


def test_clamp_with_equal_bounds_and_an_infinite_gradient() -> None:
    """clamp(x, 0, 0).sqrt(): only x = 0 (on both bounds) gets sqrt'(0) = inf (PyTorch: [0, inf, 0])."""
    (g,) = gradients(lambda x: x.clamp(0.0, 0.0).sqrt(), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(g, [0.0, np.inf, 0.0])
    (g,) = gradients(lambda x: x.clamp(0.5, 0.5), [0.0, 0.5, 1.0])  # PyTorch: [0, 1, 0]
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])
    (g,) = gradients(lambda x: -(x.clamp(min=0.0)), [-1.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, -1.0])


def test_clamp_tensor_bounds_with_a_nan_gradient() -> None:
    """Each input gets the NaN only in its own region (PyTorch: the same three vectors)."""
    gx, lo, hi = gradients(lambda x, a, b: x.clamp(a, b) * np.nan, [-1.0, 0.0, 1.0], [-0.5] * 3, [0.5] * 3)
    np.testing.assert_array_equal(gx, [0.0, np.nan, 0.0])
    np.testing.assert_array_equal(lo, [np.nan, 0.0, 0.0])
    np.testing.assert_array_equal(hi, [0.0, 0.0, np.nan])


def test_maximum_and_minimum_give_the_loser_zero_under_an_infinite_gradient() -> None:
    """PyTorch: maximum [0, inf, 0.5] and [inf, inf, 0]; minimum [inf, 0, 0] and [0, inf, inf]."""
    ga, gb = gradients(lambda a, b: (np.maximum(a, b) - 2).sqrt(), [1.0, 2.0, 3.0], [2.0] * 3)
    np.testing.assert_array_equal(ga, [0.0, np.inf, 0.5])
    np.testing.assert_array_equal(gb, [np.inf, np.inf, 0.0])
    ga, gb = gradients(lambda a, b: np.minimum(a, b).sqrt(), [0.0, 2.0, 3.0], [2.0, 0.0, 0.0])
    np.testing.assert_array_equal(ga, [np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(gb, [0.0, np.inf, np.inf])
    ga, gb = gradients(lambda a, b: np.maximum(a, b), [1.0, 2.0, 3.0], [2.0] * 3)  # ties share: PyTorch too
    np.testing.assert_array_equal(ga, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(gb, [1.0, 0.5, 0.0])


def test_masked_rules_stay_twice_differentiable() -> None:
    """PyTorch: 0, 2, 3 and [[2, 0], [0, 0]]."""
    np.testing.assert_array_equal(hessian(lambda x: x.relu() ** 2, -1.0), [[0.0]])
    np.testing.assert_array_equal(hessian(lambda x: x.relu() ** 2, 3.0), [[2.0]])
    np.testing.assert_array_equal(hessian(lambda x: x.clamp(-1.0, 1.0) ** 3, 0.5), [[3.0]])
    np.testing.assert_array_equal(hessian(lambda a, b: np.maximum(a, b) ** 2, 3.0, 1.0), [[2.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("name, fn", [
    ("x ** 0", lambda x: x**0),
    ("0 ** x", lambda x: 0.0**x),
    ("relu", lambda x: x.relu()),
    ("clamp", lambda x: x.clamp(0.0, 1.0)),
    ("maximum", lambda x: np.maximum(x, 0.5)),
    ("minimum", lambda x: np.minimum(x, 0.5)),
    ("std", lambda x: x.std()),
    ("logaddexp", lambda x: np.logaddexp(x, 1.0)),
])
def test_float32_gradients_stay_float32(name: str, fn: Callable[[Tensor], Tensor]) -> None:
    (g,) = gradients(fn, [0.0, 1.0, 2.0], dtype=np.float32)
    assert g.dtype == np.float32, name
