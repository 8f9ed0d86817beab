"""``python -m models.names derive``: the seed derivation's gradients against the engine's, layer by layer.

One batch of the names MLP (a checkpoint or a fresh model) goes through the engine
(``nn.Embedding``, ``nn.Linear``, ``nn.Tanh``, ``F.cross_entropy``) and through
``handwritten_backprop.py`` (plain NumPy, by hand). ``autograd_np.compare`` prints one row per
quantity of the derivation, named by its symbol. The gradients of the intermediates
(z⁽ⁱ⁾, x⁽ⁱ⁾) come from ``autograd_np.grad(loss, [...], retain_graph=True)``, the
parameters' from ``loss.backward()``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

import numpy as np

import autograd_np as ag
from autograd_np import nn
from autograd_np import Comparison
from autograd_np.functional import cross_entropy, linear

from . import handwritten_backprop as derivation
from .data import DEFAULT_DATA, read_words
from .handwritten_backprop import symbol
from .flags import NON_NEGATIVE, POSITIVE, UsageError, path, widths
from .config import get_config
from .models import build_model
from .rundir import find_checkpoint
from .train import Run

#: Exit status when the model is not one the derivation covers.
UNSUPPORTED = 2
#: what each arch is called in messages
ARCH_NAMES = {"mlp": "flat MLP", "hier": "hierarchical (WaveNet-style) MLP", "bigram": "bigram",
              "bow": "bag-of-words", "rnn": "RNN", "gru": "GRU", "transformer": "transformer"}


class UnsupportedModel(ValueError):
    """The model is not the flat tanh MLP of the derivation."""


def add_parser(sub: Any) -> None:
    d = sub.add_parser("derive", help="check the seed derivation's hand gradients against the engine, layer by layer")
    d.add_argument("checkpoint", type=path, nargs="?",
                   help="a checkpoint file or a run directory (default: a fresh model of the default config)")
    d.add_argument("--batch-size", type=POSITIVE, default=32, help="(default 32; at most the training examples)")
    d.add_argument("--seed", type=NON_NEGATIVE, default=0, help="which batch of the train split (default 0)")
    d.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="precision of both computations (a checkpoint is cast); sets the tolerance (default float64)")
    d.add_argument("--hidden", type=widths,
                   help="a fresh model's hidden widths, comma separated, e.g. 256,256 (default 200)")


def cmd_derive(args: argparse.Namespace) -> int:
    if args.checkpoint:
        if args.hidden:
            raise UsageError("--hidden is for a fresh model; a checkpoint has its own widths")
        args.checkpoint = find_checkpoint(args.checkpoint)
        run = Run.load(args.checkpoint)
        source = f"checkpoint {args.checkpoint} (step {run.step:,})"
    else:
        run = Run.from_words(get_config("default", steps=1, hidden=args.hidden), read_words(DEFAULT_DATA))
        source = f"fresh model (init seed {run.config.seed})"
    try:
        model = _cast(run, args.dtype)
        embedding, linears = flat_mlp_layers(model, run.config)
    except UnsupportedModel as error:
        print(f"derive: {error}", file=sys.stderr)
        return UNSUPPORTED

    X, Y = run.splits()["train"]
    if args.batch_size > len(X):
        raise UsageError(f"--batch-size {args.batch_size:,} is larger than the training set ({len(X):,} examples); "
                         f"give at most {len(X):,}")
    ix = np.random.default_rng(args.seed).integers(0, len(X), args.batch_size)
    X, Y = X[ix], Y[ix]
    cfg = run.config
    print(f"names MLP: block {cfg.block_size}, emb {cfg.emb}, hidden {','.join(map(str, cfg.hidden))}, "
          f"vocabulary {len(run.vocab)}; {source}")
    print(f"batch: {len(X)} examples of the train split (seed {args.seed}), {args.dtype}; "
          f"{X.size} characters read, {len(np.unique(X))} distinct (repeats add up in ∂L/∂C)")
    if cfg.dropout:
        print("note: dropout is left out (as in evaluation): the derivation has none")

    table = check(embedding, linears, X, Y)
    print(table)
    print("(∂L/∂W⁽ⁱ⁾ in the derivation's (out, in) layout; the engine's weight.grad, stored (in, out), is transposed)")
    forward = check_forward_mode(embedding, linears, X, Y)
    print("\nforward mode: the slope of L along each hand gradient g = ∂L/∂θ, by one JVP (no tape), against ‖g‖²")
    print(forward)
    return 0 if table.ok and forward.ok else 1


def check(embedding: nn.Embedding, linears: list[nn.Linear], X: np.ndarray, Y: np.ndarray) -> Comparison:
    """``compare`` of the derivation's gradients (by hand) with the engine's, for one batch."""
    engine_loss, engine = engine_gradients(embedding, linears, X, Y)
    params = derivation.Params.from_stored(
        embedding.weight.data, [lin.weight.data for lin in linears], [lin.bias.data for lin in linears]
    )
    f = derivation.forward(params, X, Y)
    manual = {"L": np.asarray(f.loss, dtype=params.C.dtype), **derivation.backward(params, f, X, Y)}
    engine = {"L": engine_loss.data, **engine}
    notes = {"L": "mean of -log probs[y] (forward)", **derivation.rules(len(linears))}
    return ag.compare(manual, engine, notes=notes)


def check_forward_mode(embedding: nn.Embedding, linears: list[nn.Linear], X: np.ndarray, Y: np.ndarray) -> Comparison:
    """Forward mode against the derivation: for each parameter θ, the JVP of L along the hand
    gradient g = ∂L/∂θ (L's slope in that direction, one forward pass carrying a tangent) must
    equal ⟨g, g⟩ = ‖g‖²."""
    params = derivation.Params.from_stored(
        embedding.weight.data, [lin.weight.data for lin in linears], [lin.bias.data for lin in linears]
    )
    _, by_hand = derivation.gradients(params, X, Y)
    stored = {symbol("C"): embedding.weight.data}
    for i, lin in enumerate(linears, start=1):
        stored[symbol("W", i)], stored[symbol("b", i)] = lin.weight.data, lin.bias.data

    def loss_with(name: str) -> Any:
        def loss(value: ag.Tensor) -> ag.Tensor:
            p = {**stored, name: value}
            x = p[symbol("C")][X].flatten(1) if name == symbol("C") else ag.Tensor(p[symbol("C")][X].reshape(len(X), -1))
            for i in range(1, len(linears) + 1):
                z = linear(x, p[symbol("W", i)], p[symbol("b", i)])
                x = z.tanh() if i < len(linears) else z
            return cross_entropy(x, Y)

        return loss

    manual, engine, notes = {}, {}, {}
    for name in reversed(stored):
        g = by_hand[name].T if name.startswith("∂L/∂W") else by_hand[name]  # W: stored (in, out)
        _, slope = ag.func.jvp(loss_with(name), (stored[name],), (g,))
        row = f"{name} · g"
        manual[row], engine[row] = np.asarray(np.sum(g * g), dtype=g.dtype), slope.data
        notes[row] = "JVP of L along g vs ‖g‖²"
    return ag.compare(manual, engine, notes=notes)


def engine_gradients(
    embedding: nn.Embedding, linears: list[nn.Linear], X: np.ndarray, Y: np.ndarray
) -> tuple[ag.Tensor, dict[str, Any]]:
    """The loss and the engine's gradient of every quantity of the derivation, by symbol.

    Parameters are Tensors (``compare`` reads their ``.grad``); the weights' gradients are
    transposed to the derivation's (out, in) layout; intermediates are arrays from ``grad``.
    """
    for p in [embedding.weight, *(t for lin in linears for t in (lin.weight, lin.bias))]:
        p.grad = None
    x = [embedding(X).flatten(1)]               # x⁽⁰⁾
    z = []
    for i, layer in enumerate(linears, start=1):
        z.append(layer(x[-1]))                  # z⁽ⁱ⁾
        if i < len(linears):
            x.append(z[-1].tanh())              # x⁽ⁱ⁾
    loss = cross_entropy(z[-1], Y)
    dz = ag.grad(loss, z, retain_graph=True)
    dx = ag.grad(loss, x, retain_graph=True)
    loss.backward()

    n = len(linears)
    found: dict[str, Any] = {}
    for i in range(n, 0, -1):
        found[symbol("z", i)] = dz[i - 1].data
        found[symbol("W", i)] = linears[i - 1].weight.grad.T
        found[symbol("b", i)] = linears[i - 1].bias
        found[symbol("x", i - 1)] = dx[i - 1].data
    found[symbol("C")] = embedding.weight
    return loss, found


def flat_mlp_layers(model: nn.Module, config: Any) -> tuple[nn.Embedding, list[nn.Linear]]:
    """The embedding and the Linear layers of a flat tanh MLP; ``UnsupportedModel`` for anything else."""
    covers = ("the derivation covers the flat MLP (--arch mlp, --norm none): embedding, flatten, "
              "Linear -> tanh layers, then a Linear output layer")
    if config.arch != "mlp":
        name = ARCH_NAMES.get(config.arch, config.arch)
        raise UnsupportedModel(f"this is the {name} ({config.arch!r}) model; {covers}")
    if config.norm != "none":
        raise UnsupportedModel(f"this model has {config.norm} norm layers; {covers}")
    layers = [layer for layer in model if not isinstance(layer, nn.Dropout)]
    kinds = [type(layer) for layer in layers]
    hidden = (len(layers) - 3) // 2
    expected = [nn.Embedding, nn.Flatten] + [nn.Linear, nn.Tanh] * hidden + [nn.Linear]
    if kinds != expected or any(layer.bias is None for layer in layers if isinstance(layer, nn.Linear)):
        raise UnsupportedModel(f"unexpected layers {[k.__name__ for k in kinds]}; {covers}")
    return layers[0], [layer for layer in layers if isinstance(layer, nn.Linear)]


def _cast(run: Run, dtype: str) -> nn.Module:
    """The run's model with its parameters in ``dtype`` (a new model: the run's is untouched)."""
    config = dataclasses.replace(run.config, dtype=dtype)
    model = build_model(config, len(run.vocab), np.random.default_rng(0))
    model.load_state_dict(run.model.state_dict())
    return model
