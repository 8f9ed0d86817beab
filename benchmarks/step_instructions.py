"""Instructions per names-MLP training step (callgrind): this tree against a git ref.

    python benchmarks/step_instructions.py --ref HEAD~1            # config A, fused and lecture
    python benchmarks/step_instructions.py --ref HEAD~1 --steps 300

Wall-clock ratios on a shared 2-core machine swing by tens of percent when other work runs;
instruction counts do not (the same binary, inputs and environment give the same count).
Each spelling runs under ``valgrind --tool=callgrind`` twice, with N steps and with 0 steps
(same imports, data and warm-up), and the difference divided by N is the count per step.
Instructions are not time (cache misses and BLAS threads are not in them), so quote them
beside a side-by-side timing (``step_speed.py --ref``), not instead of one.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import sys
sys.path.insert(0, {here!r})
import numpy as np
import step_speed as s
package = s.autograd_np
if {ref!r}:
    package, _ = s.load_ref_package({ref!r})
words, _ = s.find_names(None)
X, Y, vocab = s.build_dataset(words, 3)
params = s.init_params(vocab, 3, 10, 200)
cls = s.AutogradLectureMLP if {spelling!r} == "lecture" else s.AutogradMLP
model = cls(params, X, Y, 32, 0.1, 0, package=package)
for _ in range(20):
    model.step()
for _ in range({steps}):
    model.step()
"""


def instructions(ref: str, spelling: str, steps: int) -> int:
    """Total instructions of a child process running ``steps`` steps (callgrind's Ir)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        code = CHILD.format(here=str(HERE), ref=ref, spelling=spelling, steps=steps)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", code],
            capture_output=True, text=True, env=env, cwd=HERE.parent,
        )
        if run.returncode != 0:
            sys.exit(f"child failed:\n{run.stderr[-2000:]}")
        found = re.search(r"Collected : (\d+)", run.stderr)
        if not found:
            sys.exit(f"no instruction count in valgrind's output:\n{run.stderr[-2000:]}")
        return int(found.group(1))


def per_step(ref: str, spelling: str, steps: int) -> float:
    return (instructions(ref, spelling, steps) - instructions(ref, spelling, 0)) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="git ref whose autograd_np/ to compare against")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per run (default 200)")
    args = parser.parse_args()
    print("| spelling | this tree (instructions/step) | ref | this / ref |")
    print("|---|---|---|---|")
    for spelling in ("fused", "lecture"):
        new, old = per_step("", spelling, args.steps), per_step(args.ref, spelling, args.steps)
        print(f"| {spelling} | {new / 1e6:.3f} M | {old / 1e6:.3f} M | {new / old:.3f} |", flush=True)


if __name__ == "__main__":
    main()
