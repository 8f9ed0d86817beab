"""Character-level models of names on autograd_np: makemore's MLP and its zoo (README.md here).

    python -m models.names train        # see models/names/cli.py for every command

Python API: ``Run`` (train / evaluate / sample / save / load), ``Config``,
``get_config``, ``build_model``, ``read_words``, ``split``, ``build_examples``, ``Vocab``.

The names are imported on first use, so ``python -m models.names`` can take charge of
SIGINT/SIGTERM before NumPy is loaded (``interrupt.py``).
"""
import importlib
import os
from typing import Any

# One BLAS thread unless the user chose otherwise: this model's matrices are small, and a second
# OpenBLAS thread waiting for a busy core slows every product (see the README). Takes effect only
# when NumPy is not imported yet, as with ``python -m models.names``.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_EXPORTS = {
    "CheckpointError": "checkpoint", "CheckpointWriteError": "checkpoint",
    "DEFAULT_DATA": "data", "DataError": "data", "Vocab": "data", "Words": "data", "build_examples": "data",
    "parse_words": "data", "read_words": "data", "split": "data",
    "CONFIGS": "config", "Config": "config", "get_config": "config", "make_optimizer": "config",
    "make_schedule": "config", "build_model": "models",
    "DivergedError": "train", "Run": "train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
