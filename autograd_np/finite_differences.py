"""Finite-difference check of the engine's gradients."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .autodiff import grad
from .tensor_type import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Compare the engine's gradients of ``fn(*inputs)`` with central differences in float64.

    Every input is copied to a float64 Tensor that requires grad. A non-scalar
    output is reduced to the scalar ⟨fn(*inputs), v⟩ with a fixed random ``v``,
    which checks the VJP against an arbitrary cotangent. Returns True, or raises
    GradcheckError naming the input, the worst element and both values.
    """
    leaves = [Tensor(np.array(_data(x), dtype=np.float64), requires_grad=True) for x in inputs]
    first = fn(*leaves)
    cotangent = np.random.default_rng(seed).standard_normal(first.shape)

    def scalar(*args: Tensor) -> Tensor:
        out = fn(*args)
        return (out * cotangent).sum() if out.shape else out

    analytic = [g.data for g in grad(scalar(*leaves), leaves)]
    for position, (leaf, got) in enumerate(zip(leaves, analytic)):
        numeric = np.zeros_like(leaf.data)
        flat = leaf.data.reshape(-1)  # a view: perturbing it perturbs the input in place
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = scalar(*[Tensor(x.data, requires_grad=True) for x in leaves]).item()
            flat[k] = original - eps
            minus = scalar(*[Tensor(x.data, requires_grad=True) for x in leaves]).item()
            flat[k] = original
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        error = np.abs(got - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(int(np.argmax(error)), error.shape)
            raise GradcheckError(
                f"gradcheck: input {position} (shape {leaf.shape}) element {tuple(int(i) for i in worst)}: "
                f"analytic {float(got[worst])!r} vs numerical {float(numeric[worst])!r} "
                f"(atol={atol}, rtol={rtol}, eps={eps})"
            )
    return True


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x
