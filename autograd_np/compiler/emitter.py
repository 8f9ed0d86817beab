"""Writing the program out: readable names for its values, then one or a few NumPy lines per instruction.

``Emitter`` holds what is being written and the namespace the source will run in (buffers
allocated once, parameters, constants, callables). ``emit_instr`` writes one instruction through
its op's lowering (``lowerings.py``, which calls back ``Emitter.buf``, ``scratch``, ``const`` and
``expr``), or as a call to the op's own code. The names come from the step itself
(``known_names``: its arguments, the parameters of live modules in the derivation's names ``C``,
``W1``, ``b1``, its local variables) and are given to the values by ``name_values``.
``program.build_program`` drives all of it; ``passes.share_buffers`` works on the Emitter's buffers.
The step's array arguments and their names (``_flat_inputs``, ``_input_names``, at the end) are
what ``program.py`` and ``compiled.py`` pass to a program too.
"""
from __future__ import annotations

import builtins
import inspect
import keyword
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import kernels, lowerings, nn  # noqa: F401 (lowerings: registers the table)
from ..primitives import Primitive
from ..tensor_type import Tensor
from .instructions import Instr, Value, _Prefix
from .tracer import _ORIGINALS_KEPT, Tracer

# ----------------------------------------------------------------------------
# Writing the program out: names, then one or a few NumPy lines per instruction
# ----------------------------------------------------------------------------
_RESERVED = {"np", "kernels", "math", "step", "self", "lr", "t"}


class Emitter:
    """Builds the program's source and the namespace it runs in (buffers, parameters, callables).
    The lowerings (``lowerings.py``) call ``buf``, ``scratch``, ``const`` and ``expr``."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"np": np, "kernels": kernels, "math": math}
        self.taken = set(self.ns) | _RESERVED
        self.allocated: set[str] = set()
        self.passes: set[str] = set()
        self.cache: dict[Any, str] = {}
        self.readers: dict[int, int] = {}  # id(Value) -> instructions reading it (2 more if returned)
        self.buffered: dict[int, Value] = {}  # the temps given a buffer of their own, by id
        self.views: dict[str, tuple[str, str]] = {}  # name -> (array, suffix): views made once (make_views)
        self.checked: set[int] = set()  # index arrays a forward line indexed with (NumPy raised there if out of range)

    def only_reader(self, v: Any) -> bool:
        """Whether one instruction (the one being lowered) is all that reads ``v``: it may write into it."""
        return self.readers.get(id(v), 0) == 1

    def cached(self, key: Any, make: Callable[[], Any], hint: str) -> str:
        """A constant made once per program (``np.arange(B)`` for several lowerings, say)."""
        if key not in self.cache:
            self.cache[key] = self.const(make(), hint)
        return self.cache[key]

    def unique(self, hint: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in hint) or "v"
        if base[0].isdigit():
            base = "v" + base
        name, n = base, 1
        while name in self.taken or hasattr(builtins, name) or keyword.iskeyword(name):
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def buf(self, v: Value) -> str:
        """``v``'s buffer, allocated once (a temp written with ``out=``)."""
        if v.kind == "temp" and v.name not in self.allocated:
            self.allocated.add(v.name)
            self.ns[v.name] = np.empty(v.shape, v.dtype)
            self.buffered[id(v)] = v
        return v.name

    def lasting(self, v: Any) -> bool:
        """Whether ``v`` names the same array at every call: a parameter, a constant, a buffer, or a
        view made once of one (a scratch or constant's name, given as a string, always does)."""
        if isinstance(v, str):
            return True
        return v.kind in ("tensor", "const") or v.name in self.allocated or v.name in self.views

    def view(self, v: Any, suffix: str, hint: str) -> str:
        """``v`` + ``suffix`` (``.T``, ``.reshape(-1)``, ``[:, None]``): made once, after the buffers
        are final (``make_views``), when ``v`` is the same array every call; else written per call."""
        base = v if isinstance(v, str) else v.name
        if not self.lasting(v):
            return base + suffix
        key = ("view", base, suffix)
        if key not in self.cache:
            self.cache[key] = self.unique(hint)
            self.views[self.cache[key]] = (base, suffix)
        return self.cache[key]

    def bind_view(self, y: Value, x: Value, suffix: str) -> list[str]:
        """``y = x`` + ``suffix`` as a view made once when x lasts (the line stays, as a comment), else per call."""
        if not self.lasting(x):
            return [f"{y} = {x}{suffix}"]
        self.views[y.name] = (x.name, suffix)
        return [f"# {y} = {x}{suffix}: " + ("a view, made once" if suffix else "the same buffer")]

    def make_views(self) -> None:
        for name, (base, suffix) in self.views.items():
            self.ns[name] = eval(base + suffix, {}, self.ns)  # noqa: S307 (suffixes written by the lowerings)

    def scratch(self, shape: tuple, dtype: Any, hint: str) -> str:
        name = self.unique(hint)
        self.ns[name] = np.empty(shape, dtype)
        return name

    def const(self, value: Any, hint: str) -> str:
        for name, held in self.ns.items():
            if held is value and name not in self.allocated:
                return name
        name = self.unique(hint)
        self.ns[name] = value
        return name

    def expr(self, obj: Any) -> str:
        """Source text for an argument: a Value's name, a literal, or a constant of the namespace."""
        if isinstance(obj, Value):
            return obj.name
        if obj is None or obj is Ellipsis or isinstance(obj, (bool, int, str)):
            return "..." if obj is Ellipsis else repr(obj)
        if isinstance(obj, float):
            return repr(obj) if np.isfinite(obj) else f"float({str(obj)!r})"
        if isinstance(obj, tuple):
            inner = ", ".join(self.expr(x) for x in obj)
            return f"({inner},)" if len(obj) == 1 else f"({inner})"
        if isinstance(obj, list):
            return "[" + ", ".join(self.expr(x) for x in obj) + "]"
        if isinstance(obj, slice):
            return f"slice({self.expr(obj.start)}, {self.expr(obj.stop)}, {self.expr(obj.step)})"
        if isinstance(obj, np.dtype):
            return f"np.{obj.name}" if hasattr(np, obj.name) else self.const(obj, "dtype")
        return self.const(obj, "c")

    def kwargs(self, kwargs: dict) -> str:
        return "".join(f", {k}={self.expr(v)}" for k, v in kwargs.items())

    def call_opaque(self, fn: Any, hint: str, outs: str, args: list, kwargs: dict) -> list[str]:
        name = self.const(fn, hint)
        return [f"{outs} = {name}({', '.join(self.expr(a) for a in args)}{self.kwargs(kwargs)})"]


def _first_line(op: Primitive) -> str:
    doc = (op.__doc__ or "").strip().splitlines()
    return doc[0].split("  (")[0].strip() if doc else op.name


def _rule_for(op: Primitive, position: int) -> str:
    rule = op.rule or ""
    parts = [p.strip() for p in rule.split(", d")]
    if len(parts) > 1 and position < len(parts):
        part = parts[position]
        return part if position == 0 else "d" + part
    return rule


def _comment(instr: Instr) -> str:
    if instr.note:
        return instr.note
    if instr.kind == "fwd":
        return _first_line(instr.op)
    if instr.kind == "vjp":
        return f"{instr.op.name}: {_rule_for(instr.op, instr.position)}"
    return {"acc": "gradients summed (the walk's order)", "leafadd": ".grad += the new gradient",
            "cast": "the gradient in the leaf's dtype", "copyto": "in place", "optstep": "optimizer step"}.get(instr.kind, "")


def emit_instr(e: Emitter, instr: Instr) -> list[str]:
    """The source lines of one instruction: its op's lowering, or a call to the op's own code."""
    kind, outs = instr.kind, instr.outs
    if kind == "fwd":
        op = instr.op
        extra = {"saved": instr.saved} if op.saves else {}
        lines = op.lowering(e, outs[0], *instr.ins, **instr.kwargs, **extra) if op.lowering else None
        if lines is None:
            target = f"{outs[0].name}, {instr.saved.name}" if op.saves else outs[0].name
            lines = e.call_opaque(op.forward, f"{op.name}_forward", target, instr.ins, instr.kwargs)
        return lines
    if kind == "vjp":
        op, i = instr.op, instr.position
        lowering = op.vjp_lowerings[i] if i < len(op.vjp_lowerings) else None
        kw = {**instr.kwargs, "saved": instr.saved} if op.saves else instr.kwargs
        lines = lowering(e, outs[0], *instr.ins, **kw) if lowering else None
        if lines is None:
            lines = e.call_opaque(op.array_vjps[i], f"{op.name}_vjp{i}", outs[0].name, instr.ins, kw)
        return lines
    if kind == "acc":
        out = e.buf(outs[0])
        first, *rest = instr.ins
        return [f"np.add({e.expr(first)}, {e.expr(rest[0])}, out={out})"] + [f"np.add({out}, {e.expr(p)}, out={out})" for p in rest[1:]]
    if kind == "leafadd":
        return [f"np.add({e.expr(instr.ins[0])}, {e.expr(instr.ins[1])}, out={e.expr(outs[0])})"]
    if kind == "cast":
        return [f"{outs[0].name} = {e.expr(instr.ins[0])}.astype({e.expr(instr.extra)})"]
    if kind == "copyto":
        return [f"np.copyto({e.expr(outs[0])}, {e.expr(instr.ins[0])}{e.kwargs(instr.kwargs)})"]
    if kind == "ufunc":
        return _emit_ufunc(e, instr)
    if kind == "view":
        return [f"{outs[0].name} = {e.expr(instr.ins[0])}.reshape({e.expr(instr.extra)})"]
    if kind == "random":
        rng, shape, p, dtype = instr.extra
        source = "None" if rng is None else e.expr(rng) if isinstance(rng, (int, np.integer)) else e.const(rng, "rng")
        draw = e.const(_ORIGINALS_KEPT["dropout_mask"], "dropout_mask")
        return [f"{outs[0].name} = {draw}({source}, {e.expr(shape)}, {e.expr(p)}, {e.expr(dtype)})"]
    return _emit_optimizer(e, instr)


def _emit_ufunc(e: Emitter, instr: Instr) -> list[str]:
    ufunc, method, in_place = instr.extra
    call = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    out = instr.outs[0].name if in_place else e.buf(instr.outs[0])
    args = ", ".join(e.expr(x) for x in instr.ins)
    return [f"{call}({args}{e.kwargs(instr.kwargs)}, out={out})"]


def _emit_optimizer(e: Emitter, instr: Instr) -> list[str]:
    from ..lowerings import lower_optimizer

    opt, entries, state = instr.extra
    lines = lower_optimizer(e, opt, entries, state)
    if lines is not None:
        return lines
    name = e.const(opt, "optimizer")
    lines = [f"{e.const(p, v.name + '_tensor')}._grad = {g.name}" for p, v, g in entries if g is not None]
    return lines + [f"{name}.step()"]


def name_values(tracer: Tracer, instrs: list[Instr], e: Emitter, names: dict[int, str], inputs: list[Value]) -> None:
    """Readable names: arguments' and parameters' own, the step's local variables, ``d<name>``
    for a gradient, else the op's name."""
    for v in inputs:
        v.name = e.unique(v.hint)
    for v in tracer.tensors.values():
        v.name = e.unique(names.get(id(v.tensor), v.hint))
    seen: set[int] = {id(v) for v in inputs} | {id(v) for v in tracer.tensors.values()}
    for instr in instrs:
        if instr.kind == "fwd" and instr.op.name in ("cross_entropy", "log_softmax") and isinstance(instr.ins[0], Value):
            instr.ins[0].hint = "logits"
    for instr in instrs:
        for v in [*instr.reads(), *instr.outs, *([instr.saved] if instr.saved is not None else [])]:
            if id(v) in seen:
                continue
            seen.add(id(v))
            if v.kind == "grad":
                owner = tracer.tensors.get(id(v.tensor))
                v.name = e.unique((owner.name if owner is not None else "p") + "_grad")
            elif isinstance(v.grad_of, _Prefix) and v.grad_of.name:
                v.name = e.unique(v.grad_of.name)
            elif v.grad_of is not None and v.grad_of.name:
                v.name = e.unique("d" + v.grad_of.name)
            else:
                held = v.tensor if v.kind == "const" else v.array  # a constant's own array (v.array: a copy)
                v.name = e.unique(names.get(id(held), "rows" if v.hint == "const" and _is_arange(v) else v.hint))


def _is_arange(v: Value) -> bool:
    return v.array.ndim == 1 and v.dtype.kind in "iu" and np.array_equal(v.array, np.arange(v.array.size))


# ----------------------------------------------------------------------------
# Names the source can use: the step's arguments, parameters, its local variables
# ----------------------------------------------------------------------------
def _short(dotted: str) -> str:
    """``0.weight`` -> ``weight0``; ``blocks.1.attn.proj.bias`` -> ``blocks_attn_proj_bias1``."""
    parts = dotted.split(".")
    digits = "".join(p for p in parts if p.isdigit())
    return "_".join(p for p in parts if not p.isdigit()) + digits


def known_names(fn: Any, args: tuple = (), kwargs: dict | None = None) -> dict[int, str]:
    """id(Tensor or array) -> a name: ``Tensor.name``, parameters of live modules, and the Tensors
    and modules the step reaches by name (globals, closure, arguments, ``self``)."""
    names: dict[int, str] = {}

    def add(name: str, obj: Any) -> None:
        if isinstance(obj, Tensor):
            names.setdefault(id(obj), obj.name or name)
        elif isinstance(obj, np.ndarray):
            names.setdefault(id(obj), name)
        elif isinstance(obj, nn.Module):
            for key, pname in derivation_names(obj).items():
                names.setdefault(key, pname)

    scope = dict(getattr(fn, "__globals__", {}))
    code = getattr(fn, "__code__", None)
    if code is not None and fn.__closure__:
        scope.update({k: c.cell_contents for k, c in zip(code.co_freevars, fn.__closure__) if _filled(c)})
    for name in (code.co_names + code.co_freevars) if code is not None else ():
        if name in scope:
            add(name, scope[name])
    owner = getattr(fn, "__self__", None)
    for name, obj in (vars(owner).items() if owner is not None and hasattr(owner, "__dict__") else ()):
        add(name, obj)
    for name, obj in zip(_input_names(fn, args, kwargs or {}), _flat_inputs(args, kwargs or {})):
        add(name, obj._data if isinstance(obj, Tensor) else obj)
    for root in nn.root_modules():
        names.update({k: v for k, v in derivation_names(root).items() if k not in names})
    return names


def derivation_names(root: Any) -> dict[int, str]:
    """The derivation's names for a model's parameters: an embedding's table ``C``, the k-th dense
    layer's ``Wk`` and ``bk``; any other parameter its dotted name (``blocks_ln_gain1``)."""
    names: dict[int, str] = {}
    counts = {"C": 0, "W": 0}
    for _, module in root.named_modules():
        kind = type(module).__name__
        if kind in ("Embedding", "Linear"):
            letter = "C" if kind == "Embedding" else "W"
            counts[letter] += 1
            k = counts[letter]
            names[id(module.weight)] = letter if letter == "C" and k == 1 else f"{letter}{k}"
            if getattr(module, "bias", None) is not None:
                names[id(module.bias)] = f"b{k}"
    for pname, p in root.named_parameters():
        names.setdefault(id(p), p.name or _short(pname))
    return names


def _filled(cell: Any) -> bool:
    """Whether a closure cell holds a value yet (reading an empty one raises ValueError)."""
    try:
        return cell.cell_contents is not _EMPTY
    except ValueError:
        return False


_EMPTY = object()


def _record_locals(code: Any, names: dict[int, str]) -> Callable:
    """A profile function that, when ``code``'s frame returns, names the arrays its locals hold."""
    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            _name_locals(frame.f_locals, names)
    return profile


def _record_user_locals(names: dict[int, str]) -> Callable:
    """A profile function naming the arrays held by the locals of every function outside the
    engine when it returns (the user's step, called inside a ``capture()`` block)."""
    skip = (__file__.rsplit("/", 2)[0], np.__file__.rsplit("/", 1)[0])  # the engine: autograd_np/

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and not frame.f_code.co_filename.startswith(skip):
            _name_locals(frame.f_locals, names)
    return profile


def _name_locals(scope: dict, names: dict[int, str]) -> None:
    for name, obj in scope.items():
        if isinstance(obj, Tensor):
            names.setdefault(id(obj), name)
            names.setdefault(id(obj._data), name)
        elif isinstance(obj, np.ndarray):
            names.setdefault(id(obj), name)


def _flat_inputs(args: tuple, kwargs: dict) -> list:
    """The arrays and Tensors among the arguments (one level into tuples and lists), in order."""
    found = []
    for a in [*args, *(kwargs[k] for k in sorted(kwargs))]:
        for x in a if isinstance(a, (tuple, list)) else (a,):
            if isinstance(x, np.ndarray) or (isinstance(x, Tensor) and not x._requires_grad):
                found.append(x)
    return found


def _input_names(fn: Callable, args: tuple, kwargs: dict) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for i, a in enumerate(args):
        base = params[i] if i < len(params) and not params[i].startswith("*") else f"arg{i}"
        items = a if isinstance(a, (tuple, list)) else (a,)
        names += [base if len(items) == 1 else f"{base}{j}" for j, _ in enumerate(items)]
    for k in sorted(kwargs):
        items = kwargs[k] if isinstance(kwargs[k], (tuple, list)) else (kwargs[k],)
        names += [k if len(items) == 1 else f"{k}{j}" for j, _ in enumerate(items)]
    flat = [x for a in [*args, *(kwargs[k] for k in sorted(kwargs))] for x in (a if isinstance(a, (tuple, list)) else (a,))]
    return [n for n, x in zip(names, flat) if isinstance(x, np.ndarray) or (isinstance(x, Tensor) and not x._requires_grad)]
