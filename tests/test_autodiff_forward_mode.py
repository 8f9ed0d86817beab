"""Forward mode: tangents travel with the values, no tape; user ops' JVPs; nesting with reverse mode."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, func, node
from autograd_np.forward_mode import is_forward_active, tangent_of


def chain(x: Tensor, n: int) -> Tensor:
    """n elementwise ops in a row."""
    for k in range(n):
        x = x.sin() if k % 2 else x * 1.01
    return x


def test_forward_mode_records_nothing_and_its_memory_does_not_grow_with_the_ops() -> None:
    x = np.random.default_rng(0).standard_normal(20_000)  # 160 kB per intermediate
    stamp = node.next_stamp()
    out, _ = func.jvp(lambda t: chain(t, 200), (x,), (np.ones_like(x),))
    assert node.next_stamp() == stamp + 1, "forward mode recorded a Node"
    assert out._node is None and not out.requires_grad

    def peak(n: int) -> int:
        tracemalloc.start()
        func.jvp(lambda t: chain(t, n), (x,), (np.ones_like(x),))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    short, long = peak(20), peak(200)
    assert long < short + 2 * x.nbytes, f"peak memory {short} bytes for 20 ops but {long} for 200"
    assert long < 20 * x.nbytes  # a tape would hold 2 x 200 arrays


def test_forward_mode_inside_no_grad_and_on_inputs_that_require_grad() -> None:
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    with ag.no_grad():
        out, dout = func.jvp(lambda t: (t * t).sum(), (x,), (np.array([1.0, 2.0]),))
    assert dout.item() == pytest.approx(2 * 0.5 + 2 * -1.0 * 2)
    assert out._node is None


def test_a_user_op_can_define_its_jvp() -> None:
    @ag.primitive("cube")
    def cube(x: np.ndarray) -> np.ndarray:
        """y = x^3

        VJP: dx = 3 G x^2
        JVP: dy = 3 x^2 dx
        """
        return x**3

    cube.defvjp(lambda g, y, x: 3 * g * x * x)
    cube.defjvp(lambda dx, y, x: 3 * x * x * dx)
    assert cube.jvp_rule == "dy = 3 x^2 dx"
    _, dout = func.jvp(lambda t: cube(t), (np.array([2.0]),), (np.array([1.0]),))
    assert dout.item() == 12.0
    assert func.hessian(lambda t: cube(t).sum())(np.array([2.0])).item() == pytest.approx(12.0)


def test_an_op_without_a_jvp_is_a_clear_error_naming_it() -> None:
    @ag.primitive("no_jvp_square")
    def square(x: np.ndarray) -> np.ndarray:
        return x * x

    square.defvjp(lambda g, y, x: 2 * g * x)
    assert func.grad(lambda t: square(t).sum())(np.array([3.0])).item() == 6.0  # reverse mode works
    with pytest.raises(NotImplementedError, match=r"forward mode .* no_jvp_square: it has no JVP; .*defjvp"):
        func.jvp(lambda t: square(t), (np.array([3.0]),), (np.array([1.0]),))
    with pytest.raises(NotImplementedError, match="no_jvp_square"):
        func.jacfwd(lambda t: square(t))(np.array([3.0]))
    assert not is_forward_active()  # the level was closed on the error


def test_a_tangent_for_an_input_without_a_derivative_is_an_error() -> None:
    @ag.primitive("scaled_rows")
    def scaled_rows(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return x * scale

    scaled_rows.defjvp(lambda dx, y, x, scale: dx * scale, None)  # scale: a constant by contract
    with pytest.raises(TypeError, match="scaled_rows: its input 1 has no derivative"):
        func.jvp(lambda s: scaled_rows(Tensor(np.ones(2)), s), (np.array([1.0, 2.0]),), (np.ones(2),))


def test_levels_nest_without_perturbation_confusion() -> None:
    """d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1 (a confused engine gives 2)."""
    def inner(x: Tensor) -> Tensor:
        return func.jvp(lambda y: x + y, (np.array(1.0),), (np.array(1.0),))[1]

    _, d = func.jvp(lambda x: x * inner(x), (np.array(3.0),), (np.array(1.0),))
    assert d.item() == 1.0


def test_forward_over_forward_and_reverse_over_forward_give_second_derivatives() -> None:
    f = lambda t: (t.sin() * t.exp()).sum()  # noqa: E731
    x = np.array([0.3, -0.7])
    d2 = 2 * np.cos(x) * np.exp(x)  # (sin e^x)'' = 2 cos x e^x
    np.testing.assert_allclose(np.diag(func.jacfwd(func.jacfwd(f))(x).data), d2)
    np.testing.assert_allclose(np.diag(func.jacrev(func.jacfwd(f))(x).data), d2)
    np.testing.assert_allclose(np.diag(func.jacfwd(func.jacrev(f))(x).data), d2)


def test_reverse_over_forward_records_the_tangent_computation() -> None:
    """With inputs that require grad, the tangent is a recorded Tensor: grad of a JVP works."""
    x = Tensor(np.array([0.4, 1.2]), requires_grad=True)
    _, dout = func.jvp(lambda t: (t.tanh() * t).sum(), (x,), (np.ones(2),))
    assert dout.requires_grad
    dout.backward()
    t = x.data
    # d/dx_i of sum_j (1 - tanh^2 x_j) x_j + tanh x_j
    expected = -2 * np.tanh(t) * (1 - np.tanh(t) ** 2) * t + 2 * (1 - np.tanh(t) ** 2)
    np.testing.assert_allclose(x.grad, expected)


def test_tangents_follow_in_place_changes() -> None:
    x = np.array([1.0, 2.0, 3.0])

    def f(t: Tensor) -> Tensor:
        h = t * 1.0
        h += t * t
        h[0] = t[1] * 5.0
        return h

    _, dout = func.jvp(f, (x,), (np.ones(3),))
    np.testing.assert_allclose(dout.data, [5.0, 1 + 2 * 2.0, 1 + 2 * 3.0])


def test_tangent_of_a_tensor_outside_any_level_is_none() -> None:
    assert tangent_of(Tensor(np.ones(2)), 1) is None
