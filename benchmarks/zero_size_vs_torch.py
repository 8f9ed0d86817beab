"""Record PyTorch's answers for the zero-size cases of ``tests/test_ops_zero_size.py``.

For each case (same id, same input shapes) this runs the PyTorch spelling of the op on
float64 zeros that require grad, and records the output shape, or PyTorch's error, in
``tests/data/zero_size_torch.json``; ``test_zero_size_shapes_as_pytorch`` then checks the
engine against it, so the tests never import torch. Run by hand after changing the cases:

    python benchmarks/zero_size_vs_torch.py          # needs torch (e.g. pip install torch==2.13.0)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_ops_zero_size import CASES, FIXTURE  # noqa: E402  (the case ids and input shapes)

_I = torch.zeros(0, dtype=torch.long)


def _assigned(x: torch.Tensor, index: Any, value: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[index] = value
    return out


def _zeros_bool(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.bool)


def _long(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.long)


TORCH: dict[str, Callable[..., Any]] = {
    "sum_to (0,3)->(3,)": lambda x: x.sum(0),
    "sum_to (2,0)->(1,0)": lambda x: x.sum(0, keepdim=True),
    "broadcast_to (1,3)->(0,3)": lambda x: torch.broadcast_to(x, (0, 3)),
    "expand (0,1)->(0,4)": lambda x: x.expand(0, 4),
    "neg": torch.neg,
    "exp": torch.exp,
    "log": torch.log,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "abs": torch.abs,
    "sin": torch.sin,
    "cos": torch.cos,
    "erf": torch.erf,
    "softplus": F.softplus,
    "sign": torch.sign,
    "floor": torch.floor,
    "ceil": torch.ceil,
    "trunc": torch.trunc,
    "round": torch.round,
    "sqrt": torch.sqrt,
    "square": torch.square,
    "astype float32": lambda x: x.float(),
    "gelu": F.gelu,
    "dropout": lambda x: F.dropout(x, 0.5),
    "add (0,3)+(3,)": torch.add,
    "sub (2,0)-(2,1)": torch.sub,
    "mul (0,1)*(1,4)": torch.mul,
    "div (2,0)/()": torch.div,
    "pow (0,3)**(3,)": torch.pow,
    "maximum (0,3) (1,3)": torch.maximum,
    "minimum (2,0) (2,1)": torch.minimum,
    "logaddexp (0,3) (3,)": torch.logaddexp,
    "where (0,3)": lambda a, b: torch.where(_zeros_bool(0, 3), a, b),
    "masked_fill (2,0)": lambda x: x.masked_fill(_zeros_bool(2, 0), 1.0),
    "clip (0,3) scalars": lambda x: x.clamp(-1.0, 1.0),
    "clip (0,3) tensor bounds": torch.clamp,
    "matmul (2,0)@(0,3)": torch.matmul,
    "matmul (0,2)@(2,3)": torch.matmul,
    "matmul (2,3)@(3,0)": torch.matmul,
    "matmul (4,2,0)@(0,3)": torch.matmul,
    "matmul (0,2,3)@(3,4)": torch.matmul,
    "matmul (0,)@(0,)": torch.matmul,
    "matmul (2,0)@(0,)": torch.matmul,
    "matmul (2,1,1,0)@(3,0,4)": torch.matmul,
    "matmul (2,1,0)@(3,0,4) batch mismatch": torch.matmul,
    "linear (2,0) W(0,3)": lambda x, w, b: F.linear(x, w.T, b),  # PyTorch's weight is (out, in)
    "linear (0,4) W(4,3)": lambda x, w, b: F.linear(x, w.T, b),
    "linear (2,5,0) W(0,3)": lambda x, w, b: F.linear(x, w.T, b),
    "linear (0,2,4) W(4,3)": lambda x, w, b: F.linear(x, w.T, b),
    "linear (2,4) W(4,0)": lambda x, w, b: F.linear(x, w.T, b),
    "sum all (0,3)": torch.sum,
    "sum axis 0 (0,3)": lambda x: x.sum(0),
    "sum axis 1 keepdims (2,0)": lambda x: x.sum(1, keepdim=True),
    "mean all (0,3)": torch.mean,
    "mean axis 1 (0,3)": lambda x: x.mean(1),
    "mean axis 0 (0,3)": lambda x: x.mean(0),
    "var axis 0 (0,3)": lambda x: x.var(0, correction=0),
    "var axis 1 (0,3)": lambda x: x.var(1, correction=0),
    "std all (2,0)": lambda x: x.std(correction=0),
    "std axis 1 (0,3)": lambda x: x.std(1, correction=0),
    "max all (0,3)": torch.amax,
    "max axis 0 (0,3)": lambda x: x.amax(0),
    "max axis 1 (0,3)": lambda x: x.amax(1),
    "min axis 1 (2,0)": lambda x: x.amin(1),
    "min axis 0 (2,0)": lambda x: x.amin(0),
    "logsumexp axis 1 (2,0)": lambda x: torch.logsumexp(x, 1),
    "logsumexp all (0,3)": lambda x: torch.logsumexp(x, (0, 1)),
    "logsumexp axis 1 (0,3)": lambda x: torch.logsumexp(x, 1),
    "cumsum axis 0 (0,3)": lambda x: x.cumsum(0),
    "cumsum flat (2,0)": lambda x: x.flatten().cumsum(0),
    "argmax all (0,3)": torch.argmax,
    "argmax axis 1 (0,3)": lambda x: x.argmax(1),
    "argmin axis 1 (2,0)": lambda x: x.argmin(1),
    "log_softmax (2,0)": lambda x: F.log_softmax(x, -1),
    "log_softmax (0,3) axis 0": lambda x: F.log_softmax(x, 0),
    "softmax (2,0)": lambda x: F.softmax(x, -1),
    "softmax (0,3)": lambda x: F.softmax(x, -1),
    "cross_entropy (0,3)": lambda x: F.cross_entropy(x, _I),
    "cross_entropy sum (0,3)": lambda x: F.cross_entropy(x, _I, reduction="sum"),
    "cross_entropy (2,0,3)": lambda x: F.cross_entropy(x.permute(0, 2, 1), _long(2, 0)),  # classes in dim 1
    "cross_entropy ignore_index (0,3)": lambda x: F.cross_entropy(x, _I, ignore_index=-1),
    "cross_entropy label_smoothing (0,3)": lambda x: F.cross_entropy(x, _I, label_smoothing=0.1),
    "nll_loss (0,3)": lambda x: F.nll_loss(x, _I),
    "mse_loss (0,3)": F.mse_loss,
    "l1_loss (0,3)": F.l1_loss,
    "bce_with_logits (2,0)": F.binary_cross_entropy_with_logits,
    "leaky_relu (0,3)": F.leaky_relu,
    "Linear (2,0,4)": lambda x: torch.nn.Linear(4, 3, dtype=torch.float64)(x),
    "layer_norm (0,3)": lambda x: F.layer_norm(x, (3,)),
    "embedding of no indices": lambda w: F.embedding(_I, w),
    "reshape (0,3)->(3,0)": lambda x: x.reshape(3, 0),
    "reshape (0,3)->(-1,)": lambda x: x.reshape(-1),
    "reshape (0,3)->(0,-1)": lambda x: x.reshape(0, -1),
    "reshape (2,0,3)->(0,2,3)": lambda x: x.reshape(0, 2, 3),
    "flatten (0,2)": torch.flatten,
    "flatten(1) (0,2,3)": lambda x: x.flatten(1),
    "flatten(1) (2,0,3)": lambda x: x.flatten(1),
    "transpose (0,2,3)": lambda x: x.permute(2, 1, 0),
    "permute (0,2,3) (1,0,2)": lambda x: x.permute(1, 0, 2),
    "squeeze (0,1,3) axis 1": lambda x: x.squeeze(1),
    "unsqueeze (0,3) dim 0": lambda x: x.unsqueeze(0),
    "flip (0,3)": lambda x: x.flip(0),
    "tile (0,3) 2": lambda x: x.tile(2),
    "tile (2,3) (0,1)": lambda x: x.tile((0, 1)),
    "pad (0,3)": lambda x: F.pad(x, (0, 0, 1, 1)),
    "tril (0,3)": torch.tril,
    "triu (2,0)": torch.triu,
    "repeat_interleave (0,3)": lambda x: x.repeat_interleave(2, dim=0),
    "repeat_interleave (2,3) 0 times": lambda x: x.repeat_interleave(0, dim=0),
    "split (0,3) in 2": lambda x: x.split(2)[0],
    "chunk (2,0) in 2 on dim 1": lambda x: x.chunk(2, dim=1)[0],
    "np.split (0,3) in 3 on axis 0": lambda x: torch.tensor_split(x, 3)[1],
    "setitem (0,3)[:, 1] = v": lambda x, v: _assigned(x, (slice(None), 1), v),
    "setitem (5,3)[empty index] = v": lambda x, v: _assigned(x, _long(0), v),
    "getitem (0,3)[:, 1]": lambda x: x[:, 1],
    "getitem (5,3)[empty index]": lambda x: x[_I],
    "getitem (300,3)[empty index]": lambda x: x[_I],
    "getitem (5,3)[all-False mask]": lambda x: x[_zeros_bool(5)],
    "getitem (2,0)[repeats]": lambda x: x[torch.tensor([1, 1])],
    "getitem (0,3)[empty, repeats]": lambda x: x[_I][:, [1, 1]],
    "scatter_add (0,3) into (5,3)": lambda g: torch.zeros(5, 3, dtype=g.dtype).index_add(0, _I, g),
    "concatenate (0,3) (2,3)": lambda a, b: torch.cat([a, b]),
    "concatenate (2,0) (2,3) axis 1": lambda a, b: torch.cat([a, b], 1),
    "concatenate (0,3) (0,3) axis 1": lambda a, b: torch.cat([a, b], 1),
    "stack (0,3) (0,3)": lambda a, b: torch.stack([a, b]),
    "stack (0,3) (0,3) axis 1": lambda a, b: torch.stack([a, b], 1),
    "gather (0,3) index (0,3)": lambda x: x.gather(1, _long(0, 3)),
    "gather (2,3) index (2,0)": lambda x: x.gather(1, _long(2, 0)),
    "take_along_axis (0,3) indices (0,1)": lambda x: torch.take_along_dim(x, _long(0, 1), 1),
    "take_along_axis (2,3) indices (2,0)": lambda x: torch.take_along_dim(x, _long(2, 0), 1),
    "take_along_axis (2,0) indices (2,1)": lambda x: torch.take_along_dim(x, _long(2, 1), 1),
    "take_along_axis (0,3) indices (1,2)": lambda x: torch.take_along_dim(x, _long(1, 2), 1),
    "take_along_axis (2,3) indices (0,1)": lambda x: torch.take_along_dim(x, _long(0, 1), 1),
    "conv2d (0,2,5,5) W(3,2,3,3)": F.conv2d,
    "conv2d (2,2,5,5) W(0,2,3,3)": F.conv2d,
    "conv1d (0,2,5) W(3,2,2)": F.conv1d,
    "conv_transpose2d (0,3,3,3) W(3,2,2,2)": F.conv_transpose2d,
    "conv2d_weight (0,2,5,5) g(0,3,3,3)": lambda x, g: torch.nn.grad.conv2d_weight(x, (3, 2, 3, 3), g),
    "max_pool2d (0,2,4,4)": lambda x: F.max_pool2d(x, 2),
    "max_pool2d (2,0,4,4)": lambda x: F.max_pool2d(x, 2),
    "avg_pool2d (0,2,4,4)": lambda x: F.avg_pool2d(x, 2),
    "adaptive_avg_pool2d (0,2,4,4)": lambda x: F.adaptive_avg_pool2d(x, 3),
    "tan (0,3)": torch.tan,
    "sinh (0,3)": torch.sinh,
    "cosh (2,0)": torch.cosh,
    "arctan (0,3)": torch.arctan,
    "arcsin (0,3)": torch.arcsin,
    "arccos (0,3)": torch.arccos,
    "arctanh (0,3)": torch.arctanh,
    "log1p (0,3)": torch.log1p,
    "expm1 (0,3)": torch.expm1,
    "log2 (0,3)": torch.log2,
    "log10 (0,3)": torch.log10,
    "exp2 (0,3)": torch.exp2,
    "remainder (0,3) % (3,)": torch.remainder,
    "fmod (2,0) (2,1)": torch.fmod,
    "hypot (0,3) (3,)": torch.hypot,
    "prod all (0,3)": torch.prod,
    "prod axis 0 (0,3)": lambda x: x.prod(0),
    "prod axis 1 (0,3)": lambda x: x.prod(1),
    "cumprod axis 0 (0,3)": lambda x: x.cumprod(0),
    "cumprod flat (2,0)": lambda x: x.flatten().cumprod(0),
    "roll (0,3)": lambda x: x.roll(1, 1),
    "einsum ij,jk (2,0) (0,3)": lambda a, b: torch.einsum("ij,jk", a, b),
    "einsum ...i->... (0,3)": lambda x: torch.einsum("...i->...", x),
    "einsum ii->i (0,0)": lambda x: torch.einsum("ii->i", x),
    "solve (0,3,3) (0,3,2)": torch.linalg.solve,
    "solve (0,0) (0,)": torch.linalg.solve,
    "inv (0,3,3)": torch.linalg.inv,
    "inv (0,0)": torch.linalg.inv,
    "det (0,3,3)": torch.linalg.det,
    "det (0,0)": torch.linalg.det,
    "slogdet (0,2,2)": lambda x: torch.linalg.slogdet(x)[1],
    "cholesky (0,3,3)": torch.linalg.cholesky,
    "eigh values (0,3,3)": lambda x: torch.linalg.eigh(x)[0],
    "eigh vectors (0,3,3)": lambda x: torch.linalg.eigh(x)[1],
    "svd values (0,3,2)": torch.linalg.svdvals,
    "svd U (0,3,2)": lambda x: torch.linalg.svd(x, full_matrices=False)[0],
    "svd values (2,0)": torch.linalg.svdvals,
    "qr Q (0,3,2)": lambda x: torch.linalg.qr(x)[0],
    "qr R (2,0)": lambda x: torch.linalg.qr(x)[1],
    "norm (0,3)": torch.linalg.norm,
    "norm axis 1 (0,3)": lambda x: torch.linalg.vector_norm(x, dim=1),
    "norm axis 0 (0,3)": lambda x: torch.linalg.vector_norm(x, dim=0),
}


def answer(fn: Callable[..., Any], shapes: tuple[tuple[int, ...], ...]) -> dict[str, Any]:
    """PyTorch's output shape for inputs of ``shapes``, or its error (first line)."""
    inputs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    try:
        out = fn(*inputs)
    except Exception as error:  # noqa: BLE001  (any refusal is an answer)
        return {"error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}
    return {"shape": list(out.shape), "dtype": str(out.dtype).removeprefix("torch.")}


def main() -> None:
    missing = [c.id for c in CASES if c.id not in TORCH]
    extra = sorted(set(TORCH) - {c.id for c in CASES})
    if missing or extra:
        raise SystemExit(f"cases without a PyTorch spelling: {missing}; spellings without a case: {extra}")
    cases = {c.id: {"inputs": [list(s) for s in c.inputs], **answer(TORCH[c.id], c.inputs)} for c in CASES}
    FIXTURE.parent.mkdir(exist_ok=True)
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in cases.items()]  # one case per line
    FIXTURE.write_text(f'{{"torch": {json.dumps(torch.__version__)}, "cases": {{\n' + ",\n".join(lines) + "\n}}\n")
    refused = sum("error" in v for v in cases.values())
    print(f"wrote {FIXTURE.relative_to(ROOT)}: {len(cases)} cases, PyTorch {torch.__version__} refuses {refused}")


if __name__ == "__main__":
    main()
