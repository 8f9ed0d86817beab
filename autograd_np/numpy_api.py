"""NumPy's functions on Tensors: ``np.tanh(X @ W.T + b)`` records ops like ``(X @ W.T + b).tanh()``.

NumPy hands a call that involves a Tensor to ``Tensor.__array_ufunc__`` (ufuncs:
``np.exp``, ``np.add``, and the operators of an ndarray, so ``ndarray + Tensor``
lands here) or ``Tensor.__array_function__`` (``np.sum``, ``np.where``, ...).
Both look the NumPy function up in a table (``UFUNCS``, ``FUNCTIONS``: filled by
``api.py``, where each public name's line gives its NumPy entry) and call the engine's
function for it, which records the op. Where NumPy's signature differs from the
engine's, the entry is a handler below, written with NumPy's signature. A NumPy function without an entry raises a
``TypeError`` naming it (and what to use instead, where there is something): it
never quietly returns an ndarray that would drop the graph. ``t.data``, ``t.numpy()`` and
``np.asarray(t.detach())`` are the explicit ways to get the plain array (``np.asarray(t)``
and ``np.array([t1, t2])`` refuse a tensor that requires grad: see ``Tensor.__array__``).

The entries keep NumPy's meaning of each name (``np.transpose(x, axes)`` permutes,
``np.split(x, 3)`` makes three pieces); the package-level functions and Tensor
methods use PyTorch's where the two differ (``functions.py``).
"""
from __future__ import annotations

import builtins
from typing import Any, Callable

import numpy as np

from . import creation, functions as fn, linalg, ops
from .tensor_type import Tensor

# ----------------------------------------------------------------------------
# Ufuncs (np.add, np.exp, ... and ndarray operators with a Tensor operand)
# ----------------------------------------------------------------------------
#: Filled by ``api.py`` from its table (each public name's NumPy entry); what is here has no
#: public name of its own.
UFUNCS: dict[np.ufunc, Callable[..., Any]] = {
    np.positive: lambda x: x,
    np.bitwise_and: lambda a, b: fn.elementwise_constant("bitwise_and", np.bitwise_and, a, b),
    np.bitwise_or: lambda a, b: fn.elementwise_constant("bitwise_or", np.bitwise_or, a, b),
    np.invert: lambda a: fn.elementwise_constant("invert", np.invert, a),
}


#: What to use for a ufunc the engine has no op for (shown in the error).
UFUNC_HINTS = {
    "reciprocal": "1 / t",
    "cbrt": "t ** (1 / 3) for positive t, or np.sign(t) * abs(t) ** (1 / 3)",
    "float_power": "t ** p",
    "fmax": "np.maximum (NaN handling differs)",
    "fmin": "np.minimum (NaN handling differs)",
}


def ufunc_call(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_ufunc__``: the engine's function for ``ufunc``, called on the inputs."""
    name = f"numpy.{ufunc.__name__}"
    if method != "__call__":
        raise TypeError(
            f"{name}.{method} is not supported on Tensors (it would drop the graph); "
            "use the Tensor methods (t.sum(), t.max(), ...) or t.data for a plain array"
        )
    if "out" in kwargs:
        raise TypeError(
            f"{name}: out= would write a Tensor's result into an array, dropping the graph; "
            "assign the result instead (for a plain array, call it on t.data)"
        )
    if kwargs:
        raise TypeError(f"{name}: keyword arguments {sorted(kwargs)} are not supported on Tensors")
    handler = UFUNCS.get(ufunc)
    if handler is None:
        hint = UFUNC_HINTS.get(ufunc.__name__)
        raise TypeError(
            f"{name} has no op in autograd_np, so it cannot record a gradient"
            + (f"; use {hint}" if hint else "; for a plain array call it on t.data")
        )
    return handler(*inputs)


# ----------------------------------------------------------------------------
# Array functions (np.sum, np.where, ...), with NumPy's signatures
# ----------------------------------------------------------------------------
def _reject(name: str, **given: Any) -> None:
    """Arguments of the NumPy signature the engine does not support must be left at their defaults."""
    for arg, value in given.items():
        if value is not None:
            raise TypeError(f"numpy.{name}: argument {arg}={value!r} is not supported on Tensors")


def reduction(name: str, engine: Callable) -> Callable:
    def numpy_reduction(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: Any = False,
                        **rest: Any) -> Any:
        _reject(name, dtype=dtype, out=out, **rest)
        return engine(a, axis=axis, keepdims=bool(keepdims))

    return numpy_reduction


def variance(name: str, engine: Callable) -> Callable:
    def numpy_var(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
                  keepdims: Any = False, **rest: Any) -> Any:
        _reject(name, dtype=dtype, out=out, **rest)
        return engine(a, axis, bool(keepdims), ddof=ddof)

    return numpy_var


def arg_reduction(name: str, engine: Callable) -> Callable:
    def numpy_arg(a: Any, axis: Any = None, out: Any = None, *, keepdims: Any = False) -> Any:
        _reject(name, out=out)
        return engine(a, axis=axis, keepdims=bool(keepdims))

    return numpy_arg


def np_cumsum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    _reject("cumsum", dtype=dtype, out=out)
    return fn.cumsum(a, axis)


def np_reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: Any = None) -> Any:
    if order != "C":
        raise TypeError(f"numpy.reshape: order={order!r} is not supported on Tensors (C order only)")
    shape = newshape if shape is None else shape
    return fn.reshape(a, (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape))


def np_transpose(a: Any, axes: Any = None) -> Any:
    return ops.transpose(a, axes=None) if axes is None else fn.permute(a, *axes)


def np_concatenate(arrays: Any, axis: Any = 0, out: Any = None, *, dtype: Any = None, casting: Any = None) -> Any:
    _reject("concatenate", out=out, dtype=dtype)
    if axis is None:
        return fn.cat([fn.reshape(a, -1) if hasattr(a, "shape") else np.ravel(a) for a in arrays], 0)
    return fn.cat(arrays, axis)


def np_stack(arrays: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, casting: Any = None) -> Any:
    _reject("stack", out=out, dtype=dtype)
    return fn.stack(arrays, axis)


def np_where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        raise TypeError("numpy.where: the one-argument form (positions) is not supported on Tensors; "
                        "use np.nonzero(t.data), or give both x and y")
    return ops.where(condition, x, y)


def np_clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, *,
             min: Any = None, max: Any = None, **rest: Any) -> Any:  # noqa: A002 (NumPy's names)
    _reject("clip", out=out, **rest)
    return fn.clip(a, a_min, a_max, min=min, max=max)


def np_dot(a: Any, b: Any, out: Any = None) -> Any:
    _reject("dot", out=out)
    ndims = np.ndim(getattr(a, "data", a)), np.ndim(getattr(b, "data", b))
    if 0 in ndims:
        return ops.mul(a, b)
    if builtins.max(ndims) <= 2:
        return ops.matmul(a, b)
    return fn.tensordot(a, b, axes=([-1], [0 if ndims[1] == 1 else -2]))  # NumPy: a's last axis against b's second-to-last


def np_cumprod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    _reject("cumprod", dtype=dtype, out=out)
    return fn.cumprod(a, axis)


def np_roll(a: Any, shift: Any, axis: Any = None) -> Any:
    return fn.roll(a, shift, axis)


def np_einsum(subscripts: Any, *operands: Any, out: Any = None, optimize: Any = False, **rest: Any) -> Any:
    _reject("einsum", out=out, **{k: v for k, v in rest.items() if k in ("dtype", "order", "casting")})
    if not isinstance(subscripts, str):
        raise TypeError("numpy.einsum: only the subscripts-string form is supported on Tensors")
    return fn.einsum(subscripts, *operands)


def np_outer(a: Any, b: Any, out: Any = None) -> Any:
    _reject("outer", out=out)
    return fn.outer(a, b)


def np_diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    return fn.diagonal(a, offset, axis1, axis2)


def np_trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None, out: Any = None) -> Any:
    _reject("trace", dtype=dtype, out=out)
    return fn.trace(a, offset, axis1, axis2)


def np_diag(v: Any, k: int = 0) -> Any:
    return fn.diag(v, k)


def np_joined(engine: Callable) -> Callable:
    def numpy_joined(tup: Any, *, dtype: Any = None, casting: Any = None) -> Any:
        _reject(engine.__name__, dtype=dtype)
        return engine(tup)

    return numpy_joined


def np_cholesky(a: Any, /, *, upper: bool = False) -> Any:
    factor = linalg.cholesky(a)
    return fn.transpose(factor, -2, -1) if upper else factor


def np_svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> Any:
    if hermitian:
        raise TypeError("numpy.linalg.svd: hermitian=True is not supported on Tensors")
    return linalg.svd(a, full_matrices, compute_uv)


def norm_method(self: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False, *, ord: Any = None) -> Any:  # noqa: A002
    """``t.norm()``: PyTorch's spelling (p='fro' or a number, dim, keepdim); NumPy's ``ord=`` also works.
    The 2-norm's gradient at 0 is 0, as in PyTorch."""
    order = ord if ord is not None else (None if p == "fro" else p)
    if dim is None and order is not None and not isinstance(order, str):
        return linalg.vector_norm(self, order, None, keepdim)
    return linalg.norm(self, order, dim, keepdim)


def np_squeeze(a: Any, axis: Any = None) -> Any:
    return fn.squeeze(a, axis)


def np_expand_dims(a: Any, axis: Any) -> Any:
    return fn.expand_dims(a, axis)


def np_broadcast_to(array: Any, shape: Any, subok: bool = False) -> Any:
    return fn.broadcast_to(array, (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape))


def np_flip(m: Any, axis: Any = None) -> Any:
    return fn.flip(m, axis)


def np_repeat(a: Any, repeats: Any, axis: Any = None) -> Any:
    return fn.repeat_interleave(a, repeats, axis)


def np_pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Any:
    if mode != "constant" or set(kwargs) - {"constant_values"}:
        raise TypeError(f"numpy.pad: only mode='constant' (with constant_values) is supported on Tensors, got mode={mode!r}")
    value = kwargs.get("constant_values", 0)
    if np.ndim(value):
        raise TypeError("numpy.pad: constant_values must be one number on Tensors")
    return fn.pad(array, pad_width, value)


def np_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> Any:
    return list(fn.array_split_at(ary, indices_or_sections, axis))


def np_round(a: Any, decimals: int = 0, out: Any = None) -> Any:
    _reject("round", out=out)
    return ops.round(a, decimals=int(decimals))


def np_take_along_axis(arr: Any, indices: Any, axis: Any = -1) -> Any:
    return fn.take_along_axis(arr, indices, axis)


def np_ravel(a: Any, order: str = "C") -> Any:
    return np_reshape(a, -1, order)


def np_tile(A: Any, reps: Any) -> Any:  # noqa: N803 (NumPy's name)
    return fn.tile(A, reps)


def np_tril(m: Any, k: int = 0) -> Any:
    return fn.tril(m, k=k)


def np_triu(m: Any, k: int = 0) -> Any:
    return fn.triu(m, k=k)


def np_like(maker: Callable) -> Callable:
    def numpy_like(a: Any, *args: Any, dtype: Any = None, order: Any = "K", subok: Any = True, shape: Any = None,
                   **rest: Any) -> Any:
        _reject(maker.__name__, shape=shape, **rest)
        return maker(a, *args, dtype=dtype)

    return numpy_like


def _metadata(np_function: Callable) -> Callable:
    """Functions that read a Tensor's shape or values without computing a new one."""
    def on_data(*args: Any, **kwargs: Any) -> Any:
        return np_function(*[getattr(a, "data", a) for a in args], **kwargs)

    return on_data


def np_allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    return bool(np.allclose(getattr(a, "data", a), getattr(b, "data", b), rtol=rtol, atol=atol, equal_nan=equal_nan))


#: Filled by ``api.py`` like ``UFUNCS``; what is here reads shapes or values, or makes new tensors.
FUNCTIONS: dict[Callable, Callable[..., Any]] = {
    np.dot: np_dot,
    np.zeros_like: np_like(creation.zeros_like),
    np.ones_like: np_like(creation.ones_like),
    np.full_like: np_like(creation.full_like),
    np.shape: _metadata(np.shape),
    np.ndim: _metadata(np.ndim),
    np.size: _metadata(np.size),
    np.isclose: lambda a, b, **kw: Tensor._of(np.asarray(_metadata(np.isclose)(a, b, **kw))),
    np.array_equal: lambda a1, a2, equal_nan=False: bool(_metadata(np.array_equal)(a1, a2, equal_nan=equal_nan)),
}

#: What to use for an array function the engine has no op for (shown in the error).
FUNCTION_HINTS = {
    "copy": "t.detach() (a constant) or t.clone() (recorded)",
    "diff": "t[1:] - t[:-1]",
    "append": "autograd_np.cat([a.reshape(-1), b.reshape(-1)]) (np.append flattens), or cat([a, b], dim=axis)",
    "nonzero": "np.nonzero(t.data) (positions carry no gradient)",
    "argsort": "np.argsort(t.data) (an order carries no gradient)",
    "sort": "t[np.argsort(t.data)] (indexing records the gradient)",
    "average": "(t * w).sum() / w.sum()",
}


def function_call(func: Callable, args: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_function__``: the engine's function for the NumPy function ``func``."""
    handler = FUNCTIONS.get(func)
    if handler is None:
        name = func.__name__ if func.__module__ != "numpy.linalg" else f"linalg.{func.__name__}"
        hint = FUNCTION_HINTS.get(name)
        raise TypeError(
            f"numpy.{name} has no op in autograd_np, so it cannot record a gradient"
            + (f"; use {hint}" if hint else "; for a plain array call it on t.data")
        )
    return handler(*args, **kwargs)


def array_ufunc(tensor: Tensor, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``Tensor.__array_ufunc__``: NumPy's ufuncs (and ndarray operators) on Tensors record ops."""
    return ufunc_call(ufunc, method, inputs, kwargs)


def array_function(tensor: Tensor, func: Callable, types: Any, args: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_function__``: NumPy's functions on Tensors record ops."""
    return function_call(func, args, kwargs)
