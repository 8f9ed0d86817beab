"""The digits conv net learns: a short training run on generated stroke images (no scikit-learn needed)."""
from __future__ import annotations

import numpy as np

from models.digits.data import generated_strokes
from models.digits.model import DigitsCNN
from models.digits.train import accuracy, train


def test_the_conv_net_learns_generated_strokes() -> None:
    x_train, y_train = generated_strokes(512, seed=0)
    x_test, y_test = generated_strokes(256, seed=1)
    model = DigitsCNN(classes=4, channels=(4, 8), rng=0)
    before = accuracy(model, x_test, y_test)
    result = train(model, x_train, y_train, steps=60, batch_size=32, lr=0.05)
    assert np.mean(result["losses"][-10:]) < 0.5 * np.mean(result["losses"][:5])
    assert accuracy(model, x_test, y_test) >= 0.9 > before


def test_the_net_has_the_documented_shapes() -> None:
    model = DigitsCNN(rng=1)
    assert model(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 10)
    assert [p.shape for p in model.parameters()] == [(8, 1, 3, 3), (8,), (16, 8, 3, 3), (16,), (256, 10), (10,)]
