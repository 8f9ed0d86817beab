"""Function transforms in ``torch.func``'s names and conventions (JAX's where torch.func has none).

    from autograd_np import func

    func.grad(f)(x)                     # ∂f/∂x, f returning a one-element Tensor
    func.value_and_grad(f)(x)           # (f(x), ∂f/∂x); grad_and_value gives (∂f/∂x, f(x))
    out, vjp_fn = func.vjp(f, x)        # vjp_fn(v) -> (vᵀ J,)    reverse mode, one pass per output
    out, dout = func.jvp(f, (x,), (u,)) # J u                     forward mode, one pass per input
    func.jacrev(f)(x), func.jacfwd(f)(x)   # J, shaped out.shape + x.shape (rows / columns)
    func.hessian(f)(x)                  # forward over reverse: jacfwd(jacrev(f))
    value, Hv = func.hvp(f, (x,), (v,)) # as torch.autograd.functional.hvp

``argnums`` (an int or a tuple of ints) picks which positional arguments are differentiated;
the result is then a tuple, one entry per argnum. Inputs may be Tensors, arrays or floats;
functions take and return Tensors. The transforms nest (``grad(grad(f))``,
``jacfwd(jacrev(f))``, ``jvp`` of a ``grad``): reverse mode runs on the tape (``graph.py``),
forward mode carries tangents with the values (``forward_mode.py``); a transform that runs
inside another one keeps its results differentiable for the outer one.
"""
from __future__ import annotations

import itertools
import math
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from . import graph, ops
from .forward_mode import forward_level, is_forward_active, set_tangent, tangent_of
from .grad_mode import enable_grad
from .primitives import shape_of
from .tensor_type import Tensor


# ----------------------------------------------------------------------------
# Reverse mode: grad, value_and_grad, grad_and_value, vjp, jacrev
# ----------------------------------------------------------------------------
def grad(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """``grad(f)(*args)``: the gradient of ``f`` (one-element output) with respect to ``args[argnums]``.

    With ``has_aux=True``, ``f`` returns ``(output, aux)`` and the result is ``(gradient, aux)``.
    """
    def gradient(*args: Any, **kwargs: Any) -> Any:
        grads, (_, aux) = _grad_and_value(f, argnums, has_aux, "grad", args, kwargs)
        return (grads, aux) if has_aux else grads

    return gradient


def grad_and_value(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """``grad_and_value(f)(*args)`` -> ``(gradient, f(*args))`` (``(gradient, (output, aux))`` with aux)."""
    def gradient_and_value(*args: Any, **kwargs: Any) -> Any:
        grads, (value, aux) = _grad_and_value(f, argnums, has_aux, "grad_and_value", args, kwargs)
        return (grads, (value, aux)) if has_aux else (grads, value)

    return gradient_and_value


def value_and_grad(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """``value_and_grad(f)(*args)`` -> ``(f(*args), gradient)`` (``((output, aux), gradient)`` with aux)."""
    def value_and_gradient(*args: Any, **kwargs: Any) -> Any:
        grads, (value, aux) = _grad_and_value(f, argnums, has_aux, "value_and_grad", args, kwargs)
        return ((value, aux), grads) if has_aux else (value, grads)

    return value_and_gradient


def _grad_and_value(f: Callable, argnums: Any, has_aux: bool, name: str, args: tuple, kwargs: dict) -> tuple:
    positions = _positions(argnums, len(args), name)
    since, nested = _clock(), _nested(args)
    inputs = list(args)
    with enable_grad():  # a transform: an outer no_grad() does not switch it off (as torch.func)
        for i in positions:
            inputs[i] = _variable(args[i], name, i)
        out = f(*inputs, **kwargs)
    aux = None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{name}(has_aux=True): f must return a pair (output, aux), got {type(out).__name__}")
        out, aux = out
    if not isinstance(out, Tensor) or out.size != 1:
        raise ValueError(
            f"{name}: f must return a one-element Tensor (a scalar loss), got "
            f"{'shape ' + str(out.shape) if isinstance(out, Tensor) else type(out).__name__}; "
            "use jacrev or jacfwd for a non-scalar output, or vjp with a cotangent"
        )
    nested = nested or _depends_on_others([out], since)
    grads = _backward([out], [None], [inputs[i] for i in positions], nested)
    value = out if nested else out.detach()
    return _pick(grads, argnums), (value, aux)


def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``out, vjp_fn = vjp(f, *primals)``; ``vjp_fn(cotangent)`` -> one gradient per primal (a tuple).

    ``out`` may be a Tensor or a tuple of Tensors; the cotangent has the same structure and shapes.
    """
    since, nested = _clock(), _nested(primals)
    with enable_grad():
        inputs = [_variable(x, "vjp", i) for i, x in enumerate(primals)]
        out = f(*inputs)
    aux = None
    if has_aux:
        out, aux = out
    outputs = list(out) if isinstance(out, (tuple, list)) else [out]
    nested = nested or _depends_on_others(outputs, since)

    def vjp_fn(cotangents: Any) -> tuple:
        cotangents = list(cotangents) if isinstance(out, (tuple, list)) else [cotangents]
        if len(cotangents) != len(outputs):
            raise ValueError(f"vjp_fn: {len(cotangents)} cotangents for {len(outputs)} outputs")
        for k, (o, v) in enumerate(zip(outputs, cotangents)):
            if tuple(shape_of(v)) != o.shape:
                raise ValueError(f"vjp_fn: cotangent {k} has shape {tuple(shape_of(v))} but the output has shape {o.shape}")
        return tuple(_backward(outputs, cotangents, inputs, nested or _nested(cotangents)))

    shown = out if nested else _detached(out)
    return (shown, vjp_fn, aux) if has_aux else (shown, vjp_fn)


def jacrev(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """``jacrev(f)(*args)``: the Jacobian of ``f`` by reverse mode, one backward pass per output
    element (its rows); shaped ``out.shape + input.shape``."""
    def jacobian(*args: Any) -> Any:
        positions = _positions(argnums, len(args), "jacrev")
        fixed = list(args)

        def of_selected(*selected: Any) -> Any:
            for i, x in zip(positions, selected):
                fixed[i] = x
            return f(*fixed)

        out, vjp_fn = vjp(of_selected, *[args[i] for i in positions])
        if not isinstance(out, Tensor):
            raise TypeError(f"jacrev: f must return one Tensor, got {type(out).__name__}")
        rows = [vjp_fn(_basis(out.shape, k, out.dtype)) for k in range(out.size)]
        jacobians = [_assemble([row[j] for row in rows], out.shape, shape_of(args[i]), rows_first=True)
                     for j, i in enumerate(positions)]
        return _pick(jacobians, argnums)

    return jacobian


# ----------------------------------------------------------------------------
# Forward mode: jvp, jacfwd; both: hessian, hvp
# ----------------------------------------------------------------------------
def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False) -> tuple:
    """``out, tangent_out = jvp(f, primals, tangents)``: f(*primals) and J·tangents, in one forward
    pass (forward mode: tangents travel with the values, nothing is recorded for them).

    ``primals`` and ``tangents`` are tuples of the same length, each tangent of its primal's shape.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    since, nested = _clock(), _nested(primals) or _nested(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    inputs = [_copy(x, "jvp", i) for i, x in enumerate(primals)]
    for i, (x, t) in enumerate(zip(inputs, tangents)):
        if tuple(shape_of(t)) != x.shape:
            raise ValueError(f"jvp: tangent {i} has shape {tuple(shape_of(t))} but its primal has shape {x.shape}")
    with forward_level() as level:
        for x, t in zip(inputs, tangents):
            set_tangent(x, level, t if isinstance(t, Tensor) else np.asarray(t, dtype=x.dtype))
        out = f(*inputs)
        aux = None
        if has_aux:
            out, aux = out
        if isinstance(out, (tuple, list)):
            result = type(out)(_tangent_out(o, level, nested, since) for o in out)
        else:
            result = _tangent_out(out, level, nested, since)
    return (out, result, aux) if has_aux else (out, result)


def jacfwd(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """``jacfwd(f)(*args)``: the Jacobian of ``f`` by forward mode, one ``jvp`` per input element
    (its columns); shaped ``out.shape + input.shape``."""
    def jacobian(*args: Any) -> Any:
        positions = _positions(argnums, len(args), "jacfwd")
        jacobians = []
        for i in positions:
            x = args[i]
            columns, out_shape = [], None
            of_one = _of_argument(f, args, i)
            for k in range(math.prod(shape_of(x))):
                out, column = jvp(of_one, (x,), (_basis(shape_of(x), k, _dtype(x)),))
                if not isinstance(out, Tensor):
                    raise TypeError(f"jacfwd: f must return one Tensor, got {type(out).__name__}")
                out_shape = out.shape
                columns.append(column)
            if out_shape is None:  # an empty input: the Jacobian has no columns; f's output shape from one call
                out_shape = f(*[_copy(a, "jacfwd", j) if j == i else a for j, a in enumerate(args)]).shape
            jacobians.append(_assemble(columns, out_shape, shape_of(x), rows_first=False))
        return _pick(jacobians, argnums)

    return jacobian


def hessian(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """``hessian(f)(*args)``: ∂²f/∂x², shaped ``x.shape + x.shape``; forward over reverse,
    ``jacfwd(jacrev(f, argnums), argnums)`` (one forward-mode pass per input element)."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable, primals: Any, tangents: Any) -> tuple:
    """``value, Hv = hvp(f, primals, tangents)`` as ``torch.autograd.functional.hvp``: ``f(primals)``
    (a one-element Tensor) and the Hessian times ``tangents``; forward over reverse (the ``jvp``
    of the gradient: no Hessian is formed). ``primals`` a Tensor or a tuple; ``Hv`` has its structure."""
    single = not isinstance(primals, (tuple, list))
    primals = (primals,) if single else tuple(primals)
    tangents = (tangents,) if single and not isinstance(tangents, (tuple, list)) else tuple(tangents)
    everything = tuple(range(len(primals)))
    values = []

    def gradient(*xs: Any) -> tuple:
        grads, value = grad_and_value(f, everything)(*xs)
        values.append(value)
        return grads

    _, products = jvp(gradient, primals, tangents)
    value = values[0].detach() if not _nested(primals) else values[0]
    return value, products[0] if single else tuple(products)


# ----------------------------------------------------------------------------
# Plumbing
# ----------------------------------------------------------------------------
def _positions(argnums: Any, count: int, name: str) -> tuple[int, ...]:
    """``argnums`` as a tuple of valid positions (an error names the range)."""
    many = isinstance(argnums, (tuple, list))
    positions = tuple(argnums) if many else (argnums,)
    if many and not positions:
        raise ValueError(f"{name}: argnums is an empty tuple; give at least one argument position")
    for p in positions:
        if not isinstance(p, (int, np.integer)) or isinstance(p, bool):
            raise TypeError(f"{name}: argnums must be an int or a tuple of ints, got {argnums!r}")
        if not -count <= p < count:
            raise ValueError(
                f"{name}: argnums {argnums!r} is out of range for a function called with {count} positional "
                f"argument{'s' if count != 1 else ''} (valid: {-count} to {count - 1})"
            )
    return tuple(int(p) % count for p in positions)


def _of_argument(f: Callable, args: tuple, position: int) -> Callable:
    """``x -> f(*args)`` with ``args[position]`` replaced by x."""
    def of_one(x: Any) -> Any:
        return f(*args[:position], x, *args[position + 1:])

    return of_one


def _pick(results: list, argnums: Any) -> Any:
    """One result for an int ``argnums``, a tuple for a tuple."""
    return tuple(results) if isinstance(argnums, (tuple, list)) else results[0]


def _nested(values: Sequence[Any]) -> bool:
    """Whether this transform runs inside another one (or on inputs that need their gradient):
    then its results stay differentiable Tensors (the backward walk runs on Tensors)."""
    return is_forward_active() or any(isinstance(v, Tensor) and (v._requires_grad or getattr(v, "_tangent", None))
                                      for v in values)


def _float_array(x: Any, name: str, position: int) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype.kind != "f":
        raise TypeError(
            f"{name}: argument {position} has dtype {array.dtype}; only floating-point inputs have derivatives "
            "(pass floats, e.g. np.float64 values)"
        )
    return array


#: the leaves the transforms made to differentiate with respect to (not the user's Tensors):
#: id -> (weak reference, when it was made on the ``_clock``)
_VARIABLES: dict[int, tuple[weakref.ref, int]] = {}
_clock = itertools.count().__next__


def _register(t: Tensor) -> None:
    key = id(t)

    def forget(ref: weakref.ref, key: int = key) -> None:
        if _VARIABLES.get(key, (None,))[0] is ref:
            del _VARIABLES[key]

    _VARIABLES[key] = (weakref.ref(t, forget), _clock())


def _made_since(t: Tensor, since: int) -> bool:
    entry = _VARIABLES.get(id(t))
    return entry is not None and entry[0]() is t and entry[1] >= since


def _copy(x: Any, name: str, position: int) -> Tensor:
    """``x`` as a new Tensor to differentiate: a recorded identity of a Tensor (so an outer
    transform's tape and tangents still reach it), a new Tensor of an array."""
    if isinstance(x, Tensor):
        _float_array(x._data, name, position)
        return ops.reshape(x, shape=x.shape)
    return Tensor(_float_array(x, name, position))


def _variable(x: Any, name: str, position: int) -> Tensor:
    """``x`` as a Tensor that requires grad, for a reverse-mode pass."""
    t = _copy(x, name, position)
    if not t._requires_grad:
        t._requires_grad = True  # a new leaf: nothing is recorded on it yet
        _register(t)
    return t


def _depends_on_others(outputs: list, since: int) -> bool:
    """Whether the outputs' graph reaches a leaf that requires grad and that this transform (which
    started at ``since``) did not make: a variable of an enclosing transform, a parameter closed
    over. Then the results must stay differentiable with respect to it (``create_graph``)."""
    roots = [o for o in outputs if isinstance(o, Tensor) and o._requires_grad]
    if not roots:
        return False
    order, _ = graph.walk_order(roots)
    return any(t._node is None and not _made_since(t, since) for t in order)


def _backward(outputs: list, cotangents: list, inputs: list, nested: bool) -> list:
    """The gradients of ``Σ <cotangent_k, output_k>`` with respect to each input (zeros where none flows)."""
    roots, seeds = [], []
    for o, v in zip(outputs, cotangents):
        if isinstance(o, Tensor) and o._requires_grad:
            roots.append(o)
            if v is None:
                seeds.append(graph.seed_gradient(o, None))
            elif nested:
                seeds.append(v if isinstance(v, Tensor) else Tensor(np.asarray(v, dtype=o.dtype)))
            else:
                seeds.append(v._data if isinstance(v, Tensor) else np.asarray(v, dtype=o.dtype))
    if nested:
        seeds = [s if isinstance(s, Tensor) else Tensor(s) for s in seeds]
    found = graph.backprop(roots, seeds, targets=inputs, create_graph=nested, retain_graph=True) if roots else {}
    return graph.gradients_for(found, inputs)


def _tangent_out(out: Any, level: int, nested: bool, since: int) -> Tensor:
    """``out``'s tangent at ``level`` as a Tensor (zeros: ``out`` does not depend on the inputs);
    a differentiable one only when ``nested``."""
    if not isinstance(out, Tensor):
        raise TypeError(f"jvp: f must return a Tensor or a tuple of Tensors, got {type(out).__name__}")
    tangent = tangent_of(out, level)
    if tangent is None:
        return Tensor(np.zeros_like(out._data))
    if isinstance(tangent, Tensor):
        return tangent if nested or _depends_on_others([tangent], since) else tangent.detach()
    return Tensor._of(np.array(tangent, dtype=out.dtype) if tangent.dtype != out.dtype or not tangent.flags.owndata
                      else tangent)


def _detached(out: Any) -> Any:
    if isinstance(out, (tuple, list)):
        return type(out)(o.detach() if isinstance(o, Tensor) else o for o in out)
    return out.detach() if isinstance(out, Tensor) else out


def _dtype(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype


def _basis(shape: tuple[int, ...], k: int, dtype: Any) -> np.ndarray:
    """The k-th unit vector of ``shape`` (flat index k)."""
    e = np.zeros(shape, dtype=dtype)
    e.reshape(-1)[k] = 1
    return e


def _assemble(parts: list, out_shape: tuple[int, ...], in_shape: tuple[int, ...], rows_first: bool) -> Tensor:
    """The Jacobian ``out.shape + in.shape`` from its rows (``rows_first``: one per output element,
    each of in_shape) or its columns (one per input element, each of out_shape)."""
    out_shape, in_shape = tuple(out_shape), tuple(in_shape)
    if not parts:
        return Tensor(np.zeros(out_shape + in_shape))
    if any(p._requires_grad or getattr(p, "_tangent", None) for p in parts):  # nested: keep it differentiable
        stacked = ops._stack(*parts, axis=0 if rows_first else -1)
        return ops.reshape(stacked, shape=out_shape + in_shape)
    stacked = np.stack([p._data for p in parts], axis=0 if rows_first else -1)
    return Tensor(stacked.reshape(out_shape + in_shape))
