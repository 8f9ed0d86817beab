"""The names MLP with its backprop written by hand in NumPy: the speed floor.

Network (Bengio et al. 2003, as in makemore), batch in the rows:

    E = C[Xb]                       (B, block, emb)   embedding lookup
    x = E.reshape(B, block*emb)
    z = x @ W1 + b1;  h = tanh(z)   (B, hidden)
    logits = h @ W2 + b2            (B, vocab)
    L = mean_b  -log softmax(logits_b)[y_b]

Backward, following /work/shared/seed/backprop-derivation.md (which stores W
transposed; with the batch in the rows the rules read as below):

    G2 = (softmax(logits) - onehot(y)) / B          "probs - onehot", mean loss
    dW2 = hᵀ G2;   db2 = Σ_b G2;   dh = G2 W2ᵀ
    G1 = dh ⊙ (1 - h²)                              σ'(z) for σ = tanh
    dW1 = xᵀ G1;   db1 = Σ_b G1;   dx = G1 W1ᵀ
    dC[v] = Σ over positions (b, t) with Xb[b, t] = v of dx[b, t]   (embedding rows)

Everything is done in place where NumPy allows it, and the embedding gradient
is a one-hot matrix product (onehotᵀ dx), which is several times faster than
``np.add.at`` for a small vocabulary. This file has no dependency on the
engine: it is the baseline the engine is compared with.
"""
from __future__ import annotations

import numpy as np


class HandwrittenMLP:
    """One SGD step of the names MLP, backprop by hand, float32."""

    name = "handwritten"

    def __init__(self, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, batch: int, lr: float, seed: int):
        self.C = params["C"].copy()
        self.W1 = params["W1"].copy()
        self.b1 = params["b1"].copy()
        self.W2 = params["W2"].copy()
        self.b2 = params["b2"].copy()
        self.X, self.Y = X, Y
        self.batch, self.lr = batch, np.float32(lr)
        self.rng = np.random.default_rng(seed)
        vocab = self.C.shape[0]
        self._rows = np.arange(batch)
        # A reusable one-hot buffer for the embedding gradient (vocab, batch*block).
        self._onehot = np.zeros((vocab, batch * X.shape[1]), dtype=np.float32)
        self._cols = np.arange(batch * X.shape[1])

    def params(self) -> dict[str, np.ndarray]:
        return {"C": self.C, "W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def step(self, ix: np.ndarray | None = None) -> float:
        if ix is None:
            ix = self.rng.integers(0, self.X.shape[0], self.batch)
        Xb, Yb = self.X[ix], self.Y[ix]
        B = Xb.shape[0]
        C, W1, b1, W2, b2, lr = self.C, self.W1, self.b1, self.W2, self.b2, self.lr
        rows = self._rows if B == self._rows.shape[0] else np.arange(B)

        # forward
        x = C[Xb].reshape(B, -1)
        h = x @ W1
        h += b1
        np.tanh(h, out=h)
        logits = h @ W2
        logits += b2
        # cross-entropy, with softmax computed in place in `logits`
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        total = logits.sum(axis=1, keepdims=True)
        logits /= total
        probs = logits
        loss = -float(np.log(probs[rows, Yb]).mean())

        # backward
        G2 = probs
        G2[rows, Yb] -= 1.0
        G2 *= np.float32(1.0 / B)
        dW2 = h.T @ G2
        db2 = G2.sum(axis=0)
        dh = G2 @ W2.T
        h *= h                      # h² (h is not needed any more)
        np.subtract(1.0, h, out=h)  # 1 - h²
        dh *= h                     # G1
        G1 = dh
        dW1 = x.T @ G1
        db1 = G1.sum(axis=0)
        dx = G1 @ W1.T              # (B, block*emb)
        flat = Xb.reshape(-1)
        onehot = self._onehot if flat.shape[0] == self._cols.shape[0] else np.zeros((C.shape[0], flat.shape[0]), np.float32)
        cols = self._cols if flat.shape[0] == self._cols.shape[0] else np.arange(flat.shape[0])
        onehot[flat, cols] = 1.0
        dC = onehot @ dx.reshape(flat.shape[0], C.shape[1])
        onehot[flat, cols] = 0.0    # reset the buffer for the next step

        # SGD, in place
        for p, g in ((C, dC), (W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            g *= lr
            p -= g
        return loss
