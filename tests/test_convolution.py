"""Convolution, pooling and the new activations, without PyTorch: values against direct loops in
NumPy (the definition, one output element at a time), gradients (first and second order) against
float64 finite differences, and the errors on shapes that do not fit."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from autograd_np import Tensor, convolution, functional as F, nn

from helpers import check, distinct, second_order


def direct_conv2d(x: np.ndarray, w: np.ndarray, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1) -> np.ndarray:
    """y[n,o,h,w] = sum_{c,i,j} W[o,c,i,j] xp[n, g*Cg + c, h*sh + i*dh, w*sw + j*dw], element by element."""
    n, c, height, width = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    ho = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, ho, wo))
    og = o // groups
    for b, out, h, col in itertools.product(range(n), range(o), range(ho), range(wo)):
        group = out // og
        for ch, i, j in itertools.product(range(cg), range(kh), range(kw)):
            y[b, out, h, col] += w[out, ch, i, j] * xp[b, group * cg + ch, h * stride[0] + i * dilation[0],
                                                      col * stride[1] + j * dilation[1]]
    return y


def direct_pool(x: np.ndarray, kernel, stride, padding=(0, 0), reduce=np.max, fill=-np.inf) -> np.ndarray:
    n, c, height, width = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=fill)
    ho = (height + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (width + 2 * padding[1] - kernel[1]) // stride[1] + 1
    y = np.zeros((n, c, ho, wo))
    for h, col in itertools.product(range(ho), range(wo)):
        window = xp[:, :, h * stride[0]: h * stride[0] + kernel[0], col * stride[1]: col * stride[1] + kernel[1]]
        y[:, :, h, col] = reduce(window, axis=(2, 3))
    return y


SETTINGS = [  # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 2, 7, 7), (3, 2, 3, 2), (2, 3), (1, 0), (1, 1), 1),
    ((2, 4, 8, 6), (6, 2, 2, 3), (1, 2), (2, 1), (2, 1), 2),
    ((1, 6, 5, 5), (6, 1, 3, 3), (2, 2), (1, 1), (1, 2), 6),  # depthwise
    ((3, 1, 4, 9), (2, 1, 1, 4), (1, 1), (0, 2), (1, 2), 1),
]
IDS = [f"x{s[0]} w{s[1]} s{s[2]} p{s[3]} d{s[4]} g{s[5]}" for s in SETTINGS]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", SETTINGS, ids=IDS)
def test_conv2d_values_match_the_direct_sum(x_shape, w_shape, stride, padding, dilation, groups) -> None:
    r = np.random.default_rng(0)
    x, w = r.standard_normal(x_shape), r.standard_normal(w_shape)
    y = F.conv2d(Tensor(x), Tensor(w), stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(y.data, direct_conv2d(x, w, stride, padding, dilation, groups), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", SETTINGS, ids=IDS)
def test_conv2d_gradients_match_finite_differences(x_shape, w_shape, stride, padding, dilation, groups) -> None:
    r = np.random.default_rng(1)
    x, w, b = r.standard_normal(x_shape), r.standard_normal(w_shape), r.standard_normal(w_shape[0])
    assert check(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), x, w, b)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", SETTINGS[1:3], ids=IDS[1:3])
def test_conv2d_second_order(x_shape, w_shape, stride, padding, dilation, groups) -> None:
    r = np.random.default_rng(2)
    x, w = r.standard_normal(x_shape), r.standard_normal(w_shape)
    assert check(second_order(lambda x, w: F.conv2d(x, w, None, stride, padding, dilation, groups)), x, w)


def test_the_input_gradient_is_the_transposed_convolution() -> None:
    """<conv2d(x, W), G> = <x, conv_transpose2d(G, W)>: the two are adjoint."""
    r = np.random.default_rng(3)
    x, w = r.standard_normal((2, 4, 7, 6)), r.standard_normal((6, 2, 3, 2))
    settings = {"stride": (2, 1), "padding": (1, 1), "dilation": (1, 2), "groups": 2}
    y = convolution.conv2d(x, w, **settings)
    g = r.standard_normal(y.shape)
    back = convolution.conv_transpose2d(g, w, size=(7, 6), **settings)
    assert np.sum(y * g) == pytest.approx(np.sum(x * back), rel=1e-12)
    dw = convolution.conv2d_weight(x, g, kernel_size=(3, 2), **settings)
    assert np.sum(y * g) == pytest.approx(np.sum(w * dw), rel=1e-12)


def test_conv_transpose2d_values_and_gradients() -> None:
    r = np.random.default_rng(4)
    x, w = r.standard_normal((2, 2, 3, 4)), r.standard_normal((2, 3, 3, 2))
    y = F.conv_transpose2d(Tensor(x), Tensor(w), stride=2, padding=1, output_padding=1)
    assert y.shape == (2, 3, (3 - 1) * 2 - 2 + 3 + 1, (4 - 1) * 2 - 2 + 2 + 1)
    # a transposed convolution is the adjoint of the convolution with the same weight
    g = r.standard_normal(y.shape)
    forward = direct_conv2d(g, w, stride=(2, 2), padding=(1, 1))
    assert np.sum(y.data * g) == pytest.approx(np.sum(x * forward), rel=1e-12)
    assert check(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1), x, w)


def test_conv1d_is_conv2d_over_a_height_of_one() -> None:
    r = np.random.default_rng(5)
    x, w = r.standard_normal((2, 4, 9)), r.standard_normal((6, 2, 3))
    y = F.conv1d(Tensor(x), Tensor(w), stride=2, padding=1, dilation=2, groups=2)
    expected = direct_conv2d(x[:, :, None], w[:, :, None], (1, 2), (0, 1), (1, 2), 2)[:, :, 0]
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)
    assert check(lambda x, w: F.conv1d(x, w, stride=2, padding=1, dilation=2, groups=2), x, w)


def test_same_padding_keeps_the_size_and_unbatched_input_works() -> None:
    r = np.random.default_rng(6)
    x, w = r.standard_normal((3, 7, 8)), r.standard_normal((2, 3, 2, 4))
    y = F.conv2d(Tensor(x), Tensor(w), padding="same")
    assert y.shape == (2, 7, 8)
    padded = np.pad(x[None], ((0, 0), (0, 0), (0, 1), (1, 2)))
    np.testing.assert_allclose(y.data, direct_conv2d(padded, w)[0], rtol=1e-12, atol=1e-12)


def test_max_pool2d_values_and_gradient_to_the_first_maximum() -> None:
    x = distinct(0, (2, 3, 6, 7))
    y = F.max_pool2d(Tensor(x), 3, stride=2, padding=1)
    np.testing.assert_allclose(y.data, direct_pool(x, (3, 3), (2, 2), (1, 1)))
    assert check(lambda x: F.max_pool2d(x, 3, stride=2, padding=1), x)
    ties = Tensor(np.zeros((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(ties, 2).sum().backward()
    np.testing.assert_array_equal(ties.grad, [[[[1.0, 0.0], [0.0, 0.0]]]])  # all to the first, as PyTorch


def test_avg_pool2d_and_adaptive_avg_pool2d_values_and_gradients() -> None:
    x = np.random.default_rng(7).standard_normal((2, 3, 6, 7))
    np.testing.assert_allclose(F.avg_pool2d(Tensor(x), 2).data, direct_pool(x, (2, 2), (2, 2), reduce=np.mean))
    np.testing.assert_allclose(F.avg_pool2d(Tensor(x), 3, 2, 1).data,
                               direct_pool(x, (3, 3), (2, 2), (1, 1), np.sum, 0.0) / 9, rtol=1e-12)
    assert check(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), x)
    y = F.adaptive_avg_pool2d(Tensor(x), (4, 3))
    bins = lambda i, size, out: slice(i * size // out, math.ceil((i + 1) * size / out))  # noqa: E731
    expected = np.array([[[[x[n, c, bins(i, 6, 4), bins(j, 7, 3)].mean() for j in range(3)] for i in range(4)]
                          for c in range(3)] for n in range(2)])
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)
    assert check(lambda x: F.adaptive_avg_pool2d(x, (4, None)), x)


@pytest.mark.parametrize("call, words", [
    (lambda: F.conv2d(Tensor(np.zeros((2, 3, 5, 5))), Tensor(np.zeros((4, 2, 3, 3)))), ["(2, 3, 5, 5)", "(4, 2, 3, 3)"]),
    (lambda: F.conv2d(Tensor(np.zeros((2, 4, 5, 5))), Tensor(np.zeros((3, 2, 3, 3))), groups=2), ["(3, 2, 3, 3)", "groups=2"]),
    (lambda: F.conv2d(Tensor(np.zeros((1, 1, 2, 2))), Tensor(np.zeros((1, 1, 3, 3)))), ["(1, 1, 2, 2)", "(1, 1, 3, 3)"]),
    (lambda: F.conv1d(Tensor(np.zeros((1, 2, 5))), Tensor(np.zeros((1, 2, 3, 3)))), ["(1, 2, 3, 3)", "(1, 2, 5)"]),
    (lambda: F.conv_transpose2d(Tensor(np.zeros((1, 3, 4, 4))), Tensor(np.zeros((2, 3, 3, 3)))), ["(1, 3, 4, 4)", "(2, 3, 3, 3)"]),
    (lambda: F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, padding=2), ["padding (2, 2)", "kernel_size (2, 2)"]),
    (lambda: F.conv2d(Tensor(np.zeros((5, 5))), Tensor(np.zeros((1, 1, 3, 3)))), ["(5, 5)"]),
])
def test_bad_shapes_are_refused_naming_them(call, words) -> None:
    with pytest.raises(ValueError) as error:
        call()
    for word in words:
        assert word in str(error.value)


ACTIVATIONS = {  # name: (function, NumPy reference)
    "elu": (F.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "celu": (lambda x: F.celu(x, 0.7), lambda x: np.maximum(x, 0) + np.minimum(0, 0.7 * np.expm1(x / 0.7))),
    "selu": (F.selu, lambda x: F.SELU_SCALE * np.where(x > 0, x, F.SELU_ALPHA * np.expm1(x))),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 0.8), lambda x: np.clip(x, -0.5, 0.8)),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6)),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x))),
    "mish": (F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_values_and_gradients(name: str) -> None:
    fn, reference = ACTIVATIONS[name]
    # off the kinks (0, the clip bounds, ±3 and 6) by at least 0.05
    x = np.array([-7.0, -3.5, -2.0, -0.7, -0.3, 0.2, 0.45, 1.3, 2.5, 5.0, 6.5, 800.0, -800.0])
    with np.errstate(over="ignore"):  # the references' exp on the side they do not select
        expected = reference(x)
    np.testing.assert_allclose(fn(Tensor(x)).data, expected, rtol=1e-12, atol=1e-15)
    assert check(fn, x[:-2] + np.linspace(0, 0.01, 11))


def test_elu_has_no_overflow_warning_for_large_inputs() -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        x = Tensor(np.array([1000.0, -1000.0]), requires_grad=True)
        F.elu(x).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 0.0])


def test_activation_modules_call_their_functions() -> None:
    x = Tensor(np.linspace(-4, 7, 12))
    np.testing.assert_allclose(nn.ELU(alpha=0.5)(x).data, F.elu(x, 0.5).data)
    np.testing.assert_allclose(nn.Hardtanh(-2.0, 2.0)(x).data, F.hardtanh(x, -2.0, 2.0).data)
    for module, fn in [(nn.ReLU6(), F.relu6), (nn.SELU(), F.selu), (nn.Mish(), F.mish), (nn.Softsign(), F.softsign),
                       (nn.Hardswish(), F.hardswish), (nn.Hardsigmoid(), F.hardsigmoid), (nn.CELU(), F.celu)]:
        np.testing.assert_allclose(module(x).data, fn(x).data)
    with pytest.raises(TypeError):
        nn.ReLU6(3.0)


def test_multinomial_draws_by_weight_without_gradient() -> None:
    counts = np.bincount(F.multinomial(np.array([1.0, 0.0, 3.0]), 4000, replacement=True, rng=0).data, minlength=3)
    assert counts[1] == 0 and abs(counts[2] / counts.sum() - 0.75) < 0.03
    rows = F.multinomial(Tensor(np.array([[1.0, 2.0, 3.0, 0.0], [5.0, 1.0, 1.0, 1.0]]), requires_grad=True), 3, rng=1)
    assert rows.shape == (2, 3) and rows.dtype == np.int64 and not rows.requires_grad
    assert all(len(set(row)) == 3 for row in rows.data.tolist()) and 3 not in rows.data[0]
    np.testing.assert_array_equal(F.multinomial(np.ones(5), 5, rng=3).data,
                                  F.multinomial(np.ones(5), 5, rng=np.random.default_rng(3)).data)
    with pytest.raises(ValueError, match="without replacement"):
        F.multinomial(np.array([1.0, 0.0]), 2)
    with pytest.raises(ValueError, match="non-negative"):
        F.multinomial(np.array([1.0, -1.0]), 1)


def _attention_reference(q, k, v, mask, scale):
    scores = q @ np.swapaxes(k, -1, -2) * scale
    scores = np.where(mask, scores, -np.inf) if mask.dtype == bool else scores + mask
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True) @ v


def test_scaled_dot_product_attention_values_masks_and_gradients() -> None:
    r = np.random.default_rng(8)
    q, k, v = r.standard_normal((2, 3, 4, 5)), r.standard_normal((2, 3, 6, 5)), r.standard_normal((2, 3, 6, 2))
    causal = np.tril(np.ones((4, 6), bool))
    np.testing.assert_allclose(F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True).data,
                               _attention_reference(q, k, v, causal, 1 / math.sqrt(5)), rtol=1e-12)
    additive = r.standard_normal((4, 6))
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=additive, scale=0.3).data,
        _attention_reference(q, k, v, additive, 0.3), rtol=1e-12)
    assert check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=causal), q, k, v)
    dropped = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), dropout_p=0.5, rng=0)
    assert dropped.shape == (2, 3, 4, 2) and not np.allclose(dropped.data, _attention_reference(q, k, v, np.ones((4, 6), bool), 1 / math.sqrt(5)))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=causal, is_causal=True)


def test_conv_modules_have_pytorch_shapes_and_init() -> None:
    conv = nn.Conv2d(4, 6, (3, 2), groups=2, rng=0)
    assert conv.weight.shape == (6, 2, 3, 2) and conv.bias.shape == (6,)
    bound = 1 / math.sqrt(2 * 3 * 2)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert conv(np.zeros((1, 4, 5, 5), np.float32)).shape == (1, 6, 3, 4)
    assert nn.Conv1d(3, 5, 4, padding=1)(np.zeros((2, 3, 9), np.float32)).shape == (2, 5, 8)
    assert nn.ConvTranspose2d(3, 4, 2, stride=2)(np.zeros((1, 3, 5, 5), np.float32)).shape == (1, 4, 10, 10)
    assert nn.MaxPool2d(2)(np.zeros((1, 3, 5, 5))).shape == (1, 3, 2, 2)
    assert nn.AvgPool2d(3, 1, 1)(np.zeros((1, 3, 5, 5))).shape == (1, 3, 5, 5)
    assert nn.AdaptiveAvgPool2d(1)(np.zeros((1, 3, 5, 5))).shape == (1, 3, 1, 1)


def test_batchnorm2d_normalises_each_channel_and_tracks_running_statistics() -> None:
    x = np.random.default_rng(9).standard_normal((4, 3, 5, 5)) * np.array([1.0, 2.0, 3.0])[:, None, None] + 1.0
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    y = bn(Tensor(x)).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)
    bn.eval()
    expected = (x - bn.running_mean[:, None, None]) / np.sqrt(bn.running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(bn(Tensor(x)).data, expected, rtol=1e-12)
    bn.train()
    assert check(lambda x, w, b: nn.BatchNorm2d(3, dtype=np.float64)(x) * w + b, x[:2, :, :3, :3],
                 np.ones((3, 1, 1)), np.zeros((3, 1, 1)))


def test_second_order_through_the_transposed_convolution_and_the_pools() -> None:
    """Every VJP here is an op (conv2d, conv_transpose2d, conv2d_weight, scatter_add), so the
    gradients can be differentiated again."""
    r = np.random.default_rng(10)
    x, w = r.standard_normal((1, 2, 3, 3)), r.standard_normal((2, 3, 2, 2))
    assert check(second_order(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1)), x, w)
    pooled = distinct(11, (1, 2, 4, 5))
    assert check(second_order(lambda x: F.max_pool2d(x * x, 2, stride=1)), pooled)
    assert check(second_order(lambda x: F.avg_pool2d(x * x, 2, 1, 1)), pooled)


def test_multinomial_is_a_function_and_a_method() -> None:
    import autograd_np as ag

    weights = ag.tensor([[1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(ag.multinomial(weights, 2, rng=4).data, weights.multinomial(2, rng=4).data)


def test_hardtanh_family_has_no_gradient_on_its_bounds_as_pytorch() -> None:
    x = Tensor(np.array([-1.0, 1.0, 0.0, 6.0, -3.0, 3.0]), requires_grad=True)
    (F.hardtanh(x) + F.relu6(x) + F.hardsigmoid(x)).sum().backward()
    # hardtanh: 0 at -1 and 1; relu6: 0 at 0 and 6; hardsigmoid: 0 at -3 and 3
    np.testing.assert_allclose(x.grad, [1 / 6, 1 + 1 / 6, 1 + 1 / 6, 0.0, 0.0, 1.0])  # PyTorch gives the same
