"""Never a silent wrong gradient: in-place changes, per-thread grad mode, checked assignment,
retain_grad and hooks, anomaly mode, and inputs that used to crash."""
from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, functional as F, grad, nn, no_grad, optim

IN_PLACE = "modified by an in-place operation"


# ----------------------------------------------------------------------------
# In-place changes to what a recorded op saved
# ----------------------------------------------------------------------------
def test_augmented_assignment_on_data_between_forward_and_backward_is_refused() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    w = Tensor(np.full(3, 10.0), requires_grad=True)
    y = (x * w).sum()
    w.data *= 2
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE) + r".*its input 1 \[mul, shape \(3,\)\]"):
        y.backward()


def test_an_intermediate_is_read_only_through_data() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    h = x.tanh()
    with pytest.raises(ValueError, match="read-only"):
        h.data[...] = 0
    with pytest.raises(ValueError, match="read-only"):
        h.data *= 0
    with pytest.raises(ValueError, match="read-only"):
        h.detach().data[0] = 1.0  # detach shares the array: still protected
    h.sum().backward()
    np.testing.assert_allclose(x.grad, 1 - np.tanh(1.0) ** 2)


def test_replacing_an_intermediate_data_is_refused_at_backward() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    h = x.tanh()  # tanh's VJP reads its output
    h.data = np.zeros(3)
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE) + r".*its output \[tanh"):
        h.sum().backward()


def test_replacing_a_leaf_data_keeps_the_recorded_values() -> None:
    """Assigning a new array (not writing into the old one) leaves the graph's arrays intact."""
    x = Tensor(np.ones(3), requires_grad=True)
    w = Tensor(np.full(3, 10.0), requires_grad=True)
    y = (x * w).sum()
    w.data = np.zeros(3)
    y.backward()
    np.testing.assert_array_equal(x.grad, [10.0, 10.0, 10.0])


def test_in_place_operator_on_an_intermediate_is_recorded_and_checked() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    h += 1  # recorded like h = h + 1
    assert h.op == "add"
    h.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])

    x.grad = None
    h = x * 3
    used = (h * h).sum()  # mul saved h
    h *= 2
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE)):
        used.backward()


def test_retained_graph_with_an_optimizer_step_in_between_is_refused() -> None:
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng, dtype=np.float64), nn.Tanh(), nn.Linear(4, 2, rng=rng, dtype=np.float64))
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = (model(Tensor(rng.standard_normal((4, 3)))) ** 2).sum()
    loss.backward(retain_graph=True)
    opt.step()  # the second layer's VJP towards the first reads its weight, now changed
    with pytest.raises(RuntimeError, match=re.escape(IN_PLACE) + r".*its input 1 \[linear, shape \(4, 2\)\]"):
        loss.backward()


def test_a_retained_graph_whose_vjps_read_no_changed_value_runs_after_a_step() -> None:
    """As in PyTorch: one layer on an input that needs no gradient reads only x for W's gradient."""
    rng = np.random.default_rng(0)
    layer = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    x = rng.standard_normal((4, 3))
    loss = (layer(Tensor(x)) ** 2).sum()
    loss.backward(retain_graph=True)
    first = layer.weight.grad.copy()
    W_before, b_before = layer.weight.data.copy(), layer.bias.data.copy()
    opt.step()
    layer.zero_grad()
    loss.backward()  # the gradient of the recorded graph: at the weights before the step
    np.testing.assert_allclose(layer.weight.grad, first)
    np.testing.assert_allclose(layer.weight.grad, x.T @ (2 * (x @ W_before + b_before)))


def test_the_sgd_idiom_after_backward_still_works() -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        w.data -= 0.1 * w.grad
        w.grad = None
    np.testing.assert_allclose(w.data, np.array([1.0, 2.0]) * 0.8**3)


# ----------------------------------------------------------------------------
# In-place Tensor operators
# ----------------------------------------------------------------------------
def test_in_place_operators_under_no_grad_keep_the_leaf() -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w * w).sum().backward()
    same = w
    with no_grad():
        w -= 0.1 * w.grad
        w *= 2.0
        w /= 2.0
        w += 0.0
    assert w is same and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.data, [0.8, 1.6])
    (w * w).sum().backward()  # the next step works


def test_in_place_operator_on_a_leaf_that_requires_grad_is_refused_outside_no_grad() -> None:
    lin = nn.Linear(2, 2, dtype=np.float64, rng=0)
    with pytest.raises(RuntimeError, match="a leaf Tensor that requires grad is being used in an in-place operation"):
        lin.bias += 1.0
    assert lin.bias.is_leaf


def test_in_place_operator_on_a_constant_updates_it() -> None:
    c = Tensor(np.array([1.0, 2.0]))
    c += 1
    np.testing.assert_array_equal(c.data, [2.0, 3.0])
    assert c.is_leaf and not c.requires_grad


# ----------------------------------------------------------------------------
# Grad mode is per thread
# ----------------------------------------------------------------------------
def _train_steps(n: int, failures: list) -> None:
    w = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    for _ in range(n):
        try:
            (w * w).sum().backward()
            if w.grad is None or not np.allclose(w.grad, 2 * w.data):
                failures.append("wrong or missing gradient")
            w.grad = None
        except Exception as error:  # collected: the assertion below reports them
            failures.append(repr(error))


def test_no_grad_in_one_thread_does_not_stop_another_threads_training() -> None:
    inside, release = threading.Event(), threading.Event()

    def hold_no_grad() -> None:
        with no_grad():
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold_no_grad)
    holder.start()
    inside.wait(10)
    failures: list = []
    trainer = threading.Thread(target=_train_steps, args=(300, failures))
    trainer.start()
    trainer.join()
    release.set()
    holder.join()
    assert failures == []


def test_a_thread_toggling_no_grad_never_affects_another() -> None:
    stop = threading.Event()

    def toggle() -> None:
        while not stop.is_set():
            with no_grad():
                pass

    toggler = threading.Thread(target=toggle)
    toggler.start()
    failures: list = []
    _train_steps(500, failures)
    stop.set()
    toggler.join()
    assert failures == []


def test_interleaved_enter_and_exit_restore_recording_in_every_thread() -> None:
    entered = [threading.Event(), threading.Event()]
    may_exit = [threading.Event(), threading.Event()]
    seen: dict[int, bool] = {}

    def worker(k: int) -> None:
        with no_grad():
            entered[k].set()
            may_exit[k].wait(10)
        seen[k] = ag.is_grad_enabled()

    threads = [threading.Thread(target=worker, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for e in entered:
        e.wait(10)
    may_exit[0].set()  # thread 0 leaves first, although it entered first: interleaved
    threads[0].join()
    may_exit[1].set()
    threads[1].join()
    assert seen == {0: True, 1: True} and ag.is_grad_enabled()
    x = Tensor(np.ones(2), requires_grad=True)
    assert (x * 2).requires_grad


def test_no_grad_nests_and_works_as_a_decorator() -> None:
    with no_grad():
        with ag.enable_grad():
            assert ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()

    @no_grad()
    def infer(x: Tensor) -> Tensor:
        return x * 2

    assert not infer(Tensor(np.ones(2), requires_grad=True)).requires_grad


# ----------------------------------------------------------------------------
# Checked assignment
# ----------------------------------------------------------------------------
def test_grad_assignment_is_checked() -> None:
    x = Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape(".grad: a gradient of shape (4,) for a tensor of shape (3,)")):
        x.grad = np.zeros(4)
    with pytest.raises(TypeError, match="does not require grad"):
        x.grad = Tensor(np.zeros(3), requires_grad=True)
    x.grad = Tensor(np.ones(3))
    assert x.grad.dtype == np.float32
    x.grad = np.ones(3, dtype=np.float64)  # cast to the tensor's dtype
    assert x.grad.dtype == np.float32
    x.grad = None
    assert x.grad is None


def test_data_assignment_is_checked() -> None:
    p = Tensor(np.zeros(2), requires_grad=True)
    p.data = [1.0, 2.0]  # any array-like
    with pytest.raises(TypeError, match="floating-point"):
        p.data = [1, 2]  # integers on a tensor that requires grad
    np.testing.assert_array_equal(p.data, [1.0, 2.0])
    with pytest.raises(TypeError, match="object array"):
        p.data = [{}, 1]
    with pytest.raises(TypeError, match="complex"):
        p.data = np.array([1j, 2])


# ----------------------------------------------------------------------------
# retain_grad, hooks, requires_grad_
# ----------------------------------------------------------------------------
def _branching():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    h = x.tanh()
    y = (h * h).sum() + (h * x).sum()  # h feeds two branches
    return x, h, y


def test_retain_grad_keeps_an_intermediate_gradient_equal_to_grad() -> None:
    x, h, y = _branching()
    (expected,) = grad(y, [h], retain_graph=True)
    h.retain_grad()
    y.backward()
    np.testing.assert_allclose(h.grad, expected.data, rtol=1e-12)
    assert h.retains_grad


def test_hooks_see_the_complete_gradient_and_may_replace_it() -> None:
    x, h, y = _branching()
    (dh,) = grad(y, [h], retain_graph=True)
    (dx,) = grad(y, [x], retain_graph=True)
    seen = []
    h.register_hook(lambda g: seen.append(np.array(g)))
    handle = h.register_hook(lambda g: g * 0)  # cut the path through h
    y.backward(retain_graph=True)
    np.testing.assert_allclose(seen[0], dh.data, rtol=1e-12)
    np.testing.assert_allclose(x.grad, x.tanh().data)  # only the direct use of x in h * x is left
    handle.remove()
    x.grad = None
    y.backward()
    np.testing.assert_allclose(x.grad, dx.data, rtol=1e-12)


def test_hooks_run_under_grad_and_on_leaves() -> None:
    x, h, y = _branching()
    calls = []
    x.register_hook(lambda g: calls.append("x") or g * 2)
    (gx,) = grad(y, [x], retain_graph=True)
    (plain,) = grad(y, [x])
    assert calls == ["x", "x"]
    np.testing.assert_allclose(gx.data, plain.data)


def test_a_hook_returning_a_wrong_shape_is_an_error() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: np.ones(4))
    with pytest.raises(RuntimeError, match=r"returned a gradient of shape \(4,\)"):
        y.sum().backward()


def test_requires_grad_underscore_returns_the_tensor() -> None:
    t = Tensor(np.ones(2))
    assert t.requires_grad_() is t and t.requires_grad
    with pytest.raises(TypeError):
        Tensor(np.arange(3)).requires_grad_()


# ----------------------------------------------------------------------------
# Anomaly mode
# ----------------------------------------------------------------------------
def test_anomaly_mode_names_the_forward_op_and_the_source_line() -> None:
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with ag.detect_anomaly(), np.errstate(divide="ignore"):
        with pytest.raises(ag.AnomalyError, match=r"log produced inf .*input shapes \(2,\).*test_safety_checks.py:(\d+)") as info:
            y = x.log() * 0  # noqa: F841  (the line the error must report)
    line = int(re.search(r"test_safety_checks.py:(\d+)", str(info.value)).group(1))
    assert open(__file__).read().splitlines()[line - 1].strip().startswith("y = x.log() * 0")
    assert not ag.is_anomaly_enabled()
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.isnan((x.log() * 0).sum().item())  # outside the block: no check, NumPy's result


def test_anomaly_mode_finds_a_backward_only_nan_and_names_the_forward_call_site() -> None:
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    ag.set_detect_anomaly(True)
    try:
        y = (x**0.5).sum()  # sqrt at 0 is finite; its gradient is not
        with pytest.raises(ag.AnomalyError, match=r"the VJP of pow produced inf in the gradient of its input 0") as info, \
                np.errstate(divide="ignore"):
            y.backward()
    finally:
        ag.set_detect_anomaly(False)
    line = int(re.search(r"test_safety_checks.py:(\d+)", str(info.value)).group(1))
    assert "y = (x**0.5).sum()" in open(__file__).read().splitlines()[line - 1]


def test_without_anomaly_mode_the_nan_passes_silently_as_in_numpy() -> None:
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore"):
        (x**0.5).sum().backward()
    assert np.isinf(x.grad[0])


# ----------------------------------------------------------------------------
# The crash cases
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["log_softmax", "softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_zero_d_softmax_differentiates_to_zero(fn: str, axis: int) -> None:
    x = Tensor(np.float32(0.5), requires_grad=True)
    getattr(x, fn)(axis=axis).backward()
    assert x.grad.shape == () and x.grad == 0


def test_empty_batch_mean_and_cross_entropy_give_nan_without_crashing() -> None:
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        m = x.mean()
    assert np.isnan(m.item())
    m.backward()
    assert x.grad.shape == (0, 3)
    logits = Tensor(np.zeros((0, 4)), requires_grad=True)
    loss = F.cross_entropy(logits, np.zeros(0, dtype=np.int64))
    assert np.isnan(loss.item())
    loss.backward()
    assert logits.grad.shape == (0, 4)


def test_integer_to_a_negative_integer_power_names_pow() -> None:
    with pytest.raises(ValueError, match=r"^pow: input shapes \(3,\) and \(\): Integers to negative integer powers"):
        Tensor(np.arange(3)) ** -1


def test_a_complex_operand_is_an_error() -> None:
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="complex"):
        w * (1 + 2j)
    with pytest.raises(TypeError, match="complex"):
        Tensor(np.ones(2)) * np.array([1j, 1])
    with pytest.raises(TypeError, match="complex"):
        Tensor(np.array([1j]))


def test_the_numpy_exception_class_is_kept() -> None:
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(IndexError):
        x.sum(axis=5)
    with pytest.raises(np.exceptions.AxisError):
        x.sum(axis=5)
    with pytest.raises(np.exceptions.AxisError, match="^log_softmax: "):
        x.log_softmax(axis=7)
