"""Shared helpers for the test suite: random inputs, strategies, graph inspection.

Values are drawn from a NumPy generator seeded by hypothesis (fast, and still
reproducible/shrinkable through the seed); hypothesis chooses the shapes,
axes and indices, which is where the interesting cases are.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograd_np import Tensor, concatenate, grad, gradcheck, topological_order

seeds = st.integers(0, 2**32 - 1)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def randn(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def positive(seed: int, shape: tuple[int, ...], low: float = 0.5, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def away_from_zero(seed: int, shape: tuple[int, ...], gap: float = 0.1) -> np.ndarray:
    """Random values with |x| >= gap (keeps finite differences off the kink of relu)."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * (gap + np.abs(rng.standard_normal(shape)))


def distinct(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.1 apart from each other: max has a unique winner, even after a 1e-6 nudge."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.1 + rng.uniform(-1, 1)).reshape(shape)


#: The suite's float64 gradcheck tolerances. gradcheck's defaults (rtol=1e-3, atol=1e-5) are
#: meant for any user function; with them a VJP off by 0.1% would pass. Central differences
#: with eps=1e-6 on these O(1) test functions are accurate to about 1e-9, so the suite asks
#: for agreement to 1e-6 relative, 1e-8 absolute.
TIGHT = {"rtol": 1e-6, "atol": 1e-8}


def check(fn: Callable[..., Tensor], *inputs: Any, **kwargs: Any) -> bool:
    """gradcheck in float64 with the suite's ``TIGHT`` tolerances, inputs given positionally."""
    return gradcheck(fn, list(inputs), **{**TIGHT, **kwargs})


def ops_in_graph(fn: Callable[..., Tensor], *inputs: Any) -> set[str]:
    """Names of the ops recorded when ``fn`` runs on float64 leaves that require grad."""
    leaves = [Tensor(np.array(x, dtype=np.float64), requires_grad=True) for x in inputs]
    out = fn(*leaves)
    return {node.op for node in topological_order(out) if node.op is not None}


def second_order(fn: Callable[..., Tensor], seed: int = 7) -> Callable[..., Tensor]:
    """The function ``xs -> ∇ Σ c ⊙ tanh(fn(xs))`` computed with ``create_graph=True``.

    Its own gradient (what gradcheck then checks) is a Hessian-vector product,
    which runs every VJP of ``fn`` on Tensors and differentiates through it.
    The outer tanh makes the function non-linear, so even linear ops have a
    gradient that still depends on the inputs. gradcheck evaluates the
    function on plain tensors for finite differences; inputs are promoted to
    leaves that require grad so ``grad`` can be called there as well.
    """

    def gradient(*xs: Tensor) -> Tensor:
        xs = [x if x.requires_grad else Tensor(x.data, requires_grad=True) for x in xs]
        out = fn(*xs)
        c = np.random.default_rng(seed).standard_normal(out.shape)
        scalar = (out.tanh() * c).sum()
        gs = grad(scalar, xs, create_graph=True)
        return _flat_concat(gs)

    return gradient


def _flat_concat(gs: list[Tensor]) -> Tensor:
    return concatenate([g.reshape(-1) for g in gs])
