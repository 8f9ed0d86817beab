"""The closed forms of /work/shared/seed/backprop-derivation.md, checked against the engine.

The derivation writes a layer as z = W x + b (W has shape (out, in)) and, with
the batch in the rows of X and G = ∂L/∂Z of shape (B, out), arrives at

    ∂L/∂W = Gᵀ X,    ∂L/∂X = G W,    ∂L/∂b = Σ_batch G,
    σ'(z) = 1 - tanh²(z) for σ = tanh,
    ∂L/∂z_out = softmax - onehot   (per example; divided by B for a mean loss).

The engine (like NumPy code generally) stores the weight the other way round,
z = x @ W with W of shape (in, out); the same rules then read
∂L/∂W = Xᵀ G and ∂L/∂X = G Wᵀ. Both spellings are checked here.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from autograd_np import Tensor, functional as F, grad

from helpers import randn, seeds

dims = st.integers(1, 6)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@given(batch=dims, classes=dims, data=st.data(), seed=seeds)
def test_cross_entropy_gradient_is_softmax_minus_onehot_over_batch(batch: int, classes: int, data, seed: int) -> None:
    targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    z = randn(seed, (batch, classes)) * 3
    logits = Tensor(z, requires_grad=True)
    F.cross_entropy(logits, targets).backward()
    onehot = np.eye(classes)[targets]
    np.testing.assert_allclose(logits.grad, (_softmax(z) - onehot) / batch, rtol=1e-12, atol=1e-15)


@given(batch=dims, n_in=dims, n_out=dims, seed=seeds)
def test_linear_layer_weight_and_input_gradients(batch: int, n_in: int, n_out: int, seed: int) -> None:
    """z = x @ W: ∂L/∂W = xᵀ G and ∂L/∂x = G Wᵀ, for an arbitrary upstream G."""
    x_np, w_np, g = randn(seed, (batch, n_in)), randn(seed + 1, (n_in, n_out)), randn(seed + 2, (batch, n_out))
    x, W = Tensor(x_np, requires_grad=True), Tensor(w_np, requires_grad=True)
    (x @ W).backward(g)
    np.testing.assert_allclose(W.grad, x_np.T @ g, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad, g @ w_np.T, rtol=1e-12, atol=1e-14)


@given(batch=dims, n_in=dims, n_out=dims, seed=seeds)
def test_linear_layer_in_the_derivations_convention(batch: int, n_in: int, n_out: int, seed: int) -> None:
    """With the derivation's W' = Wᵀ of shape (out, in), Z = X W'ᵀ: ∂L/∂W' = Gᵀ X and ∂L/∂X = G W'."""
    x_np, wd_np, g = randn(seed, (batch, n_in)), randn(seed + 1, (n_out, n_in)), randn(seed + 2, (batch, n_out))
    X, Wd = Tensor(x_np, requires_grad=True), Tensor(wd_np, requires_grad=True)
    (X @ Wd.T).backward(g)
    np.testing.assert_allclose(Wd.grad, g.T @ x_np, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(X.grad, g @ wd_np, rtol=1e-12, atol=1e-14)


@given(batch=dims, n_out=dims, seed=seeds)
def test_bias_gradient_is_the_batch_sum_of_g(batch: int, n_out: int, seed: int) -> None:
    x_np, w_np, g = randn(seed, (batch, 3)), randn(seed + 1, (3, n_out)), randn(seed + 2, (batch, n_out))
    b = Tensor(np.zeros(n_out), requires_grad=True)
    (Tensor(x_np) @ Tensor(w_np) + b).backward(g)
    np.testing.assert_allclose(b.grad, g.sum(axis=0), rtol=1e-12, atol=1e-14)


@given(shape=st.tuples(dims, dims), seed=seeds)
def test_tanh_derivative_is_one_minus_tanh_squared(shape: tuple, seed: int) -> None:
    z = randn(seed, shape) * 2
    t = Tensor(z, requires_grad=True)
    t.tanh().sum().backward()
    np.testing.assert_allclose(t.grad, 1 - np.tanh(z) ** 2, rtol=1e-12, atol=1e-15)


@given(batch=dims, seed=seeds)
def test_hidden_layer_recursion(batch: int, seed: int) -> None:
    """∂L/∂z⁽ⁱ⁾ = (∂L/∂x⁽ⁱ⁾) ⊙ σ'(z⁽ⁱ⁾): the gradient reaching a pre-activation through tanh."""
    z_np, g = randn(seed, (batch, 4)), randn(seed + 1, (batch, 4))
    z = Tensor(z_np, requires_grad=True)
    h = z.tanh()
    (gz,) = grad(h, [z], grad_output=g)
    np.testing.assert_allclose(gz.data, g * (1 - np.tanh(z_np) ** 2), rtol=1e-12, atol=1e-15)


@given(batch=dims, classes=dims, data=st.data(), seed=seeds)
def test_fused_cross_entropy_equals_composed_log_softmax(batch: int, classes: int, data, seed: int) -> None:
    targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    z = randn(seed, (batch, classes)) * 3
    fused_in, composed_in = Tensor(z, requires_grad=True), Tensor(z, requires_grad=True)
    fused = F.cross_entropy(fused_in, targets)
    composed = -composed_in.log_softmax(axis=-1)[np.arange(batch), targets].mean()
    np.testing.assert_allclose(fused.item(), composed.item(), rtol=1e-12, atol=1e-14)
    fused.backward()
    composed.backward()
    np.testing.assert_allclose(fused_in.grad, composed_in.grad, rtol=1e-10, atol=1e-15)


def test_embedding_gradient_adds_rows_for_repeated_indices() -> None:
    """C[X]: the gradient of row v of C is the sum of the gradients at every position where X == v."""
    rng = np.random.default_rng(0)
    C = Tensor(rng.standard_normal((5, 2)), requires_grad=True)
    X = np.array([[1, 1, 3], [0, 1, 3]])
    g = rng.standard_normal((2, 3, 2))
    C[X].backward(g)
    expected = np.zeros((5, 2))
    for (b, t), v in np.ndenumerate(X):
        expected[v] += g[b, t]
    np.testing.assert_allclose(C.grad, expected, rtol=1e-14)
    assert not C.grad[[2, 4]].any()  # rows never looked up get nothing


@pytest.mark.parametrize("batch", [1, 7])
def test_output_layer_delta_is_probs_minus_onehot(batch: int) -> None:
    """The derivation's J(L)(z⁽ⁿ⁾) = x⁽ⁿ⁾ - y_onehot, for the summed loss (B times the mean)."""
    rng = np.random.default_rng(batch)
    z = rng.standard_normal((batch, 4))
    targets = rng.integers(0, 4, size=batch)
    logits = Tensor(z, requires_grad=True)
    (F.cross_entropy(logits, targets) * batch).backward()
    np.testing.assert_allclose(logits.grad, _softmax(z) - np.eye(4)[targets], rtol=1e-12, atol=1e-15)
