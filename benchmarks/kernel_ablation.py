"""Does each named kernel pay? The names-MLP step with all tricks against copies of
``autograd_np/`` that each replace one trick by its plain form, interleaved in one process.

    python benchmarks/kernel_ablation.py --config A --rounds 40 --steps 100
    python benchmarks/kernel_ablation.py --config C --rounds 12 --steps 2

Prints, per trick, the median over rounds of (time without the trick) / (time with all),
with the interquartile range. The issue-12 rule: a trick stays only if this is >= 1.03 on
some configuration of ``step_speed.py``. Needs ../shared/data/names.txt or any names file
(only its size matters here: batches are random indices).
"""
from __future__ import annotations

import argparse
import importlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"A": (3, 10, 200, 32), "B": (8, 24, 512, 256), "C": (8, 24, 512, 4096)}

#: trick -> edits (file, the call site as it is, the plain form)
VARIANTS = {
    "onehot_scatter": [("kernels.py", "    if _rows_of_small_table(g, index, shape):", "    if False:")],
    "raw_dot": [
        ("ops.py", "    if isinstance(a, Tensor) or isinstance(b, Tensor):\n        return matmul(a, b)\n    return kernels.matmul_2d(a, b)",
         "    return matmul(a, b)"),
        ("ops.py", "    if isinstance(x, Tensor) or isinstance(g, Tensor):\n        return matmul(fold_rows(x).T, fold_rows(g))\n",
         "    if True:\n        return matmul(fold_rows(x).T, fold_rows(g))\n"),
    ],
    "bias_ones_sum": [("kernels.py", "    if len(shape) == 1 and lead >= 1 and x.shape[-1] == shape[0]:\n        return sum_rows(x)\n", "")],
    "one_minus_square": [("ops.py", "    on_arrays=[lambda g, y, x: g * kernels.one_minus_square(y)],\n", "")],
}


def make_variants(where: Path) -> list[str]:
    names = []
    for name, edits in VARIANTS.items():
        target = where / f"autograd_np_without_{name}"
        shutil.copytree(ROOT / "autograd_np", target)
        for file, old, new in edits:
            path = target / file
            text = path.read_text()
            if old not in text:
                raise SystemExit(f"kernel_ablation: {name}: the call site in {file} has changed; update VARIANTS")
            path.write_text(text.replace(old, new))
        names.append(name)
    return names


def make_step(pkg, config: str):
    block, emb, hidden, batch = CONFIGS[config]
    data = np.random.default_rng(5)
    X, Y = data.integers(0, 27, (200_000, block)), data.integers(0, 27, 200_000)
    rng = np.random.default_rng(0)
    T, F = pkg.Tensor, pkg.functional
    C = T(rng.standard_normal((27, emb)).astype(np.float32), requires_grad=True)
    W1 = T((rng.standard_normal((block * emb, hidden)) * 0.2).astype(np.float32), requires_grad=True)
    b1 = T(np.zeros(hidden, np.float32), requires_grad=True)
    W2 = T((rng.standard_normal((hidden, 27)) * 0.01).astype(np.float32), requires_grad=True)
    b2 = T(np.zeros(27, np.float32), requires_grad=True)
    params, picks = [C, W1, b1, W2, b2], np.random.default_rng(1)

    def step() -> None:
        ix = picks.integers(0, len(X), batch)
        h = F.linear(C[X[ix]].reshape(batch, block * emb), W1, b1).tanh()
        F.cross_entropy(F.linear(h, W2, b2), Y[ix]).backward()
        for p in params:
            p.data -= 0.1 * p.grad
            p.grad = None

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="A")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        print("(threadpoolctl not installed: BLAS threads not limited)")
    with tempfile.TemporaryDirectory() as tmp:
        names = make_variants(Path(tmp))
        sys.path.insert(0, tmp)
        sys.path.insert(0, str(ROOT))
        steps = {"all": make_step(importlib.import_module("autograd_np"), args.config)}
        for name in names:
            steps[name] = make_step(importlib.import_module(f"autograd_np_without_{name}"), args.config)
        for step in steps.values():
            for _ in range(max(3, args.steps)):
                step()
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(args.rounds):
            order = list(steps.items())
            random.shuffle(order)
            for name, step in order:
                t = time.perf_counter()
                for _ in range(args.steps):
                    step()
                times[name].append((time.perf_counter() - t) / args.steps * 1e3)
    print(f"config {args.config}: all tricks {statistics.median(times['all']):.4f} ms/step")
    for name in names:
        ratios = sorted(a / b for a, b in zip(times[name], times["all"]))
        q = len(ratios)
        print(f"  without {name:18s} {statistics.median(times[name]):.4f} ms  "
              f"ratio {statistics.median(ratios):.3f} [{ratios[q // 4]:.3f}-{ratios[3 * q // 4]:.3f}]")


if __name__ == "__main__":
    main()
