"""Every path of ``kernels.scatter_add`` (the VJP of indexing and gather), with repeated indices.

``scatter_add`` picks one of five ways to add g into zeros at ``index``: the one-hot
product (integer rows of a table of at most 256 rows, BLAS floats, finite g), plain
assignment for a basic index, for strictly increasing rows and for a boolean mask,
and ``np.add.at`` for everything else. A shortcut taken where an index repeats gives
a silently wrong gradient, so each case below is checked against ``np.add.at`` and
through ``getitem``/``gather``'s gradient, and the table must reach every path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, strategies as st

from autograd_np import Tensor, kernels, ops
from autograd_np.primitives import is_basic_index

from helpers import check, seeds

PATHS = ("one-hot product", "basic assignment", "distinct rows", "mask assignment", "np.add.at")


def path_of(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> str:
    """Which path ``kernels.scatter_add`` takes (its own predicates, in its order)."""
    if kernels._rows_of_small_table(g, index, shape):
        return "one-hot product"
    if is_basic_index(index):
        return "basic assignment"
    if kernels._distinct_rows(index):
        return "distinct rows"
    if kernels._is_mask(index):
        return "mask assignment"
    return "np.add.at"


def reference(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, index, g)
    return out


def assert_same_sums(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to the order of the additions (the one-hot product sums in BLAS's order)."""
    eps = float(np.finfo(expected.dtype).eps)
    np.testing.assert_allclose(got, expected, rtol=16 * eps, atol=16 * eps)


@dataclass(frozen=True)
class Case:
    label: str
    shape: tuple[int, ...]
    index: Any
    path: str
    dtype: Any = np.float64
    scale: float = 1.0  # multiplies the incoming gradient (inf: a non-finite gradient)

    def gradient(self) -> np.ndarray:
        values = np.random.default_rng(len(self.label)).standard_normal(np.zeros(self.shape)[self.index].shape)
        if not np.isfinite(self.scale):  # one sign: inf + -inf at a repeat would be a NaN by rights
            values = np.abs(values)
        return (values * self.scale).astype(self.dtype)


_LONG = np.sort(np.random.default_rng(0).integers(0, 256, 70_000))  # 256 rows x 70,000 picks: past the product's limit
_MASK300 = np.arange(300) % 7 == 3

CASES = [
    # small tables (<= 256 rows): the one-hot product, unless g is not a finite BLAS float
    Case("small, sorted repeats", (5, 4), np.array([1, 1, 2]), "one-hot product"),
    Case("small, unsorted repeats, float32", (5, 4), np.array([3, 0, 3, 3]), "one-hot product", np.float32),
    Case("small, 2-D index (embedding)", (6, 3), np.array([[1, 1], [4, 1]]), "one-hot product"),
    Case("small, negative and positive name one row", (5, 2), np.array([-1, 4, 0]), "one-hot product"),
    Case("small, 1-D table", (5,), np.array([2, 2, 0]), "one-hot product"),
    Case("small, 256 rows", (256, 2), np.array([255, 0, 255]), "one-hot product"),
    Case("small, infinite gradient", (5, 2), np.array([1, 1, 3]), "np.add.at", scale=np.inf),
    Case("small, infinite gradient, sorted distinct", (5, 2), np.array([0, 1, 3]), "distinct rows", scale=np.inf),
    Case("small, longdouble, sorted repeats", (5, 2), np.array([1, 1, 2]), "np.add.at", np.longdouble),
    Case("small, float16, unsorted repeats", (5, 2), np.array([2, 0, 2]), "np.add.at", np.float16),
    Case("small, longdouble, sorted distinct", (5, 2), np.array([0, 2, 4]), "distinct rows", np.longdouble),
    Case("small, too many picks, sorted repeats", (256,), _LONG, "np.add.at"),
    # large tables (> 256 rows)
    Case("large, sorted repeats", (300, 4), np.array([1, 1, 2]), "np.add.at"),
    Case("large, sorted repeats, float32", (300, 4), np.array([0, 7, 7, 7, 299]), "np.add.at", np.float32),
    Case("large, sorted distinct", (300, 4), np.array([1, 2, 299]), "distinct rows"),
    Case("large, unsorted repeats", (300, 4), np.array([5, 1, 5]), "np.add.at"),
    Case("large, increasing but negative first (one row twice)", (300, 2), np.array([-300, 0]), "np.add.at"),
    Case("large, increasing negatives", (300, 2), np.array([-3, -2, -1]), "np.add.at"),
    Case("large, 2-D index with increasing rows", (300, 2), np.array([[0, 1], [1, 2]]), "np.add.at"),
    Case("large, 2-D index", (300, 3), np.array([[1, 1], [2, 299]]), "np.add.at"),
    Case("large, 1-D table, sorted repeats", (300,), np.array([4, 4]), "np.add.at"),
    Case("large, tuple of arrays", (300, 4), (np.array([1, 1, 2]), np.array([0, 0, 3])), "np.add.at"),
    Case("large, array and int", (300, 4), (np.array([1, 1]), 2), "np.add.at"),
    Case("large, slice and array", (300, 4), (slice(None), np.array([3, 3, 0])), "np.add.at"),
    Case("small, tuple of arrays", (4, 4), (np.array([1, 1, 2]), np.array([0, 0, 3])), "np.add.at"),
    # indices that pick each position at most once
    Case("large, boolean mask", (300, 2), _MASK300, "mask assignment"),
    Case("small, boolean mask", (5, 2), np.array([True, False, True, True, False]), "mask assignment"),
    Case("large, basic slice", (300, 2), (slice(1, 250, 3),), "basic assignment"),
    Case("large, int, None and Ellipsis", (300, 2), (7, None, Ellipsis), "basic assignment"),
]


def test_the_cases_reach_every_path() -> None:
    reached = {path_of(c.gradient(), c.index, c.shape) for c in CASES}
    assert reached == set(PATHS), f"paths not reached: {set(PATHS) - reached}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_scatter_add_path_and_value(case: Case) -> None:
    g = case.gradient()
    assert path_of(g, case.index, case.shape) == case.path
    got = kernels.scatter_add(g, case.index, case.shape)
    assert got.dtype == g.dtype and got.shape == case.shape
    assert_same_sums(got, reference(g, case.index, case.shape))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_indexing_gradient_adds_up_repeats(case: Case) -> None:
    """The same through the engine: x[index] with the case's gradient flowing back."""
    g = case.gradient()
    x = Tensor(np.zeros(case.shape, dtype=case.dtype), requires_grad=True)
    x[case.index].backward(g)
    assert_same_sums(x.grad, reference(g, case.index, case.shape))


def test_repeated_sorted_rows_of_a_large_table_by_finite_differences() -> None:
    """Sorted repeated rows of a table past the one-hot product's 256 rows: what a distinct-rows
    shortcut that let equal neighbours through would get wrong."""
    x = np.random.default_rng(1).standard_normal((300, 4))
    t = Tensor(x, requires_grad=True)
    (t[np.array([1, 1, 2])] * np.arange(12.0).reshape(3, 4)).sum().backward()
    expected = np.zeros((300, 4))
    expected[1] = np.arange(4.0) + np.arange(4.0, 8.0)
    expected[2] = np.arange(8.0, 12.0)
    np.testing.assert_array_equal(t.grad, expected)
    assert check(lambda u: u[np.array([1, 1, 2])][:, :2] ** 2, x[:3].repeat(100, axis=0))


def test_gather_with_repeats_on_a_large_table() -> None:
    x = Tensor(np.zeros((300, 2)), requires_grad=True)
    index = np.array([[5, 1], [5, 1], [0, 1]])
    x.gather(0, index).backward(np.ones((3, 2)))
    expected = np.zeros((300, 2))
    expected[5, 0], expected[0, 0], expected[1, 1] = 2.0, 1.0, 3.0
    np.testing.assert_array_equal(x.grad, expected)


@st.composite
def table_and_rows(draw: Any) -> tuple[tuple[int, ...], np.ndarray]:
    rows = draw(st.sampled_from([3, 256, 257, 300]))
    picks = draw(st.lists(st.integers(-rows, rows - 1), min_size=1, max_size=8))
    if draw(st.booleans()):
        picks = sorted(picks)
    if draw(st.booleans()):  # one row picked twice in a row
        picks.insert(0, picks[0])
    shape = (rows,) + draw(st.sampled_from([(), (2,), (2, 3)]))
    index = np.array(picks)
    if draw(st.booleans()) and index.size % 2 == 0:
        index = index.reshape(2, -1)
    return shape, index


@given(spec=table_and_rows(), dtype=st.sampled_from([np.float64, np.float32, np.longdouble]), seed=seeds)
def test_scatter_add_matches_add_at(spec: tuple, dtype: Any, seed: int) -> None:
    shape, index = spec
    g = np.random.default_rng(seed).standard_normal(index.shape + shape[1:]).astype(dtype)
    assert_same_sums(ops.scatter_add(g, index=index, shape=shape), reference(g, index, shape))
