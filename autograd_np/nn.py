"""Neural-network building blocks on the public Tensor API.

A ``Module`` finds its parameters by looking at its own attributes: a Tensor
that requires grad is a parameter, a Module is a sub-module, and a list or
tuple of Modules is a numbered group of sub-modules. Names are dotted paths
(``"layers.0.weight"``), in the order the attributes were assigned.
Non-trainable state (BatchNorm's running statistics) lives in *buffers*:
NumPy arrays declared with ``register_buffer`` and saved by ``state_dict()``.

No module writes a gradient: every forward is composed of engine ops, so
``loss.backward()`` differentiates it.

Conventions: ``Linear`` stores its weight as (in_features, out_features) and
computes ``y = x @ W + b``; normalisation layers treat the *last* axis as the
feature axis ("channels last"), so ``BatchNorm1d`` accepts (B, C) or (B, T, C).
"""
from __future__ import annotations

import functools
import sys
import weakref
from typing import Any, Iterator

import numpy as np

from . import creation, functional as F
from .capture_hook import _capture
from .grad_mode import no_grad
from .node import ModuleCall, mark_changed, module_scope
from .tensor_type import Tensor, parse_to

functional = F  # PyTorch's spelling: ``import autograd_np.nn.functional as F``
sys.modules.setdefault(__name__ + ".functional", F)

__all__ = [
    "Module", "Sequential", "Embedding", "Linear", "Tanh", "ReLU", "Flatten",
    "FlattenConsecutive", "BatchNorm1d", "LayerNorm", "Dropout",
    "Parameter", "ModuleList", "ModuleDict", "Sigmoid", "GELU", "SiLU", "LeakyReLU", "Softplus",
    "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "clip_grad_norm",
]


def _rng(rng: Any) -> np.random.Generator:
    """``rng`` as a Generator; None is the default generator that ``autograd_np.manual_seed`` seeds."""
    return creation.generator(rng)


# ----- live-module registry (read by viz for parameter names) ----------------
_LIVE_MODULES: "weakref.WeakValueDictionary[int, Module]" = weakref.WeakValueDictionary()


def root_modules() -> list["Module"]:
    """Every live Module that is no other live Module's sub-module, oldest first.

    Each Module adds itself to a weak registry when created (no cost per op, and the
    registry keeps nothing alive). ``viz.draw`` labels parameters with the names from
    ``named_parameters()`` of these. A module whose children cannot be listed (one
    whose ``__init__`` failed) is left out.
    """
    readable, children = [], set()
    for m in list(_LIVE_MODULES.values()):
        try:
            children.update(id(c) for _, c in m.named_children())
        except Exception:
            continue
        readable.append(m)
    return [m for m in readable if id(m) not in children]
# ----------------------------------------------------------------------------


class Module:
    """Base class: subclasses set attributes in ``__init__`` and define ``forward``."""

    training: bool = True

    def __new__(cls, *args: Any, **kwargs: Any) -> "Module":
        self = super().__new__(cls)
        _LIVE_MODULES[id(self)] = self  # see root_modules()
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        outer = module_scope.current  # ops recorded in forward carry this call (tensor.op_module)
        module_scope.current = ModuleCall(self, outer)
        try:
            return self.forward(*args, **kwargs)
        finally:
            module_scope.current = outer

    # ----- structure ---------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Module) for v in value):
                for i, v in enumerate(value):
                    yield f"{name}.{i}", v

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, Tensor)`` for every parameter, each shared Tensor once."""
        seen: set[int] = set()
        for mod_name, module in self.named_modules(prefix):
            for name, value in vars(module).items():
                if isinstance(value, Tensor) and value.requires_grad and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{mod_name}.{name}" if mod_name else name), value

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def register_buffer(self, name: str, array: np.ndarray) -> None:
        """Declare non-trainable state (saved by ``state_dict``, not returned by ``parameters``)."""
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, array)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, module in self.named_modules(prefix):
            for name in module.__dict__.get("_buffer_names", ()):
                yield (f"{mod_name}.{name}" if mod_name else name), getattr(module, name)

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    # ----- training helpers ----------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: None (the default), or zeros with ``set_to_none=False``."""
        from .optim import _zero_grads

        _zero_grads(self.parameters(), set_to_none)

    def train(self, mode: bool = True) -> "Module":
        """Switch this module and all sub-modules to training (or, with False, evaluation) mode."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # ----- state -------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into the existing parameters and buffers (in place: optimizers stay valid)."""
        params = dict(self.named_parameters())
        targets: dict[str, np.ndarray] = {name: p.data for name, p in params.items()}
        targets.update(dict(self.named_buffers()))
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, target in targets.items():
            if name not in state:
                continue
            value = state[name].data if isinstance(state[name], Tensor) else np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {value.shape} in the state but {target.shape} in the model"
                )
            np.copyto(target, value, casting="same_kind")
            if name in params:
                mark_changed(params[name])  # a graph recorded before must not read the new values

    def extra_repr(self) -> str:
        return ""

    # ----- device and dtype (PyTorch's spelling) -------------------------------
    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> "Module":
        """``to("cpu")`` (the only device) or ``to(dtype)``: floating-point parameters and buffers
        converted in place (create the optimizer afterwards). Returns this module."""
        dtype = parse_to(args, dtype, device)  # Tensor.to's rules
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"Module.to: only floating-point dtypes, got {dtype}")
        with no_grad():
            for p in self.parameters():
                if p.dtype != dtype:
                    grad = p.grad
                    p.data = p.data.astype(dtype)
                    p.grad = grad  # cast to the new dtype
            for module in self.modules():
                for name in module.__dict__.get("_buffer_names", ()):
                    buffer = getattr(module, name)
                    if isinstance(buffer, np.ndarray) and buffer.dtype.kind == "f" and buffer.dtype != dtype:
                        setattr(module, name, buffer.astype(dtype))
        return self

    def cpu(self) -> "Module":
        return self

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    def __repr__(self) -> str:
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Apply modules in order; sub-modules are named ``layers.0``, ``layers.1``, ..."""

    def __init__(self, *layers: Module) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for layer in layers:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: expected Modules, got {type(layer).__name__}")
        self.layers = list(layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def append(self, layer: Module) -> "Sequential":
        self.layers.append(layer)
        return self


class Embedding(Module):
    """Lookup table: ``forward(indices)`` returns ``weight[indices]`` (rows ~ N(0, 1))."""

    def __init__(self, num_embeddings: int, embedding_dim: int, *, rng: Any = None, dtype: Any = np.float32) -> None:
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        data = _rng(rng).standard_normal((self.num_embeddings, self.embedding_dim))
        self.weight = Tensor(data.astype(dtype), requires_grad=True)

    def forward(self, indices: Any) -> Tensor:
        idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: index out of range [0, {self.num_embeddings})")
        return self.weight[idx]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Linear(Module):
    """``y = x @ weight + bias`` with ``weight`` of shape (in_features, out_features).

    Weights ~ N(0, gain² / in_features) (``gain=5/3`` suits a following tanh);
    the bias starts at zero.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        gain: float = 1.0,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        self.in_features, self.out_features = int(in_features), int(out_features)
        w = _rng(rng).standard_normal((self.in_features, self.out_features)) * (gain / self.in_features**0.5)
        self.weight = Tensor(w.astype(dtype), requires_grad=True)
        self.bias = Tensor(np.zeros(self.out_features, dtype=dtype), requires_grad=True) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)  # any leading batch axes: folded into rows

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Flatten(Module):
    """Merge every axis from ``start_axis`` on into one: (B, T, C) -> (B, T*C)."""

    def __init__(self, start_axis: int = 1) -> None:
        self.start_axis = start_axis

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_axis)

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}"


class FlattenConsecutive(Module):
    """Group ``n`` consecutive positions: (B, T, C) -> (B, T/n, n*C); a (B, 1, D) result is squeezed to (B, D).

    Stacking it with Linear layers gives the hierarchical (WaveNet-style)
    fusion of a context window, two neighbours at a time.
    """

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        if t % self.n:
            raise ValueError(f"FlattenConsecutive: sequence length {t} is not divisible by {self.n}")
        x = x.reshape(b, t // self.n, c * self.n)
        return x.reshape(b, c * self.n * t // self.n) if t == self.n else x

    def extra_repr(self) -> str:
        return str(self.n)


class BatchNorm1d(Module):
    """Batch normalisation over every axis but the last (features last: (B, C) or (B, T, C)).

    Training mode normalises with the batch mean and biased variance and
    updates ``running_mean`` / ``running_var`` (unbiased) with ``momentum``;
    evaluation mode uses the running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, *, dtype: Any = np.float32) -> None:
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.weight = Tensor(np.ones(self.num_features, dtype=dtype), requires_grad=True)
        self.bias = Tensor(np.zeros(self.num_features, dtype=dtype), requires_grad=True)
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.num_features:
            raise ValueError(f"BatchNorm1d: expected {self.num_features} features in the last axis, got shape {x.shape}")
        axes = tuple(range(x.ndim - 1))
        if self.training:
            n = x.size // self.num_features
            if n < 2:
                raise ValueError("BatchNorm1d: training mode needs more than one value per feature")
            mean = x.mean(axis=axes)
            centered = x - mean
            var = (centered * centered).mean(axis=axes)
            with no_grad():
                m = self.momentum
                self.running_mean *= 1 - m
                self.running_mean += m * mean.data
                self.running_var *= 1 - m
                self.running_var += (m * n / (n - 1)) * var.data
            xhat = centered / (var + self.eps).sqrt()
        else:
            scale = 1.0 / np.sqrt(self.running_var + self.eps)
            xhat = (x - self.running_mean) * scale.astype(self.running_var.dtype)
        return xhat * self.weight + self.bias

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class LayerNorm(Module):
    """Normalise each example over its last axis, then scale and shift."""

    def __init__(self, num_features: int, eps: float = 1e-5, *, dtype: Any = np.float32) -> None:
        self.num_features, self.eps = int(num_features), float(eps)
        self.weight = Tensor(np.ones(self.num_features, dtype=dtype), requires_grad=True)
        self.bias = Tensor(np.zeros(self.num_features, dtype=dtype), requires_grad=True)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.num_features:
            raise ValueError(f"LayerNorm: expected {self.num_features} features in the last axis, got shape {x.shape}")
        centered = x - x.mean(axis=-1, keepdims=True)
        var = (centered * centered).mean(axis=-1, keepdims=True)
        return centered / (var + self.eps).sqrt() * self.weight + self.bias

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


class Dropout(Module):
    """Training mode: zero each element with probability ``p`` and scale the rest by 1/(1-p).

    The mask comes from ``rng`` (a ``numpy.random.Generator``; share the
    training generator to make runs reproducible and resumable).
    Evaluation mode (or p = 0) is the identity.
    """

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = _rng(rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ----------------------------------------------------------------------------
# PyTorch's vocabulary: Parameter, containers, activations and losses
# ----------------------------------------------------------------------------
class Parameter(Tensor):
    """A Tensor that requires grad (a float copy of ``data``): ``nn.Parameter(np.zeros(3))``.
    Any Tensor that requires grad is a parameter to ``Module``; this is the PyTorch spelling."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        data = data.data if isinstance(data, Tensor) else data
        array = np.array(data, dtype=np.result_type(np.asarray(data).dtype, np.float32) if requires_grad else None)
        super().__init__(array, requires_grad=requires_grad)


class ModuleList(Module):
    """A list of modules, registered as sub-modules ``0``, ``1``, ... (no forward of its own)."""

    def __init__(self, modules: Any = ()) -> None:
        self._items: list[Module] = []
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(module).__name__}")
        self._items.append(module)
        return self

    def extend(self, modules: Any) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self._items):
            yield str(i), m

    def __getitem__(self, index: int | slice) -> Any:
        return ModuleList(self._items[index]) if isinstance(index, slice) else self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items)


class ModuleDict(Module):
    """Modules by name, registered as sub-modules under their keys (no forward of its own)."""

    def __init__(self, modules: Any = None) -> None:
        self._items: dict[str, Module] = {}
        for key, m in (dict(modules) if modules is not None else {}).items():
            self[key] = m

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: keys are non-empty strings without '.', got {key!r}")
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: expected a Module for {key!r}, got {type(module).__name__}")
        self._items[key] = module

    def __getitem__(self, key: str) -> Module:
        return self._items[key]

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self) -> Any:
        return self._items.keys()

    def values(self) -> Any:
        return self._items.values()

    def items(self) -> Any:
        return self._items.items()

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._items.items()


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class GELU(Module):
    """``F.gelu``: exact (erf) by default, ``approximate="tanh"`` for the tanh form."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)


class Softplus(Module):
    def __init__(self, beta: float = 1.0) -> None:
        self.beta = float(beta)

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta)


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, self.reduction)


class BCELoss(_Loss):
    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    def __init__(self, ignore_index: int | None = None, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.ignore_index, self.label_smoothing = ignore_index, float(label_smoothing)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, self.ignore_index, self.label_smoothing, self.reduction)


class NLLLoss(_Loss):
    def __init__(self, ignore_index: int | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, self.ignore_index, self.reduction)


def clip_grad_norm(parameters: Any, max_norm: float) -> float:
    """Scale every ``.grad`` in place so that their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping (as ``torch.nn.utils.clip_grad_norm_``):
    with N = sqrt(Σ_p ||g_p||²), each g_p ← g_p · min(1, max_norm / (N + 1e-6)).
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be > 0, got {max_norm}")
    grads = [p.grad for p in parameters if p.grad is not None]
    # NumPy calls only, no Python branch on a value: a compiled step records them as they are.
    squares = [np.add.reduce(np.multiply(g, g), axis=None, dtype=np.float64) for g in grads]
    total = np.sqrt(functools.reduce(np.add, squares, np.zeros((), dtype=np.float64)))
    scale = np.minimum(np.divide(max_norm, np.add(total, 1e-6)), 1.0)
    for g in grads:
        np.multiply(g, scale, out=g)  # a scale of 1 leaves g as it was
    return total if _capture.tracer is not None else float(total)  # while captured: reading it stops the capture


# ----------------------------------------------------------------------------
# Convolution, pooling, 2-D batch norm and more activations (PyTorch's names, arguments and init)
# ----------------------------------------------------------------------------
def _uniform(rng: Any, shape: tuple[int, ...], fan_in: int, dtype: Any) -> Tensor:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for convolution weights and biases."""
    bound = 1.0 / fan_in**0.5 if fan_in else 0.0
    return Tensor(_rng(rng).uniform(-bound, bound, shape).astype(dtype), requires_grad=True)


class Conv2d(Module):
    """2-D convolution over (N, C, H, W): ``F.conv2d`` with weight (out_channels, in_channels/groups, kh, kw)
    and bias (out_channels,), both ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups kh kw."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, *, rng: Any = None,
                 dtype: Any = np.float32) -> None:
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels {in_channels} and out_channels {out_channels} must be divisible by "
                             f"groups {groups}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = F._pair("Conv2d", kernel_size, "kernel_size")
        self.stride, self.padding, self.dilation = stride, padding, dilation
        fan_in = self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
        rng = _rng(rng)
        self.weight = _uniform(rng, (self.out_channels, self.in_channels // self.groups) + self.kernel_size, fan_in, dtype)
        self.bias = _uniform(rng, (self.out_channels,), fan_in, dtype) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}")


class Conv1d(Conv2d):
    """1-D convolution over (N, C, L): ``F.conv1d``, weight (out_channels, in_channels/groups, k)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: Any = 0,
                 dilation: int = 1, groups: int = 1, bias: bool = True, *, rng: Any = None,
                 dtype: Any = np.float32) -> None:
        super().__init__(in_channels, out_channels, (1, int(kernel_size)), 1, 0, 1, groups, bias, rng=rng, dtype=dtype)
        self.kernel_size, self.stride, self.padding, self.dilation = (int(kernel_size),), stride, padding, dilation
        self.weight = Tensor(self.weight.data[:, :, 0], requires_grad=True)  # (O, C/groups, k)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(Module):
    """``F.conv_transpose2d`` with weight (in_channels, out_channels/groups, kh, kw), PyTorch's init
    (fan_in computed from the weight's second axis, as PyTorch does)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1, *, rng: Any = None,
                 dtype: Any = np.float32) -> None:
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = F._pair("ConvTranspose2d", kernel_size, "kernel_size")
        self.stride, self.padding, self.output_padding, self.dilation = stride, padding, output_padding, dilation
        fan_in = self.out_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
        rng = _rng(rng)
        self.weight = _uniform(rng, (self.in_channels, self.out_channels // self.groups) + self.kernel_size, fan_in, dtype)
        self.bias = _uniform(rng, (self.out_channels,), fan_in, dtype) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


class MaxPool2d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size: Any) -> None:
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class BatchNorm2d(Module):
    """Batch normalisation of (N, C, H, W) per channel (axis 1), over N, H and W: training mode uses
    the batch's mean and biased variance and updates ``running_mean``/``running_var`` (unbiased) with
    ``momentum``; evaluation mode uses the running statistics. weight = 1, bias = 0 at the start."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, *, dtype: Any = np.float32) -> None:
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.weight = Tensor(np.ones(self.num_features, dtype=dtype), requires_grad=True)
        self.bias = Tensor(np.zeros(self.num_features, dtype=dtype), requires_grad=True)
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d: expected input (N, {self.num_features}, H, W), got shape {x.shape}")
        per_channel = (-1, 1, 1)
        if self.training:
            n = x.size // self.num_features
            if n < 2:
                raise ValueError("BatchNorm2d: training mode needs more than one value per channel")
            mean = x.mean(axis=(0, 2, 3), keepdims=True)
            centered = x - mean
            var = (centered * centered).mean(axis=(0, 2, 3), keepdims=True)
            with no_grad():
                m = self.momentum
                self.running_mean *= 1 - m
                self.running_mean += m * mean.data.reshape(-1)
                self.running_var *= 1 - m
                self.running_var += (m * n / (n - 1)) * var.data.reshape(-1)
            xhat = centered / (var + self.eps).sqrt()
        else:
            scale = (1.0 / np.sqrt(self.running_var + self.eps)).astype(self.running_var.dtype)
            xhat = (x - self.running_mean.reshape(per_channel)) * scale.reshape(per_channel)
        return xhat * self.weight.reshape(per_channel) + self.bias.reshape(per_channel)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def _activation(name: str, function: Any, doc: str, *parameters: tuple[str, float]) -> type:
    """A Module class calling ``function(x, *its parameters)`` (ELU(alpha=1.0), ReLU6(), ...)."""
    def __init__(self: Module, *args: float, **kwargs: float) -> None:
        values = dict(parameters)
        values.update(zip(values, args))
        unknown = set(kwargs) - set(values)
        if unknown or len(args) > len(values):
            raise TypeError(f"{name}: takes {list(values) or 'no arguments'}, got {args} {kwargs}")
        values.update(kwargs)
        for key, value in values.items():
            setattr(self, key, float(value))

    def forward(self: Module, x: Tensor) -> Tensor:
        return function(x, *(getattr(self, key) for key, _ in parameters))

    def extra_repr(self: Module) -> str:
        return ", ".join(f"{key}={getattr(self, key)}" for key, _ in parameters)

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr, "__doc__": doc,
                                  "__module__": __name__, "__qualname__": name})


ELU = _activation("ELU", F.elu, "``F.elu``: x for x > 0, else alpha (e^x - 1).", ("alpha", 1.0))
CELU = _activation("CELU", F.celu, "``F.celu``: max(0, x) + min(0, alpha (e^(x/alpha) - 1)).", ("alpha", 1.0))
SELU = _activation("SELU", F.selu, "``F.selu``: scale elu(x, alpha) with the self-normalising constants.")
Hardtanh = _activation("Hardtanh", F.hardtanh, "``F.hardtanh``: x clipped to [min_val, max_val].",
                       ("min_val", -1.0), ("max_val", 1.0))
ReLU6 = _activation("ReLU6", F.relu6, "``F.relu6``: min(max(x, 0), 6).")
Hardswish = _activation("Hardswish", F.hardswish, "``F.hardswish``: x relu6(x + 3) / 6.")
Hardsigmoid = _activation("Hardsigmoid", F.hardsigmoid, "``F.hardsigmoid``: relu6(x + 3) / 6.")
Softsign = _activation("Softsign", F.softsign, "``F.softsign``: x / (1 + |x|).")
Mish = _activation("Mish", F.mish, "``F.mish``: x tanh(softplus(x)).")

__all__ += [
    "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d",
    "ELU", "CELU", "SELU", "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid", "Softsign", "Mish",
]
