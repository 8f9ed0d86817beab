"""The kernels behind ReLU's VJP and the convolutions: the same values as the plain NumPy they replace."""
from __future__ import annotations

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import convolution, kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_select_where_positive_is_np_where(dtype: type) -> None:
    rng = np.random.default_rng(0)
    y = rng.standard_normal((4, 3, 5, 5)).astype(dtype)
    y.flat[:6] = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf]
    g = rng.standard_normal(y.shape).astype(dtype)
    g.flat[6:12] = [np.inf, -np.inf, np.nan, np.inf, np.nan, -0.0]
    y.flat[6:12] = [-1.0, 2.0, -3.0, 0.0, 4.0, 5.0]
    got = kernels.select_where_positive(y, g)
    want = np.where(y > 0, g, 0)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))  # bit for bit: +0.0 where y <= 0


def test_select_where_positive_falls_back_off_fast_path() -> None:
    y, g = np.array(2.0), np.array(3.0)
    assert kernels.select_where_positive(y, g) == 3.0
    assert kernels.select_where_positive(np.array([1, -1]), np.array([5, 6])).tolist() == [5, 0]
    y16 = np.array([1.0, -1.0], np.float16)
    assert kernels.select_where_positive(y16, y16).tolist() == [1.0, 0.0]


def test_relu_backward_keeps_inf_gradient_out_of_the_dead_side() -> None:
    x = ag.Tensor(np.array([[-1.0, 2.0], [3.0, -4.0]], np.float32), requires_grad=True)
    (gx,) = ag.grad(x.relu(), [x], grad_output=np.array([[np.inf, np.inf], [1.0, np.nan]], np.float32))
    assert np.array_equal(np.asarray(gx), np.array([[0.0, np.inf], [1.0, 0.0]], np.float32))


def test_scratch_is_reused_and_bounded() -> None:
    a = kernels.scratch((3, 4), np.float32)
    b = kernels.scratch((2, 2), np.float64)
    assert a.shape == (3, 4) and b.shape == (2, 2) and b.dtype == np.float64
    assert np.shares_memory(a, b)  # the same buffer, handed out again
    big = kernels.scratch((kernels.MAX_SCRATCH_BYTES // 4 + 1,), np.float32)
    assert not np.shares_memory(big, kernels.scratch((4,), np.float32))


def test_columns_and_products_in_scratch_match_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 6, 7))
    view = convolution.windows(x, (3, 2), (1, 2), (1, 1), (4, 3))
    want = convolution.im2col(view, 2)
    assert np.array_equal(kernels.columns_in_scratch(view, 2), want)
    a, b = rng.standard_normal((2, 3, 5)), rng.standard_normal((4, 2, 5, 6))
    assert np.allclose(kernels.matmul_in_scratch(a, b), a @ b)


def test_conv_results_do_not_alias_the_scratch_buffer() -> None:
    rng = np.random.default_rng(2)
    x = ag.Tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = ag.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = ag.functional.conv2d(x, w, padding=1)
    first = y.data.copy()
    ag.functional.conv2d(ag.Tensor(rng.standard_normal((2, 3, 6, 6))), w)  # overwrites the scratch
    assert np.array_equal(y.data, first)
    y.sum().backward()
    grads = x.grad.copy(), w.grad.copy()
    kernels.scratch((1 << 16,), np.float64)[:] = np.nan
    assert np.array_equal(x.grad, grads[0]) and np.array_equal(w.grad, grads[1])


@pytest.mark.parametrize("shape", [(64, 16, 24, 24), (32, 200), (3, 70), (5,), (0, 80), (2, 3), (1, 100001)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64])
def test_relu_kernel_is_np_maximum(shape: tuple[int, ...], dtype: type) -> None:
    x = (np.random.default_rng(3).standard_normal(shape) * 3).astype(dtype)
    if x.size >= 4 and x.dtype.kind == "f":
        x.flat[:4] = [-0.0, np.nan, -np.nan, -np.inf]
    for case in (x, x[..., ::2] if x.ndim > 1 else x):
        got, want = kernels.relu(case), np.maximum(case, 0)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("padding, dilation, groups, extra", [
    ((0, 0), (1, 1), 1, (0, 0)), ((1, 2), (1, 1), 1, (0, 0)), ((0, 1), (2, 1), 2, (0, 0)), ((1, 1), (1, 2), 3, (1, 0)),
])
def test_conv_transpose2d_stride1_is_the_adjoint_of_conv2d(padding: tuple, dilation: tuple, groups: int, extra: tuple) -> None:
    """<conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for the stride-1 kernel (wide rows, in chunks)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6, 9, 8))
    w = rng.standard_normal((6, 6 // groups, 3, 2))
    y_shape = convolution.conv2d.forward(x, w, padding=padding, dilation=dilation, groups=groups).shape
    size = (x.shape[2] + extra[0], x.shape[3] + extra[1])  # a larger size (output_padding): zeros there
    y = rng.standard_normal(y_shape)
    x_big = np.zeros(x.shape[:2] + size)
    x_big[:, :, : x.shape[2], : x.shape[3]] = x
    adjoint = kernels.conv_transpose2d_stride1(y, w, size, padding, dilation, groups)
    assert adjoint.shape == x_big.shape
    forward = convolution.conv2d.forward(x, w, padding=padding, dilation=dilation, groups=groups)
    assert np.isclose(np.vdot(forward, y), np.vdot(x_big, adjoint))
    chunked = kernels.CHUNK_BYTES
    try:
        kernels.CHUNK_BYTES = 1  # one example per chunk: the same values
        assert np.array_equal(kernels.conv_transpose2d_stride1(y, w, size, padding, dilation, groups), adjoint)
    finally:
        kernels.CHUNK_BYTES = chunked


def test_conv_transpose2d_refuses_a_size_its_windows_do_not_fit() -> None:
    with pytest.raises(ValueError, match=r"reach \(6, 6\).*size \(4, 4\)"):
        convolution.conv_transpose2d.forward(np.ones((1, 2, 4, 4)), np.ones((2, 3, 3, 3)), size=(4, 4))
