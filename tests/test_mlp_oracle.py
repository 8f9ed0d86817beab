"""The whole names MLP: engine gradients against an independent hand-written NumPy backprop.

Network (Bengio et al. 2003, as in makemore), batch in the rows:

    E = C[X]                  (B, block, emb)   X has repeated indices
    x = E reshaped to (B, block * emb)
    h = tanh(x W1 + b1)
    logits = h W2 + b2
    L = mean cross-entropy(logits, Y)

The oracle below uses nothing from the engine. It follows
/work/shared/seed/backprop-derivation.md literally, including its weight
convention (a layer is z = W' x + b with W' of shape (out, in), i.e. W' = Wᵀ
of the engine's x @ W), and converts back at the end.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from autograd_np import Tensor, functional as F, no_grad

TOL = 1e-10


def make_problem(seed: int, vocab: int = 27, block: int = 3, emb: int = 2, hidden: int = 10, batch: int = 32):
    rng = np.random.default_rng(seed)
    params = {
        "C": rng.standard_normal((vocab, emb)),
        "W1": rng.standard_normal((block * emb, hidden)) * 0.5,
        "b1": rng.standard_normal(hidden) * 0.1,
        "W2": rng.standard_normal((hidden, vocab)) * 0.5,
        "b2": rng.standard_normal(vocab) * 0.1,
    }
    X = rng.integers(0, vocab, size=(batch, block))
    X[0, :] = X[-1, 0]  # an index repeated within an example (and across the batch when B > 1)
    Y = rng.integers(0, vocab, size=batch)
    return params, X, Y


# ----------------------------------------------------------------------------
# The oracle: plain NumPy, derivation convention
# ----------------------------------------------------------------------------
def oracle(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    C, b1, b2 = params["C"], params["b1"], params["b2"]
    W1p, W2p = params["W1"].T, params["W2"].T  # the derivation's W⁽ⁱ⁾: (out, in)
    B, block = X.shape
    emb = C.shape[1]

    # forward: x⁽⁰⁾ is the flattened embedding; z⁽ⁱ⁾ = W⁽ⁱ⁾ x⁽ⁱ⁻¹⁾ + b⁽ⁱ⁾ for each row
    X0 = C[X].reshape(B, block * emb)
    Z1 = X0 @ W1p.T + b1
    X1 = np.tanh(Z1)
    Z2 = X1 @ W2p.T + b2
    shifted = Z2 - Z2.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(B), Y]).mean()

    # backward
    onehot = np.zeros_like(probs)
    onehot[np.arange(B), Y] = 1.0
    G2 = (probs - onehot) / B  # J(L)(z⁽ⁿ⁾) = x⁽ⁿ⁾ - y_onehot, averaged over the batch
    dW2p = G2.T @ X1  # J(L)(W) = Gᵀ X⁽ⁱ⁻¹⁾
    db2 = G2.sum(axis=0)  # J(L)(b): sum over the batch
    dX1 = G2 @ W2p  # J(L)(X⁽ⁱ⁻¹⁾) = G W
    G1 = dX1 * (1.0 - X1**2)  # σ'(z) = 1 - tanh²(z)
    dW1p = G1.T @ X0
    db1 = G1.sum(axis=0)
    dX0 = G1 @ W1p
    dC = np.zeros_like(C)
    np.add.at(dC, X, dX0.reshape(B, block, emb))  # update the embedding rows, repeats accumulate
    return loss, {"C": dC, "W1": dW1p.T, "b1": db1, "W2": dW2p.T, "b2": db2}


# ----------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------
def engine_loss(p: dict[str, Tensor], X: np.ndarray, Y: np.ndarray, loss: str = "fused") -> Tensor:
    B = X.shape[0]
    E = p["C"][X]
    x = E.reshape(B, -1) if loss == "fused" else E.flatten(1)
    h = (x @ p["W1"] + p["b1"]).tanh()
    logits = h @ p["W2"] + p["b2"]
    if loss == "fused":
        return F.cross_entropy(logits, Y)
    return -logits.log_softmax(axis=-1)[np.arange(B), Y].mean()


def engine_gradients(params, X, Y, loss="fused"):
    p = {k: Tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    out = engine_loss(p, X, Y, loss)
    out.backward()
    return out.item(), {k: t.grad for k, t in p.items()}


def assert_same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name].shape == expected[name].shape and got[name].dtype == np.float64, name
        np.testing.assert_allclose(got[name], expected[name], rtol=TOL, atol=TOL, err_msg=name)


@pytest.mark.parametrize("vocab", [27, 300])  # a small and a large embedding table
@pytest.mark.parametrize("loss", ["fused", "composed"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_engine_matches_handwritten_backprop(seed: int, loss: str, vocab: int) -> None:
    params, X, Y = make_problem(seed, vocab=vocab)
    assert len(np.unique(X)) < X.size  # the batch really has repeated indices
    expected_loss, expected = oracle(params, X, Y)
    got_loss, got = engine_gradients(params, X, Y, loss)
    assert abs(got_loss - expected_loss) < TOL
    assert_same(got, expected)


@settings(max_examples=10)
@given(
    vocab=st.integers(2, 8),
    block=st.integers(1, 4),
    emb=st.integers(1, 3),
    hidden=st.integers(1, 6),
    batch=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_engine_matches_handwritten_backprop_any_size(vocab, block, emb, hidden, batch, seed) -> None:
    params, X, Y = make_problem(seed, vocab, block, emb, hidden, batch)
    expected_loss, expected = oracle(params, X, Y)
    got_loss, got = engine_gradients(params, X, Y)
    assert abs(got_loss - expected_loss) < TOL
    assert_same(got, expected)


def test_sgd_training_steps_follow_the_oracle() -> None:
    """Ten SGD steps on fresh minibatches: the engine's parameters track the oracle's."""
    params, _, _ = make_problem(3)
    rng = np.random.default_rng(3)
    ours = {k: Tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    theirs = {k: v.copy() for k, v in params.items()}
    lr = 0.5
    for _ in range(10):
        X = rng.integers(0, 27, size=(32, 3))
        Y = rng.integers(0, 27, size=32)
        loss = engine_loss(ours, X, Y)
        loss.backward()
        with no_grad():
            for p in ours.values():
                p.data -= lr * p.grad
                p.grad = None
        expected_loss, grads = oracle(theirs, X, Y)
        for k in theirs:
            theirs[k] -= lr * grads[k]
        assert abs(loss.item() - expected_loss) < 1e-9
    for k in theirs:
        np.testing.assert_allclose(ours[k].data, theirs[k], rtol=1e-9, atol=1e-9, err_msg=k)


def test_oracle_itself_agrees_with_finite_differences() -> None:
    """The oracle is independent of the engine; check it on its own so a shared mistake cannot hide."""
    params, X, Y = make_problem(4, vocab=5, block=2, emb=2, hidden=3, batch=6)
    _, grads = oracle(params, X, Y)
    eps = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for k in np.ndindex(value.shape):
            plus = {**params, name: value.copy()}
            plus[name][k] += eps
            minus = {**params, name: value.copy()}
            minus[name][k] -= eps
            numeric[k] = (oracle(plus, X, Y)[0] - oracle(minus, X, Y)[0]) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)
