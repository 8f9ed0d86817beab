"""Command line: ``python -m models.names {train,sample,eval,graph}``.

    python -m models.names train                       # bundled data, default config, ~1 min
    python -m models.names train --config large --out runs/large
    python -m models.names train --arch transformer --steps 2000   # or bigram, bow, rnn, gru (models/names/zoo.py)
    python -m models.names train --input my_words.txt --steps 20000
    python -m models.names train --resume runs/names/checkpoint.npz
    python -m models.names sample runs/names/checkpoint.npz -n 10 --temperature 0.8 --exclude-train
    python -m models.names eval runs/names/checkpoint.npz [--input FILE] [--split dev]
    python -m models.names graph [runs/names/checkpoint.npz] --out graph.svg
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from . import checkpoint as ckpt
from .data import DEFAULT_DATA, DEFAULT_MAX_LEN, DataError, read_words, split
from .model import ARCHS, CONFIGS, get_config, make_schedule
from .train import Run

CHECKPOINT = "checkpoint.npz"

# train options that define the model/optimisation (ignored, with an error, when resuming)
_CONFIG_FLAGS = {
    "block_size": int, "emb": int, "hidden": str, "arch": str, "norm": str, "dropout": float,
    "batch_size": int, "optimizer": str, "lr": float, "momentum": float, "weight_decay": float,
    "schedule": str, "warmup": float, "final_lr": float, "seed": int, "dtype": str, "eval_every": int,
    "n_layer": int, "n_head": int, "n_embd": int, "n_embd2": int, "beta2": float, "grad_clip": float,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.names",
        description="Character-level models that learn to make up names (autograd_np): the MLP and makemore's zoo.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (default: bundled names, default config)")
    t.add_argument("--input", type=Path, help=f"one word per line, UTF-8 (default: bundled {DEFAULT_DATA.name})")
    t.add_argument("--config", choices=sorted(CONFIGS),
                   help="named configuration (default: 'default', or the one named after a sequence --arch)")
    t.add_argument("--steps", type=int, help="total optimisation steps (default: from the config)")
    t.add_argument("--out", type=Path, default=Path("runs/names"), help="output directory (default: runs/names)")
    t.add_argument("--resume", type=Path, metavar="CKPT", help="continue a run from its checkpoint")
    t.add_argument("--stop-at", type=int, metavar="STEP", help="stop at this step (checkpoint saved; resume later)")
    t.add_argument("--checkpoint-every", type=int, default=20_000, metavar="N", help="also save every N steps (0: only at the end)")
    t.add_argument("--samples", type=int, default=20, help="names to print at the end (default 20)")
    t.add_argument("--max-len", type=int, default=DEFAULT_MAX_LEN, help=f"longest accepted word (default {DEFAULT_MAX_LEN})")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-plot", action="store_true", help="skip the loss-curve PNG")
    g = t.add_argument_group("model and optimisation (override the config)")
    g.add_argument("--block-size", type=int)
    g.add_argument("--emb", type=int, help="embedding size")
    g.add_argument("--hidden", help="hidden widths, comma separated, e.g. 200 or 512,512")
    g.add_argument("--arch", choices=ARCHS, help="mlp, hier, or a sequence model (makemore's zoo)")
    g.add_argument("--norm", choices=["none", "batch", "layer"])
    g.add_argument("--dropout", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    g.add_argument("--lr", type=float, help="(peak) learning rate")
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--schedule", choices=["step", "cosine", "constant"])
    g.add_argument("--warmup", type=float, help="cosine: fraction of the steps spent warming up, e.g. 0.02")
    g.add_argument("--final-lr", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--dtype", choices=["float32", "float64"])
    g.add_argument("--eval-every", type=int)
    g.add_argument("--n-layer", type=int, help="transformer blocks")
    g.add_argument("--n-head", type=int, help="attention heads (must divide --n-embd)")
    g.add_argument("--n-embd", type=int, help="sequence models: embedding width")
    g.add_argument("--n-embd2", type=int, help="bow/rnn/gru: hidden width")
    g.add_argument("--beta2", type=float, help="Adam/AdamW second-moment decay")
    g.add_argument("--grad-clip", type=float, help="clip the global gradient norm to this (0: off)")

    s = sub.add_parser("sample", help="print names sampled from a checkpoint")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("-n", "--num", type=int, default=20, help="how many names (default 20)")
    s.add_argument("--temperature", type=float, default=1.0, help="<1: safer, >1: wilder (default 1.0)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--exclude-train", action="store_true", help="only names that are not in the training data file")

    e = sub.add_parser("eval", help="losses of a checkpoint on a data file's standard split")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--input", type=Path, help="data file (default: the words stored in the checkpoint)")
    e.add_argument("--split", default="all", choices=["train", "dev", "test", "all", "whole"],
                   help="all: train, dev and test; whole: every word of the file, unsplit")
    e.add_argument("--max-len", type=int, default=DEFAULT_MAX_LEN)

    r = sub.add_parser("graph", help="render the computation graph of one training batch")
    r.add_argument("checkpoint", type=Path, nargs="?", help="(default: an untrained model of --config)")
    r.add_argument("--config", choices=sorted(CONFIGS), help="for an untrained model (default: 'default')")
    r.add_argument("--arch", choices=ARCHS, help="for an untrained model")
    r.add_argument("--layers", type=int, metavar="N", help="untrained transformer: N blocks (1 keeps the graph small)")
    r.add_argument("--max-nodes", type=int, default=500, help="refuse bigger graphs (default 500; 0: no limit)")
    r.add_argument("--batch-size", type=int, default=4)
    r.add_argument("--out", type=Path, default=Path("runs/names/graph.svg"), help="file type by suffix: svg, png, pdf, dot")
    r.add_argument("--show-grad", action="store_true", help="colour nodes by gradient norm")
    r.add_argument("--show-values", action="store_true", help="print mean/std of every tensor")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "graph": cmd_graph}[args.command](args)
    except (DataError, ckpt.CheckpointError, ValueError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _overrides(args: argparse.Namespace) -> dict:
    values = {}
    for name in _CONFIG_FLAGS:
        value = getattr(args, name)
        if value is None:
            continue
        if name == "hidden":
            try:
                value = [int(v) for v in value.split(",") if v.strip()]
            except ValueError:
                raise ValueError(f"--hidden: expected comma-separated integers, got {args.hidden!r}") from None
        values[name] = value
    return values


def _check_arch(path: Path, run: Run, args: argparse.Namespace) -> None:
    """A checkpoint given with --arch/--config of another model: an error naming both."""
    wanted = args.arch or (CONFIGS[args.config].get("arch", "mlp") if args.config else None)
    if wanted and wanted != run.config.arch:
        given = f"--arch {args.arch}" if args.arch else f"--config {args.config} (arch {wanted})"
        raise ValueError(f"{path} holds a {run.config.arch!r} model, but {given} was given")


def cmd_train(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    if args.resume:
        run = Run.load(args.resume)
        _check_arch(args.resume, run, args)
        if overrides or args.input or args.config is not None:
            raise ValueError("--resume continues the checkpoint's own data and config; only --steps, --stop-at, "
                             "--out and output options may be given")
        if args.steps is not None and args.steps != run.config.steps:
            if args.steps < run.step:
                raise ValueError(f"--steps {args.steps} is below the checkpoint's step {run.step}")
            print(f"note: --steps changes the run length from {run.config.steps} to {args.steps}; "
                  "the learning-rate schedule follows the new length", file=sys.stderr)
            run.config.steps = args.steps
            run.optimizer.schedule = make_schedule(run.config)
        print(f"resuming {args.resume} at step {run.step:,} of {run.config.steps:,}")
    else:
        data = read_words(args.input or DEFAULT_DATA, max_len=args.max_len)
        config = get_config(args.config or "default", steps=args.steps, **overrides)
        run = Run.from_words(config, data)
        n_train, n_dev, n_test = (len(p) for p in split(data.words))
        print(f"data: {data.source} ({len(data.words):,} words; split {n_train:,}/{n_dev:,}/{n_test:,}; "
              f"vocabulary {len(run.vocab)}: {run.vocab.chars!r})")
    print(f"model: {run.describe()}")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / CHECKPOINT
    best = out / "best.npz" if run.config.keep_best else None
    run.train(until=args.stop_at, progress=not args.no_progress, checkpoint_path=path,
              checkpoint_every=args.checkpoint_every, best_path=best)
    run.save(path)
    if run.interrupted or run.step < run.config.steps:
        why = "interrupted" if run.interrupted else "stopped"
        print(f"{why} at step {run.step:,} of {run.config.steps:,}; checkpoint: {path}\n"
              f"continue with: python -m models.names train --resume {path}")
        return 130 if run.interrupted else 0
    t0 = time.perf_counter()
    losses = {name: run.evaluate(name) for name in ("train", "dev", "test")}
    eval_seconds = time.perf_counter() - t0
    print(f"done: {run.step:,} steps in {run.train_seconds:.1f} s of training (+{eval_seconds:.1f} s final evaluation)")
    print("loss: " + "  ".join(f"{k} {v:.4f}" for k, v in losses.items()))
    if not args.no_plot:
        print(f"loss curve: {run.plot(out / 'loss.png')}")
    print(f"checkpoint: {path}")
    if best and run.dev_losses:
        i = int(np.argmin(run.dev_losses))
        print(f"best dev loss {run.dev_losses[i]:.4f} at step {run.dev_steps[i]:,}: {best}")
    (out / "metrics.json").write_text(json.dumps({
        **losses, "steps": run.step, "train_seconds": run.train_seconds, "eval_seconds": eval_seconds,
        "config": run.config.to_dict(), "data": run.data_info,
    }, indent=2) + "\n")
    if args.samples > 0:
        print(f"{args.samples} sampled names:")
        for name in run.sample(args.samples, seed=run.config.seed):
            print(f"  {name}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    run = Run.load(args.checkpoint)
    exclude = set(run.words) if args.exclude_train else None
    names = run.sample(args.num, temperature=args.temperature, seed=args.seed, exclude=exclude)
    for name in names:
        print(name)
    if len(names) < args.num:
        print(f"warning: only {len(names)} names not in the training data after 100 rounds", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    run = Run.load(args.checkpoint)
    if args.input:
        data = read_words(args.input, max_len=args.max_len)
        run.vocab.check(data)
        words, source = data.words, str(args.input)
    else:
        words, source = run.words, f"{run.data_info.get('source', '?')} (words stored in the checkpoint)"
    print(f"checkpoint: {args.checkpoint} (step {run.step:,}); data: {source}, {len(words):,} words")
    if args.split == "whole":
        parts = {"whole": words}
    else:
        parts = dict(zip(("train", "dev", "test"), split(words)))
        if args.split != "all":
            parts = {args.split: parts[args.split]}
    for name, ws in parts.items():
        X, Y = run.examples(ws)
        size = f"{int((Y != -1).sum()):,} characters" if run.sequence else f"{len(X):,} examples"
        print(f"{name:>5}: loss {run.loss_on(X, Y):.4f}  ({len(ws):,} words, {size})")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    try:
        import viz
    except ImportError as error:
        raise ValueError(f"graph: the viz package is not available ({error})") from None
    if args.checkpoint:
        run = Run.load(args.checkpoint)
        _check_arch(args.checkpoint, run, args)
        if args.layers is not None:
            raise ValueError("graph: --layers shapes an untrained model; a checkpoint keeps its own layers")
    else:
        if args.layers is not None and (args.arch or CONFIGS[args.config or "default"].get("arch")) != "transformer":
            raise ValueError("graph: --layers applies to the transformer only")
        config = get_config(args.config or "default", steps=1, arch=args.arch, n_layer=args.layers)
        run = Run.from_words(config, read_words(DEFAULT_DATA))
    X, Y = run.splits()["train"]
    ix = np.random.default_rng(0).integers(0, len(X), args.batch_size)
    run.model.train()
    loss = run.batch_loss(X[ix], Y[ix])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        # a sequence model repeats its ops at every position: merge chains of single-input ops
        viz.render(loss, args.out, params=run.model, show_grad=args.show_grad, show_values=args.show_values,
                   collapse_chains=run.sequence, max_nodes=args.max_nodes or None)
    except viz.GraphTooLargeError as error:
        raise ValueError(f"graph: {error}; try --batch-size 2, --layers 1 or --max-nodes") from None
    except (viz.RendererNotFoundError, viz.RenderError) as error:
        raise ValueError(f"graph: {error} (a .dot output needs no renderer)") from None
    print(f"graph of one batch of {args.batch_size} (loss {loss.item():.4f}): {args.out}")
    return 0
