"""Constructors (``zeros``, ``randn``, ``tensor``, ...) and the default random generator.

Every constructor takes ``dtype=`` (NumPy's default, float64 for floats, when not
given), ``requires_grad=`` and, for random ones, ``rng=`` (a
``numpy.random.Generator`` or an integer seed). Without ``rng=`` they draw from
the default generator, which ``manual_seed(seed)`` reseeds; ``nn`` initialisers
and ``Dropout`` use the same generator, so one ``manual_seed`` makes a whole
model reproducible. (``np.random.seed`` seeds NumPy's legacy global state, which
the engine does not use.)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .tensor_type import Tensor

_default: list[np.random.Generator] = []  # made on first use (numpy.random is imported lazily)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (in place: modules that hold it see the new stream)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an integer, got {seed!r}")
    rng = default_generator()
    rng.bit_generator.state = np.random.default_rng(int(seed)).bit_generator.state
    return rng


def default_generator() -> np.random.Generator:
    """The generator constructors and ``nn`` use when no ``rng=`` is given (seeded from the OS
    until ``manual_seed`` is called)."""
    if not _default:
        _default.append(np.random.default_rng())
    return _default[0]


def generator(rng: Any = None, *, name: str = "rng") -> np.random.Generator:
    """``rng`` as a Generator: None is the default generator, an integer seeds a new one."""
    if rng is None:
        return default_generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name}: expected a numpy.random.Generator or an integer seed, got {type(rng).__name__}")


def _shape(name: str, size: tuple) -> tuple[int, ...]:
    """``zeros(2, 3)`` or ``zeros((2, 3))``."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in size):
        raise ValueError(f"{name}: a shape is non-negative integers, got {size!r}")
    return tuple(int(n) for n in size)


def _make(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def _real_fill(name: str, value: Any, dtype: Any) -> None:
    if np.iscomplexobj(value) and dtype is not None and np.dtype(dtype).kind != "c":
        raise TypeError(f"{name}: a complex fill value with dtype {np.dtype(dtype)} would drop its imaginary part")


def tensor(data: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new Tensor holding a copy of ``data`` (an array, a nested list, a scalar or a Tensor's values)."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(np.array(data, dtype=dtype) if dtype is None else data, dtype=dtype, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory (``torch.from_numpy``)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_shape("zeros", size), dtype=dtype), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_shape("ones", size), dtype=dtype), requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    _real_fill("full", fill_value, dtype)
    shape = _shape("full", (size,) if isinstance(size, (int, np.integer)) else tuple(size))
    return _make(np.full(shape, fill_value, dtype=dtype), requires_grad)


def zeros_like(x: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros_like(np.asarray(getattr(x, "data", x)), dtype=dtype), requires_grad)


def ones_like(x: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones_like(np.asarray(getattr(x, "data", x)), dtype=dtype), requires_grad)


def full_like(x: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    data = np.asarray(getattr(x, "data", x))
    _real_fill("full_like", fill_value, dtype or data.dtype)
    return _make(np.full_like(data, fill_value, dtype=dtype), requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``arange(5)`` is 0..4; ``arange(1, 2, 0.25)``; integers give an integer tensor (as NumPy and PyTorch)."""
    if step == 0:
        raise ValueError("arange: step must not be zero")
    array = np.arange(start, dtype=dtype) if end is None else np.arange(start, end, step, dtype=dtype)
    return _make(array, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    return _make(np.linspace(start, end, int(steps), dtype=dtype), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The n×m identity (n×n by default)."""
    return _make(np.eye(_shape("eye", (n,))[0], None if m is None else _shape("eye", (m,))[0], dtype=dtype), requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False, rng: Any = None) -> Tensor:
    """Standard normal samples from ``rng`` (default: the generator ``manual_seed`` seeds)."""
    array = generator(rng, name="randn").standard_normal(_shape("randn", size))
    return _make(array if dtype is None else array.astype(dtype), requires_grad)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False, rng: Any = None) -> Tensor:
    """Uniform samples in [0, 1) from ``rng`` (default: the generator ``manual_seed`` seeds)."""
    array = generator(rng, name="rand").random(_shape("rand", size))
    return _make(array if dtype is None else array.astype(dtype), requires_grad)
