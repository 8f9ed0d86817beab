"""Forward against reverse mode: which one builds a Jacobian faster, and what forward mode costs per op.

    python benchmarks/jacobian_speed.py              # both tables
    python benchmarks/jacobian_speed.py --reps 41

1. ``jacfwd`` (one forward-mode pass per input element: the columns) against ``jacrev`` (one
   recorded forward, then one backward pass per output element: the rows) on a tall function
   R^4 -> R^400 and a wide one R^400 -> R^4, both ``y = tanh(x W) ⊙ (x W)`` with a fixed W.
   Forward mode should win on the tall one, reverse mode on the wide one.
2. Per-op cost of a chain of N elementwise ops (``tanh``, ``mul``, ``sin``, ``add``) on a vector:
   forward mode (``func.jvp``: values and tangents in one pass, nothing recorded) against reverse
   mode's record + replay (the chain recorded, then ``grad`` through it), both divided by N.

Timings: median over repetitions, the implementations round-robin inside every repetition (so
machine noise hits them alike); ratios are medians of the per-repetition ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Callable

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import autograd_np as ag  # noqa: E402
from autograd_np import Tensor, func  # noqa: E402


def layer(weight: np.ndarray) -> Callable[[Tensor], Tensor]:
    def f(x: Tensor) -> Tensor:
        z = x @ weight
        return z.tanh() * z

    return f


def seconds(fn: Callable[[], Any], min_time: float = 0.05) -> float:
    """Mean seconds per call of ``fn`` over at least ``min_time`` seconds (after one warm-up call)."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def round_robin(timed: dict[str, Callable[[], Any]], reps: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(reps):
        for name, fn in timed.items():
            results[name].append(seconds(fn))
    return results


def median_ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b))


def jacobian_table(reps: int) -> str:
    rng = np.random.default_rng(0)
    rows = ["| function | jacfwd ms | jacrev ms | jacfwd / jacrev | faster |", "|---|---|---|---|---|"]
    for label, n_in, n_out in (("tall R^4 -> R^400", 4, 400), ("wide R^400 -> R^4", 400, 4)):
        weight = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
        x = rng.standard_normal(n_in)
        f = layer(weight)
        forward, reverse = func.jacfwd(f)(x), func.jacrev(f)(x)
        np.testing.assert_allclose(forward.data, reverse.data, rtol=1e-12, atol=1e-12)
        times = round_robin({"jacfwd": lambda f=f, x=x: func.jacfwd(f)(x), "jacrev": lambda f=f, x=x: func.jacrev(f)(x)}, reps)
        fwd, rev = statistics.median(times["jacfwd"]) * 1e3, statistics.median(times["jacrev"]) * 1e3
        ratio = median_ratio(times["jacfwd"], times["jacrev"])
        rows.append(f"| {label} | {fwd:.2f} | {rev:.2f} | {ratio:.3f} | {'jacfwd' if ratio < 1 else 'jacrev'} |")
    return "\n".join(rows)


def chain(x: Tensor, n: int) -> Tensor:
    for k in range(n):
        kind = k % 4
        x = x.tanh() if kind == 0 else x * 1.01 if kind == 1 else x.sin() if kind == 2 else x + 0.1
    return x


def per_op_table(reps: int, n: int = 200, size: int = 64) -> str:
    rng = np.random.default_rng(1)
    x, u = rng.standard_normal(size), rng.standard_normal(size)
    seed = np.ones(size)

    def forward_mode() -> Any:
        return func.jvp(lambda t: chain(t, n), (x,), (u,))

    def reverse_mode() -> Any:
        leaf = Tensor(x, requires_grad=True)
        return ag.grad(chain(leaf, n), [leaf], grad_output=seed)

    def values_only() -> Any:
        with ag.no_grad():
            return chain(Tensor(x), n)

    times = round_robin({"forward": forward_mode, "reverse": reverse_mode, "values": values_only}, reps)
    us = {name: statistics.median(t) / n * 1e6 for name, t in times.items()}
    ratio = median_ratio(times["forward"], times["reverse"])
    return "\n".join([
        f"| chain of {n} elementwise ops on ({size},) | µs per op |",
        "|---|---|",
        f"| values only (no_grad) | {us['values']:.2f} |",
        f"| forward mode: value + tangent (func.jvp) | {us['forward']:.2f} |",
        f"| reverse mode: record + replay (grad) | {us['reverse']:.2f} |",
        f"| forward / reverse | {ratio:.3f} |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=21)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    print(jacobian_table(args.reps))
    print()
    print(per_op_table(args.reps))
    print(f"\nmedian over {args.reps} round-robin repetitions; load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
