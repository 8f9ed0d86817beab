"""How ``autograd_np.compile`` writes the engine's ops out as NumPy calls into buffers: one table.

Each entry lowers one op's forward, or the VJP of one of its inputs, to source lines that
compute exactly what the op (``ops.py``) or its kernel (``kernels.py``) computes on arrays, in
the same order of floating-point operations (``compile(strict=True)`` is bit-identical to eager),
but into buffers the program allocated once (``out=``) instead of fresh arrays:

    def tanh_vjp(e, dx, g, y, x):                      # e: the Emitter; dx, g, y, x: Values
        dx = e.buf(dx)
        return [f"np.multiply({y}, {y}, out={dx})", f"np.subtract(1, {dx}, out={dx})",
                f"np.multiply({g}, {dx}, out={dx})"]

A lowering returns None when it does not cover the shapes or arguments at hand; the program then
calls the op's forward or VJP as it is (correct, a little slower), as it does for every op
without an entry here (a user's op too: ``op.deflowering(forward, vjps)``, the same method).

The table lives here, not beside each op in ``ops.py``: ``ops.py`` stays the math (forward,
VJP, docstring), and this file is only the compiled program's concern (``compiler/emitter.py``
calls its entries, in ``emit_instr``). The optimizers' updates (SGD, Adam, AdamW) are lowered at
the end; another optimizer runs its own ``step()``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels, ops, optim
from .rule_helpers import reduced_shape


def _is_value(x: Any) -> bool:
    return hasattr(x, "kind") and hasattr(x, "shape")


def _blas(v: Any) -> bool:
    return _is_value(v) and v.dtype.char in "fd"


def sum_to_lines(e: Any, out: Any, g: Any, shape: tuple) -> list[str]:
    """``kernels.sum_to(g, shape)``: the bias case as 1ᵀ G (one BLAS call), else the kernel itself."""
    rows = int(np.prod(g.shape[:-1])) if g.shape else 0
    if len(shape) == 1 and len(g.shape) == 2 and g.shape[-1] == shape[0] and _blas(g) and 0 < rows <= kernels.MAX_CACHED_ONES:
        ones = e.const(kernels.ones(rows, g.dtype), f"ones{rows}")
        return [f"np.dot({ones}, {g}, out={e.buf(out)})"]
    return [f"{out} = kernels.sum_to({g}, {e.expr(tuple(shape))})"]


# ----- forwards ----------------------------------------------------------------------------
def binary(name: str) -> Any:
    def lower(e: Any, y: Any, a: Any, b: Any) -> list[str]:
        return [f"np.{name}({e.expr(a)}, {e.expr(b)}, out={e.buf(y)})"]
    return lower


def unary(name: str) -> Any:
    def lower(e: Any, y: Any, x: Any) -> list[str]:
        return [f"np.{name}({x}, out={e.buf(y)})"]
    return lower


def linear(e: Any, y: Any, x: Any, weight: Any, bias: Any) -> list[str] | None:
    if len(x.shape) < 2 or len(weight.shape) != 2 or not _is_value(bias) or tuple(y.shape) != tuple(x.shape[:-1]) + (weight.shape[1],):
        return None
    out = e.buf(y)
    if len(x.shape) == 2:
        return [f"np.dot({x}, {weight}, out={out})", f"np.add({out}, {bias}, out={out})"]
    rows = _row_count(x)  # kernels.linear: X's leading axes folded into rows, one 2-D product
    return [f"np.dot({x}.reshape({rows}, {x.shape[-1]}), {weight}, out={e.view(y, f'.reshape({rows}, {weight.shape[1]})', f'{y}_rows')})",
            f"np.add({out}, {bias}, out={out})"]


def _row_count(x: Any) -> int:
    """The rows of X (..., n) with its leading axes folded (``kernels.as_rows``)."""
    return int(np.prod(x.shape[:-1]))


def matmul(e: Any, y: Any, a: Any, b: Any) -> list[str] | None:
    if len(a.shape) != 2 or len(b.shape) != 2:
        return None
    return [f"np.matmul({a}, {b}, out={e.buf(y)})"]


def getitem(e: Any, y: Any, x: Any, index: Any) -> list[str]:
    if _is_value(index) and index.dtype.kind in "iu":
        e.checked.add(id(index))  # take raises for an index out of range, as x[index] does
        return [f"{x}.take({index}, axis=0, out={e.buf(y)})"]  # x[index] for an index array: the same copy
    return [f"{y} = {x}[{e.expr(index)}]"]


def reshape(e: Any, y: Any, x: Any, shape: tuple) -> list[str]:
    return e.bind_view(y, x, f".reshape({e.expr(tuple(shape))})")


def log_softmax(e: Any, y: Any, x: Any, axis: int = -1) -> list[str] | None:
    if len(x.shape) != 2 or axis not in (-1, 1) or 0 in x.shape:
        return None
    top = e.scratch((x.shape[0], 1), x.dtype, "row_max")
    total = e.scratch((x.shape[0], 1), x.dtype, "row_sum")
    exps = e.scratch(x.shape, x.dtype, "exps")
    out = e.buf(y)
    return [f"np.maximum.reduce({x}, axis=1, keepdims=True, out={top})", f"np.subtract({x}, {top}, out={out})",
            f"np.exp({out}, out={exps})", f"np.add.reduce({exps}, axis=1, keepdims=True, out={total})",
            f"np.log({total}, out={total})", f"np.subtract({out}, {total}, out={out})"]


def cross_entropy(e: Any, y: Any, logits: Any, targets: Any, saved: Any = None) -> list[str] | None:
    if len(logits.shape) != 2 or logits.shape[0] == 0 or not _is_value(targets):
        return None
    batch = logits.shape[0]
    rows = e.cached(("arange", batch), lambda: np.arange(batch), "rows")
    top = e.scratch((batch, 1), logits.dtype, "row_max")
    shifted = e.scratch(logits.shape, logits.dtype, "shifted")
    total = e.scratch((batch,), logits.dtype, "row_sum")
    losses = e.scratch((batch,), logits.dtype, "losses")
    probs = e.buf(saved)
    e.checked.add(id(targets))  # shifted[rows, targets] raises for a target out of range
    return [f"np.maximum.reduce({logits}, axis=1, keepdims=True, out={top})",
            f"np.subtract({logits}, {top}, out={shifted})", f"np.exp({shifted}, out={probs})",
            f"np.add.reduce({probs}, axis=1, out={total})", f"np.log({total}, out={losses})",
            f"np.subtract({losses}, {shifted}[{rows}, {targets}], out={losses})",
            f"{y} = np.add.reduce({losses}) / {batch}",
            f"np.divide({probs}, {e.view(total, '[:, None]', 'row_sum_column')}, out={probs})"]


def mean(e: Any, y: Any, x: Any, axis: Any = None, keepdims: bool = False) -> list[str] | None:
    if not x.shape or 0 in x.shape:
        return None
    count = int(np.prod(x.shape)) // max(int(np.prod(y.shape)), 1)
    return [f"{y} = np.add.reduce({x}, axis={e.expr(axis)}, keepdims={keepdims}) / {count}"]


# ----- VJPs ----------------------------------------------------------------------------------
def linear_vjp_x(e: Any, dx: Any, g: Any, y: Any, x: Any, weight: Any, bias: Any) -> list[str] | None:
    if len(g.shape) < 2 or tuple(dx.shape) != tuple(g.shape[:-1]) + (weight.shape[0],):
        return None
    if len(g.shape) == 2:
        return [f"np.dot({g}, {weight}.T, out={e.buf(dx)})"]
    rows = _row_count(g)  # the matmul op: (..., m) @ (m, k) as one 2-D product of the rows
    e.buf(dx)
    return [f"np.matmul({g}.reshape({rows}, {g.shape[-1]}), {weight}.T, "
            f"out={e.view(dx, f'.reshape({rows}, {weight.shape[0]})', f'{dx}_rows')})"]


def linear_vjp_weight(e: Any, dw: Any, g: Any, y: Any, x: Any, weight: Any, bias: Any) -> list[str] | None:
    if len(x.shape) < 2 or len(g.shape) != len(x.shape):
        return None
    if len(x.shape) == 2:
        return [f"np.dot({x}.T, {g}, out={e.buf(dw)})"]
    rows = _row_count(x)  # kernels.rows_transposed_times: Xᵀ G with the leading axes folded into rows
    return [f"np.dot({x}.reshape({rows}, {x.shape[-1]}).T, {g}.reshape({rows}, {g.shape[-1]}), out={e.buf(dw)})"]


def linear_vjp_bias(e: Any, db: Any, g: Any, y: Any, x: Any, weight: Any, bias: Any) -> list[str]:
    return sum_to_lines(e, db, g, bias.shape)


def matmul_vjp_a(e: Any, da: Any, g: Any, y: Any, a: Any, b: Any) -> list[str] | None:
    if len(a.shape) != 2 or len(b.shape) != 2:
        return None
    return [f"np.dot({g}, {b}.T, out={e.buf(da)})"]


def matmul_vjp_b(e: Any, db: Any, g: Any, y: Any, a: Any, b: Any) -> list[str] | None:
    if len(a.shape) != 2 or len(b.shape) != 2:
        return None
    return [f"np.dot({a}.T, {g}, out={e.buf(db)})"]


def add_vjp(position: int) -> Any:
    def lower(e: Any, dx: Any, g: Any, y: Any, a: Any, b: Any) -> list[str]:
        target = (a, b)[position]
        return sum_to_lines(e, dx, g, tuple(target.shape if _is_value(target) else np.shape(target)))
    return lower


def mul_vjp(position: int) -> Any:
    """``sum_to(G b, a.shape)``: one product into the gradient's buffer when nothing is summed."""
    def lower(e: Any, dx: Any, g: Any, y: Any, a: Any, b: Any) -> list[str] | None:
        other = (b, a)[position]
        if not _is_value(g) or tuple(dx.shape) != tuple(g.shape) or np.broadcast_shapes(g.shape, np.shape(other)) != tuple(g.shape):
            return None
        return [f"np.multiply({g}, {e.expr(other)}, out={e.buf(dx)})"]
    return lower


def tanh_vjp(e: Any, dx: Any, g: Any, y: Any, x: Any) -> list[str]:
    out = e.buf(dx)
    one = _one(e, y.dtype)
    return [f"np.multiply({y}, {y}, out={out})", f"np.subtract({one}, {out}, out={out})", f"np.multiply({g}, {out}, out={out})"]


def neg_vjp(e: Any, dx: Any, g: Any, y: Any, x: Any) -> list[str]:
    return [f"np.negative({g}, out={e.buf(dx)})"]


def reshape_vjp(e: Any, dx: Any, g: Any, y: Any, x: Any, shape: tuple) -> list[str]:
    return e.bind_view(dx, g, f".reshape({e.expr(tuple(x.shape))})")


def getitem_vjp(e: Any, dx: Any, g: Any, y: Any, x: Any, index: Any) -> list[str]:
    if isinstance(index, tuple) and all(_is_value(i) and i.dtype.kind in "iu" for i in index):
        out = e.buf(dx)  # kernels.scatter_add's path for a tuple of index arrays
        return [f"{out}.fill(0)", f"np.add.at({out}, {e.expr(index)}, {g})"]
    if "embedding_onehot" in e.passes and _small_table(g, index, x):
        return _embedding_onehot(e, dx, g, index, x)
    return [f"{dx} = kernels.scatter_add({g}, {e.expr(index)}, {e.expr(tuple(x.shape))})"]


def _small_table(g: Any, index: Any, x: Any) -> bool:
    rows, picks = (x.shape[0] if x.shape else 0), int(np.prod(index.shape)) if _is_value(index) else 0
    return (_is_value(index) and index.dtype.kind in "iu" and _blas(g) and g.dtype == x.dtype and len(x.shape) == 2
            and 0 < rows <= 256 and 0 < picks and rows * picks <= 2**24)


def _embedding_onehot(e: Any, dx: Any, g: Any, index: Any, x: Any) -> list[str]:
    """The embedding pass: onehotᵀ G, as ``kernels.scatter_add`` computes it (the one-hot rows taken
    from an identity matrix with the same indexing rule: a negative index wraps, one out of range
    raises), into a one-hot buffer kept between calls. Non-finite G takes the kernel's general path
    (0 · inf would put NaN in rows never picked), found by the BLAS sum 1ᵀ G (no floating-point
    warning; a sum that overflows also takes that path)."""
    rows, picks = x.shape[0], int(np.prod(index.shape))
    onehot = e.const(np.zeros((picks, rows), x.dtype), "onehot")  # row j: onehot(index_j)
    identity = _identity(e, rows, x.dtype)
    flat = e.view(index, ".reshape(-1)", f"{index}_flat") if len(index.shape) != 1 else f"{index}"
    out = e.buf(dx)
    shape = e.expr(tuple(x.shape))
    ones = e.cached(("ones", int(np.prod(g.shape)), g.dtype.str), lambda: np.ones(int(np.prod(g.shape)), g.dtype), "ones_all")
    finite = f"math.isfinite(np.dot({ones}, {e.view(g, '.reshape(-1)', f'{g}_flat')}))"  # inf or NaN anywhere: not finite
    return [f"if {finite}:",
            f"    {identity}.take({flat}, axis=0, out={onehot}{_mode(e, index)})",
            f"    np.dot({e.view(onehot, '.T', f'{onehot}_T')}, {e.view(g, f'.reshape({picks}, {x.shape[1]})', f'{g}_rows')}, out={out})",
            "else:",
            f"    np.copyto({out}, kernels.scatter_add({g}, {index}, {shape}))"]


def _identity(e: Any, n: int, dtype: np.dtype) -> str:
    """The n × n identity, whose rows are the one-hot vectors (``kernels.identity``)."""
    return e.cached(("identity", n, dtype.str), lambda: kernels.identity(n, dtype), f"identity{n}")


def _mode(e: Any, index: Any) -> str:
    """``take``'s mode for an index a forward line already checked: "wrap" is NumPy's indexing rule
    for indices in range (-1 is the last row) and needs no buffered copy; otherwise "raise"."""
    return ', mode="wrap"' if id(index) in e.checked else ""


def _one(e: Any, dtype: np.dtype) -> str:
    """1 in ``dtype``: the same value NumPy makes of a Python 1 for each call, made once."""
    return e.cached(("one", dtype.str), lambda: dtype.type(1), "one")


def log_softmax_vjp(e: Any, dx: Any, g: Any, y: Any, x: Any, axis: int = -1) -> list[str] | None:
    if len(y.shape) != 2 or axis not in (-1, 1):
        return None
    exps = e.scratch(y.shape, y.dtype, "softmax")
    total = e.scratch((y.shape[0], 1), y.dtype, "g_sum")
    out = e.buf(dx)
    return [f"np.exp({y}, out={exps})", f"np.add.reduce({g}, axis=(1,), keepdims=True, out={total})",
            f"np.multiply({exps}, {total}, out={exps})", f"np.subtract({g}, {exps}, out={out})"]


def cross_entropy_vjp(e: Any, dx: Any, g: Any, y: Any, logits: Any, targets: Any, saved: Any = None) -> list[str] | None:
    if not _is_value(targets) or saved is None:
        return None
    batch = max(logits.shape[0], 1)
    onehot = e.scratch(logits.shape, logits.dtype, "onehot_targets")
    identity = _identity(e, logits.shape[1], logits.dtype)
    if g.kind == "const":  # the seed of backward(): G / B made once
        scale = e.cached(("over", id(g), batch), lambda: g.tensor / batch, f"{g.name}_over_{batch}")
    else:
        scale = f"{g} / {batch}"
    if e.only_reader(saved):  # nothing else reads the softmax: the gradient is computed in its buffer
        first = e.bind_view(dx, saved, "")[0]
        out = dx.name
    else:
        out = e.buf(dx)
        first = f"np.copyto({out}, {saved})"
    return [first, f"{identity}.take({targets}, axis=0, out={onehot}{_mode(e, targets)})",  # onehot(targets), as indexing picks rows
            f"np.subtract({out}, {onehot}, out={out})", f"np.multiply({out}, {scale}, out={out})"]


def mean_vjp(e: Any, dx: Any, g: Any, y: Any, x: Any, axis: Any = None, keepdims: bool = False) -> list[str] | None:
    if 0 in x.shape:
        return None
    count = int(np.prod(x.shape)) // max(int(np.prod(y.shape)), 1)
    kept = reduced_shape(tuple(x.shape), axis)  # g's shape with the reduced axes kept (size 1)
    return [f"np.divide(np.broadcast_to(np.reshape({g}, {e.expr(tuple(kept))}), {e.expr(tuple(x.shape))}), {count}, out={e.buf(dx)})"]


ops.add.deflowering(binary("add"), [add_vjp(0), add_vjp(1)])
ops.mul.deflowering(binary("multiply"), [mul_vjp(0), mul_vjp(1)])
ops.sub.deflowering(binary("subtract"))
ops.tanh.deflowering(unary("tanh"), [tanh_vjp])
ops.neg.deflowering(unary("negative"), [neg_vjp])
ops.linear.deflowering(linear, [linear_vjp_x, linear_vjp_weight, linear_vjp_bias])
ops.matmul.deflowering(matmul, [matmul_vjp_a, matmul_vjp_b])
ops.getitem.deflowering(getitem, [getitem_vjp])
ops.reshape.deflowering(reshape, [reshape_vjp])
ops.log_softmax.deflowering(log_softmax, [log_softmax_vjp])
ops.cross_entropy.deflowering(cross_entropy, [cross_entropy_vjp])
ops.mean.deflowering(mean, [mean_vjp])


# ----- optimizers ----------------------------------------------------------------------------
def lower_optimizer(e: Any, opt: Any, entries: list, state: list) -> list[str] | None:
    """SGD (no momentum, no weight decay), Adam and AdamW as NumPy lines, with the learning rate
    and the bias corrections computed per call; None for any other optimizer (it runs ``step()``)."""
    kind = type(opt)
    if kind is optim.SGD and all(not g["momentum"] and not g["weight_decay"] for g in opt.param_groups):
        return _sgd(e, opt, entries)
    if kind in (optim.Adam, optim.AdamW) and all(s.keys() == {"exp_avg", "exp_avg_sq"} for s, (_, _, g) in zip(state, entries) if g is not None):
        return _adam(e, opt, entries, state)
    return None


def _sgd(e: Any, opt: Any, entries: list) -> list[str]:
    name = e.const(opt, "optimizer")
    lines = [f"lr = {name}.lr"]
    for p, v, g in entries:
        if g is not None:
            step = e.scratch(v.shape, v.dtype, "d" + v.name + "_step")
            lines += [f"np.multiply(lr, {g}, out={step})", f"np.subtract({v}, {step}, out={v})"]
    return lines + [f"{name}.step_count += 1"]


def _adam(e: Any, opt: Any, entries: list, state: list) -> list[str]:
    name = e.const(opt, "optimizer")
    lines = [f"lr = {name}.lr", f"t = {name}.step_count + 1"]
    groups = {id(p): group for group in opt.param_groups for p in group["params"]}
    for (p, v, g), buffers in zip(entries, state):
        if g is None:
            continue
        group = groups[id(p)]
        b1, b2, eps, wd = group["beta1"], group["beta2"], group["eps"], group["weight_decay"]
        m = e.const(buffers["exp_avg"], v.name + "_m")
        s = e.const(buffers["exp_avg_sq"], v.name + "_v")
        work = e.scratch(v.shape, v.dtype, v.name + "_work")
        grad = g.name
        if wd and opt._decoupled:
            lines.append(f"np.multiply({v}, 1.0 - lr * {wd!r}, out={v})")
        elif wd:
            decayed = e.scratch(v.shape, v.dtype, "d" + v.name + "_decayed")
            lines += [f"np.multiply({wd!r}, {v}, out={decayed})", f"np.add({grad}, {decayed}, out={decayed})"]
            grad = decayed
        lines += [f"np.multiply({m}, {b1!r}, out={m})", f"np.multiply({1.0 - b1!r}, {grad}, out={work})",
                  f"np.add({m}, {work}, out={m})", f"np.multiply({s}, {b2!r}, out={s})",
                  f"np.multiply({grad}, {grad}, out={work})", f"np.multiply({1.0 - b2!r}, {work}, out={work})",
                  f"np.add({s}, {work}, out={s})",
                  f"np.divide({s}, 1.0 - {b2!r} ** t, out={work})", f"np.sqrt({work}, out={work})",
                  f"np.add({work}, {eps!r}, out={work})", f"np.divide({m}, {work}, out={work})",
                  f"np.multiply(lr / (1.0 - {b1!r} ** t), {work}, out={work})", f"np.subtract({v}, {work}, out={v})"]
    return lines + [f"{name}.step_count += 1"]
