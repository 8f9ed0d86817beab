"""Higher-order derivatives: grad(..., create_graph=True) returns gradients that are differentiable."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from autograd_np import Tensor, concatenate, functional as F, grad, gradcheck

from helpers import TIGHT, check, distinct, positive, randn, second_order, seeds
from test_ops_finite_differences import BINARY, CASES, Case, broadcast_pairs


def test_grad_of_grad_of_tanh() -> None:
    z = np.linspace(-2.0, 2.0, 9)
    x = Tensor(z, requires_grad=True)
    (g,) = grad(x.tanh().sum(), x, create_graph=True)
    t = np.tanh(z)
    np.testing.assert_allclose(g.data, 1 - t**2, rtol=1e-12)
    assert g.requires_grad
    (gg,) = grad(g.sum(), x, create_graph=True)
    np.testing.assert_allclose(gg.data, -2 * t * (1 - t**2), rtol=1e-12, atol=1e-15)
    (ggg,) = grad(gg.sum(), x)  # and once more: d/dz of -2t(1 - t²) = -2(1 - t²)(1 - 3t²)
    np.testing.assert_allclose(ggg.data, -2 * (1 - t**2) * (1 - 3 * t**2), rtol=1e-12, atol=1e-15)
    assert x.grad is None  # grad() leaves .grad alone


def test_grad_of_grad_of_a_scalar_tanh() -> None:
    x = Tensor(0.7, requires_grad=True)
    (g,) = grad(x.tanh(), x, create_graph=True)
    (gg,) = grad(g, x)
    t = np.tanh(0.7)
    assert gg.shape == () and gg.item() == pytest.approx(-2 * t * (1 - t * t), rel=1e-12)


def test_create_graph_false_gives_plain_gradients() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    (g,) = grad((x * x).sum(), x)
    assert not g.requires_grad and g.is_leaf
    np.testing.assert_array_equal(g.data, 2 * np.ones(3))


# ----------------------------------------------------------------------------
# Hessian-vector product of a small MLP loss, against finite differences of gradients
# ----------------------------------------------------------------------------
VOCAB, BLOCK, EMB, HIDDEN, BATCH = 6, 3, 2, 5, 8
SIZES = {"C": (VOCAB, EMB), "W1": (BLOCK * EMB, HIDDEN), "b1": (HIDDEN,), "W2": (HIDDEN, VOCAB), "b2": (VOCAB,)}
N_PARAMS = sum(int(np.prod(s)) for s in SIZES.values())
_rng = np.random.default_rng(42)
X = _rng.integers(0, VOCAB, size=(BATCH, BLOCK))
X[0] = X[1, 0]  # repeated indices
Y = _rng.integers(0, VOCAB, size=BATCH)


def mlp_loss(w: Tensor) -> Tensor:
    """The names MLP with all parameters sliced out of one flat vector ``w``."""
    p, start = {}, 0
    for name, shape in SIZES.items():
        size = int(np.prod(shape))
        p[name] = w[start:start + size].reshape(shape)
        start += size
    h = (p["C"][X].reshape(BATCH, -1) @ p["W1"] + p["b1"]).tanh()
    return F.cross_entropy(h @ p["W2"] + p["b2"], Y)


def flat_gradient(w: np.ndarray) -> np.ndarray:
    t = Tensor(w, requires_grad=True)
    mlp_loss(t).backward()
    return t.grad


def hvp(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    t = Tensor(w, requires_grad=True)
    (g,) = grad(mlp_loss(t), t, create_graph=True)
    (hv,) = grad((g * v).sum(), t)
    return hv.data


@pytest.mark.parametrize("seed", [0, 1])
def test_hessian_vector_product_matches_finite_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(N_PARAMS) * 0.5
    v = rng.standard_normal(N_PARAMS)
    eps = 1e-5
    numeric = (flat_gradient(w + eps * v) - flat_gradient(w - eps * v)) / (2 * eps)
    got = hvp(w, v)
    assert np.abs(got).max() > 1e-3  # a real curvature, not a vacuous zero
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


def test_hessian_is_symmetric() -> None:
    rng = np.random.default_rng(5)
    w, u, v = (rng.standard_normal(N_PARAMS) for _ in range(3))
    assert u @ hvp(w, v) == pytest.approx(v @ hvp(w, u), rel=1e-10)


def test_hessian_vector_product_with_backward_on_the_inner_product() -> None:
    """The second differentiation may also be a plain backward() into .grad."""
    rng = np.random.default_rng(6)
    w_np, v = rng.standard_normal(N_PARAMS), rng.standard_normal(N_PARAMS)
    w = Tensor(w_np, requires_grad=True)
    (g,) = grad(mlp_loss(w), w, create_graph=True)
    (g * v).sum().backward()
    np.testing.assert_allclose(w.grad, hvp(w_np, v), rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------
# Second derivatives of individual ops, via gradcheck of a create_graph gradient
# ----------------------------------------------------------------------------
def gradient_of(fn: Callable[..., Tensor], seed: int = 3) -> Callable[..., Tensor]:
    """xs -> ∇ ⟨fn(xs), c⟩ (all inputs, flattened and joined), itself differentiable."""

    def gradient(*xs: Tensor) -> Tensor:
        xs = [x if x.requires_grad else Tensor(x.data, requires_grad=True) for x in xs]
        out = fn(*xs)
        c = np.random.default_rng(seed).standard_normal(out.shape)
        gs = grad((out * c).sum(), xs, create_graph=True)
        return concatenate([g.reshape(-1) for g in gs])

    return gradient


r = np.random.default_rng(11)
SECOND_ORDER = {
    "exp": (lambda x: x.exp(), [r.standard_normal((2, 3))]),
    "log": (lambda x: x.log(), [r.uniform(0.5, 2, (2, 3))]),
    "mul": (lambda a, b: a * b * a, [r.standard_normal((3, 1)), r.standard_normal((4,))]),
    "matmul": (lambda a, b: (a @ b) * (a @ b), [r.standard_normal((2, 3)), r.standard_normal((3, 4))]),
    "matmul 1-D": (lambda a, b: (a @ b) * (a @ b), [r.standard_normal(3), r.standard_normal((2, 3, 2))]),
    "log_softmax": (lambda x: x.log_softmax(axis=-1), [r.standard_normal((3, 4))]),
    "getitem repeated": (lambda x: x[[0, 2, 0]] ** 2, [r.standard_normal((3, 2))]),
    "getitem mask": (lambda x: x[x.data > 0].exp(), [r.standard_normal((3, 3))]),
    "tanh": (lambda x: x.tanh(), [r.standard_normal(4)]),
    "sigmoid": (lambda x: x.sigmoid(), [r.standard_normal(4)]),
    "div": (lambda a, b: a / b, [r.standard_normal((2, 3)), r.uniform(0.5, 2, 3)]),
    "pow tensor exponent": (lambda a, b: a**b, [r.uniform(0.5, 2, (2, 3)), r.standard_normal(3)]),
    "max": (lambda x: x.max(axis=0) ** 2, [distinct(4, (3, 2))]),
    "mean": (lambda x: x.mean(axis=1) ** 3, [r.standard_normal((2, 3))]),
    "cross_entropy": (lambda x: F.cross_entropy(x, np.array([1, 0, 1])), [r.standard_normal((3, 2))]),
    "softmax": (lambda x: x.softmax(axis=0), [r.standard_normal((3, 2))]),
    "var": (lambda x: x.var(axis=0), [r.standard_normal((4, 2))]),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives(name: str) -> None:
    fn, inputs = SECOND_ORDER[name]
    assert check(gradient_of(fn), *inputs)


def test_second_derivative_of_log_is_minus_one_over_x_squared() -> None:
    z = np.array([0.5, 1.0, 3.0])
    x = Tensor(z, requires_grad=True)
    (g,) = grad(x.log().sum(), x, create_graph=True)
    (gg,) = grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, -1 / z**2, rtol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_case_is_twice_differentiable(case: Case) -> None:
    """The gradient of Σ c ⊙ tanh(op(x)), built with create_graph, passes gradcheck itself."""
    inputs = case.inputs(np.random.default_rng(sum(map(ord, case.id))))
    assert check(second_order(case.fn), *inputs)


matmul_shapes = hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2, max_side=3)


@given(op=st.sampled_from(["add", "sub", "mul", "div", "pow"]), pair=broadcast_pairs, seed=seeds)
def test_second_order_with_random_broadcasting(op: str, pair, seed: int) -> None:
    fn = BINARY[op]
    sa, sb = pair.input_shapes
    a = positive(seed, sa) if op == "pow" else randn(seed, sa)
    b = positive(seed + 1, sb) if op == "div" else randn(seed + 1, sb)
    assert check(second_order(fn), a, b)


@given(shapes_=matmul_shapes, seed=seeds)
def test_second_order_matmul_random_shapes(shapes_, seed: int) -> None:
    sa, sb = shapes_.input_shapes
    assert check(second_order(lambda a, b: a @ b), randn(seed, sa), randn(seed + 1, sb))


def test_batched_rows_times_matrix_first_and_second_order():
    """(B, T, k) @ (k, m): the VJP folds batch axes into rows; check both orders directly."""
    rng = np.random.default_rng(7)
    a0, b0 = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    assert gradcheck(lambda a, b: a @ b, [a0, b0], **TIGHT)

    def grad_wrt(index):
        def f(a, b):
            return grad((a @ b).tanh().sum(), [a, b][index], create_graph=True)[0]
        return f

    assert gradcheck(grad_wrt(0), [a0, b0], **TIGHT)
    assert gradcheck(grad_wrt(1), [a0, b0], **TIGHT)
