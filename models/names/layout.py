"""The arrays a config implies, computed from the config alone (no model is built).

The checkpoint loader compares every stored array's header with this layout
before it reads any data, and caps the parameter count a config may ask for;
building the model first would allocate whatever a hostile config asks.

One layout function per architecture (``ARCH_LAYOUTS``), the MLPs' and the
model zoo's (``zoo.py``). A new ``--arch`` adds its function here;
``tests/test_checkpoint_hostile.py`` checks every registered architecture
against ``build_model(...).state_dict()``.
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


def _embedded_mlp(body: Callable[[Config, list[StateEntry]], tuple[int, int]]) -> Callable[[Config, int], list[StateEntry]]:
    """Embedding -> ``body`` -> output Linear: the MLPs' ``nn.Sequential``."""
    def layout(config: Config, vocab_size: int) -> list[StateEntry]:
        entries = [StateEntry("layers.0.weight", (vocab_size, config.emb))]
        index, width = body(config, entries)
        entries.append(StateEntry(f"layers.{index}.weight", (width, vocab_size)))
        entries.append(StateEntry(f"layers.{index}.bias", (vocab_size,)))
        return entries
    return layout


def _linear(name: str, fan_in: int, fan_out: int, bias: bool = True) -> list[StateEntry]:
    return [StateEntry(f"{name}.weight", (fan_in, fan_out))] + ([StateEntry(f"{name}.bias", (fan_out,))] if bias else [])


def _bigram(config: Config, vocab_size: int) -> list[StateEntry]:
    return [StateEntry("logits", (vocab_size, vocab_size))]


def _bow(config: Config, vocab_size: int) -> list[StateEntry]:
    e, e2 = config.n_embd, config.n_embd2
    return ([StateEntry("wte.weight", (vocab_size, e)), StateEntry("wpe.weight", (config.block_size, e))]
            + _linear("c_fc", e, e2) + _linear("c_proj", e2, e) + _linear("lm_head", e, vocab_size))


def _recurrent(config: Config, vocab_size: int) -> list[StateEntry]:
    e, e2 = config.n_embd, config.n_embd2
    entries = [StateEntry("start", (1, e2)), StateEntry("wte.weight", (vocab_size, e))]
    if config.arch == "rnn":
        entries += _linear("cell.xh_to_h", e + e2, e2)
    else:
        entries += _linear("cell.xh_to_rz", e + e2, 2 * e2) + _linear("cell.xh_to_hbar", e + e2, e2)
    return entries + _linear("lm_head", e2, vocab_size)


def _transformer(config: Config, vocab_size: int) -> list[StateEntry]:
    e = config.n_embd
    entries = [StateEntry("wte.weight", (vocab_size, e)), StateEntry("wpe.weight", (config.block_size, e))]
    for i in range(config.n_layer):
        b = f"blocks.{i}"
        entries += [StateEntry(f"{b}.ln_1.weight", (e,)), StateEntry(f"{b}.ln_1.bias", (e,))]
        entries += _linear(f"{b}.attn.c_attn", e, 3 * e) + _linear(f"{b}.attn.c_proj", e, e)
        entries += [StateEntry(f"{b}.ln_2.weight", (e,)), StateEntry(f"{b}.ln_2.bias", (e,))]
        entries += _linear(f"{b}.c_fc", e, 4 * e) + _linear(f"{b}.c_proj", 4 * e, e)
    entries += [StateEntry("ln_f.weight", (e,)), StateEntry("ln_f.bias", (e,))]
    return entries + _linear("lm_head", e, vocab_size, bias=False)


#: arch name -> function(config, vocab size) -> every state_dict entry, parameters in ``parameters()`` order
ARCH_LAYOUTS: dict[str, Callable[[Config, int], list[StateEntry]]] = {
    "mlp": _embedded_mlp(_mlp_body),
    "hier": _embedded_mlp(_hier_body),
    "bigram": _bigram,
    "bow": _bow,
    "rnn": _recurrent,
    "gru": _recurrent,
    "transformer": _transformer,
}

#: optimizer name (Config.optimizer) -> its class, for buffer names and the class name stored in meta
OPTIMIZERS: dict[str, type[optim.Optimizer]] = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}


def model_layout(config: Config, vocab_size: int) -> list[StateEntry]:
    """Every ``state_dict`` entry of ``build_model(config, vocab_size)``, parameters in ``parameters()`` order."""
    if config.arch not in ARCH_LAYOUTS:
        raise ValueError(f"config: no layout for arch {config.arch!r} (known: {sorted(ARCH_LAYOUTS)})")
    return ARCH_LAYOUTS[config.arch](config, vocab_size)


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
