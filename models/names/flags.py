"""Command-line argument types and parser: every bad command line is a usage error (exit status 2)
that names the flag, and a misspelled flag or choice gets a "did you mean".

Light on purpose (no NumPy): ``__main__`` imports it before anything heavy.
"""
from __future__ import annotations

import argparse
import difflib
import math
import re
from pathlib import Path
from typing import Callable, NoReturn, Sequence

#: largest accepted ``--max-bytes``: a limit, not an allocation, but beyond 1 TiB of names it is a typo
MAX_BYTES_LIMIT = 1 << 40
#: largest ``--steps`` / ``--stop-at``: the loss history takes 4 bytes a step
MAX_STEPS = 10**9
#: most names ``-n`` / ``--samples`` draws at once
MAX_NAMES = 100_000
#: widest hidden layer and most hidden layers accepted on the command line (--max-params bounds the total)
MAX_WIDTH = 1 << 20
MAX_LAYERS = 1024
#: longest context an MLP reads (every example stores it: 1,024 characters is far past any name)
MAX_BLOCK = 1024
#: a checkpoint stores integers below 2**63 (checkpoint.py)
MAX_INT = 2**63 - 1


class UsageError(ValueError):
    """A command line that cannot work; reported like argparse's own errors (usage line, exit status 2)."""


class Parser(argparse.ArgumentParser):
    """argparse with suggestions: ``invalid choice: 'trian'`` adds ``did you mean 'train'?``."""

    def error(self, message: str) -> NoReturn:
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            choices = re.findall(r"'([^']*)'", match.group(2))
            close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean '{close[0]}'?"
        super().error(message)


def unrecognized(extra: Sequence[str], parser: argparse.ArgumentParser,
                 others: dict[str, argparse.ArgumentParser]) -> str:
    """argparse's "unrecognized arguments" message, with the closest flag of ``parser`` for each unknown one
    (or the command that has it)."""
    known = [s for action in parser._actions for s in action.option_strings]
    flags = [token.split("=", 1)[0] for token in extra if token.startswith("-") and token != "-"]
    hints = []
    for flag in flags:
        owners = [name for name, p in others.items()
                  if any(flag in action.option_strings for action in p._actions)]
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
        if owners:
            hints.append(f"{flag} is an option of {' and '.join(owners)}")
        elif close:
            hints.append(f"did you mean {close[0]}?" if len(flags) == 1 else f"{flag}: did you mean {close[0]}?")
    message = f"unrecognized arguments: {' '.join(extra)}"
    return message + ("; " + "; ".join(hints) if hints else "")


def integer(low: int, high: int = MAX_INT, why: str = "") -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,}{why}, got {value:,}")
        return value
    return parse


def number(check: Callable[[float], bool], expected: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or not check(value):
            raise argparse.ArgumentTypeError(f"must be a finite number {expected}, got {text}")
        return value
    return parse


def path(text: str) -> Path:
    """A non-empty path (``Path('')`` would silently mean the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def widths(text: str) -> list[int]:
    """``--hidden``: comma-separated layer widths, e.g. ``200`` or ``512,512``."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 256,256, got {text!r}") from None
    if not 1 <= len(values) <= MAX_LAYERS or not all(1 <= v <= MAX_WIDTH for v in values):
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_LAYERS} widths, each in [1, {MAX_WIDTH:,}], "
                                         f"got {text!r}")
    return values


POSITIVE = integer(1)
NON_NEGATIVE = integer(0)
STEPS = integer(1, MAX_STEPS)
BLOCK = integer(1, MAX_BLOCK)
NAMES = integer(1, MAX_NAMES)
MAX_BYTES = integer(1, MAX_BYTES_LIMIT, " (1 TiB: a file of names beyond that is surely a wrong --input)")
POSITIVE_NUMBER = number(lambda v: v > 0, "> 0")
NON_NEGATIVE_NUMBER = number(lambda v: v >= 0, ">= 0")
FRACTION = number(lambda v: 0 <= v < 1, "in [0, 1)")
TEMPERATURE = number(lambda v: 0.01 <= v <= 100, "in [0.01, 100]")
OPEN_FRACTION = number(lambda v: 0 < v < 1, "in (0, 1)")

#: config fields whose flag is spelled differently (one-word ones are left alone: they are also prose)
_FIELD = re.compile(r"\b(block_size|batch_size|eval_every|final_lr|weight_decay|grad_clip|n_layer|n_head|n_embd2|n_embd)\b")


def in_flags(message: str) -> str:
    """A config validation message in the command line's words: ``config: n_head 3 does not divide
    n_embd 64`` -> ``--n-head 3 does not divide --n-embd 64``."""
    message = re.sub(r"^config: ", "", message)
    message = re.sub(r"^arch '", "--arch '", message)
    return _FIELD.sub(lambda m: "--" + m.group(1).replace("_", "-"), message)
