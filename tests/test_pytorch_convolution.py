"""Convolution, pooling, activations and attention against PyTorch in float64: values and gradients.

Skipped (with the reason) where torch is not installed, as in CI: tests/test_convolution.py checks
the same functions against NumPy loops and finite differences, and always runs.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from autograd_np import Tensor, functional as F, nn

torch = pytest.importorskip("torch", reason="torch is optional: tests/test_convolution.py checks the same without it")
TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")  # PyTorch on its own copy


def _compare(ours: Callable[..., Any], theirs: Callable[..., Any], *shapes: tuple[int, ...], seed: int = 0,
             values: list[np.ndarray] | None = None, grad_rtol: float = 1e-10) -> None:
    r = np.random.default_rng(seed)
    arrays = values or [r.standard_normal(s) for s in shapes]
    mine = [Tensor(a, requires_grad=True) for a in arrays]
    reference = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, y_torch = ours(*mine), theirs(*reference)
    assert y.shape == tuple(y_torch.shape)
    np.testing.assert_allclose(y.data, y_torch.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = r.standard_normal(y.shape)
    (y * g).sum().backward()
    y_torch.backward(torch.tensor(g))
    for a, b in zip(mine, reference):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=grad_rtol, atol=1e-12)


CONV2D = [  # (x, w, keyword arguments)
    ((2, 3, 8, 7), (4, 3, 3, 3), {}),
    ((2, 3, 8, 7), (4, 3, 3, 3), {"stride": 2, "padding": 1}),
    ((2, 4, 9, 8), (6, 2, 3, 2), {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 2}),
    ((1, 6, 7, 7), (6, 1, 3, 3), {"padding": 1, "groups": 6}),
    ((2, 3, 7, 8), (4, 3, 2, 3), {"padding": "same", "dilation": (1, 2)}),
    ((2, 3, 7, 8), (4, 3, 2, 3), {"padding": "valid"}),
    ((3, 6, 6), (2, 3, 3, 3), {"stride": 3}),  # unbatched input
]


@pytest.mark.parametrize("x, w, kwargs", CONV2D, ids=[str(c[2]) + str(c[0]) for c in CONV2D])
def test_conv2d(x: tuple, w: tuple, kwargs: dict) -> None:
    _compare(lambda x, w, b: F.conv2d(x, w, b, **kwargs), lambda x, w, b: TF.conv2d(x, w, b, **kwargs), x, w, w[:1])


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}, {"padding": "same"}])
def test_conv1d(kwargs: dict) -> None:
    _compare(lambda x, w: F.conv1d(x, w, **kwargs), lambda x, w: TF.conv1d(x, w, **kwargs), (2, 4, 11),
             (6, 4 // kwargs.get("groups", 1), 3))


@pytest.mark.parametrize("kwargs", [
    {}, {"stride": 2}, {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2)},
    {"groups": 2, "dilation": (2, 1), "padding": 1}, {"stride": 2, "output_padding": 1, "dilation": 2},
])
def test_conv_transpose2d(kwargs: dict) -> None:
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, **kwargs), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kwargs),
             (2, 4, 5, 4), (4, 3, 3, 2), (3 * kwargs.get("groups", 1),))


@pytest.mark.parametrize("args, kwargs", [
    ((2,), {}), ((3, 2, 1), {}), ((3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    (((2, 3), (1, 2), (1, 1)), {"dilation": 2}), ((2,), {"stride": 1}),
])
def test_max_pool2d(args: tuple, kwargs: dict) -> None:
    x = np.random.default_rng(1).permutation(2 * 3 * 8 * 7).reshape(2, 3, 8, 7) * 0.1
    _compare(lambda x: F.max_pool2d(x, *args, **kwargs), lambda x: TF.max_pool2d(x, *args, **kwargs), values=[x])


def test_max_pool2d_ties_after_relu() -> None:
    x = np.maximum(np.random.default_rng(2).standard_normal((2, 3, 6, 6)), 0)
    _compare(lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), values=[x])


@pytest.mark.parametrize("args, kwargs", [
    ((2,), {}), ((3, 2, 1), {}), ((3, 2, 1), {"count_include_pad": False}), ((2,), {"divisor_override": 3}),
    (((3, 2), (1, 2), (1, 0)), {}),
])
def test_avg_pool2d(args: tuple, kwargs: dict) -> None:
    _compare(lambda x: F.avg_pool2d(x, *args, **kwargs), lambda x: TF.avg_pool2d(x, *args, **kwargs), (2, 3, 8, 7))


@pytest.mark.parametrize("size", [1, (3, 5), (4, None), 7])
def test_adaptive_avg_pool2d(size: Any) -> None:
    _compare(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size), (2, 3, 8, 7))


@pytest.mark.parametrize("name, args", [
    ("elu", ()), ("elu", (0.5,)), ("celu", (0.7,)), ("selu", ()), ("hardtanh", (-0.5, 0.8)), ("relu6", ()),
    ("hardswish", ()), ("hardsigmoid", ()), ("softsign", ()), ("mish", ()),
])
def test_activations(name: str, args: tuple) -> None:
    x = np.random.default_rng(3).standard_normal((5, 7)) * 4
    x = x[np.all(np.abs(x[..., None] - np.array([0, -3, 3, 6, -0.5, 0.8])) > 1e-3, axis=-1)]  # off the kinks
    # PyTorch's float64 backward of these two rounds a constant (1/6, 1/alpha) to float32
    loose = 1e-6 if name in ("hardsigmoid", "celu") else 1e-10
    _compare(lambda x: getattr(F, name)(x, *args), lambda x: getattr(TF, name)(x, *args), values=[x], grad_rtol=loose)


@pytest.mark.parametrize("kwargs", [{}, {"is_causal": True}, {"scale": 0.3}, {"mask": "bool"}, {"mask": "float"}])
def test_scaled_dot_product_attention(kwargs: dict) -> None:
    mask = kwargs.pop("mask", None)
    r = np.random.default_rng(4)
    if mask == "bool":
        mask = r.random((4, 6)) > 0.4
        mask[:, 0] = True
    elif mask == "float":
        mask = r.standard_normal((4, 6))
    theirs_mask = None if mask is None else torch.tensor(mask)
    _compare(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kwargs),
             lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=theirs_mask, **kwargs),
             (2, 4, 5), (2, 6, 5), (2, 6, 3))


def test_batchnorm2d_training_and_evaluation() -> None:
    x = np.random.default_rng(5).standard_normal((4, 3, 5, 5)) * 2 + 1
    ours, theirs = nn.BatchNorm2d(3, dtype=np.float64), torch.nn.BatchNorm2d(3).double()
    _compare(lambda x: ours(x), lambda x: theirs(x), values=[x])
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    _compare(lambda x: ours(x), lambda x: theirs(x), values=[x])
