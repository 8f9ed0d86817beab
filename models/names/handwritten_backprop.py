"""The seed derivation, made code: backprop through the names MLP by hand, in plain NumPy.

This follows A. Avram, *Back propagation for Deep Feedforward Neural Networks* (2025),
step by step and in its notation. Nothing here uses the engine: it is the independent
answer that ``python -m models.names derive`` and ``tests/test_models_mlp_oracle.py`` check the
engine against.

The network, with the batch of B examples in the rows::

    x⁽⁰⁾ = C[X] flattened                       (B, block·emb)  the embedded characters
    z⁽ⁱ⁾ = x⁽ⁱ⁻¹⁾ W⁽ⁱ⁾ᵀ + b⁽ⁱ⁾                   (B, lᵢ)         row by row: z = W x + b
    x⁽ⁱ⁾ = tanh(z⁽ⁱ⁾)                 for i < n
    L    = mean over the rows of -log softmax(z⁽ⁿ⁾)[y]

``W⁽ⁱ⁾`` has the derivation's layout (out, in): ``W⁽ⁱ⁾_jk`` is the weight of neuron k of
layer i-1 on neuron j of layer i. The engine's ``nn.Linear`` stores the transpose,
(in, out), and computes ``x @ weight``; ``Params.from_stored`` converts.

The rules, with ``G = ∂L/∂z⁽ⁱ⁾`` of shape (B, lᵢ)::

    ∂L/∂z⁽ⁿ⁾   = (probs - onehot) / B        softmax + cross-entropy, averaged over the batch
    ∂L/∂W⁽ⁱ⁾   = Gᵀ x⁽ⁱ⁻¹⁾                    (out, in); the stored (in, out) weight gets its transpose
    ∂L/∂b⁽ⁱ⁾   = Σ_rows G
    ∂L/∂x⁽ⁱ⁻¹⁾ = G W⁽ⁱ⁾
    ∂L/∂z⁽ⁱ⁻¹⁾ = ∂L/∂x⁽ⁱ⁻¹⁾ ⊙ (1 - (x⁽ⁱ⁻¹⁾)²)   tanh' = 1 - tanh²
    ∂L/∂C      = the rows of ∂L/∂x⁽⁰⁾ added into the rows of C they were read from
                 (a character used several times in the batch adds up)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def symbol(name: str, layer: int | None = None) -> str:
    """The derivation's name of a gradient: ``symbol("W", 1)`` is ``"∂L/∂W⁽¹⁾"``."""
    return f"∂L/∂{name}" if layer is None else f"∂L/∂{name}{_layer(layer)}"


@dataclass
class Params:
    """The embedding table and, for layers 1..n, the weights (out, in) and biases."""

    C: np.ndarray               # (vocab, emb)
    W: list[np.ndarray]         # W[i - 1] is W⁽ⁱ⁾, shape (lᵢ, lᵢ₋₁)
    b: list[np.ndarray]         # b[i - 1] is b⁽ⁱ⁾, shape (lᵢ,)

    @classmethod
    def from_stored(cls, C: np.ndarray, weights: list[np.ndarray], biases: list[np.ndarray]) -> "Params":
        """From weights stored (in, out), as ``nn.Linear`` keeps them: W⁽ⁱ⁾ is their transpose."""
        if len(weights) != len(biases):
            raise ValueError(f"Params: {len(weights)} weight matrices but {len(biases)} bias vectors")
        return cls(C, [w.T for w in weights], list(biases))

    @property
    def n(self) -> int:
        """Number of layers with weights (the output layer is layer n)."""
        return len(self.W)


@dataclass
class Forward:
    """What the backward pass needs from the forward pass."""

    x: list[np.ndarray]         # x⁽⁰⁾ .. x⁽ⁿ⁻¹⁾: the input of each layer
    z: list[np.ndarray]         # z⁽¹⁾ .. z⁽ⁿ⁾ (z[i - 1] is z⁽ⁱ⁾); z⁽ⁿ⁾ are the logits
    probs: np.ndarray           # softmax of the logits, (B, vocab)
    loss: float


def forward(p: Params, X: np.ndarray, Y: np.ndarray) -> Forward:
    """The forward pass, row by row: z⁽ⁱ⁾ = W⁽ⁱ⁾ x⁽ⁱ⁻¹⁾ + b⁽ⁱ⁾, x⁽ⁱ⁾ = tanh(z⁽ⁱ⁾)."""
    B = X.shape[0]
    x = [p.C[X].reshape(B, -1)]           # x⁽⁰⁾: the embedded context, flattened
    z = []
    for i in range(1, p.n + 1):
        z.append(x[i - 1] @ p.W[i - 1].T + p.b[i - 1])
        if i < p.n:
            x.append(np.tanh(z[i - 1]))
    logits = z[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)    # the row max cancels in the softmax
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(B), Y].mean())         # finite even where a prob underflows
    return Forward(x, z, np.exp(log_probs), loss)


def backward(p: Params, f: Forward, X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """Every gradient of the derivation, named by its symbol, in the order computed (output first)."""
    B = X.shape[0]
    grads: dict[str, np.ndarray] = {}

    onehot = np.zeros_like(f.probs)
    onehot[np.arange(B), Y] = 1
    G = (f.probs - onehot) / B                          # ∂L/∂z⁽ⁿ⁾: the loss is a mean over B rows
    grads[symbol("z", p.n)] = G

    for i in range(p.n, 0, -1):
        x_prev = f.x[i - 1]                             # x⁽ⁱ⁻¹⁾
        grads[symbol("W", i)] = G.T @ x_prev            # Gᵀ X⁽ⁱ⁻¹⁾, (out, in)
        grads[symbol("b", i)] = G.sum(axis=0)           # Σ over the rows of G
        dx = G @ p.W[i - 1]                             # G W⁽ⁱ⁾
        grads[symbol("x", i - 1)] = dx
        if i > 1:
            G = dx * (1 - x_prev**2)                    # tanh'(z) = 1 - tanh(z)² = 1 - x²
            grads[symbol("z", i - 1)] = G

    dx0 = grads[symbol("x", 0)].reshape(*X.shape, p.C.shape[1])  # one piece per character read
    dC = np.zeros_like(p.C)
    np.add.at(dC, X, dx0)                               # unbuffered: repeated characters add up
    grads[symbol("C")] = dC
    return grads


def gradients(p: Params, X: np.ndarray, Y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and every gradient of the derivation (see ``backward``)."""
    f = forward(p, X, Y)
    return f.loss, backward(p, f, X, Y)


def stored_gradients(grads: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The parameter gradients in the stored layout: ``C``, then ``W1``, ``b1``, ..., ``Wn``, ``bn``.

    ``Wi`` is the transpose of ∂L/∂W⁽ⁱ⁾, i.e. (x⁽ⁱ⁻¹⁾)ᵀ G, of shape (in, out) like ``nn.Linear.weight``.
    """
    stored = {"C": grads[symbol("C")]}
    for i in range(1, n + 1):
        stored[f"W{i}"] = grads[symbol("W", i)].T
        stored[f"b{i}"] = grads[symbol("b", i)]
    return stored


def rules(n: int) -> dict[str, str]:
    """The rule behind each gradient of ``backward``, keyed by the same symbols (for tables)."""
    found = {symbol("z", n): "(probs - onehot) / B"}
    for i in range(n, 0, -1):
        x_prev = f"x{_layer(i - 1)}"
        found[symbol("W", i)] = f"Gᵀ {x_prev}, G = ∂L/∂z{_layer(i)}"
        found[symbol("b", i)] = "Σ_rows G"
        found[symbol("x", i - 1)] = f"G W{_layer(i)}"
        if i > 1:
            found[symbol("z", i - 1)] = f"∂L/∂{x_prev} ⊙ (1 - ({x_prev})²)"
    found[symbol("C")] = "rows of ∂L/∂x⁽⁰⁾ added at X (repeats add up)"
    return found


def _layer(i: int) -> str:
    return f"⁽{str(i).translate(_SUPERSCRIPT)}⁾"
