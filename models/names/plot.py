"""The loss curve of a run: training loss (averaged per bucket of steps) and dev loss, as a PNG."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .train import Run


def plot_losses(run: "Run", path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    losses = run.train_losses
    if len(losses):
        bucket = max(1, len(losses) // 200)
        m = len(losses) // bucket * bucket
        if m:
            means = losses[:m].reshape(-1, bucket).mean(axis=1)
            ax.plot((np.arange(len(means)) + 1) * bucket, means, label=f"train (mean of {bucket} steps)", lw=1)
    if run.dev_steps:
        ax.plot(run.dev_steps, run.dev_losses, "o-", label="dev (full split)", ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats)")
    ax.set_title(f"names model: {run.model.num_parameters():,} parameters")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
