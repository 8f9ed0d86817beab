"""python -m models.digits [--steps N]: train the conv net on scikit-learn's digits, print test accuracy."""
from __future__ import annotations

import argparse

from .data import load_digits
from .model import DigitsCNN
from .train import accuracy, train


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m models.digits", description=__doc__)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = load_digits(args.seed)
    model = DigitsCNN(rng=args.seed)
    result = train(model, x_train, y_train, args.steps, seed=args.seed)
    print(f"{args.steps} steps of 64, {result['step_seconds'] * 1e3:.2f} ms per step (median); "
          f"final loss {result['losses'][-1]:.3f}; test accuracy {accuracy(model, x_test, y_test):.3f} "
          f"({len(y_test)} images)")


main()
