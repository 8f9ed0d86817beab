"""Character-level names MLP (Bengio et al. 2003, as in makemore) on autograd_np.

    python -m models.names train        # see models/names/cli.py for every command

Python API: ``Run`` (train / evaluate / sample / save / load), ``Config``,
``get_config``, ``read_words``, ``split``, ``build_examples``, ``Vocab``.
"""
from .checkpoint import CheckpointError
from .data import DEFAULT_DATA, DataError, Vocab, Words, build_examples, parse_words, read_words, split
from .model import CONFIGS, Config, build_model, get_config, make_optimizer, make_schedule
from .train import Run

__all__ = [
    "CheckpointError", "DEFAULT_DATA", "DataError", "Vocab", "Words", "build_examples", "parse_words",
    "read_words", "split", "CONFIGS", "Config", "build_model", "get_config", "make_optimizer",
    "make_schedule", "Run",
]
