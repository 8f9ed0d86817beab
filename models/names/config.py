"""What defines a run: ``Config``, the named configurations, and the optimizer and learning-rate
schedule a config asks for."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from autograd_np import nn, optim

#: makemore's sequence models (``models.py``): they read whole words, not a window of block_size characters
SEQUENCE_ARCHS = ("bigram", "bow", "rnn", "gru", "transformer")
#: archs with a position embedding: they cannot read more than block_size positions
POSITIONAL_ARCHS = ("bow", "transformer")


def is_sequence_arch(arch: str) -> bool:
    return arch in SEQUENCE_ARCHS


_NUMBER_RANGES = (
    ("lr", lambda v: v > 0, "> 0"),
    ("final_lr", lambda v: v >= 0, ">= 0"),
    ("weight_decay", lambda v: v >= 0, ">= 0"),
    ("momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("decay_at", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("decay", lambda v: v > 0, "> 0"),
    ("output_scale", lambda v: v > 0, "> 0"),
)


@dataclass
class Config:
    """Everything that defines a training run (saved in every checkpoint)."""

    # network
    block_size: int = 3          # characters of context (sequence archs: longest word + 1; 0 = set from the data)
    emb: int = 10                # embedding size per character
    hidden: list[int] = field(default_factory=lambda: [200])  # hidden layer widths
    arch: str = "mlp"            # "mlp": flatten the whole context; "hier": fuse 2 neighbours per level (WaveNet-style);
                                 # or a sequence model: bigram | bow | rnn | gru | transformer (models.py)
    norm: str = "none"           # "none" | "batch" | "layer", after each hidden Linear
    dropout: float = 0.0         # after each hidden tanh
    output_scale: float = 0.01   # output layer weights x this at init (confident-but-wrong logits avoided)
    # sequence models (makemore's names): layers, heads, embedding width, hidden width (bow, rnn, gru)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64
    n_embd2: int = 64
    # optimisation
    batch_size: int = 32
    steps: int = 200_000
    optimizer: str = "sgd"       # "sgd" | "adam" | "adamw"
    lr: float = 0.1              # peak / initial learning rate
    momentum: float = 0.0        # SGD only
    weight_decay: float = 0.0    # applied to weight matrices only (not biases, norm gains)
    schedule: str = "step"       # "step" | "cosine" | "constant"
    decay_at: float = 0.5        # step: fraction of `steps` after which lr is multiplied by `decay`
    decay: float = 0.1
    warmup: float = 0.0          # cosine: fraction of `steps` spent in linear warmup
    final_lr: float = 0.0        # cosine: lr reached at the last step
    beta2: float = 0.999         # Adam/AdamW second-moment decay
    grad_clip: float = 0.0       # > 0: clip the global gradient norm to this before each step
    # run
    seed: int = 42
    dtype: str = "float32"
    eval_every: int = 10_000     # dev loss every this many steps
    keep_best: bool = False      # also save the checkpoint with the best dev loss (best.safetensors)

    def validate(self) -> "Config":
        if self.arch not in ARCHS:
            raise ValueError(f"config: arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if is_sequence_arch(self.arch):
            if self.block_size < 0:
                raise ValueError("config: block_size must be >= 0 (0: the longest word + 1, from the data)")
            if min(self.n_layer, self.n_head, self.n_embd, self.n_embd2) < 1:
                raise ValueError("config: n_layer, n_head, n_embd and n_embd2 must be >= 1")
            if self.arch == "transformer" and self.n_embd % self.n_head:
                raise ValueError(f"config: n_head {self.n_head} does not divide n_embd {self.n_embd} "
                                 "(each head gets n_embd / n_head dimensions)")
            if self.norm != "none":
                raise ValueError(f"config: norm applies to the MLP archs only, not to arch {self.arch!r}")
        elif self.block_size < 1 or self.emb < 1 or not self.hidden or min(self.hidden) < 1:
            raise ValueError("config: block_size, emb and every hidden width must be >= 1")
        if self.arch == "hier" and (self.block_size & (self.block_size - 1) or self.block_size < 2):
            raise ValueError("config: arch 'hier' needs block_size a power of two >= 2")
        if not 0.0 < self.beta2 < 1.0:
            raise ValueError("config: beta2 must be in (0, 1)")
        if self.grad_clip < 0:
            raise ValueError("config: grad_clip must be >= 0 (0: no clipping)")
        if self.norm not in ("none", "batch", "layer"):
            raise ValueError(f"config: norm must be none, batch or layer, got {self.norm!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("config: dropout must be in [0, 1)")
        if self.batch_size < 1 or self.steps < 1:
            raise ValueError("config: batch_size and steps must be >= 1")
        if self.norm == "batch" and self.batch_size < 2:
            raise ValueError("config: batch norm needs batch_size >= 2")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"config: optimizer must be sgd, adam or adamw, got {self.optimizer!r}")
        if self.schedule not in ("step", "cosine", "constant"):
            raise ValueError(f"config: schedule must be step, cosine or constant, got {self.schedule!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError("config: warmup is a fraction of the steps, in [0, 1)")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"config: dtype must be float32 or float64, got {self.dtype!r}")
        if self.eval_every < 1:
            raise ValueError("config: eval_every must be >= 1")
        for name, in_range, expected in _NUMBER_RANGES:
            value = getattr(self, name)
            if not math.isfinite(value) or not in_range(value):
                raise ValueError(f"config: {name} must be a finite number {expected}, got {value}")
        if self.seed < 0:
            raise ValueError("config: seed must be >= 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)}")
        return cls(**d).validate()


#: Named configurations (``--config NAME``).
CONFIGS: dict[str, dict[str, Any]] = {
    # The lecture's MLP (Bengio et al. 2003 as in makemore part 3).
    "default": {},
    # A stronger model: 8 characters of context fused two at a time (WaveNet-style hierarchy,
    # 3 levels of 128 units), BatchNorm, dropout 0.1, AdamW with 2% warmup then cosine decay,
    # batch 128. Chosen from short runs on the standard split (see benchmarks/names_quality.py).
    "large": dict(
        block_size=8, emb=24, hidden=[128], arch="hier", norm="batch", dropout=0.1,
        batch_size=128, steps=200_000, optimizer="adamw", lr=3e-3, weight_decay=0.1,
        schedule="cosine", warmup=0.02, final_lr=3e-5, eval_every=10_000,
    ),
}

# makemore's defaults for its sequence models (makemore.py): n_layer 4, n_head 4, n_embd 64,
# n_embd2 64, AdamW lr 5e-4, weight decay 0.01, betas (0.9, 0.99), constant lr, batch 32.
_MAKEMORE = dict(
    block_size=0, n_layer=4, n_head=4, n_embd=64, n_embd2=64, batch_size=32, steps=10_000,
    optimizer="adamw", lr=5e-4, weight_decay=0.01, beta2=0.99, schedule="constant", eval_every=1_000,
)
for _arch in SEQUENCE_ARCHS:
    CONFIGS[_arch] = dict(_MAKEMORE, arch=_arch)
# A regularised transformer: dropout on embeddings, attention probabilities and residual
# branches; AdamW 2e-3 with weight decay 0.1 on matrices, batch 64, 200 warmup steps then
# cosine decay to 10%, gradient clipping at 1.0; keeps the best-dev checkpoint.
CONFIGS["transformer-reg"] = dict(
    _MAKEMORE, arch="transformer", dropout=0.1, batch_size=64, steps=20_000, lr=2e-3, weight_decay=0.1,
    schedule="cosine", warmup=0.01, final_lr=2e-4, grad_clip=1.0, eval_every=500, keep_best=True,
)

ARCHS = ("mlp", "hier") + SEQUENCE_ARCHS


def get_config(name: str, **overrides: Any) -> Config:
    """The named config with ``overrides`` (None values ignored) applied, validated.

    A sequence arch given with the ``default`` config starts from its own config
    (``get_config("default", arch="gru")`` is ``get_config("gru")``). An
    architecture option the arch does not read is an error (``block_size``, ``emb``,
    ``hidden``, ``norm`` are the MLPs'; ``n_embd`` and ``n_embd2`` bow/rnn/gru's;
    ``n_layer``, ``n_head``, ``n_embd`` the transformer's; ``dropout`` the MLPs' and
    the transformer's), as is a named config of the other family.
    """
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose from {sorted(CONFIGS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    arch = given.get("arch")
    if name == "default" and arch in SEQUENCE_ARCHS:
        name = arch
    base_arch = CONFIGS[name].get("arch", "mlp")
    arch = arch or base_arch
    if is_sequence_arch(arch) != is_sequence_arch(base_arch):
        raise ValueError(f"config {name!r} is for arch {base_arch!r}, not {arch!r}; use --config "
                         f"{arch if arch in CONFIGS else 'default'} (or leave --config out)")
    wrong = sorted(set(given) & (_MLP_ONLY | _SEQUENCE_ONLY | {"dropout"}) - _APPLIES[arch])
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        why = (" (a sequence model reads whole words: its block size is the longest word + 1)"
               if "block_size" in wrong else "")
        raise ValueError(f"{flags} {'does' if len(wrong) == 1 else 'do'} not apply to arch {arch!r}{why}")
    values = {**Config().to_dict(), **CONFIGS[name]}
    values.update(given)
    return Config.from_dict(values)


_MLP_ONLY = {"block_size", "emb", "hidden", "norm"}
_SEQUENCE_ONLY = {"n_layer", "n_head", "n_embd", "n_embd2"}
#: the architecture options each arch reads (dropout included: the others have nowhere to put it)
_APPLIES = {
    "mlp": _MLP_ONLY | {"dropout"}, "hier": _MLP_ONLY | {"dropout"}, "bigram": set(),
    "bow": {"n_embd", "n_embd2"}, "rnn": {"n_embd", "n_embd2"}, "gru": {"n_embd", "n_embd2"},
    "transformer": {"n_layer", "n_head", "n_embd", "dropout"},
}


def make_schedule(config: Config) -> Any:
    """The learning rate at each step, as ``config.schedule`` says."""
    if config.schedule == "constant":
        return optim.Constant(config.lr)
    if config.schedule == "step":
        return optim.StepDecay([int(config.decay_at * config.steps)], [config.lr, config.lr * config.decay])
    return optim.Cosine(config.lr, config.steps, warmup_steps=int(config.warmup * config.steps), final_lr=config.final_lr)


def make_optimizer(config: Config, model: nn.Module) -> optim.Optimizer:
    """``config.optimizer`` over the model's parameters; with weight decay, the matrices (decayed) come first."""
    schedule = make_schedule(config)
    params = model.parameters()
    if config.weight_decay:
        decay = [p for p in params if p.ndim >= 2]
        other = [p for p in params if p.ndim < 2]
        groups: list[Any] = [{"params": decay, "weight_decay": config.weight_decay}]
        if other:
            groups.append({"params": other, "weight_decay": 0.0})
    else:
        groups = params
    if config.optimizer == "sgd":
        return optim.SGD(groups, schedule, momentum=config.momentum, weight_decay=config.weight_decay)
    cls = optim.AdamW if config.optimizer == "adamw" else optim.Adam
    return cls(groups, schedule, betas=(0.9, config.beta2), weight_decay=config.weight_decay)
