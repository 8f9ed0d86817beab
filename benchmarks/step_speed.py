"""Speed of one names-MLP training step: autograd_np vs hand-written NumPy vs PyTorch.

    python benchmarks/step_speed.py                  # table for configs A, B, C
    python benchmarks/step_speed.py --configs A --reps 41
    python benchmarks/step_speed.py --memory         # RSS over 20,000 steps (A) and peak RSS (C)
    python benchmarks/step_speed.py --threads 1 --ref 19464cc   # this tree against autograd_np/ at a git ref

One step = minibatch draw (each framework's generator) and gather from the training set,
forward, mean cross-entropy, backward, SGD update, float32; ``--presampled`` draws the
indices before timing instead (the same arrays for every implementation). Implementations
run in one process, round-robin inside every repetition (so machine noise hits all alike);
the table shows the median over repetitions of the mean ms/step of each repetition, and the
ratios are the medians of the per-repetition ratios.

(a) autograd_np through its public API only (Tensor, functional.linear,
    functional.cross_entropy, .backward(), ``p.data -= lr * p.grad; p.grad = None``);
    ``--unfused`` adds a column with each layer as ``x @ W + b`` (matmul + add);
(a'') the lecture spelling, timed unless ``--no-lecture``: each layer ``x @ W + b``, loss
    ``-(logits.log_softmax(axis=-1)[np.arange(B), Y]).mean()``; its ratio is to (a);
(r) with ``--ref GIT_REF``: (a) and (a'') again with ``autograd_np/`` as it was at that
    git ref, extracted to a temporary directory and imported as ``autograd_np_ref``;
    the ratio new/ref is the median of the per-repetition ratios;
(b) the same network with backprop written by hand (benchmarks/handwritten_mlp.py);
    ``--minimal-tape`` adds benchmarks/minimal_tape.py, the barest per-op tape (a bound);
(c) PyTorch CPU eager, when importable (never a dependency of the engine), each
    layer as ``torch.addmm(b, x, W)``, its fused x @ W + b.

Data: names.txt from the path argument, else ../shared/data/names.txt or
/work/shared/data/names.txt, else models/data/names.txt, else synthetic names.
"""
from __future__ import annotations

import argparse
import ast
import atexit
import functools
import gc
import importlib
import itertools
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from types import ModuleType
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import autograd_np  # noqa: E402
from autograd_np import Tensor  # noqa: E402
from handwritten_mlp import HandwrittenMLP  # noqa: E402
from minimal_tape import MinimalTapeMLP  # noqa: E402

REF_PACKAGE = "autograd_np_ref"
CONFIGS = {
    "A": dict(block=3, emb=10, hidden=200, batch=32),
    "B": dict(block=8, emb=24, hidden=512, batch=256),
    "C": dict(block=8, emb=24, hidden=512, batch=4096),
}
LR = 0.1


# ----------------------------------------------------------------------------
# Data and parameters
# ----------------------------------------------------------------------------
def find_names(path: str | None) -> tuple[list[str], str]:
    candidates = [path] if path else []
    candidates += [str(ROOT.parent / "shared" / "data" / "names.txt"), "/work/shared/data/names.txt",
                   str(ROOT / "models" / "data" / "names.txt")]
    for c in candidates:
        if c and os.path.isfile(c):
            words = [w.strip() for w in open(c, encoding="utf-8") if w.strip()]
            if words:
                return words, c
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(32000)]
    return words, "synthetic (32,000 random names)"


def build_dataset(words: list[str], block: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The makemore training split (seed 42, first 80%) as (contexts, next char)."""
    words = list(words)
    random.Random(42).shuffle(words)
    train = words[: int(0.8 * len(words))]
    chars = sorted(set("".join(words)))
    stoi = {c: i + 1 for i, c in enumerate(chars)}
    stoi["."] = 0
    xs, ys = [], []
    for w in train:
        context = [0] * block
        for ch in w + ".":
            ix = stoi[ch]
            xs.append(context)
            ys.append(ix)
            context = context[1:] + [ix]
    return np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64), len(stoi)


def init_params(vocab: int, block: int, emb: int, hidden: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    fan_in = block * emb
    p = {
        "C": rng.standard_normal((vocab, emb)),
        "W1": rng.standard_normal((fan_in, hidden)) * (5 / 3) / fan_in**0.5,
        "b1": rng.standard_normal(hidden) * 0.01,
        "W2": rng.standard_normal((hidden, vocab)) * 0.01,
        "b2": np.zeros(vocab),
    }
    return {k: v.astype(np.float32) for k, v in p.items()}


# ----------------------------------------------------------------------------
# The implementations: same network, same init, same kind of minibatch draw
# ----------------------------------------------------------------------------
class AutogradMLP:
    """(a) autograd_np, public API only; ``package`` is this tree's autograd_np or the --ref copy."""

    name = "autograd_np"

    def __init__(self, params, X, Y, batch, lr, seed, package: ModuleType = autograd_np, name: str | None = None):
        self.name = name or self.name
        self.F = package.functional
        self.C, self.W1, self.b1, self.W2, self.b2 = (
            package.Tensor(params[k].copy(), requires_grad=True) for k in ("C", "W1", "b1", "W2", "b2")
        )
        self.X, self.Y, self.batch, self.lr = X, Y, batch, lr
        self.rng = np.random.default_rng(seed)

    def layer(self, x, W, b):
        return self.F.linear(x, W, b)  # x @ W + b as one op (what nn.Linear runs)

    def loss(self, logits, Yb):
        return self.F.cross_entropy(logits, Yb)

    def params(self):
        return {"C": self.C.data, "W1": self.W1.data, "b1": self.b1.data, "W2": self.W2.data, "b2": self.b2.data}

    def step(self, ix=None):
        if ix is None:
            ix = self.rng.integers(0, self.X.shape[0], self.batch)
        Xb, Yb = self.X[ix], self.Y[ix]
        emb = self.C[Xb]
        h = self.layer(emb.reshape(Xb.shape[0], -1), self.W1, self.b1).tanh()
        logits = self.layer(h, self.W2, self.b2)
        loss = self.loss(logits, Yb)
        loss.backward()
        lr = self.lr
        for p in (self.C, self.W1, self.b1, self.W2, self.b2):
            p.data -= lr * p.grad
            p.grad = None
        return loss.item()


class AutogradUnfusedMLP(AutogradMLP):
    """(a') autograd_np with each layer written as ``x @ W + b`` (two ops per layer; --unfused)."""

    name = "autograd_np_unfused"

    def layer(self, x, W, b):
        return x @ W + b


class AutogradLectureMLP(AutogradUnfusedMLP):
    """(a'') the lecture spelling: ``x @ W + b`` layers and the cross-entropy composed from
    log_softmax, integer-array indexing and mean (no fused op)."""

    name = "autograd_np_lecture"

    def loss(self, logits, Yb):
        return -(logits.log_softmax(axis=-1)[np.arange(Yb.shape[0]), Yb]).mean()


# ----------------------------------------------------------------------------
# --ref: autograd_np/ as it was at a git ref, under another package name
# ----------------------------------------------------------------------------
def load_ref_package(ref: str) -> tuple[ModuleType, str]:
    """Extract ``autograd_np/`` at git ``ref`` into a temporary directory as ``autograd_np_ref``
    and import it. Returns the module and the ref's short commit hash.

    The copy must import itself only relatively (checked on its syntax tree): an absolute
    ``import autograd_np`` in it would silently bind to this tree's package instead.
    """
    def git(*args: str, text: bool = True):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=text)

    found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        sys.exit(f"--ref: {ref!r} is not a commit of the repository at {ROOT}")
    commit = found.stdout.strip()
    files = git("ls-tree", "-r", "--name-only", commit, "autograd_np").stdout.split()
    if "autograd_np/__init__.py" not in files:
        sys.exit(f"--ref: commit {commit[:9]} ({ref}) has no autograd_np/__init__.py")
    if REF_PACKAGE in sys.modules:
        sys.exit(f"--ref: a package named {REF_PACKAGE} is already imported")
    tmp = Path(tempfile.mkdtemp(prefix="step_speed_ref_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    for path in files:
        if not path.endswith(".py"):
            continue
        source = git("show", f"{commit}:{path}", text=False).stdout
        absolute = [
            node.lineno for node in ast.walk(ast.parse(source, filename=path))
            if (isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "autograd_np")
            or (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "autograd_np" for a in node.names))
        ]
        if absolute:
            sys.exit(f"--ref: {path} at {commit[:9]} imports autograd_np absolutely (line {absolute[0]}); "
                     "only packages with relative imports can be loaded under another name")
        target = tmp / REF_PACKAGE / Path(path).relative_to("autograd_np")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source)
    sys.path.insert(0, str(tmp))
    try:
        package = importlib.import_module(REF_PACKAGE)
    finally:
        sys.path.remove(str(tmp))
    assert Path(package.__file__).is_relative_to(tmp) and package.Tensor is not autograd_np.Tensor
    return package, git("rev-parse", "--short", commit).stdout.strip()


class TorchMLP:
    """(c) PyTorch CPU eager."""

    name = "torch"

    def __init__(self, params, X, Y, batch, lr, seed):
        import torch

        self.torch = torch
        self.ps = [torch.tensor(params[k]).requires_grad_() for k in ("C", "W1", "b1", "W2", "b2")]
        self.X, self.Y = torch.from_numpy(X), torch.from_numpy(Y)
        self.batch, self.lr = batch, lr
        self.gen = torch.Generator().manual_seed(seed)
        self.F = torch.nn.functional

    def params(self):
        return dict(zip(("C", "W1", "b1", "W2", "b2"), (p.detach().numpy() for p in self.ps)))

    def step(self, ix=None):
        torch = self.torch
        if ix is None:
            ix = torch.randint(0, self.X.shape[0], (self.batch,), generator=self.gen)
        else:
            ix = torch.from_numpy(ix)
        Xb, Yb = self.X[ix], self.Y[ix]
        C, W1, b1, W2, b2 = self.ps
        emb = C[Xb]
        # addmm: PyTorch's fused x @ W + b, its fastest spelling of this layer
        # (measured: ~4% faster than `x @ W1 + b1`; F.linear was no faster than that)
        h = torch.tanh(torch.addmm(b1, emb.view(Xb.shape[0], -1), W1))
        logits = torch.addmm(b2, h, W2)
        loss = self.F.cross_entropy(logits, Yb)
        loss.backward()
        with torch.no_grad():
            for p in self.ps:
                p -= self.lr * p.grad
                p.grad = None
        return loss.item()


class CompiledMLP(AutogradMLP):
    """(k) the fused spelling's step through ``autograd_np.compile`` (the batch drawn outside the step)."""

    name = "compiled"
    strict = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compiled = autograd_np.compile(self.inner_step, strict=self.strict)

    def inner_step(self, Xb, Yb):
        emb = self.C[Xb]
        h = self.layer(emb.reshape(Xb.shape[0], -1), self.W1, self.b1).tanh()
        loss = self.loss(self.layer(h, self.W2, self.b2), Yb)
        loss.backward()
        with autograd_np.no_grad():
            for p in (self.C, self.W1, self.b1, self.W2, self.b2):
                p.data -= self.lr * p.grad
                p.grad = None
        return loss

    def step(self, ix=None):
        if ix is None:
            ix = self.rng.integers(0, self.X.shape[0], self.batch)
        return self.compiled(self.X[ix], self.Y[ix]).item()


class CompiledLectureMLP(CompiledMLP):
    """(k'') the lecture spelling's step through ``autograd_np.compile`` (its rewrites on)."""

    name = "compiled_lecture"
    layer = AutogradLectureMLP.layer
    loss = AutogradLectureMLP.loss


class CompiledStrictLectureMLP(CompiledLectureMLP):
    """(k''') the lecture spelling through ``autograd_np.compile(strict=True)``: no rewrites."""

    name = "compiled_strict"
    strict = True


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def make_impls(cfg: dict, X, Y, vocab, use_torch: bool, seed: int = 1, unfused: bool = False, minimal: bool = False,
               lecture: bool = True, ref: ModuleType | None = None, compiled: bool = True):
    params = init_params(vocab, cfg["block"], cfg["emb"], cfg["hidden"])
    classes = [AutogradMLP, HandwrittenMLP] + ([TorchMLP] if use_torch else []) + ([AutogradUnfusedMLP] if unfused else [])
    classes += [CompiledMLP, CompiledLectureMLP, CompiledStrictLectureMLP] if compiled else []
    classes += [MinimalTapeMLP] if minimal else []
    classes += [AutogradLectureMLP] if lecture else []
    impls = [cls(params, X, Y, cfg["batch"], LR, seed) for cls in classes]
    if ref is not None:
        impls.append(AutogradMLP(params, X, Y, cfg["batch"], LR, seed, package=ref, name="ref"))
        if lecture:
            impls.append(AutogradLectureMLP(params, X, Y, cfg["batch"], LR, seed, package=ref, name="ref_lecture"))
    return impls


def check_agreement(impls, X, batch: int) -> float:
    """One step on the same minibatch from the same init: parameters must agree (float32 tolerance)."""
    ix = np.random.default_rng(123).integers(0, X.shape[0], batch)
    losses = [impl.step(ix.copy()) for impl in impls]
    ref = impls[1].params()
    worst = 0.0
    for impl, loss in zip(impls, losses):
        assert abs(loss - losses[1]) < 1e-4 * max(1.0, abs(losses[1])), (impl.name, loss, losses[1])
        for k, v in impl.params().items():
            err = float(np.max(np.abs(v - ref[k])))
            worst = max(worst, err)
            assert err < 1e-4, f"{impl.name}: parameter {k} differs from the hand-written step by {err}"
    return worst


# ----------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------
def time_config(name: str, cfg: dict, X, Y, vocab, reps: int, target_s: float, use_torch: bool,
                settle_s: float = 0.2, unfused: bool = False, minimal: bool = False,
                lecture: bool = True, ref: ModuleType | None = None, compiled: bool = True,
                presampled: bool = False) -> dict:
    impls = make_impls(cfg, X, Y, vocab, use_torch, unfused=unfused, minimal=minimal, lecture=lecture, ref=ref,
                       compiled=compiled)
    worst = check_agreement(impls, X, cfg["batch"])
    # Warm up and size the inner loop so one repetition of one implementation takes ~target_s.
    per = {}
    for impl in impls:
        impl.step()
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < 0.2 or n < 3:
            impl.step()
            n += 1
        per[impl.name] = (time.perf_counter() - t0) / n
    slowest = max(per.values())
    inner = max(3, int(target_s / slowest))
    times = {impl.name: [] for impl in impls}
    # --presampled: every implementation steps through the same index arrays, drawn before timing
    draw = np.random.default_rng(7)
    pool = [draw.integers(0, X.shape[0], cfg["batch"]) for _ in range(256)] if presampled else []
    for r in range(reps):
        order = impls[r % len(impls):] + impls[: r % len(impls)]  # rotate who goes first
        for impl in order:
            step = functools.partial(_next_batch, impl.step, itertools.cycle(pool)) if presampled else impl.step
            # Settle: untimed steps first. After a BLAS call OpenBLAS's worker threads
            # busy-wait for a while, and so do PyTorch's OpenMP threads; on a 2-core
            # machine the previous implementation's spinning threads would otherwise
            # be charged to this one (measured: torch at config C 44 ms/step without
            # settling, 25 ms with 0.2 s of settling, the same as when run alone).
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < settle_s:
                step()
            t0 = time.perf_counter()
            for _ in range(inner):
                step()
            times[impl.name].append((time.perf_counter() - t0) / inner * 1e3)
    ag, hw = np.array(times["autograd_np"]), np.array(times["handwritten"])
    out = {
        "config": name, **cfg, "reps": reps, "steps_per_rep": inner, "settle_s": settle_s, "max_param_diff": worst,
        "ms": {k: float(np.median(v)) for k, v in times.items()},
        "ms_iqr": {k: [float(np.percentile(v, 25)), float(np.percentile(v, 75))] for k, v in times.items()},
        "ratio_ag_hw": float(np.median(ag / hw)), "presampled": presampled,
    }
    if "torch" in times:
        out["ratio_torch_ag"] = float(np.median(np.array(times["torch"]) / ag))
    if "autograd_np_unfused" in times:
        out["ratio_unfused_hw"] = float(np.median(np.array(times["autograd_np_unfused"]) / hw))
    if "minimal_tape" in times:
        out["ratio_minimal_hw"] = float(np.median(np.array(times["minimal_tape"]) / hw))
    by_round = {}
    for name in ("compiled", "compiled_lecture", "compiled_strict"):
        if name in times:
            by_round[f"{name}_hw"] = np.array(times[name]) / hw
            if "torch" in times:
                by_round[f"torch_{name}"] = np.array(times["torch"]) / np.array(times[name])
    if "autograd_np_lecture" in times:
        by_round["lecture_fused"] = np.array(times["autograd_np_lecture"]) / ag
    if "ref" in times:
        by_round["new_ref"] = ag / np.array(times["ref"])
    if "ref_lecture" in times:
        by_round["ref_lecture_fused"] = np.array(times["ref_lecture"]) / np.array(times["ref"])
        by_round["lecture_new_ref"] = np.array(times["autograd_np_lecture"]) / np.array(times["ref_lecture"])
    for key, ratios in by_round.items():
        out[f"ratio_{key}"] = float(np.median(ratios))
        out[f"ratio_{key}_spread"] = [float(np.percentile(ratios, q)) for q in (0, 25, 75, 100)]
    return out


def _next_batch(step, indices):
    return step(next(indices))


def per_op_overhead(reps: int = 15, n: int = 20000) -> dict:
    """Record + replay one add of two (32, 200) float32 arrays vs the bare NumPy add."""
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((32, 200)).astype(np.float32)
    b_np = rng.standard_normal((32, 200)).astype(np.float32)
    a, b = Tensor(a_np.copy(), requires_grad=True), Tensor(b_np.copy(), requires_grad=True)
    seed = np.ones((32, 200), np.float32)

    def bare():
        for _ in range(n):
            a_np + b_np

    def forward_only():
        for _ in range(n):
            a + b

    def forward_backward():
        for _ in range(n):
            (a + b).backward(seed)
            a.grad = None
            b.grad = None

    res = {"bare": [], "forward": [], "forward_backward": []}
    for _ in range(reps):
        for key, fn in (("bare", bare), ("forward", forward_only), ("forward_backward", forward_backward)):
            t0 = time.perf_counter()
            fn()
            res[key].append((time.perf_counter() - t0) / n * 1e6)
    return {k: float(np.median(v)) for k, v in res.items()}


# ----------------------------------------------------------------------------
# Machine description
# ----------------------------------------------------------------------------
def machine_info(use_torch: bool) -> dict:
    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} threads={p.get('num_threads')} ({Path(p['filepath']).name})"
            for p in threadpool_info()
        ]
    except Exception:
        info["blas"] = ["threadpoolctl not installed"]
    if use_torch:
        import torch

        info["torch"] = f"{torch.__version__}, intra-op threads={torch.get_num_threads()}"
    return info


# ----------------------------------------------------------------------------
# Memory: separate subprocesses so every peak is its own
# ----------------------------------------------------------------------------
def _rss_kib() -> tuple[int, int]:
    cur = peak = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return cur, peak


def set_threads(n: int, use_torch: bool) -> None:
    """Limit BLAS/OpenMP pools (threadpoolctl) and PyTorch's intra-op pool to ``n`` threads."""
    global _THREAD_LIMIT
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        sys.exit("--threads needs threadpoolctl (pip install threadpoolctl)")
    if use_torch:
        import torch

        torch.set_num_threads(n)
    _THREAD_LIMIT = threadpool_limits(n)  # keep the handle alive for the whole run


_THREAD_LIMIT = None


def memory_child(impl_name: str, config: str, steps: int, every: int, data: str | None) -> None:
    words, _ = find_names(data)
    cfg = CONFIGS[config]
    X, Y, vocab = build_dataset(words, cfg["block"])
    cls = {"autograd_np": AutogradMLP, "handwritten": HandwrittenMLP, "torch": TorchMLP}[impl_name]
    impl = cls(init_params(vocab, cfg["block"], cfg["emb"], cfg["hidden"]), X, Y, cfg["batch"], LR, 1)
    before = _rss_kib()
    samples = []
    for s in range(1, steps + 1):
        impl.step()
        if s % every == 0 or s == steps:
            samples.append((s, *_rss_kib()))
    print(json.dumps({"impl": impl_name, "config": config, "before_kib": before, "samples": samples,
                      "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def run_child(impl: str, config: str, steps: int, every: int, data: str | None) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", impl, config, str(steps), str(every)]
    if data:
        cmd += ["--data", data]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_report(data: str | None, steps: int, use_torch: bool) -> None:
    print(f"Memory, config A, autograd_np, {steps} steps (RSS sampled every {steps // 10} steps):")
    r = run_child("autograd_np", "A", steps, max(1, steps // 10), data)
    print(f"  before first step: RSS {r['before_kib'][0] / 1024:.1f} MiB, peak so far (data set build) "
          f"{r['before_kib'][1] / 1024:.1f} MiB")
    for s, cur, peak in r["samples"]:
        print(f"  step {s:>6}: RSS {cur / 1024:7.1f} MiB   peak (VmHWM) {peak / 1024:7.1f} MiB")
    first, last = r["samples"][0], r["samples"][-1]
    print(f"  peak growth from step {first[0]} to {last[0]}: {(last[2] - first[2]) / 1024:+.1f} MiB")
    print("Peak RSS (VmHWM), config C, 200 steps, one subprocess each:")
    names = ["handwritten", "autograd_np"] + (["torch"] if use_torch else [])
    for name in names:
        r = run_child(name, "C", 200, 50, data)
        peaks = [p for _, _, p in r["samples"]]
        print(f"  {name:12s} before {r['before_kib'][1] / 1024:7.1f} MiB   peak {peaks[-1] / 1024:7.1f} MiB   "
              f"step cost {(peaks[-1] - r['before_kib'][1]) / 1024:+7.1f} MiB   peak at steps 50/200: "
              f"{peaks[0] / 1024:.1f}/{peaks[-1] / 1024:.1f} MiB")


# ----------------------------------------------------------------------------
def _spread(r: dict, key: str) -> str:
    lo, q1, q3, hi = r[f"ratio_{key}_spread"]
    return f"{r[f'ratio_{key}']:.3f} [{q1:.3f}-{q3:.3f}; {lo:.3f}-{hi:.3f}]"


def print_lecture_ref_table(results: list[dict], ref_label: str | None) -> None:
    """This tree against --ref, and the lecture spelling against the fused step of the same package."""
    cols = ["config", "autograd_np ms", "lecture ms", "lecture / fused"]
    if ref_label:
        cols += ["ref ms", "new / ref", "ref lecture ms", "ref lecture / ref fused", "lecture new / ref"]
    print()
    if ref_label:
        print(f"ref = autograd_np/ at {ref_label}. Ratios: median of the per-repetition ratios "
              "[25th-75th percentile; min-max]; fused = F.linear layers + F.cross_entropy.")
    else:
        print("Ratios: median of the per-repetition ratios [25th-75th percentile; min-max]; "
              "fused = F.linear layers + F.cross_entropy.")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        ms = r["ms"]
        row = [r["config"], f"{ms['autograd_np']:.3f}"]
        row += [f"{ms['autograd_np_lecture']:.3f}", _spread(r, "lecture_fused")] if "autograd_np_lecture" in ms else ["n/a", "n/a"]
        if ref_label:
            row += [f"{ms['ref']:.3f}", _spread(r, "new_ref")]
            row += ([f"{ms['ref_lecture']:.3f}", _spread(r, "ref_lecture_fused"), _spread(r, "lecture_new_ref")]
                    if "ref_lecture" in ms else ["n/a", "n/a", "n/a"])
        print("| " + " | ".join(row) + " |")


# ----------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", help="path to names.txt")
    ap.add_argument("--data", dest="data_opt")
    ap.add_argument("--configs", default="ABC")
    ap.add_argument("--reps", type=int, default=21, help="repetitions (round-robin) per config")
    ap.add_argument("--target", type=float, default=0.1, help="seconds per implementation per repetition")
    ap.add_argument("--settle", type=float, default=0.2,
                    help="untimed seconds of steps before each timed block (lets other pools' threads go idle)")
    ap.add_argument("--threads", type=int, default=None,
                    help="limit NumPy's BLAS (threadpoolctl) and PyTorch (set_num_threads) to this many threads")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--unfused", action="store_true",
                    help="also time autograd_np with each layer as `x @ W + b` (matmul + add) instead of F.linear")
    ap.add_argument("--minimal-tape", action="store_true",
                    help="also time benchmarks/minimal_tape.py, the barest per-op tape (a lower bound for any tape)")
    ap.add_argument("--no-lecture", action="store_true",
                    help="skip the lecture spelling (`x @ W + b` layers, loss from log_softmax, indexing and mean)")
    ap.add_argument("--no-compiled", action="store_true",
                    help="skip the autograd_np.compile columns (fused, lecture, lecture strict=True)")
    ap.add_argument("--ref", metavar="GIT_REF",
                    help="also time autograd_np/ as it was at this git ref (imported as autograd_np_ref), same rounds")
    ap.add_argument("--presampled", action="store_true",
                    help="draw the minibatch indices before timing (the same arrays for every implementation): "
                         "the step without the random number generator (NumPy's Generator.integers or torch.randint); "
                         "the gather X[ix] stays in the step")
    ap.add_argument("--memory", action="store_true", help="memory mode instead of timing")
    ap.add_argument("--memory-steps", type=int, default=20000)
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    data = args.data or args.data_opt
    if args.memory_child:
        impl, config, steps, every = args.memory_child
        memory_child(impl, config, int(steps), int(every), data)
        return
    for c in args.configs:
        if c not in CONFIGS:
            ap.error(f"--configs: unknown config {c!r} (known: {', '.join(CONFIGS)})")
    if args.reps < 1:
        ap.error(f"--reps must be at least 1, got {args.reps}")
    ref_package, ref_commit = load_ref_package(args.ref) if args.ref else (None, None)
    use_torch = not args.no_torch and torch_available()
    if args.threads:
        set_threads(args.threads, use_torch)
    words, source = find_names(data)
    info = machine_info(use_torch)
    print(f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, NumPy {info['numpy']}")
    for b in info["blas"]:
        print(f"  BLAS: {b}")
    print(f"  PyTorch: {info.get('torch', 'not importable (skipped)')}")
    print("  env: " + ", ".join(f"{k}={v}" for k, v in info["env"].items()))
    print(f"  load average at start: {info['loadavg']}")
    print(f"Data: {source} ({len(words)} words)")
    if ref_package is not None:
        print(f"Reference: autograd_np/ at {args.ref} (commit {ref_commit}), imported as {REF_PACKAGE}")
    if args.memory:
        memory_report(data, args.memory_steps, use_torch)
        return

    results = []
    for name in args.configs:
        cfg = CONFIGS[name]
        X, Y, vocab = build_dataset(words, cfg["block"])
        gc.collect()
        results.append(time_config(name, cfg, X, Y, vocab, args.reps, args.target, use_torch, args.settle, args.unfused,
                                   args.minimal_tape, lecture=not args.no_lecture, ref=ref_package,
                                   compiled=not args.no_compiled, presampled=args.presampled))
        r = results[-1]
        print(f"  config {name} done ({r['reps']} reps x {r['steps_per_rep']} steps; params agree to {r['max_param_diff']:.1e})",
              flush=True)
    print()
    header = "| config | block, emb, hidden, batch | autograd_np ms | hand-written ms | torch ms | autograd_np / hand-written | torch / autograd_np |"
    print(header)
    print("|" + "---|" * 7)
    for r in results:
        ms = r["ms"]
        t = f"{ms['torch']:.3f}" if "torch" in ms else "n/a"
        tr = f"{r['ratio_torch_ag']:.2f}" if "ratio_torch_ag" in r else "n/a"
        print(f"| {r['config']} | {r['block']}, {r['emb']}, {r['hidden']}, {r['batch']} | {ms['autograd_np']:.3f} | "
              f"{ms['handwritten']:.3f} | {t} | {r['ratio_ag_hw']:.2f} | {tr} |")
    if any("ms" in r and "compiled" in r["ms"] for r in results):
        print()
        print("autograd_np.compile (the batch gathered outside the step; ratios: median of per-repetition ratios "
              "[25th-75th; min-max]):")
        print("| config | compiled fused ms | / hand-written | compiled lecture ms | / hand-written | strict lecture ms "
              "| / hand-written | torch / compiled lecture |")
        print("|" + "---|" * 8)
        for r in results:
            ms = r["ms"]
            if "compiled" not in ms:
                continue
            torch_ratio = _spread(r, "torch_compiled_lecture") if "ratio_torch_compiled_lecture" in r else "n/a"
            print(f"| {r['config']} | {ms['compiled']:.3f} | {_spread(r, 'compiled_hw')} | {ms['compiled_lecture']:.3f} | "
                  f"{_spread(r, 'compiled_lecture_hw')} | {ms['compiled_strict']:.3f} | {_spread(r, 'compiled_strict_hw')} | "
                  f"{torch_ratio} |")
    for r in results:
        if "ratio_unfused_hw" in r:
            print(f"config {r['config']}: autograd_np with `x @ W + b` layers (matmul + add, --unfused): "
                  f"{r['ms']['autograd_np_unfused']:.3f} ms, {r['ratio_unfused_hw']:.2f}x hand-written")
        if "ratio_minimal_hw" in r:
            print(f"config {r['config']}: the barest per-op tape (benchmarks/minimal_tape.py, --minimal-tape): "
                  f"{r['ms']['minimal_tape']:.3f} ms, {r['ratio_minimal_hw']:.2f}x hand-written")
    if any("ratio_lecture_fused" in r or "ratio_new_ref" in r for r in results):
        print_lecture_ref_table(results, f"{args.ref} ({ref_commit})" if args.ref else None)
    if args.presampled:
        print("\n--presampled: the minibatch indices were drawn before timing (the same arrays for every "
              "implementation); the gather X[ix] is in the step, the random number generator is not.")
    print(f"\nms/step: median over {args.reps} round-robin repetitions (each: {args.settle} s untimed settling, then "
          f"~{args.target} s timed per implementation); ratios: median of per-repetition ratios.")
    overhead = None
    if not args.skip_overhead:
        overhead = per_op_overhead()
        print(
            f"Per-op overhead, add of two (32, 200) float32 arrays: bare NumPy {overhead['bare']:.2f} us; "
            f"autograd_np forward (record) {overhead['forward']:.2f} us; forward + backward (record + replay) "
            f"{overhead['forward_backward']:.2f} us"
        )
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": results, "overhead": overhead}, f, indent=1)


if __name__ == "__main__":
    main()
