"""Conv nets through autograd_np against the same nets in PyTorch eager, on one thread, side by side.

    python benchmarks/cnn_vs_torch.py                  # the conv step (64x1x28x28) and the digits net
    python benchmarks/cnn_vs_torch.py --only conv --reps 41

1. ``conv``: one training step's forward and backward (no optimizer) on a 64x1x28x28 float32 batch:
   conv 1->8 3x3, ReLU, conv 8->16 3x3, ReLU, then either the mean square ("conv layers") or a
   2x2 max pool, a linear layer to 10 classes and cross-entropy ("small CNN"). Median milliseconds
   per step over ``--reps`` repetitions, the two libraries alternating (the first rotating), and the
   median of the per-repetition ratios with their 25th-75th percentiles (the machine's noise).
2. ``digits``: models/digits' net trained in both libraries from the same initial weights on the
   same batches of scikit-learn's digits (needs the ``digits`` extra): test accuracy and median step
   time (forward, backward and the SGD update).

Needs torch (``pip install torch==2.13.0``). Results go in benchmarks/README.md.
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # before NumPy loads its BLAS: one thread, as torch.set_num_threads(1)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import autograd_np as ag  # noqa: E402
from autograd_np import Tensor, functional as F, nn  # noqa: E402

torch.set_num_threads(1)


def side_by_side(steps: dict[str, Callable[[], Any]], reps: int) -> dict[str, np.ndarray]:
    """Seconds of each step per repetition, the steps run in turn within every repetition (the first
    one rotating, so neither always follows the other)."""
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[: rep % len(names)]:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    return {name: np.array(t) for name, t in times.items()}


def conv_steps(full: bool) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 64)
    ours = [nn.Conv2d(1, 8, 3, rng=1), nn.Conv2d(8, 16, 3, rng=2), nn.Linear(16 * 12 * 12, 10, rng=3)]
    theirs = [torch.nn.Conv2d(1, 8, 3), torch.nn.Conv2d(8, 16, 3), torch.nn.Linear(16 * 12 * 12, 10)]
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            b.weight.copy_(torch.tensor(a.weight.data.T if isinstance(a, nn.Linear) else a.weight.data))
            b.bias.copy_(torch.tensor(a.bias.data))
    x, x_torch, y_torch = Tensor(images), torch.tensor(images), torch.tensor(labels)

    def engine() -> float:
        h = F.relu(ours[1](F.relu(ours[0](x))))
        loss = F.cross_entropy(ours[2](F.max_pool2d(h, 2).flatten(1)), labels) if full else (h * h).mean()
        for layer in ours:
            layer.weight.grad = layer.bias.grad = None
        loss.backward()
        return loss.item()

    def pytorch() -> float:
        h = torch.relu(theirs[1](torch.relu(theirs[0](x_torch))))
        if full:
            loss = torch.nn.functional.cross_entropy(theirs[2](torch.nn.functional.max_pool2d(h, 2).flatten(1)), y_torch)
        else:
            loss = (h * h).mean()
        for layer in theirs:
            layer.zero_grad()
        loss.backward()
        return loss.item()

    assert abs(engine() - pytorch()) < 1e-4 * max(1.0, abs(pytorch())), "the two nets disagree"
    return {"autograd_np": engine, "torch": pytorch}


def single_conv_steps() -> dict[str, Callable[[], Any]]:
    """conv2d alone: 8->16 channels, 3x3, on a 64x8x26x26 input that requires grad; loss = sum(y * c)."""
    rng = np.random.default_rng(0)
    x_data = rng.standard_normal((64, 8, 26, 26)).astype(np.float32)
    c = rng.standard_normal((64, 16, 24, 24)).astype(np.float32)
    conv, conv_torch = nn.Conv2d(8, 16, 3, rng=1), torch.nn.Conv2d(8, 16, 3)
    x = Tensor(x_data, requires_grad=True)
    x_torch, c_torch = torch.tensor(x_data, requires_grad=True), torch.tensor(c)

    def engine() -> None:
        x.grad = conv.weight.grad = conv.bias.grad = None
        (conv(x) * c).sum().backward()

    def pytorch() -> None:
        x_torch.grad = None
        conv_torch.zero_grad()
        (conv_torch(x_torch) * c_torch).sum().backward()

    return {"autograd_np": engine, "torch": pytorch}


def bench_conv(reps: int) -> None:
    print("conv step, 64x1x28x28 float32, conv 1->8 3x3, ReLU, conv 8->16 3x3, ReLU, forward + backward, 1 thread")
    rows = (("conv2d 8->16 alone (64x8x26x26 input)", single_conv_steps), ("conv layers, mean square", lambda: conv_steps(False)),
            ("small CNN, pool + linear + cross-entropy", lambda: conv_steps(True)))
    for label, steps in rows:
        times = side_by_side(steps(), reps)
        ms = {name: float(np.median(t)) * 1e3 for name, t in times.items()}
        ratios = times["autograd_np"] / times["torch"]
        low, middle, high = np.percentile(ratios, [25, 50, 75])
        print(f"  {label:44s} autograd_np {ms['autograd_np']:7.2f} ms   torch {ms['torch']:7.2f} ms   "
              f"ratio {middle:.2f} [{low:.2f}-{high:.2f}]")


def bench_digits(steps: int) -> None:
    from models.digits.data import load_digits
    from models.digits.model import DigitsCNN
    from models.digits.train import accuracy

    x_train, y_train, x_test, y_test = load_digits(0)
    ours = DigitsCNN(rng=0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(1), torch.nn.Linear(256, 10))
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            q.copy_(torch.tensor(p.data.T if p.ndim == 2 else p.data))
    sgd = ag.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    sgd_torch = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    batches = np.random.default_rng(0).integers(0, len(x_train), (steps, 64))
    times: dict[str, list[float]] = {"autograd_np": [], "torch": []}
    for batch in batches:
        start = time.perf_counter()
        loss = F.cross_entropy(ours(Tensor(x_train[batch])), y_train[batch])
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        times["autograd_np"].append(time.perf_counter() - start)
        start = time.perf_counter()
        loss_torch = torch.nn.functional.cross_entropy(theirs(torch.tensor(x_train[batch])), torch.tensor(y_train[batch]))
        sgd_torch.zero_grad()
        loss_torch.backward()
        sgd_torch.step()
        times["torch"].append(time.perf_counter() - start)
    with torch.no_grad():
        torch_accuracy = float((theirs(torch.tensor(x_test)).argmax(1).numpy() == y_test).mean())
    ms = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    print(f"digits net (models/digits), {steps} SGD steps of 64 from the same weights on the same batches, 1 thread")
    print(f"  autograd_np: test accuracy {accuracy(ours, x_test, y_test):.3f}, {ms['autograd_np']:.2f} ms per step")
    print(f"  torch:       test accuracy {torch_accuracy:.3f}, {ms['torch']:.2f} ms per step "
          f"(ratio {ms['autograd_np'] / ms['torch']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("conv", "digits"))
    parser.add_argument("--reps", type=int, default=31)
    parser.add_argument("--steps", type=int, default=600, help="training steps of the digits net")
    args = parser.parse_args()
    if args.only != "digits":
        bench_conv(args.reps)
    if args.only != "conv":
        bench_digits(args.steps)


if __name__ == "__main__":
    main()
