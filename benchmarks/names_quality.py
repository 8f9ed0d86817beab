"""Quality benchmark of the names model on the field's standard data and split.

Trains a config on ``names.txt`` (32,033 names; split 80/10/10 with
``random.seed(42)``, as published results are) and reports train/dev/test
loss, steps and wall time, with the machine's load.

    python benchmarks/names_quality.py                      # default config, target dev <= 2.11 in 2 min
    python benchmarks/names_quality.py --config large       # target dev <= 1.99 in 15 min
    OPENBLAS_NUM_THREADS=2 python benchmarks/names_quality.py --json out.json   # 2 BLAS threads (default 1)

Not a test: takes minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

# One BLAS thread by default (see models/names/__init__.py); override by setting the variable.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.names import Run, get_config, read_words  # noqa: E402

#: (max dev loss, max training seconds) per config
TARGETS = {"default": (2.11, 120.0), "large": (1.99, 900.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "names.txt",
                        help="standard names.txt (default: ../shared/data/names.txt from the repo root)")
    parser.add_argument("--config", default="default", choices=sorted(TARGETS))
    parser.add_argument("--steps", type=int, help="override the config's step count")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override any config field, e.g. --set lr=0.003 --set 'hidden=[256,256]'")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--progress", action="store_true", help="show the progress bar")
    args = parser.parse_args(argv)

    overrides = {"steps": args.steps, "seed": args.seed}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key.replace("-", "_")] = json.loads(value)
    config = get_config(args.config, **overrides)
    data = read_words(args.data)
    load_before = os.getloadavg()
    wall0 = time.perf_counter()
    run = Run.from_words(config, data)
    run.train(progress=args.progress,
              on_eval=lambda step, dev: print(f"  step {step:>7,}: dev {dev:.4f}  ({time.perf_counter() - wall0:.0f} s)", flush=True))
    t0 = time.perf_counter()
    losses = {name: run.evaluate(name) for name in ("train", "dev", "test")}
    eval_seconds = time.perf_counter() - t0
    total = time.perf_counter() - wall0
    max_dev, max_seconds = TARGETS[args.config]
    result = {
        "config_name": args.config,
        **{k: round(v, 4) for k, v in losses.items()},
        "steps": run.step,
        "train_seconds": round(run.train_seconds, 1),
        "final_eval_seconds": round(eval_seconds, 1),
        "total_seconds": round(total, 1),
        "target": {"dev": max_dev, "train_seconds": max_seconds},
        "met": losses["dev"] <= max_dev and run.train_seconds <= max_seconds,
        "parameters": run.model.num_parameters(),
        "machine": {"nproc": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in os.getloadavg()],
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
                    "python": platform.python_version()},
        "data": {"path": str(args.data), "words": len(data.words)},
        "config": config.to_dict(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
