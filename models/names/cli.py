"""Command line: ``python -m models.names {train,sample,eval,graph,derive}``.

    python -m models.names train                       # bundled data, default config -> runs/names/N
    python -m models.names train --config large --out runs/large
    python -m models.names train --arch transformer --steps 2000   # or bigram, bow, rnn, gru (models/names/models.py)
    python -m models.names train --input my_words.txt --steps 20000
    python -m models.names train --resume runs/names/1      # a run directory: its newest checkpoint
    python -m models.names sample [CKPT] -n 10 --temperature 0.8 --exclude-train
    python -m models.names eval [CKPT] [--input FILE] [--split dev]
    python -m models.names graph [CKPT] --out graph.svg
    python -m models.names derive [CKPT] [--dtype float32]

A command without CKPT uses the newest run under runs/names (see rundir.py); CKPT may be a checkpoint
file (safetensors: checkpoint.py) or a run directory. Bad command lines exit with status 2 (``flags.py``),
other errors with 1.
SIGINT or SIGTERM during ``train`` ends it with one line and a saved state (``interrupt.py``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import secrets
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import checkpoint as ckpt
from .checkpoint import DEFAULT_MAX_PARAMETERS, parameter_count
from . import interrupt
from .derive import add_parser as add_derive_parser, cmd_derive
from .data import (DEFAULT_DATA, DEFAULT_MAX_BYTES, DEFAULT_MAX_LEN, IGNORE, DataError, Vocab, read_words,
                   sequence_length, split)
from .flags import (BLOCK, MAX_BLOCK, FRACTION, MAX_BYTES, NAMES, NON_NEGATIVE, NON_NEGATIVE_NUMBER, OPEN_FRACTION, POSITIVE,  # noqa: F401
                    POSITIVE_NUMBER, STEPS, TEMPERATURE, MAX_NAMES, Parser, UsageError, in_flags, integer, path as path_arg,
                    unrecognized, widths)
from .interrupt import pause, signal_name, stop_on_signals
from .config import ARCHS, CONFIGS, get_config, is_sequence_arch, make_schedule
from .rundir import (CHECKPOINT, RUNS_ROOT, RunDirError, RunLock, check_out_dir, check_writable, find_checkpoint,
                     latest_checkpoint, new_run_dir)
from .evaluate import Interrupted
from .train import Run, compile_blocker

# train options that define the model/optimisation (ignored, with an error, when resuming)
_CONFIG_FLAGS = {
    "block_size": int, "emb": int, "hidden": list, "arch": str, "norm": str, "dropout": float,
    "batch_size": int, "optimizer": str, "lr": float, "momentum": float, "weight_decay": float,
    "schedule": str, "warmup": float, "final_lr": float, "seed": int, "dtype": str, "eval_every": int,
    "n_layer": int, "n_head": int, "n_embd": int, "n_embd2": int, "beta2": float, "grad_clip": float,
}
SPLITS = ("train", "dev", "test")


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and each command's own parser."""
    parser = Parser(
        prog="python -m models.names",
        description="Character-level models that learn to make up names (autograd_np): the MLP and makemore's zoo.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_sample(sub)
    _add_eval(sub)
    _add_graph(sub)
    add_derive_parser(sub)
    return parser, dict(sub.choices)


def _add_max_params(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-params", type=POSITIVE, default=DEFAULT_MAX_PARAMETERS, metavar="N",
                   help=f"refuse configs with more parameters (default {DEFAULT_MAX_PARAMETERS:,}); "
                        "raise only for files you trust")


def _add_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=path_arg, nargs="?",
                   help=f"a checkpoint file or a run directory (default: the newest run under {RUNS_ROOT})")


def _add_train(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a model (default: bundled names, default config)")
    t.add_argument("--input", type=path_arg, help=f"one word per line, UTF-8 (default: bundled {DEFAULT_DATA.name})")
    t.add_argument("--config", choices=sorted(CONFIGS),
                   help="named configuration (default: 'default', or the one named after a sequence --arch)")
    t.add_argument("--steps", type=STEPS, help="total optimisation steps (default: from the config)")
    t.add_argument("--out", type=path_arg, help=f"run directory (default: a new numbered one, {RUNS_ROOT}/N; "
                   "with --resume, the checkpoint's own directory)")
    t.add_argument("--resume", type=path_arg, metavar="CKPT",
                   help="continue a run from its checkpoint (a file, or a run directory: its checkpoint.safetensors)")
    t.add_argument("--force", action="store_true", help="replace the checkpoint an existing --out holds")
    t.add_argument("--stop-at", type=STEPS, metavar="STEP", help="stop at this step (checkpoint saved; resume later)")
    t.add_argument("--stop-on-divergence", action="store_true",
                   help="stop with an error when the mean loss stays above 10x its starting value "
                        "(default: a warning)")
    t.add_argument("--checkpoint-every", type=NON_NEGATIVE, default=20_000, metavar="N",
                   help="also save every N steps (0: only at the end)")
    t.add_argument("--samples", type=integer(0, MAX_NAMES), default=20, help="names to print at the end (default 20)")
    t.add_argument("--max-len", type=POSITIVE, default=DEFAULT_MAX_LEN, help=f"longest accepted word (default {DEFAULT_MAX_LEN})")
    t.add_argument("--max-bytes", type=MAX_BYTES, default=DEFAULT_MAX_BYTES,
                   help=f"largest accepted --input file (default {DEFAULT_MAX_BYTES:,} bytes)")
    _add_max_params(t)
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-compile", action="store_true",
                   help="train eagerly (default: the step runs through autograd_np.compile when the config allows)")
    t.add_argument("--no-plot", action="store_true", help="skip the loss-curve PNG")
    g = t.add_argument_group("model and optimisation (override the config)")
    g.add_argument("--block-size", type=BLOCK, help=f"characters of context (MLPs; at most {MAX_BLOCK:,})")
    g.add_argument("--emb", type=POSITIVE, help="embedding size")
    g.add_argument("--hidden", type=widths, help="hidden widths, comma separated, e.g. 200 or 512,512")
    g.add_argument("--arch", choices=ARCHS, help="mlp, hier, or a sequence model (makemore's zoo)")
    g.add_argument("--norm", choices=["none", "batch", "layer"])
    g.add_argument("--dropout", type=FRACTION)
    g.add_argument("--batch-size", type=POSITIVE, help="at most the number of training examples")
    g.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    g.add_argument("--lr", type=POSITIVE_NUMBER, help="(peak) learning rate")
    g.add_argument("--momentum", type=FRACTION)
    g.add_argument("--weight-decay", type=NON_NEGATIVE_NUMBER)
    g.add_argument("--schedule", choices=["step", "cosine", "constant"])
    g.add_argument("--warmup", type=FRACTION, help="cosine: fraction of the steps spent warming up, e.g. 0.02")
    g.add_argument("--final-lr", type=NON_NEGATIVE_NUMBER)
    g.add_argument("--seed", type=NON_NEGATIVE)
    g.add_argument("--dtype", choices=["float32", "float64"])
    g.add_argument("--eval-every", type=POSITIVE)
    g.add_argument("--n-layer", type=POSITIVE, help="transformer blocks")
    g.add_argument("--n-head", type=POSITIVE, help="attention heads (must divide --n-embd)")
    g.add_argument("--n-embd", type=POSITIVE, help="sequence models: embedding width")
    g.add_argument("--n-embd2", type=POSITIVE, help="bow/rnn/gru: hidden width")
    g.add_argument("--beta2", type=OPEN_FRACTION, help="Adam/AdamW second-moment decay")
    g.add_argument("--grad-clip", type=NON_NEGATIVE_NUMBER, help="clip the global gradient norm to this (0: off)")


def _add_sample(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sample", help="print names sampled from a checkpoint")
    _add_checkpoint(s)
    s.add_argument("-n", "--num", type=NAMES, default=20, help="how many names (default 20)")
    s.add_argument("--temperature", type=TEMPERATURE, default=1.0, help="<1: safer, >1: wilder (default 1.0)")
    s.add_argument("--seed", type=NON_NEGATIVE, help="repeat a draw (default: fresh names, seed printed)")
    s.add_argument("--exclude-train", action="store_true", help="only names that are not in the training data file")
    _add_max_params(s)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="losses of a checkpoint on a data file's standard split")
    _add_checkpoint(e)
    e.add_argument("--input", type=path_arg, help="data file (default: the words stored in the checkpoint)")
    e.add_argument("--split", default="all", choices=["train", "dev", "test", "all", "whole"],
                   help="all: train, dev and test; whole: every word of the file, unsplit")
    e.add_argument("--max-len", type=POSITIVE, default=DEFAULT_MAX_LEN)
    e.add_argument("--max-bytes", type=MAX_BYTES, default=DEFAULT_MAX_BYTES)
    _add_max_params(e)


def _add_graph(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("graph", help="render the computation graph of one training batch")
    r.add_argument("checkpoint", type=path_arg, nargs="?",
                   help=f"a checkpoint file or a run directory (default: the newest run under {RUNS_ROOT}; "
                        "with --config or --arch, an untrained model)")
    r.add_argument("--config", choices=sorted(CONFIGS), help="draw an untrained model of this config")
    r.add_argument("--arch", choices=ARCHS, help="draw an untrained model of this arch (its own config)")
    r.add_argument("--layers", type=POSITIVE, metavar="N", help="untrained transformer: N blocks (1 keeps the graph small)")
    r.add_argument("--max-nodes", type=NON_NEGATIVE, default=500, help="refuse bigger graphs (default 500; 0: no limit)")
    r.add_argument("--batch-size", type=POSITIVE, help="examples in the batch drawn (default 4; at most the "
                   "number of training examples)")
    r.add_argument("--out", type=path_arg, help="file type by suffix: svg, png, pdf, dot (default: graph.svg in the run directory)")
    r.add_argument("--show-grad", action="store_true", help="colour nodes by gradient norm")
    r.add_argument("--show-values", action="store_true", help="print mean/std of every tensor")
    r.add_argument("--show-rule", action="store_true", help="write each op's VJP rule under it")
    r.add_argument("--group-modules", action=argparse.BooleanOptionalAction, default=None,
                   help="draw each module call (a block, a GRU step) as one box (default: on for the sequence archs)")
    r.add_argument("--step-through", action="store_true",
                   help="write an HTML page that replays the backward pass node by node (default --out: "
                        "backward.html in the run directory; --max-nodes does not apply)")
    _add_max_params(r)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status: 0, 1 (an error), 2 (a bad command line), 128 + signal (interrupted)."""
    parser, parsers = _parser()
    args, extra = parser.parse_known_args(argv)
    command = parsers[args.command]
    if extra:
        command.error(unrecognized(extra, command, {k: v for k, v in parsers.items() if k != args.command}))
    if args.command == "train":
        with stop_on_signals() as stop:  # from here on, SIGINT/SIGTERM end train with one line and a saved state
            return _run(command, cmd_train, args, stop)
    interrupt.release_early()
    if interrupt.EARLY:
        print(f"interrupted by {signal_name(interrupt.EARLY[0])}", file=sys.stderr)
        return 128 + interrupt.EARLY[0]
    commands = {"sample": cmd_sample, "eval": cmd_eval, "graph": cmd_graph, "derive": cmd_derive}
    return _run(command, commands[args.command], args)


def _run(parser: argparse.ArgumentParser, cmd: Callable[..., int], args: argparse.Namespace, *extra: object) -> int:
    try:
        return cmd(args, *extra)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except (DataError, ckpt.CheckpointError, ValueError, FloatingPointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except MemoryError as error:
        print(f"error: out of memory{f' ({error})' if str(error) else ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second signal during train, or Ctrl-C in the other commands
        if args.command == "train":
            print("aborted by a second signal; the last checkpoint saved before it (if any) is intact",
                  file=sys.stderr)
        else:
            print("interrupted", file=sys.stderr)
        return 130


def _overrides(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name) for name in _CONFIG_FLAGS if getattr(args, name) is not None}


def _check_arch(path: Path, run: Run, args: argparse.Namespace) -> None:
    """A checkpoint given with --arch/--config of another model: an error naming both."""
    wanted = args.arch or (CONFIGS[args.config].get("arch", "mlp") if args.config else None)
    if wanted and wanted != run.config.arch:
        given = f"--arch {args.arch}" if args.arch else f"--config {args.config} (arch {wanted})"
        raise UsageError(f"{path} holds a {run.config.arch!r} model, but {given} was given")


def _checkpoint_arg(args: argparse.Namespace) -> Path:
    return find_checkpoint(args.checkpoint) if args.checkpoint is not None else latest_checkpoint()


def _check_batch_size(flag_given: bool, batch_size: int, n_train: int, what: str = "--batch-size") -> None:
    """A batch larger than the training set is a typo that would allocate gigabytes: refused."""
    if flag_given and batch_size > n_train:
        raise UsageError(f"{what} {batch_size:,} is larger than the training set ({n_train:,} examples); "
                         f"give at most {n_train:,}")


def _split_sizes(words: list[str]) -> dict[str, int]:
    return {name: len(part) for name, part in zip(SPLITS, split(words))}


def _warn_empty_splits(sizes: dict[str, int]) -> None:
    for name in ("dev", "test"):
        if sizes[name] == 0:
            print(f"warning: the {name} split is empty ({sum(sizes.values())} words; the 80/10/10 split leaves "
                  f"none for {name}): no {name} loss is reported", file=sys.stderr)


# ----- train --------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace, stop: list[int]) -> int:
    """Train; ``stop`` (from ``stop_on_signals``) receives SIGINT/SIGTERM, which end the command at the next
    safe point with one line, leaving a resumable checkpoint or metrics.json (or nothing, before training)."""
    if stop:
        return _interrupted_before_training(args, stop)
    if args.resume is not None:
        args.resume = find_checkpoint(args.resume, resume=True)
    if args.out is not None:  # fail before reading any data; checked again under the lock
        check_out_dir(args.out, args.out / CHECKPOINT, resume=args.resume, force=args.force)
    run = _resume_run(args) if args.resume else _new_run(args)
    _warn_empty_splits(_split_sizes(run.words))
    print(f"model: {_describe(run)}", flush=True)
    run.use_compile = not args.no_compile
    blocker = compile_blocker(run.config) if run.use_compile else "--no-compile"
    print(f"compile: {'on' if blocker is None else f'off ({blocker})'}", flush=True)
    pause("setup", stop)
    if stop:
        return _interrupted_before_training(args, stop)
    out, checkpoint = _train_paths(args)
    with RunLock(out) as lock:
        if lock.stale_pid is not None:
            print(f"note: took over the stale lock of process {lock.stale_pid} (no longer running)", file=sys.stderr)
        check_out_dir(out, checkpoint, resume=args.resume, force=args.force)
        check_writable(out, checkpoint)
        best = out / "best.safetensors" if run.config.keep_best else None
        if args.force:
            for stale in ("metrics.json", "loss.png", "best.safetensors"):
                (out / stale).unlink(missing_ok=True)
        print(f"run directory: {out}", flush=True)
        run.train(until=args.stop_at, progress=not args.no_progress, checkpoint_path=checkpoint,
                  checkpoint_every=args.checkpoint_every, stop_on_divergence=args.stop_on_divergence, stop=stop,
                  best_path=best)
        pause("save", stop)
        run.save(checkpoint)
        if stop and not run.interrupted:  # the signal came during the final save
            run.stopped_by = stop[0]
        if run.interrupted or run.step < run.config.steps:
            why = f"interrupted by {signal_name(run.stopped_by)}" if run.interrupted else "stopped"
            print(f"{why} at step {run.step:,} of {run.config.steps:,}; checkpoint: {checkpoint}; "
                  f"continue with: {_resume_command(args, checkpoint)}")
            return 128 + run.stopped_by if run.interrupted else 0
        return _finish(args, run, out, checkpoint, best, stop)


def _describe(run: Run) -> str:
    c = run.config
    optimisation = (f"{c.optimizer} lr {c.lr} ({c.schedule})"
                    + (f", weight decay {c.weight_decay}" if run.sequence else "")
                    + f", batch {c.batch_size}, {c.steps:,} steps, seed {c.seed}, {c.dtype}")
    if not run.sequence:
        return (f"{run.model.num_parameters():,} parameters; block {c.block_size}, emb {c.emb}, hidden {c.hidden}, "
                f"arch {c.arch}, norm {c.norm}, dropout {c.dropout}; {optimisation}")
    shape = {"bigram": "", "transformer": f", n_layer {c.n_layer}, n_head {c.n_head}, n_embd {c.n_embd}"}.get(
        c.arch, f", n_embd {c.n_embd}, n_embd2 {c.n_embd2}")
    extras = (f", dropout {c.dropout}" if c.dropout else "") + (f", grad clip {c.grad_clip}" if c.grad_clip else "")
    return f"{run.model.num_parameters():,} parameters; arch {c.arch}{shape}, block {c.block_size}{extras}; {optimisation}"


def _interrupted_before_training(args: argparse.Namespace, stop: list[int]) -> int:
    kept = f"; {args.resume} is unchanged" if args.resume is not None else ""
    print(f"interrupted by {signal_name(stop[0])} before training started: nothing was saved{kept}")
    return 128 + stop[0]


def _new_run(args: argparse.Namespace) -> Run:
    data = read_words(args.input or DEFAULT_DATA, max_len=args.max_len, max_bytes=args.max_bytes)
    try:
        config = get_config(args.config or "default", steps=args.steps, **_overrides(args))
    except ValueError as error:
        raise UsageError(in_flags(str(error))) from None
    if is_sequence_arch(config.arch) and config.block_size == 0:
        config.block_size = sequence_length(data.words)
    vocab = Vocab.from_words(data.words)
    try:
        parameter_count(config, len(vocab), args.max_params)
    except ValueError:
        raise UsageError(f"the config asks for a model with more than --max-params {args.max_params:,} parameters") from None
    train_words = split(data.words)[0]
    examples = len(train_words) if is_sequence_arch(config.arch) else sum(len(w) + 1 for w in train_words)
    _check_batch_size(args.batch_size is not None, config.batch_size, examples)
    run = Run.from_words(config, data, max_len=args.max_len)
    sizes = _split_sizes(data.words)
    print(f"data: {data.source} ({len(data.words):,} words; split {sizes['train']:,}/{sizes['dev']:,}/"
          f"{sizes['test']:,}; vocabulary {len(run.vocab)}: {run.vocab.chars!r})")
    return run


def _resume_run(args: argparse.Namespace) -> Run:
    run = Run.load(args.resume, max_parameters=args.max_params)
    _check_arch(args.resume, run, args)
    if _overrides(args) or args.input or args.config is not None:
        raise UsageError("--resume continues the checkpoint's own data and config; only --steps, --stop-at, "
                         "--out and output options may be given")
    if args.steps is not None and args.steps != run.config.steps:
        if args.steps < run.step:
            raise UsageError(f"--steps {args.steps} is below the checkpoint's step {run.step}")
        print(f"note: --steps changes the run length from {run.config.steps} to {args.steps}; "
              "the learning-rate schedule follows the new length", file=sys.stderr)
        run.config.steps = args.steps
        run.optimizer.schedule = make_schedule(run.config)
    print(f"resuming {args.resume} at step {run.step:,} of {run.config.steps:,}")
    return run


def _train_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """(run directory, checkpoint path): --out; else next to --resume's checkpoint; else a new numbered run."""
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunDirError(f"cannot create --out {args.out}: {error.strerror or error}") from None
        return args.out, args.out / CHECKPOINT
    if args.resume is not None:
        return args.resume.parent, args.resume
    out = new_run_dir()
    return out, out / CHECKPOINT


def _resume_command(args: argparse.Namespace, checkpoint: Path) -> str:
    """The exact command that continues this run."""
    words = ["python", "-m", "models.names", "train", "--resume", str(checkpoint)]
    if args.max_params != DEFAULT_MAX_PARAMETERS:
        words += ["--max-params", str(args.max_params)]
    if args.stop_on_divergence:
        words.append("--stop-on-divergence")
    return " ".join(shlex.quote(w) for w in words)


def _finish(args: argparse.Namespace, run: Run, out: Path, checkpoint: Path, best: Path | None,
            stop: list[int]) -> int:
    """Final evaluation, metrics.json (null for an empty split), loss curve and sampled names.

    A signal during the evaluation ends it at once (the checkpoint is complete: resuming it evaluates
    again); after it, metrics.json is still written and the curve and samples are skipped.
    """
    pause("evaluate", stop)
    t0 = time.perf_counter()
    try:
        losses = {name: _loss_or_none(run.evaluate(name, stop=stop)) for name in SPLITS}
    except Interrupted as error:
        print(f"interrupted by {signal_name(error.signum)} during the final evaluation; training is complete "
              f"(step {run.step:,}), checkpoint: {checkpoint}; metrics.json not written: "
              f"{_resume_command(args, checkpoint)} evaluates and writes it")
        return 128 + error.signum
    eval_seconds = time.perf_counter() - t0
    (out / "metrics.json").write_text(json.dumps({
        **losses, "steps": run.step, "train_seconds": run.train_seconds, "eval_seconds": eval_seconds,
        "config": run.config.to_dict(), "data": run.data_info,
    }, indent=2, allow_nan=False) + "\n")
    print(f"done: {run.step:,} steps in {run.train_seconds:.1f} s of training (+{eval_seconds:.1f} s final evaluation)")
    print("loss: " + "  ".join(f"{k} {_format_loss(v)}" for k, v in losses.items()))
    pause("plot", stop)
    if not args.no_plot and not stop:
        if importlib.util.find_spec("matplotlib") is None:
            print("loss curve: skipped (matplotlib is not installed: pip install -e '.[plot]')")
        else:
            print(f"loss curve: {run.plot(out / 'loss.png')}")
    print(f"checkpoint: {checkpoint}")
    if best is not None and best.exists() and run.dev_losses:
        i = int(np.nanargmin(run.dev_losses))
        print(f"best dev loss {run.dev_losses[i]:.4f} at step {run.dev_steps[i]:,}: {best}")
    pause("samples", stop)
    if args.samples > 0 and not stop:
        names = run.sample(args.samples, seed=run.config.seed)
        if not stop:
            print(f"{args.samples} sampled names:")
            for name in names:
                print(f"  {name}")
    if stop:
        print(f"interrupted by {signal_name(stop[0])} after the final evaluation; metrics: {out / 'metrics.json'}, "
              f"checkpoint: {checkpoint}; the remaining output was skipped")
        return 128 + stop[0]
    return 0


def _loss_or_none(loss: float) -> float | None:
    return None if math.isnan(loss) else loss


def _format_loss(loss: float | None) -> str:
    return "n/a (empty split)" if loss is None else f"{loss:.4f}"


# ----- sample, eval, graph ------------------------------------------------------------------------------
def cmd_sample(args: argparse.Namespace) -> int:
    path = _checkpoint_arg(args)
    run = Run.load(path, max_parameters=args.max_params)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    print(f"{path}: seed {seed} (--seed {seed} draws these names again)", file=sys.stderr)
    exclude = set(run.words) if args.exclude_train else None
    names = run.sample(args.num, temperature=args.temperature, seed=seed, exclude=exclude)
    for name in names:
        print(name)
    if len(names) < args.num:
        print(f"warning: only {len(names)} names not in the training data after 100 rounds", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    path = _checkpoint_arg(args)
    run = Run.load(path, max_parameters=args.max_params)
    if args.input:
        data = read_words(args.input, max_len=args.max_len, max_bytes=args.max_bytes)
        run.vocab.check(data)
        words, source = data.words, str(args.input)
    else:
        words, source = run.words, f"{run.data_info.get('source', '?')} (words stored in the checkpoint)"
    print(f"checkpoint: {path} (step {run.step:,}); data: {source}, {len(words):,} words")
    if args.split == "whole":
        parts = {"whole": words}
    else:
        parts = dict(zip(SPLITS, split(words)))
        if args.split != "all":
            parts = {args.split: parts[args.split]}
    for name, ws in parts.items():
        if not ws:
            print(f"warning: the {name} split is empty ({len(words)} words)", file=sys.stderr)
            print(f"{name:>5}: n/a (empty split)")
            continue
        X, Y = run.examples(ws)
        size = f"{int((Y != IGNORE).sum()):,} characters" if run.sequence else f"{len(X):,} examples"
        print(f"{name:>5}: loss {run.loss_on(X, Y):.4f}  ({len(ws):,} words, {size})")
    return 0


def _graph_run(args: argparse.Namespace) -> tuple[Run, Path]:
    """The run to draw and the default output directory."""
    untrained = args.config is not None or args.arch is not None
    if args.checkpoint is None and not untrained:
        try:
            args.checkpoint = latest_checkpoint()
        except RunDirError:
            print(f"note: no run under {RUNS_ROOT}; drawing an untrained default model", file=sys.stderr)
    elif args.checkpoint is not None:
        args.checkpoint = find_checkpoint(args.checkpoint)
    if args.checkpoint is not None:
        run = Run.load(args.checkpoint, max_parameters=args.max_params)
        _check_arch(args.checkpoint, run, args)
        if untrained:
            raise UsageError("give a checkpoint or --config/--arch (an untrained model), not both")
        if args.layers is not None:
            raise UsageError("--layers shapes an untrained model; a checkpoint keeps its own layers")
        return run, args.checkpoint.parent
    try:
        config = get_config(args.config or "default", steps=1, arch=args.arch)
    except ValueError as error:
        raise UsageError(in_flags(str(error))) from None
    if args.layers is not None:
        if config.arch != "transformer":
            raise UsageError("--layers applies to the transformer only")
        config.n_layer = args.layers
    return Run.from_words(config, read_words(DEFAULT_DATA)), RUNS_ROOT


def _too_large(message: str, limit: int, run: Run, args: argparse.Namespace, batch_size: int, grouped: bool) -> str:
    """viz's GraphTooLargeError in the command line's words (viz speaks of its keyword arguments),
    suggesting only the flags that would make this graph smaller."""
    count = re.search(r"has ([\d,]+) nodes", message)
    size = f"has {count.group(1)} nodes, more than" if count else "is larger than"
    # a sequence model's graph grows with its batch's longest name; an MLP's is fixed
    hints = ["--group-modules"] if not grouped and run.sequence else []
    hints += ["--batch-size 2"] if run.sequence and batch_size > 2 else []
    untrained = args.checkpoint is None
    hints += ["--layers 1"] if untrained and run.config.arch == "transformer" and run.config.n_layer > 1 else []
    hints.append(f"--max-nodes {count.group(1).replace(',', '')}" if count else "a larger --max-nodes")
    return f"graph: the graph {size} --max-nodes {limit}; try {', '.join(hints)}, or --max-nodes 0 (no limit)"


def cmd_graph(args: argparse.Namespace) -> int:
    try:
        import viz
    except ImportError as error:
        raise ValueError(f"graph: the viz package is not available ({error})") from None
    run, directory = _graph_run(args)
    out = args.out if args.out is not None else directory / ("backward.html" if args.step_through else "graph.svg")
    X, Y = run.splits()["train"]
    if len(X) == 0:
        raise ValueError("graph: the run's train split is empty")
    _check_batch_size(args.batch_size is not None, args.batch_size or 0, len(X))
    batch_size = args.batch_size or 4
    ix = np.random.default_rng(0).integers(0, len(X), batch_size)
    run.model.train()
    loss = run.batch_loss(X[ix], Y[ix])
    out.parent.mkdir(parents=True, exist_ok=True)
    source = args.checkpoint if args.checkpoint is not None else f"an untrained {run.config.arch} model"
    grouped = run.sequence if args.group_modules is None else args.group_modules
    if args.step_through:
        if out.suffix.lower() not in (".html", ".htm"):
            raise UsageError(f"--step-through writes an HTML page: give --out a path ending in .html, not {out.name!r}")
        viz.step_through(loss, out, params=run.model, collapse=grouped or None)
        print(f"step-through of the backward pass of one batch of {batch_size} from {source} "
              f"(loss {loss.item():.4f}): {out}")
        return 0
    # a grouped picture is scaled to fit a 1920 x 1080 screen
    layout = {"ranksep": "0.25", "nodesep": "0.15", "size": "20,11"} if grouped else None
    try:
        # a sequence model repeats its ops at every position: merge chains of single-input ops
        viz.render(loss, out, params=run.model, show_grad=args.show_grad, show_values=args.show_values,
                   show_rule=args.show_rule, collapse_chains=run.sequence, max_nodes=args.max_nodes or None,
                   group_modules=grouped, graph_attr=layout)
    except viz.GraphTooLargeError as error:
        raise ValueError(_too_large(str(error), args.max_nodes, run, args, batch_size, grouped)) from None
    except (viz.RendererNotFoundError, viz.RenderError) as error:
        raise ValueError(f"graph: {error} (a .dot output needs no renderer)") from None
    print(f"graph of one batch of {batch_size} from {source} (loss {loss.item():.4f}): {out}")
    return 0
