"""The ``Program``: a captured step written out, guarded, replayed, and checked against eager.

``build_program`` turns a tracer's record (``tracer.py``) into a ``Program``: the passes
(``passes.py``), names and source (``emitter.py``), then ``exec``. A program keeps what its source
assumes (``holds``: the parameters hold the same arrays, ``.grad`` set or not as captured, the same
optimizer state and module modes) and writes its guards and its replay out once, as Python
(``_write_guards``, ``_write_replay``). ``check_against_eager`` runs it on the state from before the
captured call and compares with what eager left. ``compiled.py`` calls both.
"""
from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from ..anomaly import _anomaly
from ..grad_mode import _mode
from ..node import _last_change, next_stamp, version_of
from ..tensor_type import Tensor
from .emitter import Emitter, _comment, _flat_inputs, emit_instr, name_values
from .instructions import Instr, Value, _Failed
from .passes import _PASS_FUNCTIONS, PASSES, share_buffers
from .tracer import Traced, Tracer

# ----------------------------------------------------------------------------
# The program: guards, the function, its source
# ----------------------------------------------------------------------------
_MISS = object()  # Program.replay: the arguments or the guards do not fit


class Program:
    """One captured step for one set of argument shapes: ``fn`` (exec'd from ``source``), what it
    assumes (``holds``), and how its arrays become the step's return value (``run``)."""

    def __init__(self, source: str, ns: dict, template: Any, tracer: Tracer, written: list[Tensor]) -> None:
        self.source, self.namespace, self.template = source, ns, template
        exec(builtins.compile(source, "<autograd_np.compile>", "exec"), ns)
        self.fn = ns["step"]
        self.grad_enabled = _mode.enabled
        tensors = [v.tensor for v in tracer.tensors.values()]
        # The guards, as tuples compared in one go: ids of the arrays the parameters must still hold
        # (the program keeps them alive, so an id cannot be reused), of the .grad slots that must be None.
        self.tensors = tuple(tensors)
        self.data_arrays = tuple(t._data for t in tensors)  # the arrays the parameters must still hold
        self.none_grads = tuple(s.tensor for s in tracer.grads.values() if s.needs == "none")
        self.set_grads = tuple(s.tensor for s in tracer.grads.values() if s.needs == "set")
        self.optimizers = [(opt, [dict(s) for s in opt.state], _hyper(opt)) for opt in tracer.optimizers.values()]
        self.state_ids = tuple(id(a) for _, state, _ in self.optimizers for s in state for a in s.values())
        self.state_keys = tuple(tuple(s) for opt, _, _ in self.optimizers for s in opt.state)
        modes = _module_modes({id(t) for t in tensors})
        seen = {id(m) for m, _ in modes}
        modes += [(m, m.training) for m in tracer.modules.values() if id(m) not in seen]
        self.modules, self.training = tuple(m for m, _ in modes), tuple(mode for _, mode in modes)
        self.written = tuple(written)
        self.specs: tuple = ()  # the arguments' (shape, dtype) when they are plain arrays
        self._guard: Callable[[], bool] | None = None

    def holds(self) -> bool:
        """Whether the program still does what eager would: same grad mode, parameters holding the
        same arrays, .grad set or not as captured, same optimizer state arrays and options, modules
        in the same train/eval mode. (One expression, written out once: ``_write_guards``.)"""
        if self._guard is None:
            self._guard = self._write_guards()
        return self._guard()

    def _write_guards(self) -> Callable[[], bool]:
        """``holds`` as straight-line code: ``t0._data is a0 and t1._data is a1 and ... and
        g0._grad is None and ... and m0.training is k0 ...`` over objects bound once."""
        ns: dict[str, Any] = {"_mode": _mode, "_anomaly": _anomaly, "_grad_enabled": self.grad_enabled,
                              "_optimizers_hold": self._optimizers_hold}
        terms = ["_mode.enabled is _grad_enabled", "not _anomaly.enabled"]
        for i, t in enumerate(self.tensors):
            ns[f"t{i}"], ns[f"a{i}"] = t, self.data_arrays[i]
            terms.append(f"t{i}._data is a{i}")
        for i, t in enumerate(self.none_grads):
            ns[f"g{i}"] = t
            terms.append(f"g{i}._grad is None")
        for i, t in enumerate(self.set_grads):
            ns[f"s{i}"] = t
            terms.append(f"s{i}._grad is not None")
        if self.optimizers:
            terms.append("_optimizers_hold()")
        for i, (m, mode) in enumerate(zip(self.modules, self.training)):
            ns[f"m{i}"], ns[f"k{i}"] = m, mode
            terms.append(f"m{i}.training is k{i}")
        source = "def holds():\n    return (" + "\n            and ".join(terms) + ")\n"
        exec(builtins.compile(source, "<autograd_np.compile guards>", "exec"), ns)
        return ns["holds"]

    def replay(self, *args: Any) -> Any:
        """The step on plain array arguments of the captured shapes and dtypes, if the guards hold
        (else ``_MISS``): written out once (``_write_replay``) as one function."""
        self.replay = self._write_replay()
        return self.replay(*args)

    def _write_replay(self) -> Callable[..., Any]:
        """``if type(x) is ndarray and x.shape == s0 and x.dtype is d0 ... and holds(): run, stamp the
        tensors written, build the result``; a dtype equal but not identical misses (the slow path)."""
        ns: dict[str, Any] = {"ndarray": np.ndarray, "_MISS": _MISS, "holds": self.holds, "step": self.fn,
                              "_last_change": _last_change, "next_stamp": next_stamp, "version_of": version_of,
                              "_rebuild": _rebuild, "template": self.template, "Tensor": Tensor, "np": np}
        params = [f"x{i}" for i in range(len(self.specs))]
        checks = []
        for i, (shape, dtype) in enumerate(self.specs):
            ns[f"s{i}"], ns[f"d{i}"] = shape, dtype
            checks.append(f"type(x{i}) is ndarray and x{i}.shape == s{i} and x{i}.dtype is d{i}")
        lines = [f"def replay({', '.join(params)}):",
                 f"    if not ({' and '.join(checks + ['holds()'])}):",
                 "        return _MISS",
                 f"    out = step({', '.join(params)})"]
        if self.written:
            lines.append("    _last_change.stamp = stamp = next_stamp()")
            for i, t in enumerate(self.written):
                ns[f"w{i}"] = t
                lines.append(f"    version_of(w{i}).stamp = stamp")
        kind, item = self.template
        if kind in ("tensor", "array") and item == 0:
            lines.append("    return " + ("Tensor._of(np.array(out[0]))" if kind == "tensor" else "np.array(out[0])"))
        else:
            lines.append("    return _rebuild(template, out)")
        exec(builtins.compile("\n".join(lines) + "\n", "<autograd_np.compile replay>", "exec"), ns)
        return ns["replay"]

    def _optimizers_hold(self) -> bool:
        for opt, _, hyper in self.optimizers:
            if _hyper(opt) != hyper:
                return False
        states = [s for opt, _, _ in self.optimizers for s in opt.state]
        if tuple(map(tuple, states)) != self.state_keys:
            return False
        return tuple(id(a) for s in states for a in s.values()) == self.state_ids

    def run(self, args: tuple, kwargs: dict) -> Any:
        if kwargs or not all(type(a) is np.ndarray for a in args):
            args = [a._data if isinstance(a, Tensor) else a for a in _flat_inputs(args, kwargs)]
        outputs = self.fn(*args)
        self.mark_written()
        return _rebuild(self.template, outputs)

    def mark_written(self) -> None:
        """The tensors the step changed in place are changed now (graphs that saved them go stale)."""
        if self.written:
            _last_change.stamp = stamp = next_stamp()  # one instant for all of them
            for t in self.written:
                version_of(t).stamp = stamp


def _hyper(opt: Any) -> list:
    return [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]


def _module_modes(tensor_ids: set[int]) -> list:
    modes = []
    for root in nn.root_modules():
        if any(id(p) in tensor_ids for p in root.parameters()):
            modes += [(m, m.training) for m in root.modules()]
    return modes


def _key(obj: Any) -> Any:
    """What a replay must match in the arguments: shapes and dtypes of arrays, values of numbers
    and strings, identity of everything else (modules, optimizers, Tensors that require grad)."""
    if isinstance(obj, np.ndarray):
        return ("a", obj.shape, obj.dtype.str)
    if isinstance(obj, Tensor):
        return ("T", id(obj)) if obj._requires_grad else ("t", obj._data.shape, obj._data.dtype.str)
    if obj is None or isinstance(obj, (bool, int, float, str, np.generic)):
        return ("v", type(obj), obj)
    if isinstance(obj, (tuple, list)):
        return (type(obj), tuple(_key(x) for x in obj))
    if isinstance(obj, dict):
        return ("d", tuple((k, _key(obj[k])) for k in sorted(obj)))
    return ("id", id(obj))


def _template(obj: Any, tracer: Tracer, outs: list) -> Any:
    """The step's return value with each array it computed replaced by a slot of ``outs``."""
    array = obj._data if isinstance(obj, Tensor) else obj if isinstance(obj, np.ndarray) else None
    if array is not None:
        v = tracer.values.get(id(array))
        if v is None and (isinstance(array, Traced) or isinstance(obj, Tensor) and id(obj) not in tracer.made):
            raise _Failed("the step returns an array computed in a way the capture did not follow")
        if v is None:
            v = tracer.operand(array)  # an array from outside the ops: compared between the captures
        if v.kind in ("tensor", "grad"):
            return ("object", obj)  # a parameter (or its .grad) itself, as eager returns it
        outs.append(v)
        return ("tensor" if isinstance(obj, Tensor) else "array", len(outs) - 1)
    if isinstance(obj, (tuple, list)):
        return (type(obj), [_template(x, tracer, outs) for x in obj])
    if isinstance(obj, dict):
        return ("dict", {k: _template(x, tracer, outs) for k, x in obj.items()})
    if isinstance(obj, (bool, int, float, np.generic)):
        tracer.literals.append(obj)
    return ("object", obj)


def _rebuild(template: Any, outputs: tuple) -> Any:
    kind, item = template
    if kind == "tensor":
        return Tensor._of(np.array(outputs[item]))
    if kind == "array":
        return np.array(outputs[item])
    if kind == "object":
        return item
    if kind == "dict":
        return {k: _rebuild(x, outputs) for k, x in item.items()}
    return kind(_rebuild(x, outputs) for x in item)


def build_program(tracer: Tracer, result: Any, inputs: list[Value], names: dict[int, str],
                  strict: bool, passes: dict[str, bool]) -> Program:
    """Passes, names, lowerings: the captured call as a Python function of NumPy calls."""
    outs: list[Value] = []
    template = _template(result, tracer, outs)
    final = {id(s.tensor): s.current for s in tracer.grads.values()}
    keep = {id(v) for v in outs} | {id(v) for v in final.values() if v is not None}
    instrs = list(tracer.instrs)
    enabled = set() if strict else {name for name in PASSES if passes.get(name, True)}
    for name in PASSES:
        if name in enabled and name in _PASS_FUNCTIONS:
            instrs = _PASS_FUNCTIONS[name](instrs, keep)
    e = Emitter()
    e.passes = enabled  # passes that act in the lowerings (embedding_onehot)
    for instr in instrs:
        for v in instr.reads():
            e.readers[id(v)] = e.readers.get(id(v), 0) + (1 if id(v) not in keep else 2)
    name_values(tracer, instrs, e, names, inputs)
    for v in tracer.tensors.values():
        e.ns[v.name] = v.tensor._data
    body, written = _body(e, tracer, instrs, outs)
    if "buffer_sharing" in enabled:
        share_buffers(e, instrs, keep)
    e.make_views()
    signature = ", ".join(v.name for v in inputs)
    source = f"def step({signature}):\n" + "\n".join(body) + "\n"
    return Program(source, e.ns, template, tracer, written)


def _body(e: Emitter, tracer: Tracer, instrs: list[Instr], outs: list[Value]) -> tuple[list[str], list[Tensor]]:
    lines: list[str] = []
    for s in tracer.grads.values():
        if s.start is not None and s.start.name:
            lines.append(f"{s.start.name} = {e.const(s.tensor, _tensor_name(tracer, s.tensor))}._grad")
    phase = None
    for instr in instrs:
        for v in instr.reads():
            if v.kind == "const" and v.name not in e.ns:
                e.ns[v.name] = v.tensor
        if instr.phase != phase:
            phase = instr.phase
            lines.append(f"# ---- {phase} ----")
        code = emit_instr(e, instr)
        comment = _comment(instr)
        for k, line in enumerate(code):
            lines.append(f"{line:<60} # {comment}" if k == 0 and comment else line)
    written = _written(tracer, instrs)
    lines += _final_grads(e, tracer)
    returned = "".join(f"{v.name}, " for v in outs)
    lines.append(f"return ({returned})")
    return ["    " + line for line in lines], written


def _tensor_name(tracer: Tracer, t: Tensor) -> str:
    v = tracer.tensors.get(id(t))
    return (v.name if v is not None and v.name else "p") + "_tensor"


def _final_grads(e: Emitter, tracer: Tracer) -> list[str]:
    """Each leaf's ``.grad`` as eager leaves it: a fresh copy of its gradient, or None."""
    lines = []
    for s in tracer.grads.values():
        if s.current is s.start:
            continue
        tensor = e.const(s.tensor, _tensor_name(tracer, s.tensor))
        value = "None" if s.current is None else f"{s.current.name}.copy()"
        lines.append(f"{tensor}._grad = {value}")
    if lines:
        lines.insert(0, "# ---- .grad as eager leaves it ----")
    return lines


def _written(tracer: Tracer, instrs: list[Instr]) -> list[Tensor]:
    """The Tensors whose values the program changes in place (their change stamps move, as eager's)."""
    by_value = {id(v): v.tensor for v in tracer.tensors.values()}
    found = {}
    for instr in instrs:
        if instr.kind in ("ufunc", "copyto") and (instr.kind == "copyto" or instr.extra[2]):
            for v in instr.outs:
                if id(v) in by_value:
                    found[id(v)] = by_value[id(v)]
        if instr.kind == "optstep":
            found.update({id(p): p for p, _, g in instr.extra[1] if g is not None})
    return list(found.values())


# ----------------------------------------------------------------------------
# The check: the program, run on the state from before the captured call, leaves what eager left
# ----------------------------------------------------------------------------
def _state_now(tracer: Tracer) -> list:
    state = []
    for entry in tracer.before.values():
        obj = entry[0]
        if isinstance(obj, Tensor):
            state.append((obj, obj._data.copy(), None if obj._grad is None else obj._grad.copy()))
        else:
            state.append((obj, obj.step_count, [{k: a.copy() for k, a in s.items()} for s in obj.state]))
    return state


def _restore(tracer: Tracer, state: list | None) -> None:
    """Put back the state from before the call (``state`` None) or a ``_state_now`` snapshot."""
    if state is None:
        for entry in tracer.before.values():
            obj = entry[0]
            if isinstance(obj, Tensor):
                _, data, values, grad, grad_values = entry
                np.copyto(data, values)
                obj._data, obj._grad = data, grad
                if grad is not None:
                    np.copyto(grad, grad_values)
            else:
                _, count, arrays = entry
                obj.step_count = count
                _copy_state(obj, arrays)
        return
    for obj, a, b in state:
        if isinstance(obj, Tensor):
            np.copyto(obj._data, a)
            obj._grad = None if b is None else b.copy()
        else:
            obj.step_count = a
            _copy_state(obj, b)


def _copy_state(opt: Any, arrays: list) -> None:
    for now, then in zip(opt.state, arrays):
        for k, a in then.items():
            if k in now:
                np.copyto(now[k], a)


def _same(a: Any, b: Any, strict: bool) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if strict or a.dtype.kind not in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    tol = 1e-3 if a.dtype.itemsize <= 2 else 2e-4 if a.dtype.itemsize == 4 else 1e-9
    return bool(np.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(b), initial=0.0))), equal_nan=True))


def check_against_eager(program: Program, tracer: Tracer, args: tuple, kwargs: dict, result: Any, strict: bool) -> str:
    """Run ``program`` on the state from before the captured call and compare with what eager left;
    eager's state is put back either way. Returns "" or what differed."""
    eager = _state_now(tracer)
    eager_out: list = []
    _flat_result(result, eager_out)
    drawn = [(g, g.bit_generator.state) for g, _ in tracer.generators.values()]  # eager's draws done
    try:
        _restore(tracer, None)
        for g, before in tracer.generators.values():  # the program draws the same masks again
            g.bit_generator.state = before
        if not program.holds():
            return "its guards fail on the state it was captured from"
        replayed: list = []
        try:
            _flat_result(program.run(args, kwargs), replayed)
        except Exception as error:  # a lowering that does not fit: never the user's problem
            return f"it raised {type(error).__name__}: {error}"
        differ = []
        for (obj, a, b), (_, a2, b2) in zip(eager, _state_now(tracer)):
            name = getattr(obj, "name", None) or type(obj).__name__
            if isinstance(obj, Tensor) and not (_same(a2, a, strict) and _same(b2, b, strict)):
                differ.append(f"{name} of shape {a.shape}" + ("" if _same(a2, a, strict) else f" (max difference "
                                                                   f"{float(np.max(np.abs(a2 - a))):.3g})"))
            if not isinstance(obj, Tensor) and (a != a2 or not all(
                    _same(x[k], y.get(k), strict) for x, y in zip(b, b2) for k in x)):
                differ.append(f"the state of {name}")
        if differ:
            return "parameters, gradients or state differ: " + ", ".join(differ[:4]) + (" ..." if len(differ) > 4 else "")
        if len(eager_out) != len(replayed) or not all(_same(x, y, strict) for x, y in zip(replayed, eager_out)):
            return "the step's return value"
        return ""
    finally:
        _restore(tracer, eager)
        for g, after in drawn:
            g.bit_generator.state = after


def _flat_result(obj: Any, found: list) -> None:
    if isinstance(obj, Tensor):
        found.append(obj._data)
    elif isinstance(obj, (np.ndarray, np.generic, int, float)):
        found.append(obj)
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            _flat_result(x, found)
    elif isinstance(obj, dict):
        for x in obj.values():
            _flat_result(x, found)
