"""Optimizers and learning-rate schedules.

Every optimizer updates ``p.data`` in place from ``p.grad`` under ``no_grad()``;
nothing here is differentiated. ``lr`` is a number or a *schedule*: any
callable ``schedule(step) -> lr`` of the 0-based step count (``StepDecay``,
``Cosine``, ``Constant`` below, or your own function).

``params`` is an iterable of Tensors, or of dicts ``{"params": [...],
"weight_decay": ...}`` (parameter groups; a group's keys override the
optimizer's defaults, e.g. no weight decay on biases).

``state_dict()`` returns plain NumPy arrays only (``"step"`` and one entry
per buffer: ``"state.<i>.<buffer>"``, i = position of the parameter in
``params``), so a checkpoint can store it with ``np.savez``.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Callable, Iterable

import numpy as np

from .grad_mode import no_grad
from .tensor_type import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Constant", "StepDecay", "Cosine"]


# ----------------------------------------------------------------------------
# Learning-rate schedules: callables step -> lr
# ----------------------------------------------------------------------------
class Constant:
    def __init__(self, lr: float) -> None:
        self.lr = float(lr)

    def __call__(self, step: int) -> float:
        return self.lr

    def __repr__(self) -> str:
        return f"Constant({self.lr})"


class StepDecay:
    """Piecewise constant: ``values[0]`` before ``boundaries[0]``, ``values[1]`` from it on, ...

    ``StepDecay([100_000], [0.1, 0.01])``: lr 0.1 for steps 0..99,999, then 0.01.
    """

    def __init__(self, boundaries: Iterable[int], values: Iterable[float]) -> None:
        self.boundaries = [int(b) for b in boundaries]
        self.values = [float(v) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError("StepDecay: need exactly one more value than boundaries")
        if self.boundaries != sorted(self.boundaries):
            raise ValueError("StepDecay: boundaries must be increasing")

    def __call__(self, step: int) -> float:
        return self.values[bisect.bisect_right(self.boundaries, step)]

    def __repr__(self) -> str:
        return f"StepDecay({self.boundaries}, {self.values})"


class Cosine:
    """Linear warmup from ``peak_lr / warmup_steps`` to ``peak_lr`` over ``warmup_steps``,
    then a half cosine down to ``final_lr`` at ``total_steps`` (and ``final_lr`` after)."""

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int = 0, final_lr: float = 0.0) -> None:
        if total_steps <= warmup_steps:
            raise ValueError("Cosine: total_steps must exceed warmup_steps")
        self.peak_lr, self.final_lr = float(peak_lr), float(final_lr)
        self.total_steps, self.warmup_steps = int(total_steps), int(warmup_steps)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.final_lr + 0.5 * (self.peak_lr - self.final_lr) * (1.0 + math.cos(math.pi * progress))

    def __repr__(self) -> str:
        return f"Cosine(peak_lr={self.peak_lr}, total_steps={self.total_steps}, warmup_steps={self.warmup_steps}, final_lr={self.final_lr})"


# ----------------------------------------------------------------------------
# Optimizers
# ----------------------------------------------------------------------------
class Optimizer:
    #: names of the per-parameter buffers (created lazily, saved by state_dict)
    buffers: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], lr: float | Callable[[int], float], defaults: dict[str, Any]) -> None:
        self.schedule: Callable[[int], float] = lr if callable(lr) else Constant(lr)
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if all(isinstance(p, dict) for p in params):
            groups = params
        else:
            groups = [{"params": params}]
        seen: set[int] = set()
        for group in groups:
            group = {**self.defaults, **group, "params": list(group["params"])}
            unknown = set(group) - set(self.defaults) - {"params"}
            if unknown:
                raise ValueError(f"{type(self).__name__}: unknown group options {sorted(unknown)}")
            for p in group["params"]:
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise TypeError(f"{type(self).__name__}: parameters must be Tensors that require grad")
                if id(p) in seen:
                    raise ValueError(f"{type(self).__name__}: a parameter appears twice")
                seen.add(id(p))
            self.param_groups.append(group)
        self.step_count = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self._params()]

    def _params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def lr(self) -> float:
        """The learning rate the next ``step()`` will use."""
        return float(self.schedule(self.step_count))

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: None (the default, as PyTorch), or zeros with ``set_to_none=False``."""
        _zero_grads(self._params(), set_to_none)

    def step(self) -> None:
        """One update of every parameter that has a gradient, then advance the step count."""
        lr = self.lr
        with no_grad():
            i = 0
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, self.state[i], lr, group)
                    i += 1
        self.step_count += 1

    def _update(self, p: Tensor, g: np.ndarray, state: dict, lr: float, group: dict) -> None:
        raise NotImplementedError

    # ----- checkpoints -------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        out = {"step": np.array(self.step_count, dtype=np.int64)}
        for i, state in enumerate(self.state):
            for name, array in state.items():
                out[f"state.{i}.{name}"] = array.copy()
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        params = self._params()
        if "step" not in state_dict:
            raise KeyError(f"{type(self).__name__}.load_state_dict: no 'step' entry")
        new_state: list[dict[str, np.ndarray]] = [{} for _ in params]
        for key, value in state_dict.items():
            if key == "step":
                continue
            parts = key.split(".")
            if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit() or parts[2] not in self.buffers:
                raise KeyError(f"{type(self).__name__}.load_state_dict: unexpected key {key!r}")
            i = int(parts[1])
            if i >= len(params):
                raise KeyError(f"{type(self).__name__}.load_state_dict: {key!r} but only {len(params)} parameters")
            value = np.asarray(value)
            if value.shape != params[i].shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: {key} has shape {value.shape}, parameter has {params[i].shape}"
                )
            new_state[i][parts[2]] = value.astype(params[i].dtype, copy=True)
        self.state = new_state
        self.step_count = int(np.asarray(state_dict["step"]))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}(lr={self.schedule!r}, {opts})"


def _zero_grads(params: Iterable[Tensor], set_to_none: bool) -> None:
    """``p.grad = None``, or (set_to_none=False) fresh zeros where there is a gradient (PyTorch's rule)."""
    for p in params:
        if set_to_none:
            p.grad = None
        elif p.grad is not None:
            p.grad = np.zeros_like(p.grad)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and (L2) weight decay.

    g ← grad + weight_decay·p;   with momentum μ > 0:  buf ← μ·buf + g (buf = g at
    the first step), g ← buf;   then p ← p - lr·g.
    """

    buffers = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: Any, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, {"momentum": float(momentum), "weight_decay": float(weight_decay)})

    def _update(self, p: Tensor, g: np.ndarray, state: dict, lr: float, group: dict) -> None:
        wd, mu = group["weight_decay"], group["momentum"]
        if wd:
            g = g + wd * p.data
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = buf = np.array(g, dtype=p.dtype, copy=True)
            else:
                buf *= mu
                buf += g
            g = buf
        p.data -= lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), with optional L2 weight decay added to the gradient.

    m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;  m̂ = m/(1-β1ᵗ);  v̂ = v/(1-β2ᵗ);
    p ← p - lr·m̂/(√v̂ + eps)       (t = 1 at the first step)
    """

    buffers = ("exp_avg", "exp_avg_sq")
    _decoupled = False
    default_weight_decay = 0.0

    def __init__(
        self,
        params: Iterable[Any],
        lr: Any = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | None = None,
    ) -> None:
        """``weight_decay=None`` means the class default: 0 for Adam, 0.01 for AdamW."""
        if weight_decay is None:
            weight_decay = self.default_weight_decay
        b1, b2 = betas
        super().__init__(params, lr, {"beta1": float(b1), "beta2": float(b2), "eps": float(eps), "weight_decay": float(weight_decay)})

    def _update(self, p: Tensor, g: np.ndarray, state: dict, lr: float, group: dict) -> None:
        b1, b2, eps, wd = group["beta1"], group["beta2"], group["eps"], group["weight_decay"]
        if wd:
            if self._decoupled:
                p.data *= 1.0 - lr * wd
            else:
                g = g + wd * p.data
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        t = self.step_count + 1
        bc1 = 1.0 - b1**t
        bc2 = 1.0 - b2**t
        denom = np.sqrt(v / bc2)
        denom += eps
        p.data -= (lr / bc1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 - lr·wd) before the Adam step."""

    _decoupled = True
    default_weight_decay = 0.01
