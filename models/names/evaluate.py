"""Evaluation: the mean loss of a model over a whole split, in evaluation mode."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

import autograd_np as ag

from .data import IGNORE

if TYPE_CHECKING:
    from .train import Run

#: examples (MLP) or characters (sequence models) per forward pass
EVAL_CHUNK = 8192


class Interrupted(Exception):
    """A stop signal (its number in ``signum``) ended a long computation early (``loss_on`` with ``stop``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


def loss_on(run: "Run", X: np.ndarray, Y: np.ndarray, stop: Sequence[int] | None = None) -> float:
    """Mean cross-entropy over all of (X, Y), in evaluation mode (float64 accumulation); NaN if empty.

    For every arch this is the mean over every predicted character, the end token included
    (sequence models: the non-padding targets). With ``stop`` (from ``stop_on_signals``), a
    signal raises ``Interrupted`` between chunks.
    """
    if len(X) == 0:
        return float("nan")
    run.model.eval()
    total, count = 0.0, 0
    chunk = EVAL_CHUNK // X.shape[1] if run.sequence else EVAL_CHUNK
    with ag.no_grad():
        for i in range(0, len(X), chunk):
            if stop:
                raise Interrupted(stop[0])
            xb, yb = X[i:i + chunk], Y[i:i + chunk]
            n = int((yb != IGNORE).sum()) if run.sequence else len(xb)
            total += run.batch_loss(xb, yb).item() * n
            count += n
    return total / count
