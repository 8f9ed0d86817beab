"""The named rewrites ``compile`` applies unless ``strict=True``: ``PASSES``, in order.

``fuse_linear``, ``fuse_cross_entropy``, ``remove_dead_code`` and ``fold_learning_rate`` rewrite the
captured list of instructions (``instructions.py``) before it is written out; ``embedding_onehot`` acts inside the
lowerings (``lowerings.py`` reads ``Emitter.passes``); ``share_buffers`` runs once the program is
written (``emitter.py``): a temp whose life starts after another's ended takes its buffer.
``program.build_program`` runs them.
"""
from __future__ import annotations

import math

import numpy as np

from .emitter import Emitter
from .instructions import Instr, Value, _Prefix

#: The rewrites ``compile`` applies unless ``strict=True``, in order; turn one off with
#: ``compile(fn, passes={"linear": False})``. Each one's gain is in benchmarks/README.md.
PASSES = ("linear", "cross_entropy", "dead_code", "learning_rate", "embedding_onehot", "buffer_sharing")


# ----------------------------------------------------------------------------
# Passes: named rewrites of the instruction list (strict=True runs none)
# ----------------------------------------------------------------------------
def _readers(instrs: list[Instr]) -> dict[int, list[Instr]]:
    found: dict[int, list[Instr]] = {}
    for instr in instrs:
        for v in instr.reads():
            found.setdefault(id(v), []).append(instr)
    return found


def fuse_linear(instrs: list[Instr], keep: set[int]) -> list[Instr]:
    """``x @ W + b`` (matmul then add of a bias vector) -> one ``linear``; their VJPs -> linear's."""
    from .. import ops

    readers = _readers(instrs)
    dropped: set[int] = set()
    for m in instrs:
        if m.kind != "fwd" or m.op is not ops.matmul or len(m.ins) != 2:
            continue
        t = m.outs[0]
        x, w = m.ins
        users = readers.get(id(t), [])
        adds = [u for u in users if u.kind == "fwd" and u.op is ops.add and u.ins[0] is t]
        if len(adds) != 1 or id(t) in keep or not all(isinstance(v, Value) for v in (x, w, adds[0].ins[1])):
            continue
        add, b = adds[0], adds[0].ins[1]
        z = add.outs[0]
        if len(t.shape) != 2 or len(w.shape) != 2 or b.shape != (w.shape[1],) or z.shape != t.shape:
            continue
        grads = [u for u in users if u is not add]
        if not all(u.kind == "vjp" and (u.op is ops.matmul and u.ins[1] is t or u.op is ops.add and u.ins[1] is z)
                   for u in grads):
            continue
        bias_grads = [u for u in readers.get(id(z), []) if u.kind == "vjp" and u.op is ops.add and u.ins[1] is z]
        if any(u.position == 0 for u in bias_grads):
            continue
        for u in [u for u in grads if u.op is ops.matmul] + bias_grads:
            position = 2 if u.op is ops.add else u.position
            u.op, u.position, u.ins = ops.linear, position, [u.ins[0], z, x, w, b]
        add.op, add.ins = ops.linear, [x, w, b]
        dropped.add(id(m))
    return [i for i in instrs if id(i) not in dropped]


def fuse_cross_entropy(instrs: list[Instr], keep: set[int]) -> list[Instr]:
    """``-log_softmax(z)[arange(B), t].mean()`` -> one ``cross_entropy`` whose VJP is (probs - onehot)/B."""
    from .. import ops

    readers = _readers(instrs)
    by_out = {id(i.outs[0]): i for i in instrs if i.kind == "fwd" and i.outs}
    dropped: set[int] = set()
    for neg in instrs:
        if neg.kind != "fwd" or neg.op is not ops.neg or not isinstance(neg.ins[0], Value):
            continue
        chain = _cross_entropy_chain(neg, by_out)
        if chain is None:
            continue
        lsm, pick, mean = chain
        z, targets, loss = lsm.ins[0], pick.kwargs["index"][1], neg.outs[0]
        middle = [lsm.outs[0], pick.outs[0], mean.outs[0]]
        if any(id(v) in keep for v in middle):
            continue
        grads = [u for v in middle for u in readers.get(id(v), []) if u.kind == "vjp"]
        grads += [u for u in readers.get(id(loss), []) if u.kind == "vjp" and u.op is ops.neg]
        users = {id(u) for v in middle for u in readers.get(id(v), [])}
        if users - {id(u) for u in grads} - {id(pick), id(mean), id(neg)}:
            continue
        final = [u for u in grads if u.op is ops.log_softmax]
        probs = Value("temp", np.empty(z.shape, z.dtype), "probs")
        neg.op, neg.ins, neg.kwargs, neg.saved = ops.cross_entropy, [z, targets], {}, probs
        if final:
            g0 = next((u.ins[0] for u in grads if u.op is ops.neg), None)
            if g0 is None:
                continue
            final[0].op, final[0].position, final[0].saved = ops.cross_entropy, 0, probs
            final[0].ins, final[0].kwargs = [g0, loss, z, targets], {}
        dropped.update(id(i) for i in (lsm, pick, mean))
        dropped.update(id(u) for u in grads if u not in final)
    return [i for i in instrs if id(i) not in dropped]


def _cross_entropy_chain(neg: Instr, by_out: dict) -> tuple | None:
    from .. import ops

    mean = by_out.get(id(neg.ins[0]))
    if mean is None or mean.op is not ops.mean or mean.kwargs.get("axis") is not None or mean.kwargs.get("keepdims"):
        return None
    pick = by_out.get(id(mean.ins[0]))
    if pick is None or pick.op is not ops.getitem:
        return None
    index = pick.kwargs.get("index")
    if not (isinstance(index, tuple) and len(index) == 2 and all(isinstance(v, Value) for v in index)):
        return None
    rows, targets = index
    lsm = by_out.get(id(pick.ins[0]))
    if lsm is None or lsm.op is not ops.log_softmax or len(lsm.outs[0].shape) != 2:
        return None
    batch = lsm.outs[0].shape[0]
    if lsm.kwargs.get("axis", -1) not in (-1, 1) or rows.kind != "const" or targets.shape != (batch,):
        return None
    if not np.array_equal(rows.array, np.arange(batch)) or targets.dtype.kind not in "iu":
        return None
    return lsm, pick, mean


def remove_dead_code(instrs: list[Instr], keep: set[int]) -> list[Instr]:
    """Drop instructions whose results nothing reads (and that change no parameter or state)."""
    live = set(keep)
    kept = []
    for instr in reversed(instrs):
        if instr.writes_state() or any(id(v) in live for v in instr.outs) or instr.saved is not None and id(instr.saved) in live:
            kept.append(instr)
            live.update(id(v) for v in instr.reads())
    return kept[::-1]


def fold_learning_rate(instrs: list[Instr], keep: set[int]) -> list[Instr]:
    """``p -= lr * p.grad`` for every parameter, with one ``lr`` -> backward seeded with ``lr``
    instead of 1, and each update one subtraction ``p -= G_p``.

    Backprop is linear in its seed: each VJP is linear in G (Jᵀ G) and sums of linear maps are
    linear, so seeding the walk with lr · dL/dL makes every gradient come out times lr, which is
    what the updates subtract. Applies only when nothing else could tell: each gradient is read by
    its update alone (not kept in ``.grad``, not clipped, not returned), no ``.grad`` from before the
    call is added in, and one constant seed (``backward()``'s) starts the walk. The parameters
    differ from eager's by float32 rounding (lr is applied before the sums, not after them)."""
    produced = {id(v): instr for instr in instrs for v in instr.outs}
    readers = _readers(instrs)
    backward = [instr for instr in instrs if instr.phase == "backward"]
    seeds = {id(v): v for instr in backward for v in instr.reads() if v.kind == "const" and v.grad_of is not None}
    if len(seeds) != 1 or any(v.kind == "grad" for instr in instrs for v in instr.reads()):
        return instrs
    seed = next(iter(seeds.values()))
    if any(v is seed for instr in backward for v in instr.reads() if not any(x is seed for x in instr.ins)):
        return instrs  # read somewhere other than an instruction's direct inputs
    made_in_backward = {id(v) for instr in backward for v in instr.outs}
    updates = []
    for sub in instrs:
        if sub.kind != "ufunc" or sub.extra != (np.subtract, "__call__", True) or len(sub.ins) != 2 or sub.kwargs:
            continue
        p, scaled = sub.ins
        mul = produced.get(id(scaled))
        if p is not sub.outs[0] or mul is None or mul.kind != "ufunc" or mul.extra != (np.multiply, "__call__", False):
            continue
        if mul.kwargs or len(mul.ins) != 2 or readers.get(id(scaled)) != [sub] or id(scaled) in keep:
            continue
        lr, g = mul.ins if isinstance(mul.ins[1], Value) else mul.ins[::-1]
        if (not isinstance(lr, (int, float, np.integer, np.floating)) or isinstance(lr, bool) or not math.isfinite(lr)
                or not isinstance(g, Value) or id(g) not in made_in_backward or readers.get(id(g)) != [mul]):
            continue
        updates.append((sub, mul, lr, g))
    if not updates or len({float(lr) for _, _, lr, _ in updates}) != 1 or float(updates[0][2]) == 0:
        return instrs
    muls = {id(mul) for _, mul, _, _ in updates}
    outside = [v for instr in instrs if instr.phase != "backward" and id(instr) not in muls for v in instr.reads()]
    if keep & made_in_backward or any(id(v) in made_in_backward or v is seed for v in outside):
        return instrs  # a gradient (or the seed) seen by something other than its update
    lr = updates[0][2]
    lr_seed = Value("const", np.asarray(seed.tensor * lr, dtype=seed.dtype), "lr_seed")  # lr · seed, as eager rounds lr
    lr_seed.tensor = lr_seed.array
    lr_seed.grad_of = _Prefix("lr_d", seed.grad_of) if isinstance(seed.grad_of, Value) else None
    for instr in backward:
        instr.ins = [lr_seed if x is seed else x for x in instr.ins]
    for k, (sub, _, _, g) in enumerate(updates):
        sub.ins = [sub.ins[0], g]
        sub.note = f"p -= lr dp, lr = {lr!r} came in with the seed (backprop is linear in it)" if k == 0 else "p -= lr dp"
    return [instr for instr in instrs if id(instr) not in muls]


_PASS_FUNCTIONS = {"linear": fuse_linear, "cross_entropy": fuse_cross_entropy, "dead_code": remove_dead_code,
                   "learning_rate": fold_learning_rate}


def share_buffers(e: "Emitter", instrs: list[Instr], keep: set[int]) -> None:
    """Buffer sharing: a temp whose buffer is first written after another temp of its shape and dtype
    was last used takes that one's buffer (the same array under both names). A value bound without
    a buffer of its own (a reshape, an opaque call's result) may be a view of what its instruction
    read, so those stay alive as long as it does; a returned or kept value lives to the end."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    made: list[tuple[int, list, list]] = []
    for k, instr in enumerate(instrs):
        produced = list(instr.outs) + ([instr.saved] if instr.kind == "fwd" and instr.saved is not None else [])
        read = instr.reads_values()
        for v in produced:
            first.setdefault(id(v), k)
            last[id(v)] = max(last.get(id(v), k), k)
        for v in read:
            last[id(v)] = k
        made.append((k, produced, read))
    for key in keep:
        last[key] = len(instrs)
    for k, produced, read in reversed(made):  # views keep what they may view alive
        for b in produced:
            if id(b) not in e.buffered:
                for u in read:
                    last[id(u)] = max(last.get(id(u), k), last.get(id(b), k))
    free: dict[tuple, list] = {}
    pending: list[tuple[int, tuple, np.ndarray]] = []  # (last use, kind, array)
    for v in sorted(e.buffered.values(), key=lambda v: first.get(id(v), 0)):
        start = first.get(id(v), 0)
        for entry in [p for p in pending if p[0] < start]:
            pending.remove(entry)
            free.setdefault(entry[1], []).append(entry[2])
        kind = (v.shape, v.dtype.str)
        if free.get(kind):
            e.ns[v.name] = free[kind].pop()
        pending.append((last.get(id(v), len(instrs)), kind, e.ns[v.name]))
