"""No silent graph drop: NumPy's implicit conversion of a Tensor that requires grad is refused.

``np.asarray(t)``, ``np.array([x, 2 * x])``, ``np.r_``, ``np.c_``, ``np.mean([t1, t2])``: each
would return a plain array with the gradient silently gone. As in PyTorch ("Can't call numpy()
on Tensor that requires grad"), they raise and name the explicit ways: ``detach()`` for the
values, ``autograd_np.stack``/``cat`` to combine Tensors with their gradient.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, nn, no_grad

MESSAGE = r"Can't convert a Tensor that requires grad to a NumPy array.*detach\(\).*autograd_np\.stack"


def _x() -> Tensor:
    return Tensor(np.array([1.0, 2.0]), requires_grad=True)


IMPLICIT: dict[str, Callable[[Tensor], Any]] = {
    "np.asarray(x)": lambda x: np.asarray(x),
    "np.array(x)": lambda x: np.array(x),
    "np.array([x, 2 * x])": lambda x: np.array([x, 2 * x]),
    "np.array([x, constant])": lambda x: np.array([x, np.zeros(2)]),
    "np.r_[x, 2 * x]": lambda x: np.r_[x, 2 * x],
    "np.c_[x, x]": lambda x: np.c_[x, x],
    "np.mean([x, 2 * x])": lambda x: np.mean([x, 2 * x]),
    "np.sum([x, x], axis=0)": lambda x: np.sum([x, x], axis=0),
    "np.append([x], [x])": lambda x: np.append([x], [x]),
    "np.concatenate([[x], [x]])": lambda x: np.concatenate([[x], [x]]),
    "Tensor([x, 2 * x])": lambda x: Tensor([x, 2 * x]),
    "np.asarray(an op's output)": lambda x: np.asarray(x * 2),
    "np.asarray(x, dtype=np.float32)": lambda x: np.asarray(x, dtype=np.float32),
}


@pytest.mark.parametrize("form", sorted(IMPLICIT))
def test_implicit_conversion_of_a_tensor_that_requires_grad_raises(form: str) -> None:
    with pytest.raises(RuntimeError, match=MESSAGE):
        IMPLICIT[form](_x())


@pytest.mark.parametrize("form", sorted(IMPLICIT))
def test_the_same_forms_work_without_grad(form: str) -> None:
    """On a tensor that needs no grad, and for anything inside no_grad(), NumPy gets the values."""
    expected = IMPLICIT[form](np.array([1.0, 2.0]))
    got = IMPLICIT[form](_x().detach())
    np.testing.assert_array_equal(getattr(got, "data", got), expected)
    with no_grad():
        got = IMPLICIT[form](_x())
    np.testing.assert_array_equal(getattr(got, "data", got), expected)


def test_np_append_of_a_tensor_names_cat() -> None:
    """np.append(x, ...) reaches __array_function__ first: the no-op error points to cat."""
    with pytest.raises(TypeError, match=r"numpy\.append has no op.*autograd_np\.cat"):
        np.append(_x(), 1.0)


def test_explicit_ways_to_the_values_keep_working() -> None:
    x = _x()
    y = x * 2
    for values in (np.asarray(x.detach()), x.data, x.numpy(), np.asarray(y.detach()), y.data, y.numpy()):
        assert type(values) is np.ndarray
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])
    assert float(y.sum()) == 6.0 and y.tolist() == [2.0, 4.0]


def test_the_differentiable_ways_to_combine_tensors() -> None:
    x = _x()
    for combined in (ag.stack([x, 2 * x]), ag.cat([x, 2 * x]), np.stack([x, 2 * x]), np.concatenate([x, 2 * x])):
        assert combined.requires_grad
    ag.stack([x, 2 * x]).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_load_state_dict_accepts_tensors() -> None:
    source, target = nn.Linear(2, 3, rng=0), nn.Linear(2, 3, rng=1)
    target.load_state_dict(dict(source.named_parameters()))
    np.testing.assert_array_equal(target.weight.data, source.weight.data)


def test_matplotlib_plots_a_detached_tensor_and_refuses_one_that_requires_grad() -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    x = _x()
    fig, ax = plt.subplots()
    try:
        with pytest.raises(RuntimeError, match=MESSAGE):
            ax.plot(x)
        ax.plot(x.detach())
    finally:
        plt.close(fig)
