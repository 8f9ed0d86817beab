"""``autograd_np.func`` against finite differences (always) and ``torch.func`` (when torch is installed).

Each function below is written once, for a namespace ``ns`` that is either this engine's or
PyTorch's (``ns.const`` makes a constant, ``ns.F`` is the functional module), so both libraries
differentiate the very same code: the names MLP's loss as a function of one weight, elementwise
mixes, reductions with axes and broadcasting, and vector-valued functions.
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import autograd_np as ag
from autograd_np import Tensor, func
from autograd_np import functional as agF

TORCH_REASON = "torch is an optional test dependency (the same functions are checked by finite differences)"

AG = types.SimpleNamespace(F=agF, const=lambda a: np.asarray(a), row_max=lambda x: x.max(axis=1, keepdims=True))


def torch_namespace() -> types.SimpleNamespace:
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    import torch.nn.functional as tF

    return types.SimpleNamespace(F=tF, const=lambda a: torch.as_tensor(np.asarray(a)), torch=torch,
                                 row_max=lambda x: x.amax(dim=1, keepdim=True))


# ----------------------------------------------------------------------------
# The functions, each written once for either library
# ----------------------------------------------------------------------------
RNG = np.random.default_rng(20)
VOCAB, BLOCK, EMB, HIDDEN, BATCH = 6, 3, 2, 5, 4
C = RNG.standard_normal((VOCAB, EMB))
B1 = RNG.standard_normal(HIDDEN) * 0.1
W2 = RNG.standard_normal((HIDDEN, VOCAB)) * 0.5
B2 = np.zeros(VOCAB)
X = RNG.integers(0, VOCAB, size=(BATCH, BLOCK))
Y = RNG.integers(0, VOCAB, size=BATCH)


def mlp_loss(ns: Any, w1: Any) -> Any:
    """The names MLP (models/names: embed a window, flatten, tanh layer, logits) and its mean
    cross-entropy, as a function of the hidden weight W1 (BLOCK*EMB, HIDDEN)."""
    emb = ns.const(C)[ns.const(X)].reshape(BATCH, BLOCK * EMB)
    hidden = (emb @ w1 + ns.const(B1)).tanh()
    logits = hidden @ ns.const(W2) + ns.const(B2)
    return ns.F.cross_entropy(logits, ns.const(Y))


def elementwise_mix(ns: Any, x: Any, y: Any) -> Any:
    return (x.sin() * y.exp() + (x * y).tanh() / (1 + y * y) - x.sigmoid() * 0.5).sum()


def elementwise_vector(ns: Any, x: Any, y: Any) -> Any:
    return x.exp() * y.cos() + (x - y).relu() * x


def reductions(ns: Any, x: Any, b: Any) -> Any:
    """(3, 4) and (4,) -> (3,): sums and means over axes, keepdim, broadcasting, logsumexp."""
    column = (x + b).exp().sum(dim=0)  # (4,)
    row = (x * b).mean(dim=1, keepdim=True)  # (3, 1)
    return (row * column - ns.row_max(x)).logsumexp(dim=1)


def vector_valued(ns: Any, x: Any) -> Any:
    """(4,) -> (4, 4): an outer product through tanh."""
    return (x[:, None] * x[None, :]).tanh() + x.var(correction=1)


def scalar_of_matrix(ns: Any, a: Any) -> Any:
    return ((a @ a.T).tanh() ** 2).mean() + a.std(correction=1)


@dataclass(frozen=True)
class Fn:
    name: str
    fn: Callable
    inputs: tuple[np.ndarray, ...]
    scalar: bool

    def of(self, ns: Any) -> Callable:
        """The function for ``ns``; arguments that are not differentiated come in as arrays (as in
        torch.func), the engine's version makes them Tensors."""
        if ns is AG:
            return with_tensors(lambda *args: self.fn(ns, *args))
        return lambda *args: self.fn(ns, *args)


FUNCTIONS = [
    Fn("mlp loss of W1", mlp_loss, (RNG.standard_normal((BLOCK * EMB, HIDDEN)) * 0.7,), True),
    Fn("elementwise mix", elementwise_mix, (RNG.standard_normal((2, 3)), RNG.standard_normal((3,))), True),
    Fn("elementwise vector", elementwise_vector, (RNG.standard_normal(5) + 0.05, RNG.standard_normal(5)), False),
    Fn("reductions", reductions, (RNG.standard_normal((3, 4)) * 0.5, RNG.standard_normal(4) * 0.5), False),
    Fn("vector valued", vector_valued, (RNG.standard_normal(4),), False),
    Fn("scalar of a matrix", scalar_of_matrix, (RNG.standard_normal((3, 2)),), True),
]
SCALAR = [f for f in FUNCTIONS if f.scalar]


def argnum_choices(f: Fn) -> list[Any]:
    return [0] if len(f.inputs) == 1 else [0, 1, (0, 1)]


def numeric_jacobian(fn: Callable, inputs: tuple, argnum: int, eps: float = 1e-6) -> np.ndarray:
    """∂fn/∂inputs[argnum] by central differences, shaped out.shape + input.shape."""
    x = np.array(inputs[argnum], dtype=np.float64)
    fn = with_tensors(fn)
    out_shape = np.shape(fn(*inputs).data)
    jac = np.zeros(out_shape + x.shape)
    for k in range(x.size):
        step = np.zeros(x.size)
        step[k] = eps
        step = step.reshape(x.shape)
        plus = list(inputs)
        plus[argnum] = x + step
        minus = list(inputs)
        minus[argnum] = x - step
        jac.reshape(out_shape + (-1,))[..., k] = (fn(*plus).data - fn(*minus).data) / (2 * eps)
    return jac


def with_tensors(fn: Callable) -> Callable:
    """fn on array arguments: each becomes a Tensor first."""
    return lambda *args: fn(*[a if isinstance(a, Tensor) else Tensor(np.asarray(a)) for a in args])


def as_tuple(result: Any, argnums: Any) -> tuple:
    return tuple(result) if isinstance(argnums, tuple) else (result,)


def close(got: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    got = got.data if isinstance(got, Tensor) else got
    expected = expected.detach().numpy() if hasattr(expected, "detach") else expected
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------
# Against finite differences: always
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.name)
def test_jacrev_and_jacfwd_against_finite_differences(f: Fn) -> None:
    fn = f.of(AG)
    for argnums in argnum_choices(f):
        rev = as_tuple(func.jacrev(fn, argnums)(*f.inputs), argnums)
        fwd = as_tuple(func.jacfwd(fn, argnums)(*f.inputs), argnums)
        for j, i in enumerate(argnums if isinstance(argnums, tuple) else (argnums,)):
            numeric = numeric_jacobian(fn, f.inputs, i)
            assert rev[j].shape == fwd[j].shape == numeric.shape
            close(rev[j], numeric, rtol=1e-5, atol=1e-6)
            close(fwd[j], rev[j].data, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.name)
def test_vjp_and_jvp_against_the_jacobian(f: Fn) -> None:
    fn = f.of(AG)
    rng = np.random.default_rng(1)
    out = with_tensors(fn)(*f.inputs)
    tangents = tuple(rng.standard_normal(np.shape(x)) for x in f.inputs)
    cotangent = rng.standard_normal(out.shape)
    jacobians = [numeric_jacobian(fn, f.inputs, i) for i in range(len(f.inputs))]
    value, tangent_out = func.jvp(fn, f.inputs, tangents)
    close(value, out.data)
    expected = builtins_sum(np.tensordot(J, u, axes=u.ndim) for J, u in zip(jacobians, tangents))
    close(tangent_out, expected, rtol=1e-5, atol=1e-6)
    value, vjp_fn = func.vjp(fn, *f.inputs)
    for J, g in zip(jacobians, vjp_fn(cotangent)):
        close(g, np.tensordot(cotangent, J, axes=cotangent.ndim), rtol=1e-5, atol=1e-6)


def builtins_sum(items: Any) -> Any:
    total = None
    for item in items:
        total = item if total is None else total + item
    return total


@pytest.mark.parametrize("f", SCALAR, ids=lambda f: f.name)
def test_grad_hessian_and_hvp_against_finite_differences(f: Fn) -> None:
    fn = f.of(AG)
    for argnums in argnum_choices(f):
        grads = as_tuple(func.grad(fn, argnums)(*f.inputs), argnums)
        value, grads_too = func.value_and_grad(fn, argnums)(*f.inputs)
        grads_three, value_too = func.grad_and_value(fn, argnums)(*f.inputs)
        close(value, with_tensors(fn)(*f.inputs).data)
        close(value_too, value.data)
        positions = argnums if isinstance(argnums, tuple) else (argnums,)
        for j, i in enumerate(positions):
            close(grads[j], numeric_jacobian(fn, f.inputs, i), rtol=1e-5, atol=1e-6)
            close(as_tuple(grads_too, argnums)[j], grads[j].data, rtol=0, atol=0)
            close(as_tuple(grads_three, argnums)[j], grads[j].data, rtol=0, atol=0)
    x = f.inputs[0]
    only_first = lambda a: fn(a, *f.inputs[1:])  # noqa: E731
    hess = func.hessian(only_first)(x)
    numeric = numeric_jacobian(lambda a: func.grad(only_first)(a), (x,), 0, eps=1e-5)
    assert hess.shape == x.shape + x.shape
    close(hess, numeric, rtol=1e-5, atol=1e-6)
    v = np.random.default_rng(2).standard_normal(x.shape)
    value, hv = func.hvp(only_first, Tensor(x), Tensor(v))
    close(value, with_tensors(only_first)(x).data)
    close(hv, np.tensordot(hess.data, v, axes=v.ndim), rtol=1e-8, atol=1e-10)
    close(func.jacrev(func.jacrev(only_first))(x), hess.data, rtol=1e-8, atol=1e-10)


def test_nesting_grad_of_grad_and_hvp_of_several_inputs() -> None:
    f = lambda x: (x**3).sum()  # noqa: E731
    assert func.grad(func.grad(lambda x: f(x)))(np.array(2.0)).item() == pytest.approx(12.0)
    g = lambda x, y: (x * x * y).sum()  # noqa: E731
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    _, (hx, hy) = func.hvp(g, (x, y), (np.ones(2), np.zeros(2)))
    np.testing.assert_allclose(hx.data, 2 * y)  # ∂²g/∂x² = 2y
    np.testing.assert_allclose(hy.data, 2 * x)  # ∂²g/∂y∂x = 2x


def test_has_aux_and_plain_inputs() -> None:
    def f(x: Tensor) -> tuple:
        y = (x * x).sum()
        return y, "aux"

    g, aux = func.grad(f, has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g.data, [2.0, 4.0])
    assert aux == "aux"
    (value, aux), g = func.value_and_grad(f, has_aux=True)([1.0, 2.0])
    assert value.item() == 5.0 and aux == "aux"
    assert func.grad(lambda x: x * x)(3.0).item() == 6.0


def test_ag_grad_called_with_a_function_is_func_grad() -> None:
    f = lambda x, y: (x * y).sum()  # noqa: E731
    np.testing.assert_allclose(ag.grad(f)(np.array([1.0, 2.0]), np.array([3.0, 4.0])).data, [3.0, 4.0])
    np.testing.assert_allclose(ag.grad(f, 1)(np.array([1.0, 2.0]), np.array([3.0, 4.0])).data, [1.0, 2.0])
    np.testing.assert_allclose(ag.grad(f, argnums=1)(np.array([1.0, 2.0]), np.array([3.0, 4.0])).data, [1.0, 2.0])
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = ag.grad((x * x).sum(), [x])  # the tensor form is unchanged
    np.testing.assert_allclose(g.data, [2.0, 4.0])
    with pytest.raises(TypeError, match="give the Tensors"):
        ag.grad((x * x).sum())


# ----------------------------------------------------------------------------
# Clear errors
# ----------------------------------------------------------------------------
def test_argnums_out_of_range_is_a_clear_error() -> None:
    f = lambda x, y: (x * y).sum()  # noqa: E731
    with pytest.raises(ValueError, match=r"grad: argnums 2 is out of range for a function called with 2 positional"):
        func.grad(f, argnums=2)(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match=r"jacfwd: argnums \(0, 5\) is out of range"):
        func.jacfwd(f, argnums=(0, 5))(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="argnums must be an int or a tuple"):
        func.jacrev(f, argnums="0")(np.ones(2), np.ones(2))


def test_grad_of_a_non_scalar_output_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"grad: f must return a one-element Tensor .* shape \(3,\).*jacrev"):
        func.grad(lambda x: x * 2)(np.ones(3))


def test_tangent_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has shape \(2,\) but its primal has shape \(3,\)"):
        func.jvp(lambda x: x * 2, (np.ones(3),), (np.ones(2),))
    with pytest.raises(ValueError, match=r"1 primals but 2 tangents"):
        func.jvp(lambda x: x * 2, (np.ones(3),), (np.ones(3), np.ones(3)))
    _, vjp_fn = func.vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent 0 has shape \(4,\) but the output has shape \(3,\)"):
        vjp_fn(np.ones(4))


def test_integer_inputs_are_a_clear_error() -> None:
    with pytest.raises(TypeError, match="argument 0 has dtype int64"):
        func.grad(lambda x: (x * x).sum())(np.array([1, 2]))


# ----------------------------------------------------------------------------
# Against torch.func: when torch is installed
# ----------------------------------------------------------------------------
def torch_inputs(tns: Any, f: Fn) -> tuple:
    return tuple(tns.torch.tensor(x, dtype=tns.torch.float64) for x in f.inputs)


@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.name)
def test_agrees_with_torch_func_on_jacobians_jvp_and_vjp(f: Fn) -> None:
    tns = torch_namespace()
    tfunc = tns.torch.func
    ours, theirs, tin = f.of(AG), f.of(tns), torch_inputs(tns, f)
    close(with_tensors(ours)(*f.inputs), theirs(*tin))
    for argnums in argnum_choices(f):
        for name in ("jacrev", "jacfwd"):
            got = as_tuple(getattr(func, name)(ours, argnums)(*f.inputs), argnums)
            expected = as_tuple(getattr(tfunc, name)(theirs, argnums)(*tin), argnums)
            for g, e in zip(got, expected):
                close(g, e, rtol=1e-10, atol=1e-12)
    tangents = tuple(np.random.default_rng(3).standard_normal(np.shape(x)) for x in f.inputs)
    _, got = func.jvp(ours, f.inputs, tangents)
    _, expected = tfunc.jvp(theirs, tin, tuple(map(tns.torch.tensor, tangents)))
    close(got, expected, rtol=1e-10, atol=1e-12)
    out, vjp_fn = func.vjp(ours, *f.inputs)
    _, t_vjp_fn = tfunc.vjp(theirs, *tin)
    cotangent = np.random.default_rng(4).standard_normal(out.shape)
    for g, e in zip(vjp_fn(cotangent), t_vjp_fn(tns.torch.tensor(cotangent))):
        close(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f", SCALAR, ids=lambda f: f.name)
def test_agrees_with_torch_func_on_grads_hessians_and_hvps(f: Fn) -> None:
    tns = torch_namespace()
    torch, tfunc = tns.torch, tns.torch.func
    ours, theirs, tin = f.of(AG), f.of(tns), torch_inputs(tns, f)
    for argnums in argnum_choices(f):
        for g, e in zip(as_tuple(func.grad(ours, argnums)(*f.inputs), argnums),
                        as_tuple(tfunc.grad(theirs, argnums)(*tin), argnums)):
            close(g, e, rtol=1e-10, atol=1e-12)
        (value, _), (t_value, _) = func.value_and_grad(ours, argnums)(*f.inputs), tfunc.grad_and_value(theirs, argnums)(*tin)[::-1]
        close(value, t_value, rtol=1e-12)
    first, t_first = (lambda a: ours(a, *f.inputs[1:])), (lambda a: theirs(a, *tin[1:]))
    close(func.hessian(first)(f.inputs[0]), tfunc.hessian(t_first)(tin[0]), rtol=1e-9, atol=1e-11)
    v = np.random.default_rng(5).standard_normal(np.shape(f.inputs[0]))
    value, hv = func.hvp(first, Tensor(f.inputs[0]), Tensor(v))
    t_value, t_hv = torch.autograd.functional.hvp(t_first, tin[0], torch.tensor(v))
    close(value, t_value, rtol=1e-12)
    close(hv, t_hv, rtol=1e-9, atol=1e-11)


def test_transforms_work_inside_no_grad() -> None:
    x = np.array([0.5, -1.0])
    with ag.no_grad():
        g = func.grad(lambda t: (t * t * t).sum())(x)
        h = func.hessian(lambda t: (t * t * t).sum())(x)
        _, hv = func.hvp(lambda t: (t * t * t).sum(), x, np.ones(2))
    np.testing.assert_allclose(g.data, 3 * x**2)
    np.testing.assert_allclose(h.data, np.diag(6 * x))
    np.testing.assert_allclose(hv.data, 6 * x)


def test_an_inner_transform_closing_over_an_outer_variable_stays_differentiable() -> None:
    """d/dx [x · d/dy (x y)] = d/dx x² = 2x: the inner result depends on x, and must say so."""
    x = np.array(3.0)
    inner_grad = lambda t: (t * func.grad(lambda y: (t * y).sum())(np.array(2.0))).sum()  # noqa: E731
    inner_jacrev = lambda t: (t * func.jacrev(lambda y: t * y)(np.array(2.0))).sum()  # noqa: E731
    inner_jvp = lambda t: (t * func.jvp(lambda y: t * y, (np.array(2.0),), (np.array(1.0),))[1]).sum()  # noqa: E731
    inner_jacfwd = lambda t: (t * func.jacfwd(lambda y: t * y)(np.array(2.0))).sum()  # noqa: E731
    for f in (inner_grad, inner_jacrev, inner_jvp, inner_jacfwd):
        assert func.grad(f)(x).item() == pytest.approx(6.0)
        assert func.jacfwd(f)(x).item() == pytest.approx(6.0)
    # and a top-level result carries no graph
    assert not func.hessian(lambda t: (t**3).sum())(np.array([1.0, 2.0])).requires_grad
    assert not func.jvp(lambda t: t * t, (Tensor(np.ones(2)),), (np.ones(2),))[1].requires_grad
