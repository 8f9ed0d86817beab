"""Bad input fails loudly, with a message that names the op, the shapes and the way out."""
from __future__ import annotations

import re

import numpy as np
import pytest

import autograd_np
from autograd_np import GradcheckError, Tensor, functional as F, gradcheck, grad, ops
from autograd_np.ops import Primitive


def test_backward_on_a_non_scalar_needs_grad_output() -> None:
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"backward: output has shape \(2, 3\).*only for a scalar output.*grad_output"):
        (x * 2).backward()
    assert x.grad is None


def test_backward_through_a_freed_graph() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"already been freed.*retain_graph=True"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, 2 * np.ones(3))  # the failed call added nothing


@pytest.mark.parametrize("data", [[1, 2, 3], np.arange(3), 5, np.array([True, False])])
def test_integer_tensor_cannot_require_grad(data) -> None:
    dtype = np.asarray(data).dtype
    with pytest.raises(TypeError, match=f"only floating-point tensors can require grad, got dtype {dtype}"):
        Tensor(data, requires_grad=True)
    t = Tensor(data)
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        t.requires_grad = True
    assert not t.requires_grad


def test_matmul_shape_mismatch_message() -> None:
    x = Tensor(np.ones((32, 30)), requires_grad=True)
    W = Tensor(np.ones((20, 200)), requires_grad=True)
    with pytest.raises(ValueError, match=r"^" + re.escape("matmul: shapes (32, 30) and (20, 200) do not align") + r"$"):
        x @ W
    with pytest.raises(ValueError, match=re.escape("matmul: shapes (3,) and (4, 2) do not align")):
        Tensor(np.ones(3)) @ np.ones((4, 2))
    with pytest.raises(ValueError, match=re.escape("matmul: shapes (2, 3) and (2,) do not align")):
        np.ones((2, 3)) @ Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape("matmul: shapes (3,) and ()")):
        Tensor(np.ones(3)) @ Tensor(2.0)
    with pytest.raises(ValueError, match=re.escape("matmul: shapes (2, 3, 4) and (5, 4, 2): the batch axes do not broadcast")):
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((5, 4, 2)))  # batch axes do not broadcast


def test_linear_shape_messages() -> None:
    x = Tensor(np.ones((32, 30)), requires_grad=True)
    W = Tensor(np.ones((20, 200)), requires_grad=True)
    b = Tensor(np.ones(200), requires_grad=True)
    expected = "linear: input of shape (32, 30) and weight of shape (20, 200) do not align"
    with pytest.raises(ValueError, match=re.escape(expected)):
        F.linear(x, W, b)
    with pytest.raises(ValueError, match=re.escape("weight of shape (30,) do not align")):
        F.linear(x, Tensor(np.ones(30)), b)
    W = Tensor(np.ones((30, 200)), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape("linear: bias of shape (3, 32, 200) does not broadcast to the output shape (32, 200)")):
        F.linear(x, W, Tensor(np.ones((3, 32, 200))))
    with pytest.raises(ValueError, match=r"linear: input shapes \(32, 30\) and \(30, 200\) and \(199,\)"):
        F.linear(x, W, Tensor(np.ones(199)))


@pytest.mark.parametrize(
    "name, fn",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a**b),
    ],
)
def test_broadcasting_mismatch_names_the_op_and_both_shapes(name, fn) -> None:
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    expected = re.escape(f"{name}: input shapes (2, 3) and (3, 2)")
    with pytest.raises(ValueError, match=expected):
        fn(a, Tensor(np.ones((3, 2))))
    with pytest.raises(ValueError, match=expected):
        fn(a, np.ones((3, 2)))  # an ndarray constant on the right
    with pytest.raises(ValueError, match=re.escape(f"{name}: input shapes (3, 2) and (2, 3)")):
        fn(np.ones((3, 2)), a)  # ... and on the left (reflected operator)


def test_other_shape_errors_name_the_op() -> None:
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape("reshape: input shape (2, 3)")):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=re.escape("concatenate: input shapes (2, 3) and (3, 2)")):
        autograd_np.concatenate([x, Tensor(np.ones((3, 2)))])
    with pytest.raises(ValueError, match=re.escape("stack: input shapes (2, 3) and (3, 2)")):
        autograd_np.stack([x, Tensor(np.ones((3, 2)))])
    with pytest.raises(ValueError, match=re.escape("axis 2 is out of bounds for a tensor with 2 dimensions")):
        x.sum(axis=2)
    with pytest.raises(ValueError, match=re.escape("axis -3 is out of bounds for a tensor with 2 dimensions")):
        x.max(axis=(0, -3))
    with pytest.raises(ValueError, match=re.escape("axis 1 is out of bounds for a tensor with 0 dimensions")):
        Tensor(1.0).mean(axis=1)


def test_cross_entropy_input_errors() -> None:
    with pytest.raises(ValueError, match=re.escape("cross_entropy: scores (..., C) need targets (...) (classes in the last axis), got shapes (3,) and (1,)")):
        F.cross_entropy(Tensor(np.ones(3), requires_grad=True), np.array([0]))
    with pytest.raises(ValueError, match=re.escape("got shapes (2, 3) and (3,)")):
        F.cross_entropy(Tensor(np.ones((2, 3))), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="cross_entropy: targets must be integer class indices, got dtype float64"):
        F.cross_entropy(Tensor(np.ones((2, 3))), np.array([0.0, 1.0]))


def test_index_errors() -> None:
    with pytest.raises(IndexError, match="getitem: index arrays must be integer or boolean, got dtype float64"):
        Tensor(np.ones(3))[np.array([0.5])]


def test_grad_output_of_the_wrong_shape() -> None:
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(ValueError, match=re.escape("backward: grad_output has shape (3,) but the output has shape (2, 3)")):
        y.backward(np.ones(3))  # would broadcast, but is still wrong
    with pytest.raises(ValueError, match=re.escape("grad_output has shape (3, 2) but the output has shape (2, 3)")):
        y.backward(Tensor(np.ones((3, 2))))
    with pytest.raises(ValueError, match=re.escape("grad_output has shape () but the output has shape (2, 3)")):
        grad(y, x, grad_output=1.0)
    y.backward(np.ones((2, 3)))  # the graph was not consumed by the failed calls
    np.testing.assert_array_equal(x.grad, 2 * np.ones((2, 3)))


def test_backward_and_grad_on_something_without_a_graph() -> None:
    with pytest.raises(RuntimeError, match="backward: this tensor does not require grad"):
        Tensor(np.ones(2)).sum().backward()
    with pytest.raises(RuntimeError, match="grad: the output does not require grad"):
        grad(Tensor(1.0), Tensor(1.0, requires_grad=True))


def test_requires_grad_cannot_be_switched_off_inside_a_graph() -> None:
    y = Tensor(np.ones(2), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"only be turned off on a leaf tensor; use detach\(\)"):
        y.requires_grad = False


def test_object_arrays_are_rejected() -> None:
    with pytest.raises(TypeError, match=r"Tensor: cannot hold Python objects \(object array\)"):
        Tensor([{}, 1])


def _wrong_square() -> Primitive:
    op = Primitive("wrong_square", lambda x: x * x)
    op.defvjp(lambda g, y, x: g * x)  # should be 2 g x
    return op


def test_gradcheck_failure_names_input_element_and_both_values() -> None:
    square = _wrong_square()
    x = np.array([[1.0, 2.0], [3.0, 0.5]])
    # scalar output, so the analytic gradient is x and the numerical one 2x: worst at element (1, 0)
    pattern = (
        r"gradcheck: input 0 \(shape \(2, 2\)\) element \(1, 0\): "
        r"analytic (np\.float64\()?3\.0\)? vs numerical (np\.float64\()?(6\.0|5\.9999)"
    )
    with pytest.raises(GradcheckError, match=pattern):
        gradcheck(lambda t: square(t).sum(), [x])


def test_gradcheck_failure_names_the_second_input() -> None:
    square = _wrong_square()
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3,\)\) element \(2,\)"):
        gradcheck(lambda a, b: (a * 2 + square(b)).sum(), [np.ones(3), np.array([0.1, 0.2, 4.0])])


def test_gradcheck_error_is_an_assertion_error() -> None:
    assert issubclass(GradcheckError, AssertionError)


def test_out_of_range_index_names_the_op_and_stays_an_index_error() -> None:
    W = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(IndexError, match=re.escape("getitem: input shape (2, 3): index 5 is out of bounds for axis 0 with size 2")):
        W[5]
    with pytest.raises(IndexError, match=r"^getitem: "):
        W[np.array([0, 7])]


def test_a_list_of_tensors_as_an_operand_is_refused() -> None:
    a, b = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match=re.escape("add: a list holding Tensors is not differentiable; use autograd_np.stack")):
        ops.add(a, [b, b])
    with pytest.raises(TypeError, match="mul: a list holding Tensors"):
        a * [[1.0, b, 2.0]]


def test_a_vjp_returning_a_broadcastable_wrong_shape_is_caught() -> None:
    """A gradient is never broadcast to its input's shape: a (1, n) gradient for an (m, n)
    input would otherwise give every row the same, wrong, value without any error."""
    bogus = Primitive("bogus_rowsum_vjp", lambda x: x * 2.0)
    bogus.defvjp(lambda g, y, x: (g * 2.0).sum(axis=0, keepdims=True))  # shape (1, n): wrong
    x = Tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("backward: the VJP of bogus_rowsum_vjp gave a gradient of shape (1, 2) for an input of shape (3, 2)")):
        bogus(x).sum().backward()
    with pytest.raises(RuntimeError, match=re.escape("the VJP of bogus_rowsum_vjp gave a gradient of shape (1, 2)")):
        grad(bogus(x).sum(), x)
    with pytest.raises(RuntimeError, match=re.escape("the VJP of bogus_rowsum_vjp gave a gradient of shape (1, 2)")):
        grad(bogus(x).sum(), x, create_graph=True)
