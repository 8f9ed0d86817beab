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

Every intermediate lives in a buffer allocated once and reused each step, and
the embedding gradient is a one-hot matrix product (onehotᵀ dx), several times
faster than ``np.add.at`` for a small vocabulary. Products use ``np.dot`` (the
same BLAS call as ``np.matmul`` for 2-D operands, less overhead), and sums over
the batch or over a row are products with a ones vector (one BLAS call, 2-3x
faster than ``np.sum`` along an axis at these sizes). This file has no dependency on the
engine: it is the baseline the engine is compared with.
"""
from __future__ import annotations

import numpy as np


class HandwrittenMLP:
    """One SGD step of the names MLP, backprop by hand, float32.

    Every array of the step lives in a buffer allocated once (``out=`` on
    every NumPy call), so a step allocates almost nothing: no temporaries and
    no page faults on fresh memory, which matter at batch 4096.
    """

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
        self._buffers: dict[int, dict[str, np.ndarray]] = {}

    def params(self) -> dict[str, np.ndarray]:
        return {"C": self.C, "W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}

    def _buffers_for(self, B: int) -> dict[str, np.ndarray]:
        buf = self._buffers.get(B)
        if buf is None:
            vocab, emb = self.C.shape
            block = self.X.shape[1]
            hidden = self.W1.shape[1]
            f = np.float32
            buf = self._buffers[B] = {
                "E": np.empty((B, block, emb), f), "h": np.empty((B, hidden), f), "t": np.empty((B, hidden), f),
                "logits": np.empty((B, vocab), f), "m": np.empty((B, 1), f), "lossrow": np.empty(B, f),
                "dW2": np.empty_like(self.W2), "db2": np.empty_like(self.b2), "dh": np.empty((B, hidden), f),
                "dW1": np.empty_like(self.W1), "db1": np.empty_like(self.b1), "dx": np.empty((B, block * emb), f),
                "dC": np.empty_like(self.C), "onehot": np.zeros((vocab, B * block), f),
                "rows": np.arange(B), "cols": np.arange(B * block),
                "ones_batch": np.ones(B, f), "ones_vocab": np.ones((vocab, 1), f),
            }
        return buf

    def step(self, ix: np.ndarray | None = None) -> float:
        if ix is None:
            ix = self.rng.integers(0, self.X.shape[0], self.batch)
        Xb, Yb = self.X[ix], self.Y[ix]
        B = Xb.shape[0]
        C, W1, b1, W2, b2, lr = self.C, self.W1, self.b1, self.W2, self.b2, self.lr
        buf = self._buffers_for(B)
        rows, ones_batch = buf["rows"], buf["ones_batch"]

        # forward
        np.take(C, Xb, axis=0, out=buf["E"])
        x = buf["E"].reshape(B, -1)
        h = np.dot(x, W1, out=buf["h"])
        h += b1
        np.tanh(h, out=h)
        logits = np.dot(h, W2, out=buf["logits"])
        logits += b2
        # cross-entropy, with the softmax computed in place in `logits`
        logits -= np.maximum.reduce(logits, axis=1, keepdims=True, out=buf["m"])
        np.exp(logits, out=logits)
        total = np.dot(logits, buf["ones_vocab"], out=buf["m"])  # row sums as one BLAS call
        logits /= total
        probs = logits
        picked = np.log(probs[rows, Yb], out=buf["lossrow"])
        loss = -float(picked.sum()) / B

        # backward
        G2 = probs
        G2[rows, Yb] -= 1.0
        G2 *= np.float32(1.0 / B)
        dW2 = np.dot(h.T, G2, out=buf["dW2"])
        db2 = np.dot(ones_batch, G2, out=buf["db2"])  # batch sum as one BLAS call
        dh = np.dot(G2, W2.T, out=buf["dh"])
        t = np.multiply(h, h, out=buf["t"])  # h²
        np.subtract(1.0, t, out=t)           # 1 - h²
        dh *= t                              # G1
        G1 = dh
        dW1 = np.dot(x.T, G1, out=buf["dW1"])
        db1 = np.dot(ones_batch, G1, out=buf["db1"])
        dx = np.dot(G1, W1.T, out=buf["dx"])  # (B, block*emb)
        flat = Xb.reshape(-1)
        onehot, cols = buf["onehot"], buf["cols"]
        onehot[flat, cols] = 1.0
        dC = np.dot(onehot, dx.reshape(flat.shape[0], C.shape[1]), out=buf["dC"])
        onehot[flat, cols] = 0.0  # reset the buffer for the next step

        # SGD, in place
        for p, g in ((C, dC), (W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            g *= lr
            p -= g
        return loss
