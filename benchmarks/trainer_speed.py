"""Speed of the names trainer's step (``models.names.train.train_step``): compiled vs ``--no-compile``.

    python benchmarks/trainer_speed.py --config transformer-reg --steps 300 --reps 7
    python benchmarks/trainer_speed.py --config transformer --steps 300

Two runs of the same config and seed, one through ``autograd_np.compile``, one eager, warmed up
by ``--warmup`` steps each (the compiled run captures each batch width there: the sequence archs'
batches are trimmed to their longest name), then timed round-robin: each repetition runs
``--steps`` steps of one, then of the other, alternating which goes first. The table shows the
median ms/step over repetitions and the median of the per-repetition ratios, and the two runs'
last losses (they draw the same batches and dropout masks, so they agree to float32 rounding).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import autograd_np  # noqa: E402
from models.names import DEFAULT_DATA, Run, get_config, read_words  # noqa: E402
from models.names.train import train_step  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="transformer-reg")
    ap.add_argument("--steps", type=int, default=200, help="timed steps per run per repetition")
    ap.add_argument("--warmup", type=int, default=300, help="untimed steps first (the captures)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    words = read_words(args.data or DEFAULT_DATA)
    runs = {"compiled": Run.from_words(get_config(args.config), words),
            "eager": Run.from_words(get_config(args.config), words)}
    runs["eager"].use_compile = False
    data = {name: run.splits()["train"] for name, run in runs.items()}
    losses: dict[str, list[float]] = {name: [] for name in runs}
    with warnings.catch_warnings():
        warnings.simplefilter("always", autograd_np.CompileWarning)
        for name, run in runs.items():
            for _ in range(args.warmup):
                losses[name].append(train_step(run, *data[name]))
        ms: dict[str, list[float]] = {name: [] for name in runs}
        for rep in range(args.reps):
            for name in (("compiled", "eager") if rep % 2 == 0 else ("eager", "compiled")):
                run = runs[name]
                start = time.perf_counter()
                for _ in range(args.steps):
                    losses[name].append(train_step(run, *data[name]))
                ms[name].append((time.perf_counter() - start) * 1e3 / args.steps)
    compiled = runs["compiled"]._compiled
    status = getattr(compiled, "eager_reason", None)
    ratio = np.median(np.array(ms["eager"]) / np.array(ms["compiled"]))
    print(f"config {args.config}: {args.reps} reps x {args.steps} steps each, after {args.warmup} warm-up steps")
    print("| run | ms/step (median) |")
    print("|---|---|")
    for name in runs:
        print(f"| {name} | {np.median(ms[name]):.2f} |")
    print(f"eager / compiled: {ratio:.2f}x (median of per-repetition ratios; "
          f"min {np.min(np.array(ms['eager']) / np.array(ms['compiled'])):.2f}, "
          f"max {np.max(np.array(ms['eager']) / np.array(ms['compiled'])):.2f})")
    print(f"compile: {'eager (' + status + ')' if status else 'on'}; captures {getattr(compiled, 'captures', 0)}, "
          f"replays {getattr(compiled, 'replays', 0)}")
    a, b = np.array(losses["compiled"]), np.array(losses["eager"])
    print(f"losses: max |compiled - eager| / eager over {len(a)} steps = {np.max(np.abs(a - b) / np.abs(b)):.2e}")


if __name__ == "__main__":
    main()
