"""Character-level names MLP (Bengio et al. 2003, as in makemore) on autograd_np.

    python -m models.names train        # see models/names/cli.py for every command

Python API: ``Run`` (train / evaluate / sample / save / load), ``Config``,
``get_config``, ``read_words``, ``split``, ``build_examples``, ``Vocab``.
"""
import os

# One BLAS thread unless the user chose otherwise. This model's matrices are small, and on a
# machine shared with other jobs a second OpenBLAS thread that must wait for a core made every
# matmul 10-20x slower (measured on the 2-core development machine). Takes effect only when
# NumPy is not imported yet, as with ``python -m models.names``; set OPENBLAS_NUM_THREADS=2
# to use both cores of an otherwise idle machine.
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
