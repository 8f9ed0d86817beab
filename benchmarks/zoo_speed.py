"""Speed of one training step of each zoo arch: autograd_np vs PyTorch eager, 1 thread, float32.

    python benchmarks/zoo_speed.py                           # all archs, table + per-op counts
    python benchmarks/zoo_speed.py --archs rnn gru --reps 21
    python benchmarks/zoo_speed.py --json zoo_speed.json

One step = gather a batch of 32 whole names (padded to block size 16, as makemore
does), forward, mean cross-entropy over the non-padding targets, backward, AdamW
update (makemore's defaults). Both implementations run the same batches, in one
process, round-robin inside every repetition (machine noise hits both alike).
The table shows the median over repetitions of each repetition's mean ms/step;
the ratio is the median of the per-repetition ratios (autograd_np / torch).

- **autograd_np**: ``models/names/models.py`` through the public API, the batch at
  its full padded length (the same work as torch);
- **autograd_np, trimmed**: the same with the batch cut to its longest name
  (what ``models.names`` training does: the loss and gradient are unchanged);
- **compiled**: the full-length step through ``autograd_np.compile`` (or eagerly, with the reason
  printed under the table, for an arch whose step it cannot compile);
- **torch**: ``benchmarks/zoo_torch.py`` (makemore's code), if torch is importable
  (``pip install torch==2.13.0``), ``torch.set_num_threads(1)``.

Per-op counts: the ops recorded by one autograd_np step (forward; backward runs
one VJP per differentiable input of each).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import autograd_np  # noqa: E402
from models.names import Vocab, get_config, make_optimizer, read_words, split  # noqa: E402
from models.names.config import SEQUENCE_ARCHS  # noqa: E402
from models.names.data import build_sequences, sequence_length, trim_padding  # noqa: E402
from models.names.models import build_model, sequence_loss  # noqa: E402

try:
    import torch

    import zoo_torch
except ImportError:  # torch is optional
    torch = None

ARCHS = SEQUENCE_ARCHS
#: steps per repetition, so that each repetition takes roughly the same time
STEPS = {"bigram": 200, "bow": 60, "rnn": 30, "gru": 15, "transformer": 6}
DEFAULT_DATA = [ROOT.parent / "shared" / "data" / "names.txt", Path("/work/shared/data/names.txt"),
                ROOT / "models" / "data" / "names.txt"]


def load_data(path: Path | None) -> tuple[np.ndarray, np.ndarray, int, int]:
    path = path or next(p for p in DEFAULT_DATA if p.exists())
    words = read_words(path).words
    vocab = Vocab.from_words(words)
    block = sequence_length(words)
    X, Y = build_sequences(split(words)[0], vocab, block)
    return X, Y, len(vocab), block


class EngineStep:
    def __init__(self, arch: str, vocab_size: int, block: int, trim: bool) -> None:
        self.config = get_config(arch)
        self.config.block_size = block
        self.model = build_model(self.config, vocab_size, np.random.default_rng(0))
        self.optimizer = make_optimizer(self.config, self.model)
        self.trim = trim

    def loss(self, xb: np.ndarray, yb: np.ndarray) -> autograd_np.Tensor:
        if self.trim:
            xb, yb = trim_padding(xb, yb)
        return sequence_loss(self.model, xb, yb)

    def __call__(self, X: np.ndarray, Y: np.ndarray, ix: np.ndarray) -> float:
        loss = self.loss(X[ix], Y[ix])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


class CompiledStep(EngineStep):
    """The full-length step through ``autograd_np.compile`` (one program: the batch shape never changes);
    an arch whose step cannot be compiled runs eagerly after one warning (``status`` says why)."""

    def __init__(self, arch: str, vocab_size: int, block: int) -> None:
        super().__init__(arch, vocab_size, block, trim=False)
        self.compiled = autograd_np.compile(self.update)

    def update(self, xb: np.ndarray, yb: np.ndarray) -> autograd_np.Tensor:
        loss = self.loss(xb, yb)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss

    def __call__(self, X: np.ndarray, Y: np.ndarray, ix: np.ndarray) -> float:
        return self.compiled(X[ix], Y[ix]).item()

    @property
    def status(self) -> str:
        reason = self.compiled.eager_reason
        return f"eager ({reason})" if reason else f"compiled ({self.compiled.replays} replays)"


class TorchStep:
    def __init__(self, arch: str, vocab_size: int, block: int) -> None:
        torch.manual_seed(0)
        self.model = zoo_torch.build(arch, vocab_size, block)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99),
                                           eps=1e-8)

    def __call__(self, X: np.ndarray, Y: np.ndarray, ix: np.ndarray) -> float:
        xb, yb = torch.from_numpy(X[ix]), torch.from_numpy(Y[ix])
        loss = zoo_torch.loss(self.model(xb), yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def op_counts(step: EngineStep, X: np.ndarray, Y: np.ndarray, ix: np.ndarray) -> dict[str, int]:
    loss = step.loss(X[ix], Y[ix])
    counts = collections.Counter(t.op for t in autograd_np.topological_order(loss) if t.op is not None)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="?", help="names.txt (default: ../shared/data/names.txt)")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", autograd_np.CompileWarning)  # each arch's compile status is printed instead
    if torch is not None:
        torch.set_num_threads(1)
    X, Y, vocab_size, block = load_data(args.data)
    rng = np.random.default_rng(1)

    impls: dict[str, dict[str, object]] = {}
    for arch in args.archs:
        impls[arch] = {"autograd_np": EngineStep(arch, vocab_size, block, trim=False),
                       "autograd_np trimmed": EngineStep(arch, vocab_size, block, trim=True)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", autograd_np.CompileWarning)  # the status line says why
            impls[arch]["compiled"] = CompiledStep(arch, vocab_size, block)
        if torch is not None:
            impls[arch]["torch"] = TorchStep(arch, vocab_size, block)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", autograd_np.CompileWarning)
            for step in impls[arch].values():  # warm up (first allocations, optimizer state, captures)
                for _ in range(3):
                    step(X, Y, rng.integers(0, len(X), args.batch_size))

    times: dict[str, dict[str, list[float]]] = {a: collections.defaultdict(list) for a in args.archs}
    for rep in range(args.reps):
        for arch in args.archs:
            batches = [rng.integers(0, len(X), args.batch_size) for _ in range(STEPS[arch])]
            names = list(impls[arch])
            names = names[rep % len(names):] + names[:rep % len(names)]  # rotate who goes first
            for name in names:
                step = impls[arch][name]
                t0 = time.perf_counter()
                for ix in batches:
                    step(X, Y, ix)
                times[arch][name].append((time.perf_counter() - t0) / len(batches) * 1e3)

    results = {}
    header = ("| arch | params | autograd_np ms | autograd_np trimmed ms | compiled ms | torch ms | autograd_np / torch "
              "| compiled / autograd_np | ops per step |")
    print(header)
    print("|" + "---|" * 9)
    for arch in args.archs:
        t = times[arch]
        engine = impls[arch]["autograd_np"]
        ops = op_counts(engine, X, Y, rng.integers(0, len(X), args.batch_size))
        row = {name: float(np.median(v)) for name, v in t.items()}
        ratio = float(np.median(np.array(t["autograd_np"]) / np.array(t["torch"]))) if "torch" in t else None
        results[arch] = {"ms": row, "ratio": ratio, "params": engine.model.num_parameters(), "ops": ops,
                         "n_ops": sum(ops.values())}
        torch_ms = f"{row['torch']:.2f}" if "torch" in row else "-"
        compiled_ratio = float(np.median(np.array(t["compiled"]) / np.array(t["autograd_np"])))
        results[arch]["compiled_ratio"] = compiled_ratio
        results[arch]["compiled_status"] = impls[arch]["compiled"].status
        print(f"| {arch} | {engine.model.num_parameters():,} | {row['autograd_np']:.2f} | "
              f"{row['autograd_np trimmed']:.2f} | {row['compiled']:.2f} | {torch_ms} | {f'{ratio:.2f}' if ratio else '-'} | "
              f"{compiled_ratio:.2f} | {sum(ops.values())} |")
    print()
    for arch in args.archs:
        print(f"{arch}: compile: {results[arch]['compiled_status']}")
    print()
    for arch in args.archs:
        ops = results[arch]["ops"]
        print(f"{arch}: {results[arch]['n_ops']} ops: " + ", ".join(f"{k} {v}" for k, v in ops.items()))
    machine = {"nproc": os.cpu_count(), "load": [round(x, 2) for x in os.getloadavg()],
               "python": platform.python_version(), "numpy": np.__version__,
               "torch": torch.__version__ if torch is not None else None,
               "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}
    print(f"\nmachine: {machine}; {args.reps} repetitions, batch {args.batch_size}, block {block}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "machine": machine, "reps": args.reps}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
