"""The net: two 3x3 convolutions (padding 1) with ReLU, a 2x2 max pool, a linear classifier.

    (N, 1, 8, 8) -> conv 1->8 -> ReLU -> conv 8->16 -> ReLU -> max pool 2 -> (N, 16, 4, 4) -> flatten -> linear -> (N, classes)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from autograd_np import Tensor, nn


class DigitsCNN(nn.Module):
    def __init__(self, classes: int = 10, channels: tuple[int, int] = (8, 16), *, rng: Any = 0,
                 dtype: Any = np.float32) -> None:
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        first, second = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, first, 3, padding=1, rng=rng, dtype=dtype), nn.ReLU(),
            nn.Conv2d(first, second, 3, padding=1, rng=rng, dtype=dtype), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(1),
        )
        self.classifier = nn.Linear(second * 16, classes, rng=rng, dtype=dtype)

    def forward(self, images: Any) -> Tensor:
        return self.classifier(self.features(images))
