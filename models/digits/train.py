"""Training loop and accuracy for the digits net."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from autograd_np import Tensor, functional as F, no_grad, optim

from .model import DigitsCNN


def train(model: DigitsCNN, images: np.ndarray, labels: np.ndarray, steps: int, batch_size: int = 64,
          lr: float = 0.1, momentum: float = 0.9, seed: int = 0) -> dict[str, Any]:
    """SGD with momentum on random mini-batches; returns the losses and the median step time (s)."""
    rng = np.random.default_rng(seed)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses, times = [], []
    for _ in range(steps):
        batch = rng.integers(0, len(images), batch_size)
        start = time.perf_counter()
        loss = F.cross_entropy(model(Tensor(images[batch])), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
        losses.append(float(loss.item()))
    return {"losses": losses, "step_seconds": float(np.median(times))}


def accuracy(model: DigitsCNN, images: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of images whose largest logit is the label."""
    with no_grad():
        predictions = model(Tensor(images)).data.argmax(axis=1)
    return float((predictions == labels).mean())
