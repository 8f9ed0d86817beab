"""The public names of the ops: one table line gives a name its ``autograd_np.<name>``
function, its Tensor method and the NumPy function that dispatches to it.

An op is defined once, in ``ops.py`` (forward, VJP, math); ``functions.py`` adds
PyTorch's and NumPy's argument spellings (``dim=``/``axis=``, ``keepdim=``) where
an op needs them. A line of the table below,

    public("tanh", ops.tanh, numpy=np.tanh)

makes ``autograd_np.tanh``, ``t.tanh()`` (the tensor as the first argument) and
``np.tanh(t)``. Its keywords:

- ``method=``: ``SAME`` (default: the function, the tensor first), ``None`` (no
  method), or a method written below where PyTorch's method spelling differs
  from the function's (``t.flip(0, 1)``, ``t.where(cond, other)``, ``t + u``);
- ``function=False``: no ``autograd_np.<name>`` (operators, methods only);
- ``numpy=``: a NumPy function (called with the same arguments), a pair
  ``(numpy function, handler with NumPy's signature)`` from ``numpy_api.py``, or
  a list of those.

A Python function is installed as the method itself (it binds like any
method); an op (a ``Primitive``) gets a one-line wrapper, as a hand-written
method would be: neither adds a call on the hot path.
"""
from __future__ import annotations

import inspect
import sys
import types
from typing import Any, Callable

import numpy as np

from . import functional as F, functions as fn, graph, linalg, numpy_api as npx, ops
from .primitives import Primitive, normalize_index
from .tensor_type import Tensor

SAME: Any = "the function, the tensor first"

#: ``autograd_np.<name>`` for every line with a function, by name.
FUNCTIONS: dict[str, Callable] = {}
#: Every method the table installed on Tensor, by name.
METHODS: dict[str, Callable] = {}
#: The NumPy functions each name was given (``numpy=``), by name.
NUMPY_ENTRIES: dict[str, list] = {}


def public(
    name: str, op: Callable, *, function: bool = True, method: Any = SAME, numpy: Any = None, replace: bool = False
) -> None:
    """Give ``op`` (an op or a function of ``functions.py``) its public names: see the module docstring.
    A name that already exists is refused unless ``replace=True`` (a user's op must not silently
    take the place of ``sum`` or ``Tensor.shape``)."""
    taken = (function and name in FUNCTIONS) or (method is not None and name in vars(Tensor))
    if taken and not replace:
        raise ValueError(f"public: {name!r} is already a public name of autograd_np; pass replace=True to replace it")
    if function:
        FUNCTIONS[name] = op
        package = sys.modules.get(__package__)
        if package is not None:
            setattr(package, name, op)
            exported = getattr(package, "__all__", None)
            if exported is not None and name not in exported:
                exported.append(name)  # a user's op is as public as the engine's
    if method is not None:
        installed = as_method(op, name) if method is SAME else named(method, name, method)
        setattr(Tensor, name, installed)
        METHODS[name] = installed
    entries = [] if numpy is None else numpy if isinstance(numpy, list) else [numpy]
    for entry in entries:
        numpy_function, handler = entry if isinstance(entry, tuple) else (entry, op)
        _numpy_table(numpy_function)[numpy_function] = handler
        NUMPY_ENTRIES.setdefault(name, []).append(numpy_function)


def withdraw(name: str) -> None:
    """Undo ``public(name, ...)``: its function, method and NumPy entries are gone again."""
    package = sys.modules.get(__package__)
    if FUNCTIONS.pop(name, None) is not None and package is not None:
        delattr(package, name)
        if name in getattr(package, "__all__", ()):
            package.__all__.remove(name)
    if METHODS.pop(name, None) is not None:
        delattr(Tensor, name)
    for numpy_function in NUMPY_ENTRIES.pop(name, []):
        _numpy_table(numpy_function).pop(numpy_function, None)


def _numpy_table(numpy_function: Any) -> dict:
    return npx.UFUNCS if isinstance(numpy_function, np.ufunc) else npx.FUNCTIONS


def as_method(op: Callable, name: str) -> Callable:
    """``op`` as a method of Tensor: a Python function is one already; an op gets a wrapper
    with its own number of arguments (no ``*args`` packing for the one- and two-input ops)."""
    if isinstance(op, types.FunctionType):
        return op
    arity = _positional_only_arity(op)
    if arity == 1:
        def method(self: Tensor) -> Tensor:
            return op(self)
    elif arity == 2:
        def method(self: Tensor, other: Any) -> Tensor:  # type: ignore[misc]
            return op(self, other)
    else:
        def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            return op(self, *args, **kwargs)
        return named(method, name, op)  # help() shows the forward's parameters
    method.__signature__ = inspect.signature(method)  # help() shows (self) or (self, other)
    return named(method, name, op)


def named(method: Callable, name: str, source: Callable) -> Callable:
    """``method`` with the name, docstring and origin of ``Tensor.<name>`` (for help(), dir(), tracebacks)."""
    method.__name__, method.__qualname__, method.__module__ = name, f"Tensor.{name}", Tensor.__module__
    method.__doc__ = method.__doc__ or source.__doc__
    if method is not source:
        method.__wrapped__ = source  # inspect.getsource / signature follow it to the op
    return method


def _positional_only_arity(op: Callable) -> int | None:
    """How many inputs an op's forward takes, if that is all it takes (else None)."""
    forward = op.forward if isinstance(op, Primitive) else op
    try:
        parameters = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        return None
    if all(p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in parameters):
        return len(parameters)
    return None


# ----------------------------------------------------------------------------
# Methods spelled differently from their function (PyTorch's method spellings)
# ----------------------------------------------------------------------------
def reflected(op: Callable) -> Callable:
    """``other op self``: the reflected operator (``2 - t`` is ``t.__rsub__(2)``)."""
    def method(self: Tensor, other: Any) -> Tensor:
        return op(other, self)

    method.__doc__ = op.__doc__
    return method


def getitem(self: Tensor, index: Any) -> Tensor:
    """``t[index]``: ints, slices, None, Ellipsis, integer and boolean arrays (the ``getitem`` op)."""
    return ops.getitem(self, index=normalize_index(index))


def setitem(self: Tensor, index: Any, value: Any) -> None:
    """``t[index] = value`` (PyTorch's rules, like the in-place operators): written into the
    array when nothing is recorded; a leaf that requires grad refuses it outside ``no_grad()``;
    otherwise recorded, as ``ops.setitem``: the overwritten positions get no gradient, ``value``
    gets the gradient at ``index``."""
    index = normalize_index(index)

    def assign(before: Any, new: Any) -> Any:
        return ops.setitem(before, new, index=index)

    self._in_place(assign, value, "t[index] =", index)


def _comparable(other: Any) -> bool:
    """Whether ``==`` with ``other`` is elementwise (arrays, numbers, nested lists) rather than identity."""
    return isinstance(other, (Tensor, np.ndarray, np.generic, int, float, bool, complex, list, tuple))


def equal(self: Tensor, other: Any) -> Any:
    """``t == other``: elementwise, a boolean Tensor that never requires grad."""
    return fn.eq(self, other) if _comparable(other) else NotImplemented


def not_equal(self: Tensor, other: Any) -> Any:
    """``t != other``: elementwise, a boolean Tensor that never requires grad."""
    return fn.ne(self, other) if _comparable(other) else NotImplemented


def bitwise(name: str, ufunc: np.ufunc) -> Callable:
    """An elementwise bitwise operator: a Tensor that never requires grad."""
    def method(self: Tensor, *other: Any) -> Tensor:
        return fn.elementwise_constant(name, ufunc, self, *other)

    method.__doc__ = f"Elementwise ``np.{ufunc.__name__}``: a Tensor that never requires grad."
    return method


def astype(self: Tensor, dtype: Any) -> Tensor:
    """The values converted to ``dtype``; recorded: the gradient comes back in this tensor's dtype."""
    return ops.astype(self, dtype=np.dtype(dtype))


def round_method(self: Tensor, decimals: int = 0) -> Tensor:
    """Rounded to ``decimals`` places, halves to even (no gradient: a step function)."""
    return ops.round(self, decimals=int(decimals))


def where_method(self: Tensor, condition: Any, other: Any) -> Tensor:
    """PyTorch's ``x.where(condition, y)``: x where the condition holds, else y."""
    return ops.where(condition, self, other)


def reshape_method(self: Tensor, *shape: Any) -> Tensor:
    """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one size may be -1."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return ops.reshape(self, shape=shape)


def flip_method(self: Tensor, *axes: Any, dims: Any = None, axis: Any = None) -> Tensor:
    """``t.flip(0, 2)``, ``t.flip(dims=(0, 2))`` or ``t.flip(axis=0)``; nothing given: every axis."""
    if axes:
        if dims is not None or axis is not None:
            raise TypeError("flip: give the axes once (positionally, dims= or axis=)")
        axis = axes[0] if len(axes) == 1 else axes
    return fn.flip(self, axis, dims=dims)


def tile_method(self: Tensor, *reps: Any) -> Tensor:
    """Repeat the whole tensor ``reps[k]`` times along axis k: ``t.tile(2, 3)`` or ``t.tile((2, 3))``."""
    return fn.tile(self, reps[0] if len(reps) == 1 else reps)


# ----------------------------------------------------------------------------
# The table, ordered as ops.py
# ----------------------------------------------------------------------------
# operators (methods only; NumPy's ufuncs, and ndarray operators with a Tensor operand, reach the op)
public("__add__", ops.add, function=False, numpy=np.add)
public("__radd__", ops.add, function=False, method=reflected(ops.add))
public("__sub__", ops.sub, function=False, numpy=np.subtract)
public("__rsub__", ops.sub, function=False, method=reflected(ops.sub))
public("__mul__", ops.mul, function=False, numpy=np.multiply)
public("__rmul__", ops.mul, function=False, method=reflected(ops.mul))
public("__truediv__", ops.div, function=False, numpy=np.divide)  # also np.true_divide (the same ufunc)
public("__rtruediv__", ops.div, function=False, method=reflected(ops.div))
public("__pow__", ops.pow, function=False, numpy=np.power)
public("__rpow__", ops.pow, function=False, method=reflected(ops.pow))
public("__neg__", ops.neg, function=False, numpy=np.negative)
public("astype", ops.astype, function=False, method=astype)
# elementwise functions
public("tanh", ops.tanh, numpy=np.tanh)
public("sigmoid", ops.sigmoid)
public("exp", ops.exp, numpy=np.exp)
public("log", ops.log, numpy=np.log)
public("relu", ops.relu)
public("abs", ops.abs, numpy=np.absolute)
public("sin", ops.sin, numpy=np.sin)
public("cos", ops.cos, numpy=np.cos)
public("erf", ops.erf)
public("softplus", ops.softplus, method=None)
public("logaddexp", ops.logaddexp, method=None, numpy=np.logaddexp)
public("sqrt", fn.sqrt, numpy=np.sqrt)
public("square", fn.square, numpy=np.square)
public("sign", ops.sign, numpy=np.sign)
public("floor", ops.floor, numpy=np.floor)
public("ceil", ops.ceil, numpy=np.ceil)
public("trunc", ops.trunc, numpy=np.trunc)
public("round", ops.round, method=round_method, numpy=[np.rint, (np.round, npx.np_round), (np.around, npx.np_round)])
public("clamp", fn.clamp)
public("clip", fn.clip, numpy=(np.clip, npx.np_clip))
public("maximum", ops.maximum, numpy=np.maximum)
public("minimum", ops.minimum, numpy=np.minimum)
public("where", ops.where, method=where_method, numpy=(np.where, npx.np_where))
public("masked_fill", fn.masked_fill)
# reductions
public("sum", fn.sum, numpy=(np.sum, npx.reduction("sum", fn.sum)))
public("mean", fn.mean, numpy=(np.mean, npx.reduction("mean", fn.mean)))
public("max", fn.max, numpy=[(np.max, npx.reduction("max", fn.max)), (np.amax, npx.reduction("amax", fn.max))])
public("min", fn.min, numpy=[(np.min, npx.reduction("min", fn.min)), (np.amin, npx.reduction("amin", fn.min))])
public("var", fn.var, numpy=(np.var, npx.variance("var", fn.var)))
public("std", fn.std, numpy=(np.std, npx.variance("std", fn.std)))
public("logsumexp", fn.logsumexp)
public("cumsum", fn.cumsum, numpy=(np.cumsum, npx.np_cumsum))
public("argmax", fn.argmax, numpy=(np.argmax, npx.arg_reduction("argmax", fn.argmax)))
public("argmin", fn.argmin, numpy=(np.argmin, npx.arg_reduction("argmin", fn.argmin)))
public("all", fn.all, numpy=(np.all, npx.reduction("all", fn.all)))
public("any", fn.any, numpy=(np.any, npx.reduction("any", fn.any)))
# shape
public("reshape", fn.reshape, method=reshape_method, numpy=[(np.reshape, npx.np_reshape), (np.ravel, npx.np_ravel)])
public("view", fn.reshape, function=False)
public("flatten", fn.flatten)
public("transpose", fn.transpose, numpy=(np.transpose, npx.np_transpose))
public("permute", fn.permute)
public("swapaxes", fn.swapaxes, numpy=np.swapaxes)
public("squeeze", fn.squeeze, numpy=(np.squeeze, npx.np_squeeze))
public("unsqueeze", fn.unsqueeze)
public("expand_dims", fn.expand_dims, numpy=(np.expand_dims, npx.np_expand_dims))
public("expand", fn.expand, function=False)
public("broadcast_to", fn.broadcast_to, numpy=(np.broadcast_to, npx.np_broadcast_to))
public("flip", fn.flip, method=flip_method, numpy=(np.flip, npx.np_flip))
public("tile", fn.tile, method=tile_method, numpy=(np.tile, npx.np_tile))
public("repeat", fn.repeat, function=False)
public("repeat_interleave", fn.repeat_interleave, numpy=(np.repeat, npx.np_repeat))
public("pad", fn.pad, numpy=(np.pad, npx.np_pad))
public("tril", fn.tril, numpy=(np.tril, npx.np_tril))
public("triu", fn.triu, numpy=(np.triu, npx.np_triu))
public("split", fn.split, numpy=(np.split, npx.np_split))
public("chunk", fn.chunk)
public("cat", fn.cat, method=None)
public("concatenate", fn.concatenate, method=None, numpy=(np.concatenate, npx.np_concatenate))
public("stack", fn.stack, method=None, numpy=(np.stack, npx.np_stack))
# indexing
public("__getitem__", ops.getitem, function=False, method=getitem)
public("__setitem__", ops.setitem, function=False, method=setitem)
public("gather", fn.gather)
public("take_along_axis", fn.take_along_axis, method=None, numpy=(np.take_along_axis, npx.np_take_along_axis))
# matrix
public("matmul", ops.matmul, method=None, numpy=np.matmul)
public("__matmul__", ops.matmul, function=False)
public("__rmatmul__", ops.matmul, function=False, method=reflected(ops.matmul))
# more elementwise functions
public("__mod__", ops.remainder, function=False, numpy=np.remainder)  # also np.mod (the same ufunc)
public("__rmod__", ops.remainder, function=False, method=reflected(ops.remainder))
public("remainder", ops.remainder)
public("fmod", ops.fmod, numpy=np.fmod)
public("hypot", ops.hypot, numpy=np.hypot)
public("tan", ops.tan, numpy=np.tan)
public("sinh", ops.sinh, numpy=np.sinh)
public("cosh", ops.cosh, numpy=np.cosh)
public("arctan", ops.arctan, numpy=np.arctan)
public("arcsin", ops.arcsin, numpy=np.arcsin)
public("arccos", ops.arccos, numpy=np.arccos)
public("arctanh", ops.arctanh, numpy=np.arctanh)
public("atan", ops.arctan)
public("asin", ops.arcsin)
public("acos", ops.arccos)
public("atanh", ops.arctanh)
public("log1p", ops.log1p, numpy=np.log1p)
public("expm1", ops.expm1, numpy=np.expm1)
public("log2", ops.log2, numpy=np.log2)
public("log10", ops.log10, numpy=np.log10)
public("exp2", ops.exp2, numpy=np.exp2)
# products, contractions, more shape functions
public("prod", fn.prod, numpy=(np.prod, npx.reduction("prod", fn.prod)))
public("cumprod", fn.cumprod, numpy=(np.cumprod, npx.np_cumprod))
public("roll", fn.roll, numpy=(np.roll, npx.np_roll))
public("moveaxis", fn.moveaxis, numpy=np.moveaxis)
public("movedim", fn.moveaxis)
public("einsum", fn.einsum, method=None, numpy=(np.einsum, npx.np_einsum))
public("tensordot", fn.tensordot, method=None, numpy=np.tensordot)
public("outer", fn.outer, numpy=(np.outer, npx.np_outer))
public("inner", fn.inner, numpy=np.inner)
public("kron", fn.kron, numpy=np.kron)
public("dot", fn.dot)
public("diagonal", fn.diagonal, numpy=(np.diagonal, npx.np_diagonal))
public("trace", fn.trace, numpy=(np.trace, npx.np_trace))
public("diag", fn.diag, numpy=(np.diag, npx.np_diag))
public("atleast_1d", fn.atleast_1d, method=None, numpy=np.atleast_1d)
public("atleast_2d", fn.atleast_2d, method=None, numpy=np.atleast_2d)
public("atleast_3d", fn.atleast_3d, method=None, numpy=np.atleast_3d)
public("vstack", fn.vstack, method=None, numpy=(np.vstack, npx.np_joined(fn.vstack)))
public("hstack", fn.hstack, method=None, numpy=(np.hstack, npx.np_joined(fn.hstack)))
public("dstack", fn.dstack, method=None, numpy=(np.dstack, npx.np_joined(fn.dstack)))
public("column_stack", fn.column_stack, method=None, numpy=np.column_stack)
public("array_split", fn.array_split, method=None, numpy=np.array_split)
public("triu_indices", fn.triu_indices, method=None)
public("tril_indices", fn.tril_indices, method=None)
# linear algebra (autograd_np.linalg; np.linalg.* on Tensors)
public("norm", npx.norm_method, function=False, numpy=(np.linalg.norm, linalg.norm))
public("det", linalg.det, function=False, numpy=np.linalg.det)
public("inverse", linalg.inv, function=False, numpy=np.linalg.inv)
public("cholesky", linalg.cholesky, function=False, numpy=(np.linalg.cholesky, npx.np_cholesky))
public("slogdet", linalg.slogdet, function=False, numpy=np.linalg.slogdet)
public("linalg.solve", linalg.solve, function=False, method=None, numpy=np.linalg.solve)
public("linalg.eigh", linalg.eigh, function=False, method=None, numpy=np.linalg.eigh)
public("linalg.eigvalsh", linalg.eigvalsh, function=False, method=None, numpy=np.linalg.eigvalsh)
public("linalg.qr", linalg.qr, function=False, method=None, numpy=np.linalg.qr)
public("linalg.svd", linalg.svd, function=False, method=None, numpy=(np.linalg.svd, npx.np_svd))
public("linalg.svdvals", linalg.svdvals, function=False, method=None, numpy=np.linalg.svdvals)
public("linalg.matrix_norm", linalg.matrix_norm, function=False, method=None, numpy=np.linalg.matrix_norm)
public("linalg.vector_norm", linalg.vector_norm, function=False, method=None, numpy=np.linalg.vector_norm)
# softmax
public("log_softmax", F.log_softmax, function=False)
public("softmax", F.softmax, function=False)
# sampling (no gradient): torch.multinomial and Tensor.multinomial
public("multinomial", F.multinomial)
# comparisons and logic: Tensors that never require grad
public("eq", fn.eq, method=None, numpy=np.equal)
public("ne", fn.ne, method=None, numpy=np.not_equal)
public("lt", fn.lt, method=None, numpy=np.less)
public("le", fn.le, method=None, numpy=np.less_equal)
public("gt", fn.gt, method=None, numpy=np.greater)
public("ge", fn.ge, method=None, numpy=np.greater_equal)
public("__eq__", fn.eq, function=False, method=equal)
public("__ne__", fn.ne, function=False, method=not_equal)
public("__lt__", fn.lt, function=False)
public("__le__", fn.le, function=False)
public("__gt__", fn.gt, function=False)
public("__ge__", fn.ge, function=False)
public("logical_and", fn.logical_and, method=None, numpy=np.logical_and)
public("logical_or", fn.logical_or, method=None, numpy=np.logical_or)
public("logical_not", fn.logical_not, method=None, numpy=np.logical_not)
public("isnan", fn.isnan, method=None, numpy=np.isnan)
public("isfinite", fn.isfinite, method=None, numpy=np.isfinite)
public("allclose", fn.allclose, method=None, numpy=(np.allclose, npx.np_allclose))
public("__and__", np.bitwise_and, function=False, method=bitwise("and", np.bitwise_and))
public("__rand__", np.bitwise_and, function=False, method=bitwise("and", np.bitwise_and))
public("__or__", np.bitwise_or, function=False, method=bitwise("or", np.bitwise_or))
public("__ror__", np.bitwise_or, function=False, method=bitwise("or", np.bitwise_or))
public("__xor__", np.bitwise_xor, function=False, method=bitwise("xor", np.bitwise_xor))
public("__rxor__", np.bitwise_xor, function=False, method=bitwise("xor", np.bitwise_xor))
public("__invert__", np.invert, function=False, method=bitwise("invert", np.invert))
# NumPy's protocols, and the walk
public("__array_ufunc__", npx.array_ufunc, function=False)
public("__array_function__", npx.array_function, function=False)
public("backward", graph.backward, function=False)
