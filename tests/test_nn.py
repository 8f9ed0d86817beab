"""autograd_np.nn: structure, shapes, modes, state, and gradients (finite differences)."""
import numpy as np
import pytest

from autograd_np import Tensor, gradcheck, nn
from autograd_np.functional import cross_entropy

from helpers import TIGHT


def small_mlp(rng=0):
    rng = np.random.default_rng(rng)
    return nn.Sequential(
        nn.Embedding(27, 4, rng=rng, dtype=np.float64), nn.Flatten(),
        nn.Linear(12, 8, rng=rng, dtype=np.float64), nn.BatchNorm1d(8, dtype=np.float64), nn.Tanh(),
        nn.Linear(8, 27, rng=rng, dtype=np.float64),
    )


def test_named_parameters_dotted_and_ordered():
    names = [n for n, _ in small_mlp().named_parameters()]
    assert names == [
        "layers.0.weight", "layers.2.weight", "layers.2.bias",
        "layers.3.weight", "layers.3.bias", "layers.5.weight", "layers.5.bias",
    ]
    assert [n for n, _ in small_mlp().named_buffers()] == ["layers.3.running_mean", "layers.3.running_var"]


def test_nested_modules_and_shared_parameters_counted_once():
    class Net(nn.Module):
        def __init__(self):
            self.a = nn.Linear(3, 3, rng=0)
            self.blocks = [nn.Linear(3, 3, rng=1), nn.Tanh()]
            self.tied = self.a  # same module twice

        def forward(self, x):
            return self.blocks[0](self.a(x))

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["a.weight", "a.bias", "blocks.0.weight", "blocks.0.bias"]
    assert net.num_parameters() == 2 * (9 + 3)


def test_shapes_and_linear_formula():
    rng = np.random.default_rng(1)
    lin = nn.Linear(5, 3, rng=rng)
    assert lin.weight.shape == (5, 3) and lin.bias.shape == (3,) and lin.weight.dtype == np.float32
    x = rng.standard_normal((7, 5)).astype(np.float32)
    np.testing.assert_allclose(lin(Tensor(x)).numpy(), x @ lin.weight.data + lin.bias.data, rtol=1e-6)
    emb = nn.Embedding(10, 4, rng=rng)
    idx = np.array([[1, 2, 3], [0, 0, 9]])
    out = emb(idx)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out.numpy()[1, 2], emb.weight.data[9])
    assert nn.Flatten()(out).shape == (2, 12)
    with pytest.raises(IndexError):
        emb(np.array([10]))
    with pytest.raises(TypeError):
        emb(np.array([1.0]))


def test_linear_init_scale_and_gain():
    lin = nn.Linear(400, 300, gain=5 / 3, rng=0)
    assert abs(lin.weight.data.std() - (5 / 3) / 20) < 0.003
    assert not lin.bias.data.any()
    assert nn.Linear(4, 2, bias=False, rng=0).bias is None


def test_sequential_indexing_and_forward():
    net = small_mlp()
    assert len(net) == 6 and isinstance(net[0], nn.Embedding) and isinstance(net[-1], nn.Linear)
    assert isinstance(net[:2], nn.Sequential) and len(net[:2]) == 2
    assert net(np.array([[1, 2, 3], [4, 5, 6]])).shape == (2, 27)
    with pytest.raises(TypeError):
        nn.Sequential(nn.Tanh(), "not a module")


def test_zero_grad_and_train_eval_modes():
    net = small_mlp()
    loss = cross_entropy(net(np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])), np.array([1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_gradcheck_linear_tanh():
    lin = nn.Linear(4, 3, rng=0, dtype=np.float64)
    rng = np.random.default_rng(2)

    def f(x, w, b):
        lin.weight, lin.bias = w, b
        return nn.Tanh()(lin(x))

    assert gradcheck(f, [rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)], **TIGHT)


def test_gradcheck_batchnorm_training_mode():
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    rng = np.random.default_rng(3)

    def f(x, gamma, beta):
        bn.weight, bn.bias = gamma, beta
        return bn(x)

    assert gradcheck(f, [rng.standard_normal((6, 3)), rng.standard_normal(3), rng.standard_normal(3)], **TIGHT)


def test_gradcheck_layernorm_and_3d_batchnorm():
    rng = np.random.default_rng(4)
    ln = nn.LayerNorm(5, dtype=np.float64)

    def f(x, gamma):
        ln.weight = gamma
        return ln(x)

    assert gradcheck(f, [rng.standard_normal((3, 5)), rng.standard_normal(5)], **TIGHT)
    bn = nn.BatchNorm1d(2, dtype=np.float64)
    assert gradcheck(lambda x: bn(x), [rng.standard_normal((3, 4, 2))], **TIGHT)


def test_batchnorm_statistics():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 4)) * 3 + 2
    bn = nn.BatchNorm1d(4, momentum=0.1, dtype=np.float64)
    y = bn(Tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-3)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(0))
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(0, ddof=1))
    bn.eval()
    y_eval = bn(Tensor(x)).numpy()
    np.testing.assert_allclose(y_eval, (x - bn.running_mean) / np.sqrt(bn.running_var + 1e-5))
    with pytest.raises(ValueError, match="features"):
        bn(Tensor(np.zeros((2, 5))))


def test_layernorm_normalises_each_row():
    x = np.random.default_rng(6).standard_normal((3, 10)) * 5 - 1
    y = nn.LayerNorm(10, dtype=np.float64)(Tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(1), 1, rtol=1e-4)


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25, rng=0)
    x = Tensor(np.ones((200, 50), dtype=np.float32), requires_grad=True)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError):
        nn.Dropout(1.0)


def test_flatten_consecutive():
    x = Tensor(np.arange(2 * 4 * 3, dtype=np.float64).reshape(2, 4, 3))
    y = nn.FlattenConsecutive(2)(x)
    assert y.shape == (2, 2, 6)
    np.testing.assert_array_equal(y.numpy()[0, 1], np.arange(6, 12))
    assert nn.FlattenConsecutive(2)(y).shape == (2, 12)
    with pytest.raises(ValueError):
        nn.FlattenConsecutive(3)(x)


def test_state_dict_round_trip_in_place():
    a, b = small_mlp(0), small_mlp(1)
    a(np.array([[1, 2, 3], [3, 2, 1]]))  # moves BatchNorm running stats
    weight = b[2].weight
    b.load_state_dict(a.state_dict())
    assert b[2].weight is weight  # loaded in place
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(pa.data, pb.data)
    np.testing.assert_array_equal(a[3].running_mean, b[3].running_mean)
    state = a.state_dict()
    state["layers.2.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="layers.2.weight"):
        b.load_state_dict(state)
    with pytest.raises(KeyError):
        b.load_state_dict({"nope": np.zeros(1)})
