"""Character-level names MLP (Bengio et al. 2003, as in makemore) on autograd_np.

    python -m models.names train        # see models/names/cli.py for every command

Python API: ``Run`` (train / evaluate / sample / save / load), ``Config``,
``get_config``, ``read_words``, ``split``, ``build_examples``, ``Vocab``.
"""
import os

# One BLAS thread unless the user chose otherwise: this model's matrices are small, and a second
# OpenBLAS thread waiting for a busy core slows every product (see the README). Takes effect only
# when NumPy is not imported yet, as with ``python -m models.names``.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .checkpoint import CheckpointError, CheckpointWriteError  # noqa: E402
from .data import DEFAULT_DATA, DataError, Vocab, Words, build_examples, parse_words, read_words, split  # noqa: E402
from .model import CONFIGS, Config, build_model, get_config, make_optimizer, make_schedule  # noqa: E402
from .train import DivergedError, Run  # noqa: E402

__all__ = [
    "CheckpointError", "CheckpointWriteError", "DivergedError", "DEFAULT_DATA", "DataError", "Vocab", "Words",
    "build_examples", "parse_words", "read_words", "split", "CONFIGS", "Config", "build_model", "get_config", "make_optimizer",
    "make_schedule", "Run",
]
