"""Quality of the model zoo on the field's data and split, optionally side by side with PyTorch.

    python benchmarks/zoo_quality.py                               # every arch, 2,000 steps, seed 42
    python benchmarks/zoo_quality.py --archs transformer --steps 10000
    python benchmarks/zoo_quality.py --seeds 42 1 2 --torch --json zoo_quality.json
    python benchmarks/zoo_quality.py --best runs/treg/best.safetensors     # evaluate a checkpoint (e.g. transformer-reg)

Trains each arch with makemore's defaults (``--config ARCH``: AdamW 5e-4, weight
decay 0.01, betas (0.9, 0.99), batch 32, constant lr) on ``names.txt`` (32,033
names; 80/10/10 split with ``random.seed(42)``), then reports parameters, steps,
training wall time, train/dev/test loss (the mean cross-entropy per character,
end token included, over each whole split) and 5 samples.

With ``--torch``, the same archs in PyTorch (``benchmarks/zoo_torch.py``,
makemore's code, 1 thread, float32) are trained on the same split with the same
batch recipe (``torch.manual_seed(seed)``; batches drawn with replacement) and
evaluated with the same metric. Not a test: takes minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

from models.names import Run, get_config, read_words  # noqa: E402
from models.names.config import SEQUENCE_ARCHS  # noqa: E402

DEFAULT_DATA = next((p for p in (ROOT.parent / "shared" / "data" / "names.txt", Path("/work/shared/data/names.txt"))
                     if p.exists()), ROOT.parent / "shared" / "data" / "names.txt")


def engine_run(arch: str, steps: int, seed: int, words: list[str]) -> dict:
    run = Run(get_config(arch, steps=steps, seed=seed, eval_every=steps), words)
    run.train(progress=False)
    losses = {name: run.evaluate(name) for name in ("train", "dev", "test")}
    return {"impl": "autograd_np", "arch": arch, "seed": seed, "steps": run.step,
            "params": run.model.num_parameters(), "train_seconds": round(run.train_seconds, 1),
            **{k: round(v, 4) for k, v in losses.items()}, "samples": run.sample(5, seed=seed)}


def torch_run(arch: str, steps: int, seed: int, words: list[str]) -> dict:
    import torch

    import zoo_torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    run = Run(get_config(arch), words)  # only for the vocabulary, block size and the split's arrays
    splits = {name: tuple(torch.from_numpy(a) for a in run.splits()[name]) for name in ("train", "dev", "test")}
    model = zoo_torch.build(arch, len(run.vocab), run.config.block_size)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)
    X, Y = splits["train"]
    t0 = time.perf_counter()
    for _ in range(steps):
        ix = torch.randint(0, len(X), (32,))
        loss = zoo_torch.loss(model(X[ix]), Y[ix])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    losses = {}
    with torch.no_grad():
        for name, (Xs, Ys) in splits.items():
            total, count = 0.0, 0
            for i in range(0, len(Xs), 512):
                xb, yb = Xs[i:i + 512], Ys[i:i + 512]
                n = int((yb != -1).sum())
                total += zoo_torch.loss(model(xb), yb).item() * n
                count += n
            losses[name] = round(total / count, 4)
    return {"impl": "torch", "arch": arch, "seed": seed, "steps": steps,
            "params": sum(p.numel() for p in model.parameters()), "train_seconds": round(seconds, 1), **losses}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="names.txt (default: ../shared/data/names.txt)")
    parser.add_argument("--archs", nargs="+", default=list(SEQUENCE_ARCHS), choices=SEQUENCE_ARCHS)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--torch", action="store_true", help="also train makemore's PyTorch code (needs torch)")
    parser.add_argument("--best", type=Path, nargs="*", default=[], metavar="CKPT",
                        help="only evaluate these checkpoints on their standard split")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    results = []
    if args.best:
        for path in args.best:
            run = Run.load(path)
            losses = {name: round(run.evaluate(name), 4) for name in ("train", "dev", "test")}
            results.append({"checkpoint": str(path), "arch": run.config.arch, "steps": run.step,
                            "params": run.model.num_parameters(), "train_seconds": round(run.train_seconds, 1),
                            **losses, "samples": run.sample(5, seed=run.config.seed)})
            print(json.dumps(results[-1]), flush=True)
    else:
        words = read_words(args.data).words
        for arch in args.archs:
            for seed in args.seeds:
                impls = [engine_run] + ([torch_run] if args.torch else [])
                for impl in impls:
                    results.append(impl(arch, args.steps, seed, words))
                    print(json.dumps(results[-1]), flush=True)
        print("\n| arch | impl | params | steps | seeds | train s (mean) | train | dev (mean) | dev per seed | test |")
        print("|" + "---|" * 10)
        for arch in args.archs:
            for impl in ("autograd_np", "torch"):
                rows = [r for r in results if r["arch"] == arch and r["impl"] == impl]
                if not rows:
                    continue
                mean = lambda k: np.mean([r[k] for r in rows])  # noqa: E731
                per_seed = " / ".join(f"{r['dev']:.4f}" for r in rows)
                print(f"| {arch} | {impl} | {rows[0]['params']:,} | {args.steps:,} | {len(rows)} | "
                      f"{mean('train_seconds'):.1f} | {mean('train'):.4f} | **{mean('dev'):.4f}** | "
                      f"{per_seed} | {mean('test'):.4f} |")
    machine = {"nproc": os.cpu_count(), "load": [round(x, 2) for x in os.getloadavg()],
               "python": platform.python_version(), "numpy": np.__version__,
               "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}
    print(f"machine: {machine}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "machine": machine}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
