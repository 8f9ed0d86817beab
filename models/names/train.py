"""Training, evaluation, sampling and checkpointing of the names model.

``Run`` holds everything a training run needs to continue exactly where it
stopped: config, vocabulary, model, optimizer, the training random generator
(batches and dropout masks), the step and the loss history. Saving a Run and
loading it again gives bit-identical continued training.
"""
from __future__ import annotations

import hashlib
import math
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import autograd_np as ag
from autograd_np.functional import cross_entropy, softmax

from autograd_np import nn

from . import checkpoint as ckpt
from .data import (DEFAULT_DATA, DEFAULT_MAX_LEN, IGNORE, Vocab, Words, build_examples, build_sequences, sequence_length,
                   split, trim_padding)
from .interrupt import pause, stop_on_signals
from .config import POSITIONAL_ARCHS, Config, is_sequence_arch, make_optimizer
from .models import build_model, sequence_loss

EVAL_CHUNK = 8192
#: divergence: the mean training loss of DIVERGENCE_WINDOWS windows in a row above DIVERGENCE_FACTOR x its
#: starting value (a warning, or an error with ``stop_on_divergence``); a window is DIVERGENCE_WINDOW steps,
#: or eval_every if that is shorter, so the check never waits for a distant evaluation
DIVERGENCE_FACTOR = 10.0
DIVERGENCE_WINDOWS = 3
DIVERGENCE_WINDOW = 100


class DivergedError(FloatingPointError):
    """Training diverged; the message names the step and what happened to the checkpoint."""


class Interrupted(Exception):
    """A stop signal (its number in ``signum``) ended a long computation early (``loss_on`` with ``stop``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


class Run:
    def __init__(self, config: Config, words: list[str], vocab: Vocab | None = None, data_info: dict | None = None) -> None:
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
        self._parameters = self.model.parameters()
        self.step = 0
        self.train_losses = np.zeros(0, dtype=np.float32)
        self.dev_steps: list[int] = []
        self.dev_losses: list[float] = []
        self.train_seconds = 0.0
        self._splits: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    # ----- construction ------------------------------------------------------
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

    @classmethod
    def load(cls, path: str | Path, max_parameters: int = ckpt.DEFAULT_MAX_PARAMETERS) -> "Run":
        """Load a checkpoint, validated before anything large is allocated (see ``checkpoint.load``).

        Temporary files left next to it by interrupted saves of dead processes are removed first.
        """
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
        not finite, so the last good checkpoint at ``path`` stays. ``ckpt.CheckpointWriteError`` if the
        file system refuses (the previous file stays too)."""
        path = Path(path)
        self.check_finite(path)
        meta = {
            "vocab": self.vocab.chars,
            "config": self.config.to_dict(),
            "step": self.step,
            "optimizer": type(self.optimizer).__name__,
            "rng_state": self.rng.bit_generator.state,
            "data": self.data_info,
            "train_seconds": self.train_seconds,
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

    # ----- data --------------------------------------------------------------
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

        Every loss the trainer and the evaluation compute comes from here: the one seam where a
        subclass, or a test, changes or injects a loss value (tests inject NaN, infinity or a huge
        finite loss here to check divergence handling without depending on how BLAS overflows).
        """
        if self.sequence:
            return sequence_loss(self.model, *trim_padding(X, Y))
        return cross_entropy(self.model(X), Y)

    # ----- training ----------------------------------------------------------
    def train_step(self, X: np.ndarray, Y: np.ndarray) -> float:
        ix = self.rng.integers(0, len(X), self.config.batch_size)
        loss = self.batch_loss(X[ix], Y[ix])
        self.optimizer.zero_grad()
        loss.backward()
        if self.config.grad_clip:
            nn.clip_grad_norm(self._parameters, self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        return loss.item()

    def train(
        self,
        until: int | None = None,
        progress: bool = True,
        on_eval: Callable[[int, float], None] | None = None,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int = 0,
        stop_on_divergence: bool = False,
        stop: list[int] | None = None,
        best_path: str | Path | None = None,
    ) -> None:
        """Train up to step ``until`` (default: ``config.steps``).

        Dev loss is evaluated every ``eval_every`` steps and at ``config.steps``
        (skipped when the dev split is empty); a tqdm bar shows the running
        (exponential moving average) training loss. With ``best_path``, a
        checkpoint is saved there (through ``save``: atomic, finiteness-checked)
        whenever the dev loss is the lowest so far. SIGINT (Ctrl-C) and SIGTERM
        stop after the current step (``self.stopped_by`` holds the signal number;
        a second signal aborts at once); pass ``stop`` from an enclosing
        ``stop_on_signals()`` to catch signals that arrive outside this call.
        A non-finite loss raises ``DivergedError``; a mean training loss above
        ``DIVERGENCE_FACTOR`` x its starting value in ``DIVERGENCE_WINDOWS`` windows
        in a row (of ``min(eval_every, DIVERGENCE_WINDOW)`` steps) warns, or raises
        with ``stop_on_divergence``.
        """
        if stop is None:
            with stop_on_signals() as own:
                return self.train(until, progress, on_eval, checkpoint_path, checkpoint_every, stop_on_divergence, own,
                                  best_path)
        from tqdm.auto import tqdm

        cfg = self.config
        until = cfg.steps if until is None else min(until, cfg.steps)
        X, Y = self.splits()["train"]
        if len(X) == 0:
            raise ValueError("no training examples: the train split is empty (need at least 2 words)")
        has_dev = len(self.splits()["dev"][0]) > 0
        losses = np.zeros(max(until - self.step, 0), dtype=np.float32)
        start_step = self.step
        start_loss = float(self.train_losses[0]) if len(self.train_losses) else None
        window = min(cfg.eval_every, DIVERGENCE_WINDOW)
        window_sum, window_n, high_windows, warned = 0.0, 0, 0, False
        ema = None
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not progress, desc="train", unit="step",
                   mininterval=0.5, smoothing=0.05, dynamic_ncols=True)
        self.model.train()
        self.stopped_by = None
        t0 = time.perf_counter()
        try:
            while self.step < until and not stop:
                loss = self.train_step(X, Y)
                losses[self.step - 1 - start_step] = loss
                if not math.isfinite(loss):
                    raise DivergedError(f"training diverged at step {self.step}: loss {loss} (lower the learning "
                                        f"rate); {_kept(checkpoint_path)}")
                start_loss = loss if start_loss is None else start_loss
                window_sum, window_n = window_sum + loss, window_n + 1
                ema = loss if ema is None else 0.99 * ema + 0.01 * loss
                pause("train", stop)
                if self.step % window == 0 or self.step == cfg.steps:
                    mean = window_sum / window_n
                    window_sum, window_n = 0.0, 0
                    high_windows = high_windows + 1 if mean > DIVERGENCE_FACTOR * start_loss else 0
                    if high_windows >= DIVERGENCE_WINDOWS:
                        what = (f"the mean training loss ({mean:.4g}) has been above {DIVERGENCE_FACTOR:g}x its "
                                f"starting value ({start_loss:.4g}) in {high_windows} windows of {window} steps "
                                "in a row")
                        if stop_on_divergence:
                            raise DivergedError(f"training diverged at step {self.step}: {what}; stopped "
                                                f"(--stop-on-divergence); {_kept(checkpoint_path)}")
                        if not warned:
                            tqdm.write(f"warning: step {self.step}: {what}: training is diverging (lower the "
                                       "learning rate; --stop-on-divergence makes this an error)", file=sys.stderr)
                            warned = True
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    self.train_seconds += time.perf_counter() - t0
                    if has_dev:
                        dev = self._record_dev()
                        if best_path and dev <= min(self.dev_losses):
                            self._append_losses(losses, start_step)
                            losses, start_step = losses[self.step - start_step:], self.step
                            self.save(best_path)
                        if on_eval:
                            on_eval(self.step, dev)
                    self.model.train()
                    t0 = time.perf_counter()
                if self.step % 200 == 0 or self.step == until:
                    bar.update(self.step - bar.n)
                    post = {"loss": f"{ema:.4f}", "lr": f"{self.optimizer.lr:.2g}"}
                    if self.dev_losses:
                        post["dev"] = f"{self.dev_losses[-1]:.4f}"
                    bar.set_postfix(post, refresh=False)
                if checkpoint_path and checkpoint_every and self.step % checkpoint_every == 0 and self.step < until:
                    self.train_seconds += time.perf_counter() - t0
                    self._append_losses(losses, start_step)
                    losses, start_step = losses[self.step - start_step:], self.step
                    self.save(checkpoint_path)
                    t0 = time.perf_counter()
        finally:
            self.train_seconds += time.perf_counter() - t0
            self._append_losses(losses, start_step)
            bar.close()
        self.stopped_by = stop[0] if stop else None

    @property
    def interrupted(self) -> bool:
        """The last ``train`` call was stopped by a signal."""
        return getattr(self, "stopped_by", None) is not None

    def _append_losses(self, losses: np.ndarray, start_step: int) -> None:
        done = self.step - start_step
        self.train_losses = np.concatenate([self.train_losses, losses[:done]])

    def _record_dev(self) -> float:
        dev = self.evaluate("dev")
        self.dev_steps.append(self.step)
        self.dev_losses.append(dev)
        return dev

    # ----- evaluation and sampling ----------------------------------------------
    def loss_on(self, X: np.ndarray, Y: np.ndarray, stop: Sequence[int] | None = None) -> float:
        """Mean cross-entropy over all of (X, Y), in evaluation mode (float64 accumulation).

        For every arch this is the mean over every predicted character, the end
        token included (sequence archs: the non-padding targets). With ``stop``
        (from ``stop_on_signals``), a signal raises ``Interrupted`` between chunks.
        """
        if len(X) == 0:
            return float("nan")
        self.model.eval()
        total, count = 0.0, 0
        chunk = EVAL_CHUNK // X.shape[1] if self.sequence else EVAL_CHUNK
        with ag.no_grad():
            for i in range(0, len(X), chunk):
                if stop:
                    raise Interrupted(stop[0])
                xb, yb = X[i:i + chunk], Y[i:i + chunk]
                n = int((yb != IGNORE).sum()) if self.sequence else len(xb)
                total += self.batch_loss(xb, yb).item() * n
                count += n
        return total / count

    def evaluate(self, name: str, stop: Sequence[int] | None = None) -> float:
        """Mean loss on a split of this run's words; NaN if the split is empty."""
        return self.loss_on(*self.splits()[name], stop=stop)

    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        seed: int = 0,
        exclude: set[str] | None = None,
        max_len: int | None = None,
    ) -> list[str]:
        """``n`` names, drawn one character at a time (all ``n`` in parallel).

        A separate generator (``seed``) is used, so sampling never disturbs the
        training state. With ``exclude``, names in that set are rejected and
        drawing continues (at most 100 rounds). Names that reach ``max_len``
        characters without the end token are cut there.
        """
        if temperature <= 0:
            raise ValueError("sample: temperature must be > 0")
        rng = np.random.default_rng(seed)
        max_len = max_len or max(32, 2 * max((len(w) for w in self.words), default=16))
        out: list[str] = []
        self.model.eval()
        for _ in range(100):
            need = n - len(out)
            if need <= 0:
                break
            for name in self._sample_batch(max(need, 16) if exclude else need, temperature, rng, max_len):
                if exclude is not None and name in exclude:
                    continue
                out.append(name)
        return out[:n]

    def _next_logits(self, context: np.ndarray) -> ag.Tensor:
        if not self.sequence:
            return self.model(context)
        if self.config.arch in POSITIONAL_ARCHS:
            context = context[:, -self.config.block_size:]
        return self.model(context)[:, -1, :]

    def _sample_batch(self, n: int, temperature: float, rng: np.random.Generator, max_len: int) -> list[str]:
        # an MLP sees a sliding window; a sequence model sees everything drawn so far
        context = np.zeros((n, 1 if self.sequence else self.config.block_size), dtype=np.int64)
        chars = np.zeros((n, max_len), dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        lengths = np.full(n, max_len)
        with ag.no_grad():
            for t in range(max_len):
                probs = softmax(self._next_logits(context) * (1.0 / temperature)).numpy().astype(np.float64)
                cdf = probs.cumsum(axis=1)
                u = rng.random(n) * cdf[:, -1]
                ix = np.minimum((cdf <= u[:, None]).sum(axis=1), probs.shape[1] - 1)
                ended = (ix == 0) & ~done
                lengths[ended] = t
                done |= ix == 0
                chars[:, t] = ix
                context = np.concatenate([context if self.sequence else context[:, 1:], ix[:, None]], axis=1)
                if done.all():
                    break
        return [self.vocab.decode(chars[i, : lengths[i]]) for i in range(n)]

    # ----- reporting ---------------------------------------------------------
    def plot(self, path: str | Path) -> Path:
        """Loss curve PNG: training loss (averaged per bucket of steps) and dev loss."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5))
        losses = self.train_losses
        if len(losses):
            bucket = max(1, len(losses) // 200)
            m = len(losses) // bucket * bucket
            if m:
                means = losses[:m].reshape(-1, bucket).mean(axis=1)
                ax.plot((np.arange(len(means)) + 1) * bucket, means, label=f"train (mean of {bucket} steps)", lw=1)
        if self.dev_steps:
            ax.plot(self.dev_steps, self.dev_losses, "o-", label="dev (full split)", ms=3)
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy loss (nats)")
        ax.set_title(f"names model: {self.model.num_parameters():,} parameters")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def describe(self) -> str:
        c = self.config
        if self.sequence:
            shape = {"bigram": "", "bow": f", n_embd {c.n_embd}, n_embd2 {c.n_embd2}",
                     "rnn": f", n_embd {c.n_embd}, n_embd2 {c.n_embd2}", "gru": f", n_embd {c.n_embd}, n_embd2 {c.n_embd2}",
                     "transformer": f", n_layer {c.n_layer}, n_head {c.n_head}, n_embd {c.n_embd}"}[c.arch]
            extras = (f", dropout {c.dropout}" if c.dropout else "") + (f", grad clip {c.grad_clip}" if c.grad_clip else "")
            return (
                f"{self.model.num_parameters():,} parameters; arch {c.arch}{shape}, block {c.block_size}{extras}; "
                f"{c.optimizer} lr {c.lr} ({c.schedule}), weight decay {c.weight_decay}, batch {c.batch_size}, "
                f"{c.steps:,} steps, seed {c.seed}, {c.dtype}"
            )
        return (
            f"{self.model.num_parameters():,} parameters; block {c.block_size}, emb {c.emb}, hidden {c.hidden}, "
            f"arch {c.arch}, norm {c.norm}, dropout {c.dropout}; {c.optimizer} lr {c.lr} ({c.schedule}), "
            f"batch {c.batch_size}, {c.steps:,} steps, seed {c.seed}, {c.dtype}"
        )


def _kept(checkpoint_path: str | Path | None) -> str:
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        return f"not saved: {checkpoint_path} keeps the last good checkpoint"
    return "not saved (no earlier checkpoint exists)"
