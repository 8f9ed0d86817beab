"""The arrays a config implies, computed from the config alone (no model is built).

The checkpoint loader compares every stored array's header with this layout
before it reads any data, and caps the parameter count a config may ask for;
building the model first would allocate whatever a hostile config asks.

One layout function per architecture (``ARCH_LAYOUTS``). A new ``--arch``
adds its function here; ``tests/test_checkpoint_hostile.py`` checks every
registered architecture against ``build_model(...).state_dict()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from autograd_np import optim

from .model import Config

Shape = tuple[int, ...]


@dataclass(frozen=True)
class StateEntry:
    """One array of ``Module.state_dict()``: a parameter (trainable) or a buffer."""

    name: str
    shape: Shape
    trainable: bool = True

    @property
    def size(self) -> int:
        return prod(self.shape)


def _hidden_block(config: Config, index: int, fan_in: int, width: int, out: list[StateEntry]) -> int:
    """Linear -> [norm] -> tanh -> [dropout], as ``build_model`` stacks them; returns the next layer index."""
    out.append(StateEntry(f"layers.{index}.weight", (fan_in, width)))
    if config.norm != "batch":
        out.append(StateEntry(f"layers.{index}.bias", (width,)))
    index += 1
    if config.norm in ("batch", "layer"):
        out.append(StateEntry(f"layers.{index}.weight", (width,)))
        out.append(StateEntry(f"layers.{index}.bias", (width,)))
        if config.norm == "batch":
            out.append(StateEntry(f"layers.{index}.running_mean", (width,), trainable=False))
            out.append(StateEntry(f"layers.{index}.running_var", (width,), trainable=False))
        index += 1
    index += 1  # tanh
    if config.dropout > 0:
        index += 1
    return index


def _mlp_body(config: Config, out: list[StateEntry]) -> tuple[int, int]:
    """Flatten the whole context, then the hidden blocks. Returns (next layer index, output fan-in)."""
    index, width = 2, config.emb * config.block_size  # layers.1 is Flatten
    for h in config.hidden:
        index = _hidden_block(config, index, width, h, out)
        width = h
    return index, width


def _hier_body(config: Config, out: list[StateEntry]) -> tuple[int, int]:
    """Per level: fuse 2 neighbours (FlattenConsecutive), then a hidden block."""
    levels = config.block_size.bit_length() - 1
    widths = list(config.hidden) + [config.hidden[-1]] * (levels - len(config.hidden))
    index, width = 1, config.emb
    for h in widths[:levels]:
        index = _hidden_block(config, index + 1, 2 * width, h, out)
        width = h
    return index, width


#: arch name -> function(config, entries to append to) -> (next layer index, output fan-in)
ARCH_LAYOUTS: dict[str, Callable[[Config, list[StateEntry]], tuple[int, int]]] = {
    "mlp": _mlp_body,
    "hier": _hier_body,
}

#: optimizer name (Config.optimizer) -> its class, for buffer names and the class name stored in meta
OPTIMIZERS: dict[str, type[optim.Optimizer]] = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}


def model_layout(config: Config, vocab_size: int) -> list[StateEntry]:
    """Every ``state_dict`` entry of ``build_model(config, vocab_size)``, parameters in ``parameters()`` order."""
    if config.arch not in ARCH_LAYOUTS:
        raise ValueError(f"config: no layout for arch {config.arch!r} (known: {sorted(ARCH_LAYOUTS)})")
    entries = [StateEntry("layers.0.weight", (vocab_size, config.emb))]
    index, width = ARCH_LAYOUTS[config.arch](config, entries)
    entries.append(StateEntry(f"layers.{index}.weight", (width, vocab_size)))
    entries.append(StateEntry(f"layers.{index}.bias", (vocab_size,)))
    return entries


def parameter_count(config: Config, vocab_size: int) -> int:
    return sum(e.size for e in model_layout(config, vocab_size) if e.trainable)


def optimizer_layout(config: Config, entries: list[StateEntry]) -> dict[str, Shape]:
    """Every ``optim/state.<i>.<buffer>`` key the optimizer may hold, with its shape.

    ``i`` follows ``make_optimizer``: with weight decay, the matrices (decayed)
    come first, then the vectors.
    """
    params = [e for e in entries if e.trainable]
    if config.weight_decay:
        params = [e for e in params if len(e.shape) >= 2] + [e for e in params if len(e.shape) < 2]
    buffers = OPTIMIZERS[config.optimizer].buffers
    return {f"state.{i}.{buffer}": e.shape for i, e in enumerate(params) for buffer in buffers}
