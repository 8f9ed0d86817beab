"""The barest per-op tape for the names MLP: a lower bound for any per-op Python tape.

Not part of the engine, and not an engine design: a reference point for the speed
benchmark (``step_speed.py --minimal-tape``). Each forward op appends one node to a
global list and keeps a closure with its VJP (micrograd's style); backward replays the
list in reverse. It deliberately leaves out everything the engine does besides that:
no Tensor type with a public graph walk, no op table, no ``grad()`` or double backward,
no ordering of several graphs (one global list, cleared by every backward), no shape,
dtype or aliasing checks, no finiteness guard on the embedding gradient, no freeing
rules. Its VJPs are the engine's (same BLAS calls, same one-hot embedding product).

If even this tape is slower than 1.15x the hand-written step, no per-op Python tape
can meet that target on this machine.
"""
from __future__ import annotations

import numpy as np


class Var:
    __slots__ = ("data", "grad", "back")

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.grad, self.back = data, None, None


_TAPE: list[Var] = []
_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    ones = _ONES.get((n, dtype))
    if ones is None:
        ones = _ONES[(n, dtype)] = np.ones(n, dtype)
    return ones


def _add_grad(v: Var, g: np.ndarray) -> None:
    v.grad = g if v.grad is None else v.grad + g


def _record(out: Var, back) -> Var:
    out.back = back
    _TAPE.append(out)
    return out


def embed(C: Var, X: np.ndarray) -> Var:
    def back(g: np.ndarray) -> None:
        picks = X.reshape(-1)
        onehot = np.zeros((C.data.shape[0], picks.size), g.dtype)
        onehot[picks, np.arange(picks.size)] = 1
        _add_grad(C, onehot.dot(g.reshape(picks.size, -1)))

    return _record(Var(C.data[X]), back)


def flatten_rows(x: Var) -> Var:
    return _record(Var(x.data.reshape(x.data.shape[0], -1)), lambda g: _add_grad(x, g.reshape(x.data.shape)))


def linear(x: Var, W: Var, b: Var) -> Var:
    y = x.data.dot(W.data)
    y += b.data

    def back(g: np.ndarray) -> None:
        _add_grad(x, g.dot(W.data.T))
        _add_grad(W, x.data.T.dot(g))
        _add_grad(b, _ones(g.shape[0], g.dtype).dot(g))

    return _record(Var(y), back)


def tanh(x: Var) -> Var:
    out = Var(np.tanh(x.data))

    def back(g: np.ndarray) -> None:
        gy2 = g * out.data
        gy2 *= out.data
        _add_grad(x, g - gy2)

    return _record(out, back)


def cross_entropy(logits: Var, targets: np.ndarray) -> Var:
    x = logits.data
    rows = np.arange(x.shape[0])
    shifted = x - np.maximum.reduce(x, axis=1, keepdims=True)
    probs = np.exp(shifted)
    total = probs.dot(_ones(probs.shape[1], probs.dtype))
    loss = (np.add.reduce(np.log(total)) - np.add.reduce(shifted[rows, targets])) / x.shape[0]
    probs /= total[:, None]

    def back(g: np.ndarray) -> None:
        scale = float(g) / x.shape[0]
        d = probs * scale
        d[rows, targets] -= scale
        _add_grad(logits, d)

    return _record(Var(np.asarray(loss)), back)


def backward(loss: Var) -> None:
    loss.grad = np.ones((), loss.data.dtype)
    for v in reversed(_TAPE):
        if v.grad is not None:
            v.back(v.grad)
    _TAPE.clear()


class MinimalTapeMLP:
    """The benchmark's network on the bare tape above (same step as the other implementations)."""

    name = "minimal_tape"

    def __init__(self, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, batch: int, lr: float, seed: int):
        self.C, self.W1, self.b1, self.W2, self.b2 = (Var(params[k].copy()) for k in ("C", "W1", "b1", "W2", "b2"))
        self.X, self.Y, self.batch, self.lr = X, Y, batch, lr
        self.rng = np.random.default_rng(seed)

    def params(self) -> dict[str, np.ndarray]:
        return {"C": self.C.data, "W1": self.W1.data, "b1": self.b1.data, "W2": self.W2.data, "b2": self.b2.data}

    def step(self, ix: np.ndarray | None = None) -> float:
        if ix is None:
            ix = self.rng.integers(0, self.X.shape[0], self.batch)
        Xb, Yb = self.X[ix], self.Y[ix]
        h = tanh(linear(flatten_rows(embed(self.C, Xb)), self.W1, self.b1))
        loss = cross_entropy(linear(h, self.W2, self.b2), Yb)
        backward(loss)
        for p in (self.C, self.W1, self.b1, self.W2, self.b2):
            p.data -= self.lr * p.grad
            p.grad = None
        return float(loss.data)
