"""Training: a run's state (``Run``) and the loop that advances it (``train``).

``Run`` holds everything a run needs to continue exactly where it stopped: config, vocabulary,
words, model, optimizer, the training generator (batches and dropout masks), the step and the loss
history. Saving a Run and loading it again gives bit-identical continued training. ``train`` is
makemore's loop: for each step, a batch, forward, loss, backward, update; now and then evaluate,
report, save. Evaluation, sampling, checkpoints, signals and the loss plot are modules of their own
(``evaluate``, ``sample``, ``checkpoint``, ``interrupt``, ``plot``).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

import autograd_np as ag
from autograd_np import nn
from autograd_np.functional import cross_entropy

from . import checkpoint as ckpt
from .config import POSITIONAL_ARCHS, Config, is_sequence_arch, make_optimizer
from .data import (DEFAULT_DATA, DEFAULT_MAX_LEN, Vocab, Words, build_examples, build_sequences, sequence_length,
                   split, trim_padding)
from .evaluate import loss_on
from .interrupt import pause, stop_on_signals
from .models import build_model, sequence_loss
from .plot import plot_losses
from .sample import sample

#: divergence: the mean training loss of DIVERGENCE_WINDOWS windows in a row above DIVERGENCE_FACTOR x its
#: starting value (a warning, or an error with ``stop_on_divergence``); a window is DIVERGENCE_WINDOW steps,
#: or eval_every if that is shorter, so the check never waits for a distant evaluation
DIVERGENCE_FACTOR = 10.0
DIVERGENCE_WINDOWS = 3
DIVERGENCE_WINDOW = 100


class DivergedError(FloatingPointError):
    """Training diverged; the message names the step and what happened to the checkpoint."""


class Run:
    """The state of one training run, and the operations on it (each a function of its own module)."""

    def __init__(self, config: Config, words: list[str], vocab: Vocab | None = None,
                 data_info: dict | None = None) -> None:
        self.config = config.validate()
        self.words = list(words)
        self.vocab = vocab or Vocab.from_words(self.words)
        self.sequence = is_sequence_arch(config.arch)
        if self.sequence and config.block_size == 0:
            config.block_size = sequence_length(self.words)
        self.data_info = dict(data_info or {})
        self.rng = np.random.default_rng(config.seed)
        self.model = build_model(config, len(self.vocab), self.rng)
        self.optimizer = make_optimizer(config, self.model)
        self.step = 0
        self.train_losses = np.zeros(0, dtype=np.float32)
        self.dev_steps: list[int] = []
        self.dev_losses: list[float] = []
        self.train_seconds = 0.0
        self.stopped_by: int | None = None
        self.use_compile = True  # train through autograd_np.compile when the config allows (cli: --no-compile)
        self._compiled: Callable | None = None
        self._splits: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    @classmethod
    def from_words(cls, config: Config, data: Words, max_len: int = DEFAULT_MAX_LEN) -> "Run":
        raw = "\n".join(data.words).encode("utf-8")
        info = {
            "source": str(data.source),
            "default": Path(data.source).resolve() == DEFAULT_DATA,
            "n_words": len(data.words),
            "sha256_words": hashlib.sha256(raw).hexdigest(),
            "max_len": max(max_len, max((len(w) for w in data.words), default=0)),
        }
        return cls(config, data.words, data_info=info)

    # ----- checkpoints (checkpoint.py) ----------------------------------------
    @classmethod
    def load(cls, path: str | Path, max_parameters: int = ckpt.DEFAULT_MAX_PARAMETERS) -> "Run":
        """Load a checkpoint, validated before anything large is allocated (``checkpoint.load``);
        temporary files left next to it by interrupted saves of dead processes are removed first."""
        ckpt.remove_stale_temps(path)
        checked = ckpt.load(path, max_parameters)
        arrays = checked.arrays
        try:
            run = cls(checked.config, checked.words, checked.vocab, checked.meta["data"])
            run.model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
            run.optimizer.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("optim/")})
            run.rng.bit_generator.state = checked.meta["rng_state"]
        except (KeyError, ValueError, TypeError) as error:
            raise ckpt.CheckpointError(f"{path}: inconsistent checkpoint ({type(error).__name__}: {error})") from None
        run.step = checked.meta["step"]
        run.train_losses = np.array(arrays["history/train_loss"], dtype=np.float32)
        run.dev_steps = [int(s) for s in arrays["history/dev_step"]]
        run.dev_losses = [float(v) for v in arrays["history/dev_loss"]]
        run.train_seconds = float(checked.meta["train_seconds"])
        return run

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically; refuses (``DivergedError``) a model or optimizer state that is
        not finite, so the last good checkpoint at ``path`` stays. ``CheckpointWriteError`` if the file
        system refuses (the previous file stays too)."""
        path = Path(path)
        self.check_finite(path)
        meta = {
            "config": self.config.to_dict(), "vocab": self.vocab.chars, "step": self.step,
            "optimizer": type(self.optimizer).__name__, "rng_state": self.rng.bit_generator.state,
            "data": self.data_info, "train_seconds": self.train_seconds,
        }
        arrays: dict[str, np.ndarray] = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        arrays["history/train_loss"] = self.train_losses
        arrays["history/dev_step"] = np.asarray(self.dev_steps, dtype=np.int64)
        arrays["history/dev_loss"] = np.asarray(self.dev_losses, dtype=np.float64)
        arrays["data/words"] = ckpt.words_to_array(self.words)
        return ckpt.save(path, meta, arrays)

    def check_finite(self, checkpoint_path: str | Path | None = None) -> None:
        """``DivergedError`` naming the step and the first parameter or optimizer buffer with NaN or infinity."""
        named = [(f"model state {k}", v) for k, v in self.model.state_dict().items()]
        named += [(f"optimizer state {k}", v) for k, v in self.optimizer.state_dict().items()]
        for name, value in named:
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise DivergedError(f"training diverged at or before step {self.step}: {name} is not finite "
                                    f"(lower the learning rate); {_kept(checkpoint_path)}")

    # ----- data and loss --------------------------------------------------------
    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(X, Y) of the standard train/dev/test split of this run's words."""
        if self._splits is None:
            parts = split(self.words)
            self._splits = {name: self.examples(ws) for name, ws in zip(("train", "dev", "test"), parts)}
        return self._splits

    def examples(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(X, Y) of ``words`` for this model: context windows (MLP) or padded whole words (sequence archs)."""
        if self.sequence:
            block = self.config.block_size
            if self.config.arch not in POSITIONAL_ARCHS:  # a recurrence reads words of any length
                block = max(block, sequence_length(words))
            return build_sequences(words, self.vocab, block)
        return build_examples(words, self.vocab, self.config.block_size)

    def batch_loss(self, X: np.ndarray, Y: np.ndarray) -> ag.Tensor:
        """Mean cross-entropy of a batch: per example (MLP) or per real character (sequence archs).

        Every loss training and evaluation compute comes from here: the one seam where a subclass, or a
        test, changes or injects a loss (tests inject NaN, infinity or a huge finite loss to check the
        divergence handling without depending on how BLAS overflows).
        """
        if self.sequence:
            return sequence_loss(self.model, *trim_padding(X, Y))
        return cross_entropy(self.model(X), Y)

    # ----- the other modules' operations, as methods --------------------------------
    def train(self, until: int | None = None, progress: bool = True, on_eval: Callable[[int, float], None] | None = None,
              checkpoint_path: str | Path | None = None, checkpoint_every: int = 0, stop_on_divergence: bool = False,
              stop: list[int] | None = None, best_path: str | Path | None = None) -> None:
        """``train(self, ...)``."""
        train(self, until, progress=progress, on_eval=on_eval, checkpoint_path=checkpoint_path,
              checkpoint_every=checkpoint_every, stop_on_divergence=stop_on_divergence, stop=stop, best_path=best_path)

    def loss_on(self, X: np.ndarray, Y: np.ndarray, stop: Sequence[int] | None = None) -> float:
        """``evaluate.loss_on``."""
        return loss_on(self, X, Y, stop)

    def evaluate(self, name: str, stop: Sequence[int] | None = None) -> float:
        """Mean loss on a split (train, dev, test) of this run's words; NaN if the split is empty."""
        return loss_on(self, *self.splits()[name], stop=stop)

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0, exclude: set[str] | None = None,
               max_len: int | None = None) -> list[str]:
        """``sample.sample``."""
        return sample(self, n, temperature, seed, exclude, max_len)

    def plot(self, path: str | Path) -> Path:
        """``plot.plot_losses``."""
        return plot_losses(self, path)

    @property
    def interrupted(self) -> bool:
        """The last ``train`` call was stopped by a signal."""
        return self.stopped_by is not None


# ----- the training loop ---------------------------------------------------------------------------
def train(run: Run, until: int | None = None, *, progress: bool = True,
          on_eval: Callable[[int, float], None] | None = None, checkpoint_path: str | Path | None = None,
          checkpoint_every: int = 0, stop_on_divergence: bool = False, stop: list[int] | None = None,
          best_path: str | Path | None = None) -> None:
    """Train ``run`` up to step ``until`` (default: ``config.steps``).

    The dev loss is evaluated every ``eval_every`` steps and at ``config.steps`` (unless the dev split
    is empty); with ``best_path``, the run is saved there whenever that is the lowest so far. With
    ``checkpoint_path``, it is saved every ``checkpoint_every`` steps. SIGINT and SIGTERM stop after the
    current step (``run.stopped_by`` holds the signal; a second one aborts at once); pass ``stop`` from
    an enclosing ``stop_on_signals()`` to catch signals that arrive outside this call. Divergence:
    see ``_Divergence``.
    """
    if stop is None:
        with stop_on_signals() as own:
            return train(run, until, progress=progress, on_eval=on_eval, checkpoint_path=checkpoint_path,
                         checkpoint_every=checkpoint_every, stop_on_divergence=stop_on_divergence, stop=own,
                         best_path=best_path)
    cfg = run.config
    until = cfg.steps if until is None else min(until, cfg.steps)
    X, Y = run.splits()["train"]
    if len(X) == 0:
        raise ValueError("no training examples: the train split is empty (need at least 2 words)")
    has_dev = len(run.splits()["dev"][0]) > 0
    losses = _Losses(run, until - run.step)
    divergence = _Divergence(run, stop_on_divergence, checkpoint_path)
    bar = _Progress(run, until, progress)
    clock = _Clock(run)
    run.model.train()
    run.stopped_by = None
    try:
        while run.step < until and not stop:
            loss = train_step(run, X, Y)
            losses.add(loss)
            divergence.check(loss)
            pause("train", stop)
            if run.step % cfg.eval_every == 0 or run.step == cfg.steps:
                with clock.paused():
                    if has_dev:
                        dev = run.evaluate("dev")
                        run.dev_steps.append(run.step)
                        run.dev_losses.append(dev)
                        if best_path and dev <= min(run.dev_losses):
                            losses.flush()
                            run.save(best_path)
                        if on_eval:
                            on_eval(run.step, dev)
                    run.model.train()
            bar.update(loss)
            if checkpoint_path and checkpoint_every and run.step % checkpoint_every == 0 and run.step < until:
                with clock.paused():
                    losses.flush()
                    run.save(checkpoint_path)
    finally:
        clock.stop()
        losses.flush()
        bar.close()
    run.stopped_by = stop[0] if stop else None


def train_step(run: Run, X: np.ndarray, Y: np.ndarray) -> float:
    """One step: a random batch, forward, loss, backward, (clip,) update. Returns the batch loss.

    The batch is drawn (and, for the sequence archs, trimmed of padding-only columns) here; the rest
    runs through ``autograd_np.compile`` when ``compile_blocker`` finds nothing against it (the same
    losses as eager, within float32 rounding: compile checks its capture against eager)."""
    ix = run.rng.integers(0, len(X), run.config.batch_size)
    Xb, Yb = X[ix], Y[ix]
    if run.sequence:  # contiguous: a compiled step reshapes the targets as views of its arguments
        Xb, Yb = (np.ascontiguousarray(a) for a in trim_padding(Xb, Yb))
    if run._compiled is None:
        blocker = compile_blocker(run.config, run) if run.use_compile else "--no-compile"
        run._compiled = functools.partial(update, run)
        if blocker is None:
            run._compiled = ag.compile(run._compiled, max_captures=64)
    loss = run._compiled(Xb, Yb)
    run.step += 1
    return loss.item()


_BATCH_LOSS = Run.batch_loss


def update(run: Run, Xb: np.ndarray, Yb: np.ndarray) -> ag.Tensor:
    """Forward, loss, backward, (clip,) optimizer step on one batch: the step ``compile`` captures.
    The batch comes trimmed (``train_step``): ``Run.batch_loss`` as it is, less the trimming (which
    would read the batch's values inside the step)."""
    if type(run).batch_loss is _BATCH_LOSS:
        loss = sequence_loss(run.model, Xb, Yb) if run.sequence else cross_entropy(run.model(Xb), Yb)
    else:
        loss = run.batch_loss(Xb, Yb)
    run.optimizer.zero_grad()
    loss.backward()
    if run.config.grad_clip:
        nn.clip_grad_norm(run.model.parameters(), run.config.grad_clip)
    run.optimizer.step()
    return loss


def compile_blocker(config: Config, run: Run | None = None) -> str | None:
    """Why a config's step is not compiled (None: it is): what the step does that compile would
    refuse (it would fall back to eager after a warning) is not tried at all; nor is a ``batch_loss``
    replaced (the seam tests inject losses through), which may branch on Python state (the step
    count, say) that a compiled program cannot see."""
    if run is not None and (type(run) is not Run or Run.batch_loss is not _BATCH_LOSS):
        return "Run.batch_loss is replaced"
    if config.norm == "batch":
        return "BatchNorm updates its running statistics outside the ops"
    return None


class _Losses:
    """This call's per-step training losses; ``flush`` appends the new ones to ``run.train_losses``
    (before every save, so a checkpoint holds its whole history)."""

    def __init__(self, run: Run, steps: int) -> None:
        self.run, self.buffer, self.n, self.flushed = run, np.zeros(max(steps, 0), dtype=np.float32), 0, 0

    def add(self, loss: float) -> None:
        self.buffer[self.n] = loss
        self.n += 1

    def flush(self) -> None:
        self.run.train_losses = np.concatenate([self.run.train_losses, self.buffer[self.flushed:self.n]])
        self.flushed = self.n


class _Divergence:
    """A non-finite loss raises ``DivergedError`` at once. A mean training loss above ``DIVERGENCE_FACTOR``
    x its starting value in ``DIVERGENCE_WINDOWS`` windows in a row (of ``min(eval_every,
    DIVERGENCE_WINDOW)`` steps) warns once, or raises with ``stop_on_divergence``."""

    def __init__(self, run: Run, stop_on_divergence: bool, checkpoint_path: str | Path | None) -> None:
        self.run, self.stop, self.checkpoint_path = run, stop_on_divergence, checkpoint_path
        self.start = float(run.train_losses[0]) if len(run.train_losses) else None
        self.window = min(run.config.eval_every, DIVERGENCE_WINDOW)
        self.sum, self.n, self.high, self.warned = 0.0, 0, 0, False

    def check(self, loss: float) -> None:
        step = self.run.step
        if not math.isfinite(loss):
            raise DivergedError(f"training diverged at step {step}: loss {loss} (lower the learning rate); "
                                f"{_kept(self.checkpoint_path)}")
        self.start = loss if self.start is None else self.start
        self.sum, self.n = self.sum + loss, self.n + 1
        if step % self.window and step != self.run.config.steps:
            return
        mean = self.sum / self.n
        self.sum, self.n = 0.0, 0
        self.high = self.high + 1 if mean > DIVERGENCE_FACTOR * self.start else 0
        if self.high < DIVERGENCE_WINDOWS:
            return
        what = (f"the mean training loss ({mean:.4g}) has been above {DIVERGENCE_FACTOR:g}x its starting value "
                f"({self.start:.4g}) in {self.high} windows of {self.window} steps in a row")
        if self.stop:
            raise DivergedError(f"training diverged at step {step}: {what}; stopped (--stop-on-divergence); "
                                f"{_kept(self.checkpoint_path)}")
        if not self.warned:
            from tqdm.auto import tqdm

            tqdm.write(f"warning: step {step}: {what}: training is diverging (lower the learning rate; "
                       "--stop-on-divergence makes this an error)", file=sys.stderr)
            self.warned = True


class _Progress:
    """A tqdm bar with the running (exponential moving average) training loss, the learning rate and the
    last dev loss, refreshed every 200 steps."""

    def __init__(self, run: Run, until: int, show: bool) -> None:
        from tqdm.auto import tqdm

        self.run, self.until, self.ema = run, until, None
        self.bar = tqdm(total=run.config.steps, initial=run.step, disable=not show, desc="train", unit="step",
                        mininterval=0.5, smoothing=0.05, dynamic_ncols=True)

    def update(self, loss: float) -> None:
        self.ema = loss if self.ema is None else 0.99 * self.ema + 0.01 * loss
        run = self.run
        if run.step % 200 == 0 or run.step == self.until:
            self.bar.update(run.step - self.bar.n)
            post = {"loss": f"{self.ema:.4f}", "lr": f"{run.optimizer.lr:.2g}"}
            if run.dev_losses:
                post["dev"] = f"{run.dev_losses[-1]:.4f}"
            self.bar.set_postfix(post, refresh=False)

    def close(self) -> None:
        self.bar.close()


class _Clock:
    """Adds the training time to ``run.train_seconds``, leaving out evaluation and saving."""

    def __init__(self, run: Run) -> None:
        self.run, self.t0 = run, time.perf_counter()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.stop()
        yield
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        self.run.train_seconds += time.perf_counter() - self.t0


def _kept(checkpoint_path: str | Path | None) -> str:
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        return f"not saved: {checkpoint_path} keeps the last good checkpoint"
    return "not saved (no earlier checkpoint exists)"
