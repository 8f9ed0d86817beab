"""The op machinery: ``primitive`` turns a forward function on arrays into an op.

    @primitive("sin")
    def sin(x):                                   # forward on NumPy arrays
        return np.sin(x)

    sin.defvjp(lambda g, y, x: g * cos(x),        # one VJP per input: vjp(g, y, *inputs, **kwargs)
               rule="dx = G cos(x)")
    sin.defjvp(lambda dx, y, x: dx * cos(x))      # forward mode, one JVP per input: jvp(dx, y, *inputs, **kwargs)

Calling an op with a Tensor argument returns a Tensor; if an input requires
grad and recording is on (see ``grad_mode``) it also records a ``Node`` on the
output. Called on raw arrays only, an op just runs its forward and returns an
array: that is how the VJPs, written with operators and ops, run on plain
arrays during ``backward()`` and on Tensors under ``create_graph=True``.

While a forward-mode level is open (``forward_mode.py``) the call also gives the output its
tangent, from the inputs' tangents and the JVPs; otherwise that costs one check.

This module also holds the argument plumbing every op shares: error messages
that name the op and the shapes, and index/axis normalisation.
"""
from __future__ import annotations

import builtins
import functools
import inspect
import re
from typing import Any, Callable, Sequence

import numpy as np

from .anomaly import _anomaly, check_forward, user_call_site
from .capture_hook import _capture
from .forward_mode import _forward, jvp_call
from .grad_mode import _mode
from .node import OUTPUT, Node, TracedNode, share_changes
from .tensor_type import Tensor

_NO_KWARGS: dict = {}

#: Every op ever defined (the engine's and users'), in definition order.
REGISTRY: list["Primitive"] = []


class Primitive:
    """An op: a forward function on arrays plus one VJP per input.

    ``saves=True`` declares an op whose forward returns ``(y, saved)``: ``saved``
    (raw arrays, e.g. the softmax inside a fused cross-entropy, or where the
    maxima of a ``max`` are) is kept on the node and handed to the VJPs as the
    keyword ``saved``. A VJP that needs its result to be differentiable again
    (under ``create_graph=True`` its inputs are Tensors) recomputes with ops.

    ``reads`` says, per input, which values its VJP reads (see ``defvjp``): an
    in-place change to one of those after the op was recorded makes ``backward``
    refuse; a change to anything else is harmless.
    """

    __slots__ = ("name", "forward", "saves", "vjps", "array_vjps", "rule", "reads", "jvps", "jvp_rule", "__dict__")

    def __init__(self, name: str, forward: Callable, saves: bool = False) -> None:
        self.name = name
        self.forward = forward
        self.saves = saves
        self.vjps: Sequence[Callable] = _NoVJPs(name)
        self.array_vjps = self.vjps  # what backward() runs on raw arrays: see defvjp's on_arrays
        self.rule = ""
        self.reads: Any = None  # None: every VJP may read every input and the output
        self.jvps: Sequence[Callable | None] = _NoJVPs(name)
        self.jvp_rule = ""
        self.__doc__ = forward.__doc__
        self.__wrapped__ = forward
        REGISTRY.append(self)

    def defvjp(
        self, *vjps: Callable, rule: str | None = None, reads: Sequence[str] | None = None,
        on_arrays: Sequence[Callable] | None = None,
    ) -> "Primitive":
        """Register ``vjp_i(g, y, *inputs, **kwargs) -> x̄_i`` for each input i.

        ``rule`` is the VJP in one short line of plain ASCII (``"dx = G (1 - y^2)"``):
        what ``viz`` writes under the op's nodes. Left out, it is read from the forward's
        docstring, its line ``VJP: dx = G (1 - y^2)``: the rule is stated once.

        ``reads`` names, for each VJP, the values it reads: the forward's parameter
        names and ``y`` for the output, space-separated (``mul``: ``("b", "a")``, since
        ā = G b and b̄ = G a; ``tanh``: ``("y",)``; ``add``: ``("", "")``). Shapes and
        dtypes do not count: in-place changes never alter them. Without ``reads``
        every VJP is taken to read every input and the output.

        ``on_arrays`` (optional) gives, per input, a faster way to compute the same VJP on
        raw arrays (a kernel of ``kernels.py``): ``backward()`` runs it; ``vjps`` stay the
        rule as its math, and run under ``create_graph`` (on Tensors).
        """
        self.vjps, self.rule = vjps, rule_in(self.__doc__) if rule is None else rule
        self.array_vjps = vjps if on_arrays is None else tuple(on_arrays)
        if reads is not None:
            if len(reads) != len(vjps):
                raise ValueError(f"{self.name}.defvjp: {len(vjps)} VJPs but {len(reads)} entries in reads")
            self.reads = tuple(self._positions(names) for names in reads)
        return self

    def defvjp_argnum(self, vjp: Callable, *, rule: str | None = None, reads: str | None = None) -> "Primitive":
        """Register one ``vjp(i, g, y, *inputs, **kwargs)`` for an op with any number of inputs.

        ``reads`` is ``""`` (the VJP reads no values, only shapes), ``"all"`` (declared: it reads the
        inputs, as einsum's VJP of one operand reads the others) or ``None`` (not declared: it may read all).
        """
        self.vjps, self.rule = _ArgnumRules(vjp), rule_in(self.__doc__) if rule is None else rule
        self.array_vjps = self.vjps
        if reads is not None:
            if reads.strip() not in ("", "all"):
                raise ValueError(f"{self.name}.defvjp_argnum: reads must be '', 'all' or None")
            self.reads = _ReadsAll() if reads.strip() else _ReadsNothing()
        return self

    def defjvp(self, *jvps: Callable | None, rule: str | None = None) -> "Primitive":
        """Register ``jvp_i(dx, y, *inputs, **kwargs) -> dy_i`` for each input i (forward mode).

        ``dy_i`` is input i's tangent ``dx`` carried to the output: linear in ``dx``, written like
        the VJPs (operators and ops, never raw NumPy on ``dx``); it may have the input's broadcast
        shape (forward mode broadcasts where reverse mode sums). The output's tangent is the sum
        over the inputs that carry one. ``None``: that input has no derivative (class indices).
        ``rule`` is read from the docstring's ``JVP: dy = ...`` line when left out (``op.jvp_rule``).
        """
        self.jvps, self.jvp_rule = jvps, jvp_rule_in(self.__doc__) if rule is None else rule
        return self

    def defjvp_argnum(self, jvp: Callable, *, rule: str | None = None) -> "Primitive":
        """Register one ``jvp(i, dx, y, *inputs, **kwargs)`` for an op with any number of inputs."""
        self.jvps, self.jvp_rule = _ArgnumRules(jvp), jvp_rule_in(self.__doc__) if rule is None else rule
        return self

    def _positions(self, names: str) -> tuple[int, ...]:
        """``"y a"`` -> (OUTPUT, 0): names of the forward's parameters as argument positions."""
        parameters = [
            p.name for p in inspect.signature(self.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        positions = []
        for name in names.split():
            if name == "y":
                positions.append(OUTPUT)
            elif name in parameters:
                positions.append(parameters.index(name))
            else:
                raise ValueError(f"{self.name}: reads names {name!r}, not y or one of its inputs {parameters}")
        return tuple(positions)

    def reads_of(self, position: int) -> tuple[int, ...] | None:
        """What the VJP of input ``position`` reads (positions, ``OUTPUT``); None: anything."""
        return None if self.reads is None else self.reads[position]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the forward and, if an input requires grad and recording is on, record a Node."""
        if _forward.levels:  # forward mode: the output also gets its tangents (forward_mode.py)
            return jvp_call(self, args, kwargs)
        if _capture.tracer is not None:  # autograd_np.compile is capturing a step
            return _capture.tracer.op_call(self, args, kwargs)
        has_tensor = needs_grad = False
        arrays = []  # the arguments with each Tensor replaced by its array
        for a in args:
            if isinstance(a, Tensor):
                has_tensor = True
                if a._requires_grad:
                    needs_grad = True
                arrays.append(a._data)
            elif type(a) is list:
                return self(*[_list_constant(self, b) if type(b) is list else b for b in args], **kwargs)
            else:
                arrays.append(a)
        if not has_tensor:
            arrays = args
        try:
            out = self.forward(*arrays, **kwargs)
        except (ValueError, IndexError, TypeError) as error:
            raise _named_error(self, arrays, error) from None
        saved = None
        if self.saves:
            out, saved = out
        if not has_tensor:  # raw arrays in, raw array out (how VJPs run during backward)
            return out
        if type(out) is not np.ndarray:
            out = np.asarray(out)  # ufuncs turn 0-d arrays into NumPy scalars
        kind = out.dtype.kind
        if kind == "c":
            raise TypeError(f"{self.name}: complex values are not supported")
        record = needs_grad and _mode.enabled and kind == "f"  # integer and boolean results have no gradient
        if _anomaly.enabled:
            result = self._traced(args, arrays, kwargs, out, saved, record)
        elif record:
            result = Tensor._of(out, Node(self, args, arrays, kwargs or _NO_KWARGS, saved))
        else:
            result = Tensor._of(out)
        if out.base is not None:  # maybe a view of an input (a basic slice, reshape, transpose)
            share_changes_with_input(result, args, arrays)
        return result

    def _traced(self, args: tuple, arrays: list, kwargs: dict, out: np.ndarray, saved: Any, record: bool) -> Tensor:
        """Anomaly mode: check the output, and remember the user's call site on the node."""
        check_forward(self.name, arrays, out)
        if not record:
            return Tensor._of(out)
        return Tensor._of(out, TracedNode(self, args, arrays, kwargs or _NO_KWARGS, saved, user_call_site()))

    def deflowering(self, forward: Callable | None = None, vjps: Sequence[Callable | None] = ()) -> "Primitive":
        """Register how ``autograd_np.compile`` writes this op out as NumPy calls into buffers
        allocated once: ``forward(emit, y, *inputs, **kwargs)`` and ``vjps[i](emit, dx, g, y,
        *inputs, **kwargs)`` return source lines (see ``lowerings.py``, the engine's table).
        Without one the compiled step calls the op's forward and VJPs as they are."""
        self.lowering = forward
        self.vjp_lowerings = tuple(vjps)
        return self

    lowering: Callable | None = None
    vjp_lowerings: tuple = ()

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def share_changes_with_input(result: Tensor, args: Sequence[Any], arrays: Sequence[Any]) -> None:
    """An output that is a view of an input Tensor's memory shares its change record."""
    for arg, array in zip(args, arrays):
        if isinstance(arg, Tensor) and np.may_share_memory(result._data, array):
            share_changes(arg, result, view=True)
            return


_RULE_LINE = re.compile(r"^\s*VJP:\s*(d\w+ = \S.*?)\s*$", re.M)
_JVP_RULE_LINE = re.compile(r"^\s*JVP:\s*(d\w+ = \S.*?)\s*$", re.M)


def rule_in(doc: str | None, line: re.Pattern = _RULE_LINE) -> str:
    """The rule a docstring states on its ``VJP:`` line, when that line is one of plain ASCII
    (``VJP: dx = G (1 - y^2)``); otherwise ``""`` (an op without a rule still works and draws)."""
    match = line.search(doc or "")
    return match.group(1) if match and match.group(1).isascii() else ""


def jvp_rule_in(doc: str | None) -> str:
    """The forward-mode rule a docstring states on its ``JVP:`` line (``JVP: dy = dx (1 - y^2)``)."""
    return rule_in(doc, _JVP_RULE_LINE)


def not_differentiable(reason: str) -> Callable:
    """A VJP slot for an input that has no gradient (class indices, say): asking for one is an error."""
    def vjp(g: Any, y: Any, *inputs: Any, **kwargs: Any) -> Any:
        raise TypeError(f"no gradient flows to this input: {reason}")

    return vjp


class _ReadsNothing:
    """``reads`` of a variadic op whose VJPs read no values."""

    def __getitem__(self, i: int) -> tuple[int, ...]:
        return ()


class _ReadsAll:
    """``reads`` of a variadic op whose VJPs may read every input (each position: None, "anything")."""

    def __getitem__(self, i: int) -> None:
        return None


class _NoVJPs:
    """What an op has before ``defvjp``: asking for a VJP is a clear error."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getitem__(self, i: int) -> Callable:
        raise NotImplementedError(f"backward through {self.name}: it has no VJP yet; register one with {self.name}.defvjp(...)")


class _NoJVPs:
    """What an op has before ``defjvp``: forward mode through it is a clear error."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getitem__(self, i: int) -> Callable:
        raise NotImplementedError(
            f"forward mode (jvp, jacfwd, hessian) through {self.name}: it has no JVP; register one with "
            f"{self.name}.defjvp(...), or use reverse mode (grad, vjp, jacrev)"
        )


class _ArgnumRules:
    """``vjps[i]`` (or ``jvps[i]``) for a variadic op: the one rule with the input's position bound."""

    def __init__(self, vjp: Callable) -> None:
        self.vjp = vjp

    def __getitem__(self, i: int) -> Callable:
        return functools.partial(self.vjp, i)


def primitive(name: str, saves: bool = False) -> Callable[[Callable], Primitive]:
    """Decorator: ``@primitive("name")`` over a forward on arrays makes it an op; then ``.defvjp(...)``."""
    def wrap(forward: Callable) -> Primitive:
        return Primitive(name, forward, saves)

    return wrap


def ops_defined_in(*module_names: str) -> dict[str, Primitive]:
    """The ops whose forward is defined in one of ``module_names``, by name (``ops.OPS``)."""
    return {op.name: op for op in REGISTRY if op.forward.__module__ in module_names}


# ----------------------------------------------------------------------------
# Errors and argument plumbing
# ----------------------------------------------------------------------------
def _named_error(op: Primitive, arrays: Sequence[Any], error: Exception) -> Exception:
    """The forward's error with the op name and input shapes in front, same exception class
    (an ``AxisError`` stays catchable as ``IndexError`` and ``ValueError``)."""
    message = str(error)
    if message.startswith(op.name + ":"):
        return error
    shapes = " and ".join(str(shape_of(a)) for a in arrays)
    text = f"{op.name}: input shape{'s' if len(arrays) > 1 else ''} {shapes}: {message}"
    try:
        return type(error)(text)
    except Exception:  # an exception class whose constructor wants other arguments
        return ValueError(text) if isinstance(error, ValueError) else error


def _list_constant(op: Primitive, items: list) -> np.ndarray:
    """A (nested) list operand as an array constant; Tensors inside it would lose their gradient."""
    def has_tensor(x: Any) -> bool:
        return isinstance(x, Tensor) or (isinstance(x, (list, tuple)) and builtins.any(map(has_tensor, x)))

    if has_tensor(items):
        raise TypeError(f"{op.name}: a list holding Tensors is not differentiable; use autograd_np.stack(...) instead")
    return np.asarray(items)


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of a Tensor, an array or a scalar."""
    return x.shape if isinstance(x, (Tensor, np.ndarray, np.generic)) else np.shape(x)


def array_of(x: Any) -> Any:
    """The raw array behind a Tensor (masks and constants in VJPs are not differentiated)."""
    return x._data if isinstance(x, Tensor) else x


def normalize_axis(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    """``None`` or a sorted tuple of non-negative axes (validated against ``ndim``)."""
    if axis is None:
        return None
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, without the loop below
        return (axis % ndim,)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not (-ndim <= a < ndim or (ndim == 0 and a in (0, -1))):
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for a tensor with {ndim} dimensions")
        if ndim:  # a 0-d tensor accepts axis 0 / -1 and reduces over no axis
            out.append(int(a) % ndim)
    return tuple(sorted(set(out)))


def normalize_index(index: Any) -> Any:
    """Turn Tensor and list indices into arrays so the index can be stored and reused."""
    if type(index) is np.ndarray and index.dtype.kind in "iu":  # the common case (embedding lookup) as is
        return index
    parts = index if isinstance(index, tuple) else (index,)
    out = tuple(p for i in parts for p in _index_parts(i))
    return out[0] if len(out) == 1 else out


def _index_parts(i: Any) -> tuple:
    if isinstance(i, Tensor):
        i = i._data
    if isinstance(i, list):
        i = np.asarray(i)
    if isinstance(i, np.ndarray):
        if i.dtype.kind not in "iub":
            raise IndexError(f"getitem: index arrays must be integer or boolean, got dtype {i.dtype}")
    return (i,)


def is_basic_index(index: Any) -> bool:
    """Ints, slices, None and Ellipsis only: every element is selected at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)
