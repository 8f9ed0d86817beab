"""The linear algebra, contractions and new elementwise functions against PyTorch in float64:
values and gradients (first and second order). Skipped, with a message, where torch is not
installed (CI): ``tests/test_linalg.py`` checks the same functions against NumPy and finite
differences and always runs."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor
from autograd_np import linalg as LA

torch = pytest.importorskip("torch", reason="torch is not installed: the PyTorch comparisons are skipped "
                            "(tests/test_linalg.py checks the same functions by NumPy and finite differences)")

rng = np.random.default_rng(1)


def _near_3i(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape + shape[-1:]) + 3 * np.eye(shape[-1])


def _n(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def _spd(x):  # works on both libraries' tensors
    return x @ x.swapaxes(-1, -2) + 3 * np.eye(x.shape[-1]) if isinstance(x, Tensor) else (
        x @ x.transpose(-1, -2) + 3 * torch.eye(x.shape[-1], dtype=torch.float64))


def _sym(x):
    return (x + x.swapaxes(-1, -2)) * 0.5 if isinstance(x, Tensor) else (x + x.transpose(-1, -2)) * 0.5


def _fixed(v):  # columns with a positive first entry (their sign is arbitrary in both libraries)
    if isinstance(v, Tensor):
        return v * np.sign(v.data[..., :1, :])
    return v * torch.sign(v[..., :1, :].detach())


#: name -> (engine function, torch function, inputs); each function maps tensors to one tensor.
PAIRS: dict[str, tuple[Callable, Callable, list[np.ndarray]]] = {
    "solve": (LA.solve, torch.linalg.solve, [_near_3i(2, 3), _n(2, 3, 2)]),
    "inv": (LA.inv, torch.linalg.inv, [_near_3i(2, 3)]),
    "det": (LA.det, torch.linalg.det, [_n(2, 3, 3)]),
    "slogdet": (lambda a: LA.slogdet(a)[1], lambda a: torch.linalg.slogdet(a)[1], [_n(2, 3, 3)]),
    "cholesky": (lambda x: LA.cholesky(_spd(x)), lambda x: torch.linalg.cholesky(_spd(x)), [_n(2, 3, 3)]),
    "eigh values": (lambda x: LA.eigh(_sym(x))[0], lambda x: torch.linalg.eigh(_sym(x))[0], [_n(2, 3, 3)]),
    "eigh vectors": (lambda x: _fixed(LA.eigh(_sym(x))[1]), lambda x: _fixed(torch.linalg.eigh(_sym(x))[1]),
                     [_n(3, 3)]),
    "svd values": (LA.svdvals, torch.linalg.svdvals, [_n(2, 4, 3)]),
    "svd U": (lambda x: _fixed(LA.svd(x, False)[0]), lambda x: _fixed(torch.linalg.svd(x, False)[0]), [_n(4, 3)]),
    "qr": (lambda x: LA.qr(x)[0] @ LA.qr(x)[1].exp(), lambda x: torch.linalg.qr(x)[0] @ torch.linalg.qr(x)[1].exp(),
           [_n(4, 3)]),
    "norm": (LA.norm, torch.linalg.norm, [_n(3, 4)]),
    "vector_norm ord 3 dim 1": (lambda x: LA.vector_norm(x, 3, dim=1), lambda x: torch.linalg.vector_norm(x, 3, dim=1),
                                [_n(3, 4)]),
    "matrix_norm nuc": (lambda x: LA.matrix_norm(x, "nuc"), lambda x: torch.linalg.matrix_norm(x, "nuc"), [_n(3, 4)]),
    "matrix_norm 2": (lambda x: LA.matrix_norm(x, 2), lambda x: torch.linalg.matrix_norm(x, 2), [_n(3, 4)]),
    "einsum": (lambda a, b: ag.einsum("bij,bjk->bik", a, b), lambda a, b: torch.einsum("bij,bjk->bik", a, b),
               [_n(2, 3, 4), _n(2, 4, 2)]),
    "einsum diagonal": (lambda a: ag.einsum("ii->i", a), lambda a: torch.einsum("ii->i", a), [_n(3, 3)]),
    "tensordot": (lambda a, b: ag.tensordot(a, b, dims=([1], [0])), lambda a, b: torch.tensordot(a, b, dims=([1], [0])),
                  [_n(2, 3), _n(3, 4)]),
    "outer": (ag.outer, torch.outer, [_n(3), _n(4)]),
    "inner": (ag.inner, torch.inner, [_n(2, 3), _n(4, 3)]),
    "kron": (ag.kron, torch.kron, [_n(2, 3), _n(2, 2)]),
    "trace": (lambda x: x.trace(), lambda x: x.trace(), [_n(3, 3)]),
    "diagonal": (lambda x: x.diagonal(1, 0, 1), lambda x: x.diagonal(1, 0, 1), [_n(3, 4)]),
    "diag": (lambda v: ag.diag(v, 1), lambda v: torch.diag(v, 1), [_n(3)]),
    "prod with a zero": (lambda x: (x * np.array([1.0, 0.0, 1.0])).prod(), lambda x: (x * torch.tensor([1.0, 0.0, 1.0],
                         dtype=torch.float64)).prod(), [_n(3)]),
    "cumprod": (lambda x: x.cumprod(1), lambda x: x.cumprod(1), [_n(3, 4)]),
    "roll": (lambda x: x.roll(1, 0), lambda x: x.roll(1, 0), [_n(3, 4)]),
    "remainder": (lambda a, b: a % b, lambda a, b: a % b, [_n(5), np.abs(_n(5)) + 0.5]),
    "fmod": (lambda a, b: a.fmod(b), lambda a, b: a.fmod(b), [_n(5), np.abs(_n(5)) + 0.5]),
    "hypot": (ag.hypot, torch.hypot, [_n(4), _n(4)]),
    "elementwise": (lambda x: x.tan() + x.sinh() + x.cosh() + x.arctan() + x.arcsin() + x.arccos() + x.arctanh()
                    + x.log1p() + x.expm1() + x.exp2() + (x + 2).log2() + (x + 2).log10(),
                    lambda x: x.tan() + x.sinh() + x.cosh() + x.arctan() + x.arcsin() + x.arccos() + x.arctanh()
                    + x.log1p() + x.expm1() + x.exp2() + (x + 2).log2() + (x + 2).log10(),
                    [rng.uniform(-0.9, 0.9, 5)]),
    "moveaxis": (lambda x: x.moveaxis(0, -1), lambda x: x.moveaxis(0, -1), [_n(2, 3, 4)]),
    "vstack": (lambda a, b: ag.vstack([a, b]), lambda a, b: torch.vstack([a, b]), [_n(3), _n(2, 3)]),
    "hstack": (lambda a, b: ag.hstack([a, b]), lambda a, b: torch.hstack([a, b]), [_n(2, 3), _n(2, 1)]),
    "dstack": (lambda a, b: ag.dstack([a, b]), lambda a, b: torch.dstack([a, b]), [_n(2, 3), _n(2, 3)]),
    "column_stack": (lambda a, b: ag.column_stack([a, b]), lambda a, b: torch.column_stack([a, b]), [_n(3), _n(3, 2)]),
    "atleast_3d": (ag.atleast_3d, torch.atleast_3d, [_n(4)]),
    "array_split": (lambda x: ag.array_split(x, 3)[1] * 2 + ag.array_split(x, 3)[0],
                    lambda x: torch.tensor_split(x, 3)[1] * 2 + torch.tensor_split(x, 3)[0], [_n(8)]),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_values_and_gradients_as_pytorch(name: str) -> None:
    ours, theirs, inputs = PAIRS[name]
    xs = [Tensor(x, requires_grad=True) for x in inputs]
    ts = [torch.tensor(x, requires_grad=True) for x in inputs]
    out, expected = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    expected.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["solve", "inv", "det", "slogdet", "cholesky", "eigh values", "eigh vectors",
                                  "svd values", "svd U", "qr", "norm", "matrix_norm nuc"])
def test_second_order_as_pytorch(name: str) -> None:
    """The gradient of <c, ∇ Σ tanh(f)> (a Hessian-vector product) as PyTorch's."""
    ours, theirs, inputs = PAIRS[name]
    xs = [Tensor(x, requires_grad=True) for x in inputs]
    ts = [torch.tensor(x, requires_grad=True) for x in inputs]
    cs = [rng.standard_normal(x.shape) for x in inputs]
    first = ag.grad(ours(*xs).tanh().sum(), xs, create_graph=True)
    sum(((f * c).sum() for f, c in zip(first, cs)), Tensor(0.0)).backward()
    first_t = torch.autograd.grad(theirs(*ts).tanh().sum(), ts, create_graph=True)
    sum((f * torch.tensor(c)).sum() for f, c in zip(first_t, cs)).backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-7, atol=1e-9)


def test_triangle_indices_as_pytorch() -> None:
    for offset in (-1, 0, 2):
        np.testing.assert_array_equal(ag.triu_indices(3, 4, offset).data, torch.triu_indices(3, 4, offset).numpy())
        np.testing.assert_array_equal(ag.tril_indices(4, 3, offset).data, torch.tril_indices(4, 3, offset).numpy())


def test_the_norm_at_zero_as_pytorch() -> None:
    x, t = Tensor(np.zeros(3), requires_grad=True), torch.zeros(3, dtype=torch.float64, requires_grad=True)
    LA.norm(x).backward()
    torch.linalg.norm(t).backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_pytorch_refuses_what_the_engine_refuses() -> None:
    """matmul with a 0-d operand, cat of 0-d tensors and dot of non-vectors: PyTorch 2.13 refuses them all."""
    for call in (lambda: torch.tensor(2.0) @ torch.ones(3), lambda: torch.cat([torch.tensor(1.0), torch.tensor(2.0)]),
                 lambda: torch.ones(2, 3).dot(torch.ones(3)), lambda: torch.ones(3).dot(torch.ones(1))):
        with pytest.raises(RuntimeError):
            call()
