"""The pieces the model zoo uses: from the engine cross_entropy(ignore_index), gelu, ModuleList,
clip_grad_norm; from models/names/models.py CausalSelfAttention, RNNCell, GRUCell. Values against the formulas,
gradients against finite differences (float64)."""
import math

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, gradcheck, nn
from autograd_np.functional import cross_entropy, gelu
from models.names.models import CausalSelfAttention, GRUCell, RNNCell

F64 = np.float64


def test_cross_entropy_ignore_index_is_the_mean_over_kept_rows():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 5))
    targets = np.array([1, -1, 4, 0, -1, 2])
    kept = targets != -1
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -logp[kept][np.arange(4), targets[kept]].mean()
    got = cross_entropy(Tensor(logits), targets, ignore_index=-1).item()
    assert got == pytest.approx(expected, rel=1e-12)
    gradcheck(lambda x: cross_entropy(x, targets, ignore_index=-1), [logits])
    # ignored rows get exactly zero gradient
    x = Tensor(logits, requires_grad=True)
    cross_entropy(x, targets, ignore_index=-1).backward()
    assert np.all(x.grad[~kept] == 0) and np.all(x.grad[kept] != 0)


def test_cross_entropy_leading_axes_and_nothing_ignored():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((2, 3, 4))
    targets = rng.integers(0, 4, (2, 3))
    flat = cross_entropy(Tensor(logits.reshape(6, 4)), targets.reshape(6)).item()
    assert cross_entropy(Tensor(logits), targets, ignore_index=-1).item() == pytest.approx(flat, rel=1e-12)
    targets[0, 1] = -1
    gradcheck(lambda x: cross_entropy(x, targets, ignore_index=-1), [logits])


def test_cross_entropy_all_ignored_is_nan_with_zero_gradient_and_bad_shapes_raise():
    # as PyTorch: the mean over no rows is NaN (never reached in training: every word has an end token)
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    loss = cross_entropy(x, np.array([-1, -1]), ignore_index=-1)
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"scores \(\.\.\., C\) need targets \(\.\.\.\)"):
        cross_entropy(Tensor(np.zeros((2, 3, 4))), np.zeros(6, dtype=int), ignore_index=-1)


def test_gelu_tanh_form_and_gradient():
    x = np.linspace(-4, 4, 17)
    expected = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(gelu(Tensor(x), approximate="tanh").numpy(), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(nn.GELU(approximate="tanh")(Tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-15)
    gradcheck(lambda t: gelu(t, approximate="tanh"), [np.random.default_rng(2).standard_normal((3, 4)) * 2])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_keeps_float32(approximate):
    x = Tensor(np.linspace(-3, 3, 7, dtype=np.float32), requires_grad=True)
    y = gelu(x, approximate=approximate)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_transformer_stays_float32_and_uses_tanh_gelu():
    from models.names import build_model, get_config

    config = get_config("transformer", n_layer=1, n_embd=8, n_head=2)
    config.block_size = 5
    model = build_model(config, 7, np.random.default_rng(0))
    assert model.blocks[0].act.approximate == "tanh"
    logits = model(np.zeros((2, 5), dtype=np.int64))
    assert {t.dtype for t in ag.topological_order(logits)} == {np.dtype(np.float32)}


def test_module_list_names_and_type_check():
    class Net(nn.Module):
        def __init__(self):
            self.blocks = nn.ModuleList(nn.Linear(2, 2, rng=i) for i in range(3))

    net = Net()
    assert [n for n, _ in net.named_parameters()][:4] == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                                                         "blocks.1.bias"]
    assert len(net.blocks) == 3 and net.blocks[2] is list(net.blocks)[2]
    with pytest.raises(TypeError, match="ModuleList: expected a Module, got int"):
        nn.ModuleList([nn.Tanh(), 3])


def _attention_reference(att: CausalSelfAttention, x: np.ndarray) -> np.ndarray:
    B, T, C = x.shape
    H, d = att.n_head, C // att.n_head
    qkv = x @ att.c_attn.weight.data + att.c_attn.bias.data
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, H, d).transpose(0, 2, 1, 3) for i in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    y = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
    return y @ att.c_proj.weight.data + att.c_proj.bias.data


def test_causal_self_attention_values_causality_and_gradients():
    rng = np.random.default_rng(3)
    att = CausalSelfAttention(8, 2, block_size=5, rng=rng, dtype=F64)
    x = rng.standard_normal((2, 4, 8))
    y = att(Tensor(x)).numpy()
    np.testing.assert_allclose(y, _attention_reference(att, x), rtol=1e-10, atol=1e-12)
    changed = x.copy()
    changed[:, 2] += 1.0  # a later position never changes an earlier output
    y2 = att(Tensor(changed)).numpy()
    np.testing.assert_allclose(y2[:, :2], y[:, :2], rtol=1e-12, atol=1e-14)
    assert not np.allclose(y2[:, 2:], y[:, 2:])
    gradcheck(att, [x])  # the -inf mask leaves every gradient finite

    def through_weights(w_qkv, w_proj):
        att.c_attn.weight, att.c_proj.weight = w_qkv, w_proj
        return att(Tensor(x[:1, :3]))

    gradcheck(through_weights, [att.c_attn.weight.data.copy(), att.c_proj.weight.data.copy()])


def test_causal_self_attention_bad_shapes_and_dropout():
    with pytest.raises(ValueError, match="n_head=3 must divide n_embd=8"):
        CausalSelfAttention(8, 3, block_size=4)
    att = CausalSelfAttention(8, 2, block_size=4, dropout=0.5, rng=0)
    with pytest.raises(ValueError, match=r"expected \(B, T <= 4, 8\)"):
        att(Tensor(np.zeros((1, 5, 8), dtype=np.float32)))
    x = Tensor(np.random.default_rng(0).standard_normal((2, 4, 8)).astype(np.float32))
    assert not np.allclose(att(x).numpy(), att(x).numpy())  # fresh masks in training mode
    att.eval()
    np.testing.assert_array_equal(att(x).numpy(), att(x).numpy())


def test_rnn_cell_formula_and_gradients():
    rng = np.random.default_rng(4)
    cell = RNNCell(3, 5, rng=rng, dtype=F64)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 5))
    expected = np.tanh(np.concatenate([x, h], 1) @ cell.xh_to_h.weight.data + cell.xh_to_h.bias.data)
    np.testing.assert_allclose(cell(Tensor(x), Tensor(h)).numpy(), expected, rtol=1e-12)
    gradcheck(cell, [x, h])


def test_gru_cell_formula_and_gradients():
    rng = np.random.default_rng(5)
    cell = GRUCell(3, 4, rng=rng, dtype=F64)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    W, b = cell.xh_to_rz.weight.data, cell.xh_to_rz.bias.data
    xh = np.concatenate([x, h], 1)
    r, z = sig(xh @ W[:, :4] + b[:4]), sig(xh @ W[:, 4:] + b[4:])
    hbar = np.tanh(np.concatenate([x, r * h], 1) @ cell.xh_to_hbar.weight.data + cell.xh_to_hbar.bias.data)
    np.testing.assert_allclose(cell(Tensor(x), Tensor(h)).numpy(), (1 - z) * h + z * hbar, rtol=1e-12)
    gradcheck(cell, [x, h])

    def through_weights(w_rz, w_hbar):
        cell.xh_to_rz.weight, cell.xh_to_hbar.weight = w_rz, w_hbar
        return cell(Tensor(x), Tensor(h))

    gradcheck(through_weights, [W.copy(), cell.xh_to_hbar.weight.data.copy()])


def test_clip_grad_norm():
    a = Tensor(np.zeros(2), requires_grad=True)
    b = Tensor(np.zeros(1), requires_grad=True)
    unused = Tensor(np.zeros(1), requires_grad=True)
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert nn.clip_grad_norm([a, b, unused], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8], rtol=1e-6)
    assert unused.grad is None
    assert nn.clip_grad_norm([a, b], 10.0) == pytest.approx(1.0, rel=1e-6)  # below the limit: unchanged
    np.testing.assert_allclose(a.grad, [0.6, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        nn.clip_grad_norm([a], 0.0)
