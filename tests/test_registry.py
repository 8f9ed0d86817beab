"""One table line gives an op its names: the Tensor method, ``autograd_np.<name>`` and the NumPy entry."""
from __future__ import annotations

import inspect
from typing import Iterator

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, api, functions, gradcheck, numpy_api, ops


@pytest.fixture
def cbrt() -> Iterator[ag.Primitive]:
    """An op defined as ops.py defines one, published with one table line, withdrawn afterwards."""
    @ag.primitive("cbrt")
    def cbrt(x: np.ndarray) -> np.ndarray:
        """y = x^(1/3)

        VJP: dx = G / (3 y^2)
        """
        return np.cbrt(x)

    cbrt.defvjp(lambda g, y, x: g / (3 * y * y), reads=("y",))
    api.public("cbrt", cbrt, numpy=np.cbrt)
    try:
        yield cbrt
    finally:
        api.withdraw("cbrt")
    assert not hasattr(Tensor, "cbrt") and not hasattr(ag, "cbrt") and "cbrt" not in ag.__all__
    assert np.cbrt not in numpy_api.UFUNCS


def test_a_new_op_appears_as_method_function_and_numpy_entry(cbrt: ag.Primitive) -> None:
    x = Tensor(np.array([0.1, -0.7, 1.5]), requires_grad=True)
    for y in (x.cbrt(), ag.cbrt(x), np.cbrt(x)):
        assert isinstance(y, Tensor) and y.op == "cbrt" and y.op_rule == "dx = G / (3 y^2)"
        np.testing.assert_allclose(y.data, np.cbrt(x.data))
    np.cbrt(x).sum().backward()
    np.testing.assert_allclose(x.grad, np.abs(x.data) ** (-2 / 3) / 3)
    assert gradcheck(lambda t: t.cbrt(), [np.array([0.3, -1.2])])
    assert "cbrt" in dir(Tensor) and Tensor.cbrt.__doc__ == cbrt.__doc__
    assert "cbrt" in ag.__all__  # ``from autograd_np import *`` brings it too


def test_without_its_line_numpy_names_what_to_use() -> None:
    with pytest.raises(TypeError, match=r"numpy.cbrt has no op in autograd_np.*t \*\* \(1 / 3\)"):
        np.cbrt(Tensor(np.ones(2), requires_grad=True))


def test_generated_methods_read_as_methods_of_tensor() -> None:
    for name, method in api.METHODS.items():
        assert name in dir(Tensor) and getattr(Tensor, name) is method
        assert method.__doc__, f"Tensor.{name} has no docstring"
        if method.__module__ == Tensor.__module__:  # generated or written for the Tensor
            assert method.__name__ == name and method.__qualname__ == f"Tensor.{name}"
    assert "Cumulative sum" in Tensor.cumsum.__doc__
    assert "np.tanh(x)" in inspect.getsource(Tensor.tanh)  # the source is the op's forward in ops.py


def test_methods_add_no_call_on_the_way_to_the_op() -> None:
    """A function is its own method; an op's method is one call to it, as a hand-written method is."""
    assert Tensor.sum is functions.sum and Tensor.mean is functions.mean
    assert Tensor.tanh.__wrapped__ is ops.tanh and Tensor.__add__.__wrapped__ is ops.add
    assert Tensor.tanh.__code__.co_argcount == 1 and Tensor.__mul__.__code__.co_argcount == 2
    assert list(inspect.signature(Tensor.__mul__).parameters) == ["self", "other"]  # what help() shows


def test_every_function_of_the_table_is_exported() -> None:
    assert set(api.FUNCTIONS) <= set(ag.__all__)
    for name, function in api.FUNCTIONS.items():
        assert getattr(ag, name) is function


def test_the_methods_declared_for_editors_are_installed_with_those_parameters() -> None:
    """tensor_type.py declares the README's methods under TYPE_CHECKING (editors read them; api.py installs them)."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(ag.tensor_type.__file__).read_text())
    block = next(n for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    declared = {
        f.name: [a.arg for a in f.args.args[1:]] + ([f.args.vararg.arg] if f.args.vararg else [])
        + [a.arg for a in f.args.kwonlyargs]
        for f in block.body
    }
    assert {"tanh", "sum", "mean", "reshape", "backward"} <= set(declared)
    for name, parameters in declared.items():
        assert list(inspect.signature(getattr(Tensor, name)).parameters)[1:] == parameters, name


def test_a_name_that_exists_is_not_replaced_silently() -> None:
    @ag.primitive("my_sum")
    def my_sum(x: np.ndarray) -> np.ndarray:
        """y = Σ x

        VJP: dx = G broadcast
        """
        return np.sum(x)

    with pytest.raises(ValueError, match=r"'sum' is already a public name of autograd_np; pass replace=True"):
        api.public("sum", my_sum)
    with pytest.raises(ValueError, match=r"'shape' is already a public name"):
        api.public("shape", my_sum, function=False)
    assert Tensor.sum is functions.sum and ag.sum is functions.sum
