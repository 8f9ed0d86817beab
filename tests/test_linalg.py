"""Linear algebra, contractions, products and the new elementwise and shape functions: values
against NumPy, gradients against float64 finite differences (first and second order for the
linalg ops), batched inputs, and the edge cases (a singular matrix, the norm at 0, products
with zeros, repeated einsum letters, degenerate decompositions)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, func
from autograd_np import linalg as LA

from helpers import check, second_order

rng = np.random.default_rng(0)


def _sym(x: Tensor) -> Tensor:
    return (x + x.swapaxes(-1, -2)) * 0.5


def _spd(x: Tensor) -> Tensor:
    return x @ x.swapaxes(-1, -2) + 3 * np.eye(x.shape[-1])


def _sign_fixed(vectors: Tensor) -> Tensor:
    return vectors * np.sign(vectors.data[..., :1, :])


def _svd_parts(x: Tensor) -> Tensor:
    u, s, vh = LA.svd(x, full_matrices=False)
    signs = np.sign(u.data[..., :1, :])
    return ag.cat([(u * signs).reshape(-1), (vh * signs.swapaxes(-1, -2)).reshape(-1), s.reshape(-1)])


def _n(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def _near_3i(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape + shape[-1:]) + 3 * np.eye(shape[-1])


# ----------------------------------------------------------------------------
# Values: as NumPy, batched
# ----------------------------------------------------------------------------
VALUES: dict[str, tuple[Callable, Callable, list[np.ndarray]]] = {
    "solve matrix b, batched A": (LA.solve, np.linalg.solve, [_near_3i(2, 3), _n(2, 3, 2)]),
    "solve vector b": (LA.solve, np.linalg.solve, [_near_3i(3), _n(3)]),
    "inv batched": (LA.inv, np.linalg.inv, [_near_3i(4, 3)]),
    "det batched": (LA.det, np.linalg.det, [_n(2, 2, 3, 3)]),
    "slogdet": (lambda a: LA.slogdet(a).logabsdet, lambda a: np.linalg.slogdet(a)[1], [_n(3, 4, 4)]),
    "slogdet sign": (lambda a: LA.slogdet(a).sign, lambda a: np.linalg.slogdet(a)[0], [_n(3, 4, 4)]),
    "cholesky": (lambda x: LA.cholesky(_spd(x)), lambda x: np.linalg.cholesky(x @ x.swapaxes(-1, -2) + 3 * np.eye(3)),
                 [_n(2, 3, 3)]),
    "eigh values": (lambda a: LA.eigh(a)[0], lambda a: np.linalg.eigh(a)[0], [_n(2, 4, 4)]),
    "eigh vectors": (lambda a: LA.eigh(a)[1], lambda a: np.linalg.eigh(a)[1], [_n(2, 4, 4)]),
    "svd full U": (lambda a: LA.svd(a)[0], lambda a: np.linalg.svd(a)[0], [_n(2, 5, 3)]),
    "svd full Vh": (lambda a: LA.svd(a)[2], lambda a: np.linalg.svd(a)[2], [_n(2, 3, 5)]),
    "svd reduced U": (lambda a: LA.svd(a, False)[0], lambda a: np.linalg.svd(a, False)[0], [_n(5, 3)]),
    "svd values": (lambda a: LA.svd(a, compute_uv=False), lambda a: np.linalg.svd(a, compute_uv=False), [_n(5, 3)]),
    "qr Q": (lambda a: LA.qr(a)[0], lambda a: np.linalg.qr(a)[0], [_n(2, 5, 3)]),
    "qr R": (lambda a: LA.qr(a)[1], lambda a: np.linalg.qr(a)[1], [_n(2, 5, 3)]),
    "norm default": (LA.norm, np.linalg.norm, [_n(2, 3, 4)]),
    "norm ord 1 axis 0": (lambda x: LA.norm(x, 1, 0), lambda x: np.linalg.norm(x, 1, 0), [_n(3, 4)]),
    "norm ord inf vector": (lambda x: LA.norm(x, np.inf), lambda x: np.linalg.norm(x, np.inf), [_n(5)]),
    "norm ord -inf vector": (lambda x: LA.norm(x, -np.inf), lambda x: np.linalg.norm(x, -np.inf), [_n(5)]),
    "norm ord 0 vector": (lambda x: LA.norm(x, 0), lambda x: np.linalg.norm(x, 0), [np.array([0.0, 1.0, -2.0])]),
    "norm ord 0.5 vector": (lambda x: LA.norm(x, 0.5), lambda x: np.linalg.norm(x, 0.5), [_n(5)]),
    "norm fro keepdims": (lambda x: LA.norm(x, "fro", (0, 2), True), lambda x: np.linalg.norm(x, "fro", (0, 2), True),
                          [_n(2, 3, 4)]),
    "norm nuc": (lambda x: LA.norm(x, "nuc"), lambda x: np.linalg.norm(x, "nuc"), [_n(3, 4)]),
    "norm 2 and -2": (lambda x: LA.norm(x, 2) + LA.norm(x, -2), lambda x: np.linalg.norm(x, 2) + np.linalg.norm(x, -2),
                      [_n(3, 4)]),
    "norm 1 -1 inf -inf (matrix)": (
        lambda x: LA.norm(x, 1) + 2 * LA.norm(x, -1) + 3 * LA.norm(x, np.inf) + 4 * LA.norm(x, -np.inf),
        lambda x: np.linalg.norm(x, 1) + 2 * np.linalg.norm(x, -1) + 3 * np.linalg.norm(x, np.inf)
        + 4 * np.linalg.norm(x, -np.inf), [_n(3, 4)]),
    "matrix_norm batched axes (2, 0)": (lambda x: LA.matrix_norm(x, np.inf, (2, 0)),
                                        lambda x: np.linalg.norm(x, np.inf, (2, 0)), [_n(3, 4, 5)]),
    "einsum implicit ...": (lambda a, b: ag.einsum("...ij,...jk", a, b), lambda a, b: np.einsum("...ij,...jk", a, b),
                            [_n(2, 1, 3, 4), _n(5, 4, 2)]),
    "einsum trace implicit": (lambda a: ag.einsum("ii", a), lambda a: np.einsum("ii", a), [_n(4, 4)]),
    "einsum list form": (lambda a, b: ag.einsum("ij,j", [a, b]), lambda a, b: np.einsum("ij,j", a, b), [_n(3, 4), _n(4)]),
    "tensordot int axes": (lambda a, b: ag.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1), [_n(2, 3), _n(3, 4)]),
    "np.dot 3-D": (np.dot, lambda a, b: np.dot(a, b), [_n(2, 3, 4), _n(5, 4, 2)]),
    "kron 2-D": (ag.kron, np.kron, [_n(2, 3), _n(3, 2)]),
    "trace offset": (lambda x: np.trace(x, 1), lambda x: np.trace(x, 1), [_n(3, 4)]),
    "diag k=-1": (lambda v: np.diag(v, -1), lambda v: np.diag(v, -1), [_n(3)]),
    "cumprod": (lambda x: np.cumprod(x, axis=0), lambda x: np.cumprod(x, axis=0), [_n(4, 3)]),
    "remainder negative divisor": (lambda a, b: a % b, np.remainder, [_n(5), -np.abs(_n(5)) - 0.5]),
    "vstack 1-D": (lambda a, b: ag.vstack([a, b]), lambda a, b: np.vstack([a, b]), [_n(3), _n(3)]),
    "atleast_3d": (ag.atleast_3d, np.atleast_3d, [_n(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_values_as_numpy(name: str) -> None:
    fn, numpy, inputs = VALUES[name]
    out = fn(*[Tensor(x, requires_grad=True) for x in inputs])
    np.testing.assert_allclose(np.asarray(out.data), numpy(*inputs), rtol=1e-10, atol=1e-12)


def test_np_linalg_on_tensors_records_the_ops() -> None:
    a = Tensor(_near_3i(3), requires_grad=True)
    assert np.linalg.solve(a, np.ones(3)).op == "reshape"
    assert np.linalg.inv(a).op == "inv" and np.linalg.det(a).op == "det" and a.det().op == "det"
    assert np.linalg.norm(a).op == "vector_norm" and np.linalg.svd(a)[1].op == "svd"
    assert np.linalg.eigh(_sym(a)).eigenvalues.op == "eigh" and np.linalg.cholesky(_spd(a)).op == "cholesky"
    np.testing.assert_allclose(np.linalg.cholesky(_spd(a), upper=True).data,
                               np.linalg.cholesky(_spd(a).data, upper=True))


# ----------------------------------------------------------------------------
# Gradients: finite differences, first and second order, batched
# ----------------------------------------------------------------------------
GRADIENTS: dict[str, tuple[Callable, list[np.ndarray]]] = {
    "solve": (LA.solve, [_near_3i(2, 3), _n(3, 2)]),
    "solve vector": (LA.solve, [_near_3i(3), _n(3)]),
    "inv": (LA.inv, [_near_3i(2, 3)]),
    "det": (LA.det, [_n(2, 3, 3)]),
    "slogdet": (lambda a: LA.slogdet(a)[1], [_n(2, 3, 3)]),
    "cholesky": (lambda x: LA.cholesky(_spd(x)), [_n(2, 3, 3)]),
    "eigh values": (lambda x: LA.eigh(_sym(x))[0], [_n(2, 3, 3)]),
    "eigh vectors": (lambda x: _sign_fixed(LA.eigh(_sym(x))[1]), [_n(2, 3, 3)]),
    "svd tall": (_svd_parts, [_n(2, 4, 3)]),
    "svd wide": (_svd_parts, [_n(3, 4)]),
    "svd square full": (lambda x: _sign_fixed(LA.svd(x)[0]), [_n(3, 3)]),
    "qr tall, batched": (lambda x: ag.cat([LA.qr(x).Q.reshape(-1), LA.qr(x).R.reshape(-1)]), [_n(2, 4, 3)]),
    "qr square": (lambda x: LA.qr(x).Q, [_n(3, 3)]),
    "norm fro": (LA.norm, [_n(3, 4)]),
    "norm ord 3 axis 1": (lambda x: LA.norm(x, 3, 1), [_n(3, 4)]),
    "norm nuc": (lambda x: LA.norm(x, "nuc"), [_n(3, 4)]),
    "norm 2": (lambda x: LA.norm(x, 2), [_n(4, 3)]),
    "einsum bij,bjk": (lambda a, b: ag.einsum("bij,bjk->bik", a, b), [_n(2, 3, 4), _n(2, 4, 2)]),
    "einsum ii->i": (lambda a: ag.einsum("ii->i", a), [_n(3, 3)]),
    "einsum iji->j": (lambda a: ag.einsum("iji->j", a), [_n(3, 2, 3)]),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_first_order(name: str) -> None:
    fn, inputs = GRADIENTS[name]
    assert check(fn, *inputs)


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_second_order(name: str) -> None:
    """The VJPs are written with ops: differentiated again under create_graph (Hessian-vector products)."""
    fn, inputs = GRADIENTS[name]
    assert check(second_order(fn), *inputs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_forward_mode_agrees_with_reverse_mode(name: str) -> None:
    """The Jacobian by JVPs (jacfwd) equals the Jacobian by VJPs (jacrev)."""
    fn, inputs = GRADIENTS[name]
    for k in range(len(inputs)):
        def of_one(x: Any, k: int = k) -> Tensor:
            return fn(*inputs[:k], x, *inputs[k + 1:])

        np.testing.assert_allclose(func.jacfwd(of_one)(inputs[k]).data, func.jacrev(of_one)(inputs[k]).data,
                                   rtol=1e-8, atol=1e-10)


# ----------------------------------------------------------------------------
# Edge cases
# ----------------------------------------------------------------------------
def test_a_singular_matrix_is_a_clear_error() -> None:
    singular = Tensor(np.ones((3, 3)), requires_grad=True)
    for call, name in [(lambda: LA.solve(singular, np.ones(3)), "solve"), (lambda: LA.inv(singular), "inv")]:
        with pytest.raises(LA.LinAlgError, match=rf"^{name}: the matrix of shape \(3, 3\) is singular"):
            call()
    with pytest.raises(ValueError, match=r"cholesky: the matrix of shape \(2, 2\) is not positive definite"):
        LA.cholesky(Tensor(-np.eye(2)))
    with pytest.raises(ValueError, match=r"det: needs a square matrix .* got shape \(2, 3\)"):
        LA.det(Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"solve: A of shape \(3, 3\) and B of shape \(2, 1\) do not align"):
        LA.solve(Tensor(np.eye(3)), np.ones(2))


@pytest.mark.parametrize("matrix", [
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]]),  # rank 2
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]]),  # rank 1: every cofactor is 0
    np.zeros((2, 2)),
])
def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix(matrix: np.ndarray) -> None:
    a = Tensor(np.stack([matrix, np.eye(len(matrix)) * 2]), requires_grad=True)  # a batch: singular and not
    LA.det(a).sum().backward()
    n = len(matrix)
    cofactors = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(matrix, i, 0), j, 1)) if n > 1 else 1.0
                           for j in range(n)] for i in range(n)])
    np.testing.assert_allclose(a.grad[0], cofactors, atol=1e-12)
    np.testing.assert_allclose(a.grad[1], np.eye(n) * 2 ** (n - 1), atol=1e-12)
    assert check(LA.det, a.data)


def test_the_2_norm_at_zero_has_gradient_zero_as_pytorch() -> None:
    for norm in (LA.norm, lambda t: LA.vector_norm(t, 2, axis=1), lambda t: t.norm(), lambda t: LA.norm(t, "fro")):
        x = Tensor(np.zeros((2, 3)), requires_grad=True)
        norm(x).sum().backward()
        np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))
    x = Tensor(np.array([[0.0, 0.0], [3.0, 4.0]]), requires_grad=True)
    LA.vector_norm(x, axis=1).sum().backward()  # one row at 0, one away from it
    np.testing.assert_allclose(x.grad, [[0.0, 0.0], [0.6, 0.8]])


@pytest.mark.parametrize("values, expected", [
    ([2.0, 0.0, 3.0, 4.0], [0.0, 24.0, 0.0, 0.0]),  # one zero: the product of the others there
    ([2.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]),  # two zeros: every product of the others has a zero
    ([2.0, 5.0, 3.0, 4.0], [60.0, 24.0, 40.0, 30.0]),
])
def test_prod_gradient_with_zeros(values: list[float], expected: list[float]) -> None:
    x = Tensor(np.array(values), requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad, expected)
    assert check(lambda t: t.prod(), np.array(values))


def test_cumprod_gradient_with_zeros() -> None:
    values = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    x = Tensor(values, requires_grad=True)
    g = np.array([1.0, -2.0, 0.5, 3.0, 1.5])
    x.cumprod(0).backward(g)
    # dx_j = sum_{i >= j} g_i prod_{k <= i, k != j} x_k
    expected = [sum(g[i] * np.prod(np.delete(values[:i + 1], j)) for i in range(j, 5)) for j in range(5)]
    np.testing.assert_allclose(x.grad, expected)
    assert check(lambda t: t.cumprod(0), values)


def test_einsum_repeated_letters_put_the_gradient_on_the_diagonal() -> None:
    a = Tensor(_n(3, 3), requires_grad=True)
    g = _n(3)
    ag.einsum("ii->i", a).backward(g)
    np.testing.assert_array_equal(a.grad, np.diag(g))
    b = Tensor(_n(3, 3), requires_grad=True)
    ag.einsum("ii", b).backward()
    np.testing.assert_array_equal(b.grad, np.eye(3))


def test_qr_of_a_wide_matrix_has_values_but_no_gradient() -> None:
    x = Tensor(_n(2, 4), requires_grad=True)
    q, r = LA.qr(x)
    np.testing.assert_allclose(r.data, np.linalg.qr(x.data)[1])
    with pytest.raises(NotImplementedError, match=r"qr: no gradient for a wide matrix \(shape \(2, 4\), m < n\)"):
        r.sum().backward()


def test_triangle_indices_pick_the_triangle_with_its_gradient() -> None:
    x = Tensor(_n(3, 4), requires_grad=True)
    upper = ag.triu_indices(3, 4, 1)
    assert upper.dtype == np.int64 and not upper.requires_grad
    x[upper[0], upper[1]].sum().backward()
    np.testing.assert_array_equal(x.grad, np.triu(np.ones((3, 4)), 1))
    np.testing.assert_array_equal(ag.tril_indices(3, 3).data, np.stack(np.tril_indices(3)))


def test_einsum_rejects_bad_subscripts_naming_them() -> None:
    with pytest.raises(ValueError, match=r"einsum: 'ijk' names 3 axes but the operand has shape \(2, 3\)"):
        ag.einsum("ijk->i", Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"einsum: 'ij,jk' names 2 operands, got 1"):
        ag.einsum("ij,jk", Tensor(np.ones((2, 3))))


def test_eigh_with_repeated_eigenvalues_keeps_the_eigenvalue_gradient() -> None:
    """Degenerate eigenvalues: w's gradient is defined (and right); the vectors' is not (documented)."""
    a = Tensor(np.diag([1.0, 1.0, 2.0]), requires_grad=True)
    LA.eigh(a).eigenvalues.sum().backward()  # d(trace)/dA = I
    np.testing.assert_allclose(a.grad, np.eye(3), atol=1e-12)


def test_svd_full_matrices_ignores_the_extra_columns_gradient() -> None:
    x = _n(4, 2)
    full, reduced = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    g = _n(4, 4)
    LA.svd(full)[0].backward(g)
    LA.svd(reduced, full_matrices=False)[0].backward(g[:, :2])
    np.testing.assert_allclose(full.grad, reduced.grad)


# ----------------------------------------------------------------------------
# PyTorch's spellings: %, dot, matmul and cat of 0-d tensors
# ----------------------------------------------------------------------------
def test_modulo_operator_on_tensors() -> None:
    a = Tensor(np.array([5.5, -5.5, 2.0]), requires_grad=True)
    np.testing.assert_allclose((a % 2).data, np.array([5.5, -5.5, 2.0]) % 2)
    np.testing.assert_allclose((7.0 % a).data, 7.0 % np.array([5.5, -5.5, 2.0]))
    (a % 2).sum().backward()
    np.testing.assert_array_equal(a.grad, np.ones(3))


def test_dot_follows_pytorch() -> None:
    a, b = Tensor(_n(3), requires_grad=True), Tensor(_n(3))
    np.testing.assert_allclose(a.dot(b).data, a.data @ b.data)
    with pytest.raises(RuntimeError, match=r"dot: 1-D tensors expected, but got shapes \(2, 3\) and \(3,\)"):
        Tensor(np.ones((2, 3))).dot(b)
    with pytest.raises(RuntimeError, match=r"dot: shapes \(3,\) and \(1,\) differ"):
        a.dot(Tensor(np.ones(1)))


def test_matmul_and_cat_of_0d_tensors_refuse_as_pytorch() -> None:
    """PyTorch 2.13 refuses both (RuntimeError); the engine refuses with the shapes named."""
    with pytest.raises(ValueError, match=r"matmul: shapes \(\) and \(3,\): matmul needs at least 1-D operands"):
        Tensor(2.0) @ Tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"concatenate: .*zero-dimensional"):
        ag.cat([Tensor(1.0), Tensor(2.0)])
    np.testing.assert_array_equal(ag.stack([Tensor(1.0), Tensor(2.0)]).data, [1.0, 2.0])  # stack takes them


# ----------------------------------------------------------------------------
# einsum on random subscripts: values as NumPy, gradients by finite differences
# ----------------------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

SIZES = {"a": 2, "b": 3, "c": 1, "d": 2}


@st.composite
def einsum_programs(draw: Any) -> tuple[str, list[tuple[int, ...]]]:
    """Up to three operands of 0-3 letters from 'abcd' (repeats allowed), explicit or implicit output,
    and sometimes a leading '...' of broadcast axes (of different lengths: (1, 3) against (3,))."""
    letters = st.lists(st.sampled_from("abcd"), min_size=0, max_size=3).map("".join)
    terms = draw(st.lists(letters, min_size=1, max_size=3))
    batch = draw(st.sampled_from([None, (2,), (1, 3)]))
    shapes = []
    for k, term in enumerate(terms):
        lead = () if batch is None else batch[1:] if k % 2 else batch  # fewer leading axes broadcast too
        shapes.append(tuple(lead) + tuple(SIZES[c] for c in term))
    ellipsis = "..." if batch is not None else ""
    inputs = ",".join(ellipsis + t for t in terms)
    if draw(st.booleans()):
        return inputs, shapes
    present = sorted(set("".join(terms)))
    out = draw(st.lists(st.sampled_from(present), unique=True).map("".join)) if present else ""
    return inputs + "->" + ellipsis + out, shapes


@settings(max_examples=60, deadline=None)
@given(program=einsum_programs(), seed=st.integers(0, 2**16))
def test_einsum_random_subscripts(program: tuple[str, list[tuple[int, ...]]], seed: int) -> None:
    subscripts, shapes = program
    r = np.random.default_rng(seed)
    inputs = [r.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(ag.einsum(subscripts, *map(Tensor, inputs)).data, np.einsum(subscripts, *inputs),
                               rtol=1e-12, atol=1e-12)
    assert check(lambda *xs: ag.einsum(subscripts, *xs), *inputs)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.sampled_from([0.0, 0.5, -1.5, 2.0, 3.0]), min_size=1, max_size=6),
       seed=st.integers(0, 2**16))
def test_prod_and_cumprod_gradients_with_any_zeros(values: list[float], seed: int) -> None:
    """Against the definition, Σ_{i ≥ j} G_i Π_{k ≤ i, k ≠ j} x_k, with zeros anywhere (no division)."""
    x = np.array(values)
    n = len(x)
    g = np.random.default_rng(seed).standard_normal(n)
    expected = [sum(g[i] * np.prod(np.delete(x[:i + 1], j)) for i in range(j, n)) for j in range(n)]
    t = Tensor(x, requires_grad=True)
    t.cumprod(0).backward(g)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12, atol=1e-12)
    t = Tensor(x, requires_grad=True)
    t.prod().backward()
    np.testing.assert_allclose(t.grad, [np.prod(np.delete(x, j)) for j in range(n)], rtol=1e-12, atol=1e-12)
