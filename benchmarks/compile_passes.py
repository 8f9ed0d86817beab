"""What each ``autograd_np.compile`` pass buys: the names MLP's lecture-spelling step (config A or C
of step_speed.py) compiled with every pass, with each pass turned off alone, with none
(``strict=True``), and the hand-written NumPy step, round-robin in one process, one thread.

    python benchmarks/compile_passes.py --configs A C --reps 21

Prints ms/step (median over repetitions) and, per variant, the median of the per-repetition
ratios to "all passes" (> 1: turning that pass off costs that much).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import autograd_np  # noqa: E402
import step_speed as ss  # noqa: E402


def variant(passes: dict | None, strict: bool = False):
    class Variant(ss.CompiledLectureMLP):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.compiled = autograd_np.compile(self.inner_step, strict=strict, passes=passes)
    return Variant


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["A"])
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--target", type=float, default=0.1)
    args = ap.parse_args()
    ss.set_threads(1, use_torch=False)
    words, _ = ss.find_names(None)
    names = ["all passes"] + [f"no {p}" for p in autograd_np.compiler.PASSES] + ["strict (none)", "hand-written"]
    for config in args.configs:
        cfg = ss.CONFIGS[config]
        X, Y, vocab = ss.build_dataset(words, cfg["block"])
        params = ss.init_params(vocab, cfg["block"], cfg["emb"], cfg["hidden"])
        classes = [variant(None)] + [variant({p: False}) for p in autograd_np.compiler.PASSES]
        classes += [variant(None, strict=True), ss.HandwrittenMLP]
        impls = [cls(params, X, Y, cfg["batch"], ss.LR, 1) for cls in classes]
        for impl in impls:
            for _ in range(5):
                impl.step()
        t0 = time.perf_counter()
        impls[0].step()
        inner = max(3, int(args.target / (time.perf_counter() - t0)))
        times = {n: [] for n in names}
        for r in range(args.reps):
            order = list(zip(names, impls))
            order = order[r % len(order):] + order[:r % len(order)]
            for name, impl in order:
                for _ in range(3):
                    impl.step()
                t0 = time.perf_counter()
                for _ in range(inner):
                    impl.step()
                times[name].append((time.perf_counter() - t0) / inner * 1e3)
        base = np.array(times["all passes"])
        print(f"\nconfig {config} ({cfg}), {args.reps} reps x {inner} steps")
        print("| variant | ms/step | / all passes |")
        print("|---|---|---|")
        for name in names:
            ratio = np.median(np.array(times[name]) / base)
            print(f"| {name} | {np.median(times[name]):.3f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
