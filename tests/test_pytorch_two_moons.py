"""A two-moons classifier written with PyTorch habits runs unchanged (but for the import)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import autograd_np as ag
import autograd_np.nn.functional as F
from autograd_np import nn


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((2 * n, 2))
    return X, np.repeat([0, 1], n)


def test_two_moons_with_pytorch_habits(tmp_path: Path) -> None:
    ag.manual_seed(0)
    X_np, y_np = two_moons(200, 0.1, np.random.default_rng(0))
    X, y = ag.from_numpy(X_np).float(), ag.tensor(y_np, dtype=ag.long)

    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    model.to("cpu")
    opt = ag.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for step in range(300):
        opt.zero_grad(set_to_none=True)
        logits = model(X)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()

    model.eval()
    with ag.no_grad():
        logits = model(X)
    pred = logits.argmax(dim=1)
    acc = (pred == y).float().mean()
    assert acc.item() > 0.95, f"accuracy {acc.item():.3f}"
    assert loss.item() < 0.2 and X.dtype == ag.float32 and logits.dtype == ag.float32
    values, indices = logits.max(dim=1)
    assert (indices == pred).all() and values.shape == (400,)

    path = tmp_path / "moons.safetensors"
    ag.save(model.state_dict(), path)
    fresh = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    fresh.load_state_dict(ag.load(path))
    fresh.eval()
    with ag.no_grad():
        assert (fresh(X).argmax(dim=1) == pred).all()
        np.testing.assert_array_equal(fresh(X).numpy(), logits.numpy())
