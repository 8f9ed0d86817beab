"""Sampling: names drawn one character at a time from a model's softmax."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import autograd_np as ag
from autograd_np.functional import softmax

from .config import POSITIONAL_ARCHS

if TYPE_CHECKING:
    from .train import Run


def sample(run: "Run", n: int, temperature: float = 1.0, seed: int = 0, exclude: set[str] | None = None,
           max_len: int | None = None) -> list[str]:
    """``n`` names, all drawn in parallel, from a generator of their own (``seed``), so sampling never
    disturbs the training state. With ``exclude``, names in that set are rejected and drawing continues
    (at most 100 rounds). Names that reach ``max_len`` characters without the end token are cut there."""
    if temperature <= 0:
        raise ValueError("sample: temperature must be > 0")
    rng = np.random.default_rng(seed)
    max_len = max_len or max(32, 2 * max((len(w) for w in run.words), default=16))
    out: list[str] = []
    run.model.eval()
    for _ in range(100):
        need = n - len(out)
        if need <= 0:
            break
        for name in _sample_batch(run, max(need, 16) if exclude else need, temperature, rng, max_len):
            if exclude is None or name not in exclude:
                out.append(name)
    return out[:n]


def _next_logits(run: "Run", context: np.ndarray) -> ag.Tensor:
    if not run.sequence:
        return run.model(context)
    if run.config.arch in POSITIONAL_ARCHS:
        context = context[:, -run.config.block_size:]
    return run.model(context)[:, -1, :]


def _sample_batch(run: "Run", n: int, temperature: float, rng: np.random.Generator, max_len: int) -> list[str]:
    # an MLP sees a sliding window; a sequence model sees everything drawn so far
    context = np.zeros((n, 1 if run.sequence else run.config.block_size), dtype=np.int64)
    chars = np.zeros((n, max_len), dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    lengths = np.full(n, max_len)
    with ag.no_grad():
        for t in range(max_len):
            probs = softmax(_next_logits(run, context) * (1.0 / temperature)).numpy().astype(np.float64)
            cdf = probs.cumsum(axis=1)
            u = rng.random(n) * cdf[:, -1]
            ix = np.minimum((cdf <= u[:, None]).sum(axis=1), probs.shape[1] - 1)
            ended = (ix == 0) & ~done
            lengths[ended] = t
            done |= ix == 0
            chars[:, t] = ix
            context = np.concatenate([context if run.sequence else context[:, 1:], ix[:, None]], axis=1)
            if done.all():
                break
    return [run.vocab.decode(chars[i, : lengths[i]]) for i in range(n)]
