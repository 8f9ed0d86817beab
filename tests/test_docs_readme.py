"""The README's engine example runs as written (documentation that cannot silently rot)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_engine_example_runs_and_the_fused_loss_matches() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = next(b for b in blocks if "loss.backward()" in b)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["W"].grad is None and namespace["b"].grad is None  # the SGD loop reset them
    # the fused loss at the end equals the composed one, on the updated parameters
    x, W, b, targets = (namespace[k] for k in ("x", "W", "b", "targets"))
    composed = -(x @ W + b).log_softmax(axis=-1)[np.arange(32), targets].mean()
    np.testing.assert_allclose(namespace["loss"].item(), composed.item(), rtol=1e-12)


def test_the_adding_an_op_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = next(b for b in blocks if "ag.primitive(" in b)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    x = namespace["x"]
    np.testing.assert_allclose(x.grad, np.cos(x.data), rtol=1e-12)
    np.testing.assert_allclose(namespace["dx"].data, np.cos(x.data), rtol=1e-12)
