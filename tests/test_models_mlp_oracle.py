"""The whole names MLP: engine gradients against an independent hand-written NumPy backprop.

Network (Bengio et al. 2003, as in makemore), batch in the rows:

    E = C[X]                  (B, block, emb)   X has repeated indices
    x = E reshaped to (B, block * emb)
    h = tanh(x W1 + b1)
    logits = h W2 + b2
    L = mean cross-entropy(logits, Y)

The oracle is ``models/names/handwritten_backprop.py``: the seed derivation
(/work/shared/seed/backprop-derivation.md) written out in plain NumPy, in its own
weight convention (a layer is z = W' x + b with W' of shape (out, in), i.e. W' = Wᵀ
of the engine's x @ W). It uses nothing from the engine (checked below), and is the
same code ``python -m models.names derive`` runs, so there is one copy of it.
"""
from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from autograd_np import Tensor, functional as F, nn, no_grad
from models.names import handwritten_backprop as derivation

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
# The oracle: models/names/handwritten_backprop.py, parameters in the stored (in, out) layout
# ----------------------------------------------------------------------------
def oracle(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    n = sum(1 for k in params if k.startswith("W"))
    p = derivation.Params.from_stored(
        params["C"], [params[f"W{i}"] for i in range(1, n + 1)], [params[f"b{i}"] for i in range(1, n + 1)]
    )
    loss, grads = derivation.gradients(p, X, Y)
    return loss, derivation.stored_gradients(grads, n)


def test_the_oracle_uses_nothing_from_the_engine() -> None:
    tree = ast.parse(inspect.getsource(derivation))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"__future__", "dataclasses", "numpy"}


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


def production_model(params: dict[str, np.ndarray]) -> nn.Sequential:
    """The names model's own layers (what ``models/names/models.py`` builds), holding ``params``."""
    n = sum(1 for k in params if k.startswith("W"))
    embedding = nn.Embedding(*params["C"].shape, dtype=np.float64)
    embedding.weight.data[...] = params["C"]
    layers: list[nn.Module] = [embedding, nn.Flatten()]
    for i in range(1, n + 1):
        linear = nn.Linear(*params[f"W{i}"].shape, dtype=np.float64)
        linear.weight.data[...] = params[f"W{i}"]
        linear.bias.data[...] = params[f"b{i}"]
        layers += [linear, nn.Tanh()] if i < n else [linear]
    return nn.Sequential(*layers)


def engine_gradients(params, X, Y, loss="fused"):
    """The loss and parameter gradients by the engine: ``loss`` picks the path through it.

    fused / composed: the network written with ``@``, ``+``, ``tanh`` and either
    ``F.cross_entropy`` or log_softmax + indexing + mean; modules: the production path,
    ``nn.Embedding -> nn.Flatten -> nn.Linear -> nn.Tanh -> ... -> nn.Linear`` and ``F.cross_entropy``.
    """
    if loss == "modules":
        model = production_model(params)
        out = F.cross_entropy(model(X), Y)
        out.backward()
        linears = [layer for layer in model if isinstance(layer, nn.Linear)]
        grads = {"C": model[0].weight.grad}
        for i, linear in enumerate(linears, start=1):
            grads[f"W{i}"], grads[f"b{i}"] = linear.weight.grad, linear.bias.grad
        return out.item(), grads
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
@pytest.mark.parametrize("loss", ["fused", "composed", "modules"])
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
    path=st.sampled_from(["fused", "modules"]),
)
def test_engine_matches_handwritten_backprop_any_size(vocab, block, emb, hidden, batch, seed, path) -> None:
    params, X, Y = make_problem(seed, vocab, block, emb, hidden, batch)
    expected_loss, expected = oracle(params, X, Y)
    got_loss, got = engine_gradients(params, X, Y, path)
    assert abs(got_loss - expected_loss) < TOL
    assert_same(got, expected)


@pytest.mark.parametrize("widths", [[16, 12], [9, 7, 5]])
def test_deeper_production_model_matches_the_derivation_layer_by_layer(widths: list[int]) -> None:
    """Several hidden layers through nn.Linear/nn.Tanh: every z⁽ⁱ⁾, x⁽ⁱ⁾, W⁽ⁱ⁾, b⁽ⁱ⁾ and C, by symbol."""
    from models.names.derive import engine_gradients as engine_by_symbol

    rng = np.random.default_rng(5)
    vocab, block, emb, batch = 27, 3, 4, 32
    sizes = [block * emb, *widths, vocab]
    params = {"C": rng.standard_normal((vocab, emb))}
    for i in range(1, len(sizes)):
        params[f"W{i}"] = rng.standard_normal((sizes[i - 1], sizes[i])) * sizes[i - 1] ** -0.5
        params[f"b{i}"] = rng.standard_normal(sizes[i]) * 0.1
    X = rng.integers(0, vocab, size=(batch, block))
    Y = rng.integers(0, vocab, size=batch)

    expected_loss, expected = oracle(params, X, Y)
    got_loss, got = engine_gradients(params, X, Y, "modules")
    assert abs(got_loss - expected_loss) < TOL
    assert_same(got, expected)

    model = production_model(params)
    linears = [layer for layer in model if isinstance(layer, nn.Linear)]
    loss, engine = engine_by_symbol(model[0], linears, X, Y)
    n = len(linears)
    p = derivation.Params.from_stored(params["C"], [params[f"W{i}"] for i in range(1, n + 1)],
                                      [params[f"b{i}"] for i in range(1, n + 1)])
    _, by_hand = derivation.gradients(p, X, Y)
    assert list(engine) == list(by_hand)  # the same quantities, in the derivation's order
    assert len(by_hand) == 4 * n + 1      # z, W, b, x for every layer, then C
    for name, hand in by_hand.items():
        value = engine[name].grad if isinstance(engine[name], Tensor) else engine[name]
        np.testing.assert_allclose(value, hand, rtol=TOL, atol=TOL, err_msg=name)


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
