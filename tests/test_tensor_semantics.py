"""What a user of Tensor can rely on: construction, accumulation, dtypes, modes, graph lifetime, graph walk."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import autograd_np
from autograd_np import Tensor, enable_grad, functional as F, grad, gradcheck, is_grad_enabled, no_grad, kernels, ops, topological_order

from helpers import TIGHT


# ----------------------------------------------------------------------------
# Scalars and construction
# ----------------------------------------------------------------------------
def test_zero_d_tensors_differentiate_like_a_scalar_engine() -> None:
    a = Tensor(2.0, requires_grad=True)
    b = Tensor(3.0, requires_grad=True)
    c = a * b
    assert c.shape == () and c.item() == 6.0
    d = c + b**2 - a / b  # 6 + 9 - 2/3
    e = d.tanh() * 0 + d * a  # e = d·a
    e.backward()
    # ∂e/∂a = d + a·∂d/∂a = d + a(b - 1/b);  ∂e/∂b = a·∂d/∂b = a(a + 2b + a/b²)
    dval = 6 + 9 - 2 / 3
    assert a.grad.shape == () and a.grad.dtype == np.float64
    assert a.grad.item() == pytest.approx(dval + 2 * (3 - 1 / 3))
    assert b.grad.item() == pytest.approx(2 * (2 + 6 + 2 / 9))


@pytest.mark.parametrize(
    "data, shape, dtype",
    [
        (2.0, (), np.float64),
        (3, (), np.int64),
        ([1.0, 2.0, 3.0], (3,), np.float64),
        ([[1, 2], [3, 4]], (2, 2), np.int64),
        (np.arange(6, dtype=np.float32).reshape(2, 3), (2, 3), np.float32),
        (np.float32(1.5), (), np.float32),
        (Tensor([1.0, 2.0]), (2,), np.float64),
    ],
)
def test_construction(data, shape, dtype) -> None:
    t = Tensor(data)
    assert isinstance(t.data, np.ndarray)
    assert t.shape == shape and t.dtype == dtype and t.ndim == len(shape) and t.size == int(np.prod(shape))
    np.testing.assert_array_equal(t.data, np.asarray(data.data if isinstance(data, Tensor) else data))
    assert t.is_leaf and t.op is None and t.parents == () and not t.requires_grad and t.grad is None


def test_construction_with_dtype_and_requires_grad() -> None:
    t = Tensor([1, 2, 3], dtype=np.float32, requires_grad=True, name="w")
    assert t.dtype == np.float32 and t.requires_grad and t.name == "w"
    assert "requires_grad=True" in repr(t)


# ----------------------------------------------------------------------------
# Gradient accumulation and the .grad / .data contract
# ----------------------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    (3 * x).sum().backward()  # a second, separate graph
    np.testing.assert_array_equal(x.grad, [5.0, 7.0])
    x.zero_grad()
    assert x.grad is None
    x.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_a_tensor_used_twice_gets_both_contributions() -> None:
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    (x * x + x + x.exp()).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1 + np.exp(x.data))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(), (1,), (4,), (1, 4), (3, 1)])
def test_grad_has_the_shape_and_dtype_of_data(dtype, shape) -> None:
    p = Tensor(np.ones(shape, dtype=dtype), requires_grad=True)
    (p * np.ones((3, 4), dtype=dtype)).sum().backward()  # p broadcast up to (3, 4)
    assert p.grad.shape == shape and p.grad.dtype == dtype
    np.testing.assert_array_equal(p.grad, np.full(shape, 12 // int(np.prod(shape))))


def test_grad_dtype_follows_data_even_when_the_graph_upcasts() -> None:
    p = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    out = (p * np.ones(3)).sum()  # float32 * float64 ndarray -> float64 (NumPy's rules)
    assert out.dtype == np.float64
    out.backward()
    assert p.grad.dtype == np.float32


def test_float32_stays_float32_with_python_scalars() -> None:
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    W = Tensor(rng.standard_normal((3, 5)).astype(np.float32), requires_grad=True)
    h = (2.0 * x + 1 - 0.5) / 3.0
    assert h.dtype == np.float32
    logits = (h @ W).tanh() ** 2 * 1.5
    assert logits.dtype == np.float32
    assert logits.sigmoid().dtype == logits.relu().dtype == logits.mean().dtype == np.float32
    assert logits.log_softmax().dtype == np.float32
    loss = F.cross_entropy(logits, np.array([0, 1, 2, 3]))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == W.grad.dtype == np.float32
    (gx,) = grad(F.cross_entropy(x @ W, np.array([0, 1, 2, 3])), [x])
    assert gx.dtype == np.float32


def test_grad_and_data_are_assignable_for_an_sgd_step() -> None:
    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (p * p).sum().backward()
    with no_grad():
        p.data -= 0.25 * p.grad
    np.testing.assert_array_equal(p.data, [0.5, 1.0])
    p.grad = None
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad, [1.0, 2.0])  # fresh, not accumulated onto the old one


def test_gradients_of_different_leaves_do_not_alias() -> None:
    a = Tensor(np.zeros(3), requires_grad=True)
    b = Tensor(np.zeros(3), requires_grad=True)
    seed = np.ones(3)
    (a + b).backward(seed)  # add's VJP hands the very same array to both inputs
    assert not np.shares_memory(a.grad, b.grad) and not np.shares_memory(a.grad, seed)
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, np.ones(3))
    (a + b + a).backward(seed)
    np.testing.assert_array_equal(a.grad, 12 * np.ones(3))
    np.testing.assert_array_equal(b.grad, 2 * np.ones(3))
    np.testing.assert_array_equal(seed, np.ones(3))  # the caller's grad_output is never written to


def test_intermediate_and_constant_tensors_get_no_grad() -> None:
    x = Tensor(np.ones(2), requires_grad=True)
    c = Tensor(np.ones(2))
    h = x * c
    h.sum().backward()
    assert h.grad is None and c.grad is None and x.grad is not None


def test_conversions_item_numpy_detach() -> None:
    x = Tensor(np.array([[1.5, 2.0]]), requires_grad=True)
    y = x * 2
    assert isinstance(y.numpy(), np.ndarray) and np.shares_memory(y.numpy(), y.data)
    assert not y.data.flags.writeable and x.data.flags.writeable  # an op's output is read-only, a leaf's is not
    assert y.sum().item() == 7.0 and isinstance(y.sum().item(), float)
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.op is None and d.parents == ()
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()  # detach cuts the path through y: only the direct use of x counts
    np.testing.assert_array_equal(x.grad, d.data)
    assert np.asarray(x.detach()).shape == (1, 2) and len(x) == 1


def test_backward_on_a_one_element_tensor_seeds_one() -> None:
    x = Tensor(np.array([2.0]), requires_grad=True)
    (x * 3).reshape(1, 1).backward()
    np.testing.assert_array_equal(x.grad, [3.0])


def test_backward_with_grad_output_on_a_non_scalar() -> None:
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (x * x).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, -6.0])


# ----------------------------------------------------------------------------
# Recording modes
# ----------------------------------------------------------------------------
def test_no_grad_records_nothing() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2).tanh().sum()
        z = x[0] + F.cross_entropy((x * 1).reshape(1, 3), np.array([0]))
    assert is_grad_enabled()
    for t in (y, z):
        assert not t.requires_grad and t.op is None and t.parents == ()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_is_restored_after_an_exception_and_nests() -> None:
    with pytest.raises(ValueError):
        with no_grad():
            raise ValueError("boom")
    assert is_grad_enabled()
    x = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        with enable_grad():
            assert (x * 2).requires_grad
        with no_grad():
            pass
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_long_chain_backward_has_no_recursion_error() -> None:
    x = Tensor(0.5, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    assert y.parents[0].op == "add"
    y.backward()
    assert x.grad.item() == 1.0


def test_long_chain_walk_and_release_without_backward() -> None:
    x = Tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    order = topological_order(y)
    assert len(order) == 100_001 and order[0] is x and order[-1] is y
    del order, y  # dropping a 100,000-deep graph must not overflow the stack either


# ----------------------------------------------------------------------------
# Graph lifetime
# ----------------------------------------------------------------------------
_T3 = np.array([2, 0, 2])
RETAINED_LOSSES = {
    "tanh": lambda x: (x.tanh() * x).sum(),
    "cross_entropy": lambda x: F.cross_entropy(x.reshape(3, 2) * 2, np.array([1, 0, 1])),
    "embedding": lambda x: (x.reshape(3, 2)[np.array([[0, 2], [2, 2]])] ** 2).sum(),
    "matmul": lambda x: (x.reshape(2, 3) @ x.reshape(3, 2)).tanh().sum(),
    "log_softmax": lambda x: (x.reshape(2, 3).log_softmax() * x.reshape(2, 3)).sum(),
}


@pytest.mark.parametrize("name", sorted(RETAINED_LOSSES))
def test_retain_graph_allows_a_second_backward_and_grads_double(name: str) -> None:
    x = Tensor(np.linspace(-1.0, 1.5, 6), requires_grad=True)
    loss = RETAINED_LOSSES[name](x)
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-14)
    x.grad = None
    loss.backward()  # whatever the op saved for its VJP is still intact the third time
    np.testing.assert_allclose(x.grad, first, rtol=1e-14)


def test_graph_is_freed_after_backward() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x.exp()
    loss = h.sum()
    loss.backward()
    assert loss.parents == () and h.parents == ()  # intermediate links released
    with pytest.raises(RuntimeError, match="freed"):
        loss.backward()
    with pytest.raises(RuntimeError, match="freed"):
        (h * 2).sum().backward()  # a new graph built on a freed intermediate
    x.sum().backward()  # leaves are unaffected: new graphs from them work
    np.testing.assert_allclose(x.grad, np.exp(x.data) + 1)


def test_grad_without_create_graph_also_frees_but_can_retain() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).sum()
    (g1,) = grad(loss, x, retain_graph=True)
    (g2,) = grad(loss, x)
    np.testing.assert_array_equal(g1.data, g2.data)
    with pytest.raises(RuntimeError, match="freed"):
        grad(loss, x)


# ----------------------------------------------------------------------------
# grad()
# ----------------------------------------------------------------------------
def test_grad_returns_gradients_without_touching_dot_grad() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    unused = Tensor(np.array([5.0]), requires_grad=True)
    h = x * 3
    gx, gh, gu = grad((h * h).sum(), [x, h, unused])
    np.testing.assert_array_equal(gh.data, 2 * h.data)  # w.r.t. an intermediate
    np.testing.assert_array_equal(gx.data, 18 * x.data)
    np.testing.assert_array_equal(gu.data, [0.0])  # the output does not depend on it
    assert x.grad is None and unused.grad is None


# ----------------------------------------------------------------------------
# Numerics
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_log_softmax_and_cross_entropy_of_huge_logits_are_finite(scale: float) -> None:
    rng = np.random.default_rng(0)
    z = scale + rng.standard_normal((4, 5))
    z[:, 0] = -scale  # a spread of 2e4 inside each row as well
    x = Tensor(z, requires_grad=True)
    out = x.log_softmax(axis=-1)
    assert np.isfinite(out.data).all()
    np.testing.assert_allclose(np.exp(out.data).sum(axis=-1), 1.0)
    (out * rng.standard_normal(out.shape)).sum().backward()
    assert np.isfinite(x.grad).all()
    x.grad = None
    loss = F.cross_entropy(x, np.array([0, 1, 2, 3]))
    assert np.isfinite(loss.item())
    loss.backward()
    assert np.isfinite(x.grad).all()
    np.testing.assert_allclose(x.grad.sum(axis=1), 0.0, atol=1e-12)


def test_sigmoid_of_huge_inputs_is_finite() -> None:
    x = Tensor(np.array([-1e4, 0.0, 1e4]), requires_grad=True)
    y = x.sigmoid()
    np.testing.assert_allclose(y.data, [0.0, 0.5, 1.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.25, 0.0])


# ----------------------------------------------------------------------------
# Package surface and operators
# ----------------------------------------------------------------------------
def test_functional_is_reachable_after_import_autograd_np() -> None:
    code = "import autograd_np, numpy as np; t = autograd_np.Tensor(np.zeros((2, 3))); print(autograd_np.functional.cross_entropy(t, np.array([0, 2])).item())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) == pytest.approx(np.log(3))
    assert autograd_np.functional.cross_entropy is F.cross_entropy


@pytest.mark.parametrize(
    "expression, expected_grad",
    [
        (lambda t: 2 + t, 1.0),
        (lambda t: 2 - t, -1.0),
        (lambda t: 2 * t, 2.0),
        (lambda t: 2 / t, -2 / 4.0),
        (lambda t: 2**t, 4 * np.log(2)),
        (lambda t: np.float64(3.0) * t, 3.0),
        (lambda t: np.full(3, 2.0) + t, 1.0),
        (lambda t: np.full(3, 2.0) - t, -1.0),
        (lambda t: np.full(3, 2.0) * t, 2.0),
        (lambda t: np.full(3, 2.0) / t, -2 / 4.0),
        (lambda t: np.full(3, 2.0) ** t, 4 * np.log(2)),
        (lambda t: np.ones((2, 3)) @ t, 2.0),
    ],
)
def test_reflected_operators_return_tensors(expression, expected_grad) -> None:
    t = Tensor(np.full(3, 2.0), requires_grad=True)
    out = expression(t)
    assert isinstance(out, Tensor) and out.requires_grad
    out.sum().backward()
    np.testing.assert_allclose(t.grad, np.full(3, expected_grad))


def test_graph_walk_is_public() -> None:
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="a")
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True, name="b")
    c = Tensor(np.array([1.0, 1.0]), name="const")
    ab = a * b
    s = ab + a
    out = (s * c).tanh().sum()
    assert out.op == "sum" and out.parents[0].op == "tanh"
    assert ab.op == "mul" and ab.parents == (a, b)
    assert s.op == "add" and s.parents == (ab, a)
    assert a.op is None and a.parents == () and a.is_leaf and not ab.is_leaf
    order = topological_order(out)
    assert order[-1] is out
    position = {id(t): i for i, t in enumerate(order)}
    assert set(position) >= {id(a), id(b), id(c), id(ab), id(s)}
    assert len(position) == len(order)  # each tensor once
    for t in order:
        for p in t.parents:
            assert position[id(p)] < position[id(t)], "inputs come before outputs"
    assert {t.op for t in order} == {None, "mul", "add", "tanh", "sum"}


def test_tensor_and_list_indices() -> None:
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    picked = x[Tensor([1, 1, 0])]  # an integer Tensor as index, repeats add up
    masked = x[Tensor(np.array([False, True]))]  # a boolean Tensor as mask
    listed = x[[0, 0], [2, 2]]  # lists of ints, as in NumPy
    assert picked.shape == (3, 3) and masked.shape == (1, 3) and listed.shape == (2,)
    (picked.sum() + masked.sum() + listed.sum()).backward()
    np.testing.assert_array_equal(x.grad, [[1, 1, 3], [3, 3, 3]])


def test_create_graph_records_even_inside_no_grad() -> None:
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    loss = (x * x * x).sum()
    with no_grad():
        (g,) = grad(loss, x, create_graph=True)
        assert not is_grad_enabled()
    assert g.requires_grad
    (gg,) = grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, 6 * x.data)


def test_non_finite_gradient_of_one_row_does_not_leak_into_others() -> None:
    """Scattering a gradient that holds inf into repeated rows: only the rows it belongs to see it."""
    x = Tensor(np.zeros((3, 2)), requires_grad=True)
    g = np.ones((4, 2))
    g[3, 0] = np.inf
    x[np.array([0, 0, 2, 1])].backward(g)
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0], [np.inf, 1.0], [1.0, 1.0]])


@pytest.mark.parametrize("rows", [5, 300])
def test_embedding_gradient_in_float32(rows: int) -> None:
    rng = np.random.default_rng(rows)
    C = Tensor(rng.standard_normal((rows, 3)).astype(np.float32), requires_grad=True)
    X = rng.integers(0, rows, size=(16, 4))
    X[0] = X[1, 1]
    g = rng.standard_normal((16, 4, 3)).astype(np.float32)
    C[X].backward(g)
    expected = np.zeros((rows, 3), dtype=np.float64)
    np.add.at(expected, X, g.astype(np.float64))
    assert C.grad.dtype == np.float32
    np.testing.assert_allclose(C.grad, expected, rtol=1e-5, atol=1e-5)


def test_public_walk_exposes_op_arguments_and_keywords():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2.0
    s = y.sum(axis=1)
    assert y.op == "mul" and y.op_inputs[0] is x and y.op_inputs[1] == 2.0
    assert s.op_params == {"axis": (1,), "keepdims": False}
    assert x.op_inputs == () and x.op_params == {}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "3-d", "empty batch", "many rows"])
def test_bias_gradient_is_the_batch_sum(dtype, layout: str) -> None:
    """The bias VJP sums over the batch; every layout and dtype gives the plain sum, in the bias's dtype."""
    rng = np.random.default_rng(3)
    shapes = {"contiguous": (7, 5), "transposed": (5, 7), "3-d": (2, 3, 5), "empty batch": (0, 5),
              "many rows": (70_000, 5)}
    g = rng.standard_normal(shapes[layout]).astype(dtype)
    if layout == "transposed":
        g = g.T  # not C-contiguous: the fallback path
    b = Tensor(np.zeros(5, dtype=dtype), requires_grad=True)
    x = Tensor(np.zeros(g.shape[:-1] + (5,), dtype=dtype))
    (x + b).backward(g)
    expected = g.astype(np.float64).reshape(-1, 5).sum(axis=0)
    assert b.grad.dtype == dtype and b.grad.shape == (5,)
    rows = max(g.size // 5, 1)
    tol = {np.float16: 1e-2, np.float32: 1e-5, np.float64: 1e-12}[dtype] * np.sqrt(rows)  # rounding grows with the count
    np.testing.assert_allclose(b.grad.astype(np.float64), expected, rtol=tol, atol=tol)


def test_the_embedding_scatter_kernel_matches_add_at_and_its_cache_stays_small() -> None:
    """Embedding gradients are onehot(index)ᵀ G with one-hot rows from a cached identity matrix:
    the result equals ``np.add.at``, the cached matrix is read-only and never handed out."""
    rng = np.random.default_rng(0)
    for rows in (1, 27, 256):
        table = Tensor(rng.standard_normal((rows, 3)).astype(np.float32), requires_grad=True)
        index = rng.integers(-rows, rows, size=(8, 4))  # negative indices and repeats
        g = rng.standard_normal((8, 4, 3)).astype(np.float32)
        table[index].backward(g)
        expected = np.zeros((rows, 3), np.float32)
        np.add.at(expected, index, g)
        np.testing.assert_allclose(table.grad, expected, rtol=1e-6, atol=1e-6)
        assert table.grad.flags.writeable
    eye = kernels.identity(5, np.dtype(np.float32))
    assert not eye.flags.writeable and not kernels.ones(3, np.dtype(np.float32)).flags.writeable
    for n in range(1, 40):
        kernels.ones(n, np.dtype(np.float64))
    assert 0 < len(kernels.ONES_CACHE) <= 16
    for n in range(1, 40):
        kernels.identity(n, np.dtype(np.float64))
    assert 0 < len(kernels.IDENTITY_CACHE) <= 16


def test_cross_entropy_row_sums_in_every_float_dtype() -> None:
    rng = np.random.default_rng(5)
    logits64 = rng.standard_normal((6, 4)) * 3
    targets = np.array([0, 3, 1, 1, 2, 0])
    shifted = logits64 - logits64.max(axis=1, keepdims=True)
    expected = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(6), targets])
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5), (np.float16, 2e-2), (np.longdouble, 1e-12)):
        loss = F.cross_entropy(Tensor(logits64.astype(dtype)), targets)
        assert loss.dtype == dtype
        assert abs(float(loss.item()) - expected) <= tol * max(1.0, abs(expected))


@pytest.mark.parametrize(
    "fn",
    [
        lambda W: [[1.0, 2.0]] @ W,
        lambda W: W @ [1.0, -1.0, 0.5],
        lambda W: [[1.0], [2.0]] * W,
        lambda W: [3.0, 2.0, 1.0] - W,
        lambda W: ops.linear([[1.0, 2.0]], W, [0.5, 0.5, 0.5]),
    ],
    ids=["list @ W", "W @ list", "list * W", "list - W", "linear(list, W, list)"],
)
def test_nested_list_operands_are_constants_forward_and_backward(fn) -> None:
    """A nested list beside a Tensor is an array constant: the forward and the VJPs both work."""
    W0 = np.arange(6.0).reshape(2, 3) / 5
    W = Tensor(W0, requires_grad=True)
    out = fn(W)
    out.sum().backward()
    assert W.grad.shape == (2, 3)
    assert gradcheck(lambda w: fn(w), [W0], **TIGHT)


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [1, -1, (0, -1), (-2,)])
def test_reduction_ops_called_directly_take_int_and_negative_axes(name: str, axis) -> None:
    """The Tensor methods normalise axes; the ops themselves must accept NumPy's spellings too."""
    x0 = np.random.default_rng(2).permutation(24).reshape(2, 3, 4).astype(np.float64)
    op = getattr(ops, name)
    out = op(Tensor(x0), axis=axis)
    np.testing.assert_allclose(out.data, getattr(np, name)(x0, axis=axis))
    assert gradcheck(lambda x: op(x, axis=axis, keepdims=False), [x0], **TIGHT)


@pytest.mark.parametrize("index", [[0, 2, 5], [3], [-1], [-1, 5], [1, 1, 4], [4, 2], []])
def test_row_gathers_scatter_back_exactly(index: list) -> None:
    """A gather of distinct increasing rows scatters back by assignment; anything else (repeats,
    a negative index aliasing a positive one, any order) adds up like ``np.add.at``."""
    x = Tensor(np.arange(18.0).reshape(6, 3), requires_grad=True)
    picks = np.array(index, dtype=np.int64)
    g = np.random.default_rng(1).standard_normal((len(index), 3))
    x[picks].backward(g)
    expected = np.zeros((6, 3))
    np.add.at(expected, picks, g)
    np.testing.assert_array_equal(x.grad, expected)


def test_a_boolean_mask_of_the_wrong_length_is_an_index_error_as_in_numpy() -> None:
    x = Tensor(np.arange(8.0).reshape(4, 2), requires_grad=True)
    with pytest.raises(IndexError, match="boolean index did not match"):
        x[np.array([True, False])]
    mask = np.array([True, False, True, True])
    x[mask].sum().backward()
    np.testing.assert_array_equal(x.grad, mask[:, None] * np.ones((4, 2)))
