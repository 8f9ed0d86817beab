"""In-place changes as precise as PyTorch's: an error only when a VJP that will run reads a
changed value, never a silently wrong gradient, item assignment, shape and dtype kept.

Reference values come from PyTorch 2.13 (CPU, float64) run on the same programs by hand, or
from closed forms written next to them.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, no_grad, ops

IN_PLACE = "modified by an in-place operation"


def t(values, requires_grad: bool = True) -> Tensor:
    return Tensor(np.array(values, dtype=np.float64), requires_grad=requires_grad)


def test_micrograd_readme_example_gives_pytorchs_values_and_gradients() -> None:
    a, b = t(-4.0), t(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert g.item() == pytest.approx(24.70408163265306, rel=1e-12)
    assert a.grad == pytest.approx(138.83381924198252, rel=1e-12)
    assert b.grad == pytest.approx(645.5772594752186, rel=1e-12)


def test_stable_softmax_written_in_place_gives_the_out_of_place_gradients() -> None:
    rng = np.random.default_rng(0)
    xs, ws = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))

    def grads(in_place: bool) -> tuple[np.ndarray, np.ndarray]:
        x, W = Tensor(xs, requires_grad=True), Tensor(ws, requires_grad=True)
        z = x @ W
        if in_place:
            z -= z.max(axis=1, keepdims=True)  # max's VJP needs where the maxima were, not z
        else:
            z = z - z.max(axis=1, keepdims=True)
        p = z.exp()
        p = p / p.sum(axis=1, keepdims=True)
        (p[:, 0] ** 2).sum().backward()
        return x.grad, W.grad

    (gx, gw), (ex, ew) = grads(True), grads(False)
    np.testing.assert_allclose(gx, ex, rtol=1e-12)
    np.testing.assert_allclose(gw, ew, rtol=1e-12)


def test_an_in_place_operator_reading_the_tensor_itself_records_the_right_graph() -> None:
    a = t([1.0, 2.0])
    c = a * 1
    c += c  # c = 2a
    c.sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])

    a = t([1.0, 2.0])
    c = a * 1
    c *= c  # c = a², dc/da = 2a (PyTorch refuses this one; the value here is right)
    c.sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 4.0])


def test_a_node_recorded_before_the_change_sends_its_gradient_to_the_old_value() -> None:
    a = t([1.0, 2.0])
    d = a * 3
    twice = d * 2  # mul by a constant reads nothing of d
    d += 1
    (twice + d).sum().backward()  # d(6a + 3a + 1)/da = 9 (PyTorch: 9, 9)
    np.testing.assert_array_equal(a.grad, [9.0, 9.0])


def test_a_node_whose_vjp_reads_the_changed_value_refuses() -> None:
    a = t([1.0, 2.0])
    d = a * 3
    square = d * d  # mul reads both of its inputs
    d += 1
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE) + r".*\[mul, shape \(2,\)\]"):
        (square + d).sum().backward()


def test_an_op_reading_its_own_output_refuses_when_the_output_changed() -> None:
    x = t([1.0, 2.0])
    h = x.tanh()
    h += 1
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE) + r".*its output \[tanh"):
        h.sum().backward()


@pytest.mark.parametrize("symbol", ["*=", "/="])
def test_in_place_mul_and_div_by_a_tensor_that_requires_grad(symbol: str) -> None:
    x, w = t([1.0, 2.0]), t([3.0, 4.0])
    h = x * 1
    if symbol == "*=":
        h *= w
        expect_x, expect_w = [3.0, 4.0], [1.0, 2.0]
    else:
        h /= w
        expect_x, expect_w = [1 / 3, 1 / 4], [-1 / 9, -2 / 16]
    h.sum().backward()
    np.testing.assert_allclose(x.grad, expect_x)
    np.testing.assert_allclose(w.grad, expect_w)


def test_detach_shares_the_change_record_of_its_source() -> None:
    w, x = t([1.0, 2.0]), t([3.0, 4.0])
    y = (w * x).sum()
    d = w.detach()
    d += 1  # writes w's array
    np.testing.assert_array_equal(w.data, [2.0, 3.0])
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE) + r".*its input 0 \[mul"):
        y.backward()  # x's gradient reads w


def test_a_change_through_detach_that_no_vjp_reads_is_harmless() -> None:
    w, x = t([1.0, 2.0]), t([3.0, 4.0], requires_grad=False)
    y = (w * x).sum()
    d = w.detach()
    d += 1
    y.backward()  # w's gradient reads x only (PyTorch agrees: 3, 4)
    np.testing.assert_array_equal(w.grad, [3.0, 4.0])


def test_detach_of_an_ops_output_is_read_only_for_in_place_operators() -> None:
    h = t([1.0, 2.0]) * 1
    d = h.detach()
    with pytest.raises(ValueError, match=r"in-place \+=: this tensor's values are read-only"):
        d += 1


def test_in_place_on_a_view_while_recording_is_refused_never_silently_diverged() -> None:
    x = t([1.0, 1.0])
    h = x * 1
    v = h[0:1]
    with pytest.raises(RuntimeError, match="shares its memory with a view"):
        v += 1
    with pytest.raises(RuntimeError, match="shares its memory with a view"):
        h += 1  # the live view v would go stale
    del v
    h += 1  # no view left
    (h * h).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])


@pytest.mark.parametrize("make_view", [lambda h: h[1:], lambda h: h.reshape(2, 2), lambda h: h.T])
def test_views_share_memory_and_changes_with_their_base_outside_recording(make_view) -> None:
    base = Tensor(np.arange(4.0))
    view = make_view(base)
    view += 10  # nothing requires grad: written through, as NumPy does
    assert base.data.sum() == 6 + 10 * view.size
    w = t(np.ones(4))
    y = (w * base).sum()  # w's gradient reads base
    with no_grad():
        make_view(base).__imul__(2)
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE)):
        y.backward()


def test_in_place_never_changes_shape_or_dtype() -> None:
    h = Tensor(np.zeros(2))
    with pytest.raises(ValueError, match=r"a value of shape \(2, 2\) does not broadcast to the shape \(2,\)"):
        h += np.ones((2, 2))
    assert h.shape == (2,)
    f32 = Tensor(np.zeros(2, dtype=np.float32))
    f32 += np.ones(2)  # float64 values cast to float32 (same kind), as NumPy and PyTorch
    assert f32.dtype == np.float32
    np.testing.assert_array_equal(f32.data, [1.0, 1.0])
    longs = Tensor(np.zeros(2, dtype=np.int64))
    with pytest.raises(TypeError, match="cannot be written into a tensor of dtype int64"):
        longs += 1.5
    recorded = t([1.0, 2.0]).astype(np.float32) * 1
    recorded += t([1.0, 1.0])  # float64 operand: the result stays float32, and is recorded
    assert recorded.dtype == np.float32 and recorded.requires_grad


# ----------------------------------------------------------------------------
# Item assignment, as in PyTorch
# ----------------------------------------------------------------------------
def test_item_assignment_on_a_tensor_that_needs_no_grad_writes_the_array() -> None:
    onehot = ag.zeros(3, 4)
    Y = np.array([1, 2, 0])
    onehot[np.arange(3), Y] = 1
    np.testing.assert_array_equal(onehot.data, np.eye(4)[Y])
    assert onehot.is_leaf and not onehot.requires_grad


def test_item_assignment_in_no_grad_writes_a_leaf_in_place() -> None:
    w = t([1.0, 2.0, 3.0])
    same = w
    with no_grad():
        w[0] = 10.0
    assert w is same and w.is_leaf
    np.testing.assert_array_equal(w.data, [10.0, 2.0, 3.0])


def test_item_assignment_on_a_leaf_that_requires_grad_is_refused() -> None:
    w = t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Tensor that requires grad is being used in an in-place operation"):
        w[0] = 3.0


def test_item_assignment_in_a_graph_is_recorded() -> None:
    x, v = t([1.0, 2.0, 3.0]), t(5.0)
    h = x * 2
    h[1] = v * 3
    assert h.op == "setitem"
    (h * np.array([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 200.0])  # the overwritten position gets nothing
    assert v.grad == 30.0


def test_item_assignment_gives_zero_not_nan_where_the_gradient_is_infinite() -> None:
    x = t([0.0, 4.0])
    h = x * 1
    h[0] = 1.0
    h.sqrt().sum().backward()  # sqrt's gradient at the old 0 would be infinite: never reaches x
    np.testing.assert_array_equal(x.grad, [0.0, 0.25])


def test_every_op_declares_what_its_vjps_read() -> None:
    undeclared = sorted(name for name, op in ops.OPS.items() if op.reads is None)
    assert not undeclared, f"ops without reads= in their defvjp: {undeclared}"


def test_reads_names_are_checked_against_the_forward() -> None:
    op = ops.primitive("reads_typo_test")(lambda a, b: a + b)
    with pytest.raises(ValueError, match=r"reads names 'c', not y or one of its inputs \['a', 'b'\]"):
        op.defvjp(lambda g, y, a, b: g, lambda g, y, a, b: g, reads=("c", ""))


def test_load_state_dict_is_an_in_place_change_of_the_parameters() -> None:
    rng = np.random.default_rng(0)
    model = ag.nn.Sequential(ag.nn.Linear(3, 4, rng=rng, dtype=np.float64), ag.nn.Tanh(),
                             ag.nn.Linear(4, 2, rng=rng, dtype=np.float64))
    loss = model(Tensor(rng.standard_normal((5, 3)))).sum()
    model.load_state_dict({k: v * 2 for k, v in model.state_dict().items()})
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE) + r".*\[linear"):
        loss.backward()  # the first layer's input gradient reads the second layer's weight


def test_a_recorded_in_place_operator_writes_the_same_memory_as_pytorch() -> None:
    x, w = t([1.0, 2.0]), t([3.0, 4.0])
    h = x * 1
    seen = h.detach()  # shares h's array, as in PyTorch
    h *= w  # recorded: mul's VJP for w reads the old h, kept in the snapshot
    np.testing.assert_array_equal(seen.data, [3.0, 8.0])
    h.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    np.testing.assert_array_equal(w.grad, [1.0, 2.0])

    array = np.zeros(2)
    shared = ag.from_numpy(array)
    shared += t([1.0, 2.0])  # needs no grad itself; recorded because the right side does
    np.testing.assert_array_equal(array, [1.0, 2.0])
    assert shared.requires_grad and shared.op == "add"
