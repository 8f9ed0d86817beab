"""A step-through of the backward pass, in one self-contained HTML file.

The frames come from the engine's own walk: ``record_backward`` runs
``autograd_np.grad(loss, leaves, retain_graph=True)`` (the walk ``backward()`` runs, ``graph.backprop``)
inside ``autograd_np.graph.observe_backward`` and keeps, for every tensor in the order the walk
reaches it, the incoming gradient and what its VJPs sent to each input. The page
(``step_through``) draws the forward graph as inline SVG and replays those frames. The JSON format
is documented in docs/step-through.md.
"""
from __future__ import annotations

import html
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import autograd_np
from autograd_np import Tensor
from autograd_np.graph import BackwardStep, observe_backward

from .modules import ModuleGroups
from .draw import GRAD_BUCKETS, NONFINITE_GRAD_COLOR, ZERO_GRAD_COLOR, _module_names, _param_names, _walk

#: the incoming gradient's heat map shows at most this many rows and columns (its top-left corner)
HEAT_ROWS, HEAT_COLS = 8, 24
#: graphs with more nodes than this start with every module call collapsed to one box
COLLAPSE_ABOVE = 40
_PAGE = Path(__file__).with_name("step_through.html")


class StepThroughFile(type(Path())):  # type: ignore[misc]
    """The path of a written step-through page; in Jupyter it shows the page inline."""

    def _repr_html_(self) -> str:
        page = self.read_text(encoding="utf-8")
        return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:720px;'
                'border:1px solid #ccc" sandbox="allow-scripts"></iframe>')


def step_through(
    loss: Tensor,
    path: str | os.PathLike | None = None,
    params: Any = None,
    *,
    collapse: bool | None = None,
    title: str | None = None,
) -> StepThroughFile:
    """Write a page that replays the backward pass of ``loss`` one node at a time; return its path.

    Args:
        loss: a one-element Tensor with a live graph (before ``backward()``, or after
            ``backward(retain_graph=True)``). Parameters' ``.grad`` are not touched and the
            graph stays live.
        path: where to write the ``.html`` file (default: a new file in the temporary folder).
        params: names for leaves, as in ``viz.draw`` (a module, a dict or ``(name, Tensor)``
            pairs); parameters of live ``nn.Module``s are named without it.
        collapse: start with every module call drawn as one box (click a box to open it);
            default: when the graph has more than ``COLLAPSE_ABOVE`` nodes.
        title: the page's heading (default: ``backward of <op>``).
    Returns:
        the path written (a ``pathlib.Path``; shown inline in Jupyter).
    """
    data = record_backward(loss, params)
    if collapse is None:
        collapse = len(data["graph"]["nodes"]) > COLLAPSE_ABOVE
    data["graph"]["collapsed"] = bool(collapse)
    heading = title or f"backward of {loss.op or 'a leaf'}"
    page = render_page(data, heading)
    if path is None:
        handle, name = tempfile.mkstemp(prefix="step_through_", suffix=".html")
        os.close(handle)
        path = name
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"viz.step_through: the page is HTML; give a path ending in .html, got {str(path)!r}")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    return StepThroughFile(path)


def render_page(data: dict, heading: str) -> str:
    """The HTML page for ``record_backward``'s data: the template with the JSON filled in."""
    template = _PAGE.read_text(encoding="utf-8")
    return (template.replace("__TITLE__", html.escape(heading))
            .replace("__GRAPH_JSON__", _script_json(data["graph"]))
            .replace("__FRAMES_JSON__", _script_json(data["frames"])))


def _script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element (no ``</``)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


# ----- recording ---------------------------------------------------------------------------------
def record_backward(loss: Tensor, params: Any = None) -> dict:
    """The forward graph and one frame per tensor the backward walk reaches, as plain data.

    Returns ``{"graph": {"nodes": [...], "groups": {...}}, "frames": [...]}`` (the format is in
    docs/step-through.md). Frame 0 is the forward pass; frame k is the k-th tensor the walk ran.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"viz.step_through: expected an autograd_np.Tensor, got {type(loss).__name__}")
    if not loss.requires_grad:
        raise RuntimeError("viz.step_through: the tensor does not require grad, so backward has nothing to do")
    if loss.size != 1:
        raise ValueError(f"viz.step_through: backward starts from a one-element tensor such as the loss; "
                         f"this one has shape {loss.shape}")
    order = _walk(loss)
    index = {id(t): i for i, t in enumerate(order)}
    names = {**_module_names(order), **_param_names(params)}
    graph = _graph_data(order, loss, names)
    labels = [node["label"] for node in graph["nodes"]]

    recorder = _FrameRecorder(index, labels)
    leaves = [t for t in order if t.op is None and t.requires_grad]
    with observe_backward(recorder.record):
        autograd_np.grad(loss, leaves or [loss], retain_graph=True)
    value = float(np.asarray(loss.data, dtype=np.float64).reshape(-1)[0])
    first = {
        "step": 0, "node": index[id(loss)], "op": "forward", "name": labels[index[id(loss)]], "module": None,
        "rule": "", "rule_shapes": [], "shape": list(loss.shape), "grad_norm": None, "grad_heat": None,
        "received": 0, "contributions": [],
        "caption": f"Forward pass: {len(order)} tensors; {loss.op} = {_fmt(value)}. "
                   f"Backward starts at the output with G = 1.",
    }
    return {"graph": graph, "frames": [first] + recorder.frames}


class _FrameRecorder:
    """Turns each ``BackwardStep`` into a frame at once (the walk's arrays are not kept)."""

    def __init__(self, index: dict[int, int], labels: list[str]) -> None:
        self.index, self.labels = index, labels
        self.frames: list[dict] = []
        self.totals: dict[int, np.ndarray] = {}  # id -> the sum of the contributions so far
        self.counts: dict[int, int] = {}

    def record(self, step: BackwardStep) -> None:
        t = step.tensor
        g = _as_array(step.grad)
        node = self.index[id(t)]
        contributions = []
        for position, target, part in step.contributions:
            part = _as_array(part)
            key = id(target)
            self.counts[key] = self.counts.get(key, 0) + 1
            total = part if key not in self.totals else self.totals[key] + part
            self.totals[key] = np.array(total, dtype=np.float64)
            contributions.append({
                "input": self.index[key], "name": self.labels[self.index[key]], "position": position,
                "shape": list(part.shape), "norm": _norm(part), "count": self.counts[key],
                "total_norm": _norm(self.totals[key]), "leaf": target.op is None,
            })
        k = len(self.frames) + 1
        name = self.labels[node]
        what = f"{t.op} -> {name}" if t.op is not None and name != t.op else name
        caption = (f"Step {k}: {what} {_shape(t.shape)}, node {node}; incoming G {_shape(g.shape)}, "
                   f"|G| = {_fmt(_norm(g))}")
        if t.op is None:
            caption += f"; {name}.grad = G" + (f" (the sum of {self.counts.get(id(t), 1)} contributions)"
                                               if self.counts.get(id(t), 1) > 1 else "")
        self.frames.append({
            "step": k, "node": node, "op": t.op or "leaf", "name": name, "module": t.op_module,
            "rule": t.op_rule or "", "rule_shapes": rule_with_shapes(t, g.shape, step.contributions),
            "shape": list(t.shape), "grad_norm": _norm(g), "grad_heat": heat_map(g),
            "received": self.counts.get(id(t), 1 if k == 1 else 0), "contributions": contributions,
            "caption": caption,
        })


def _as_array(g: Any) -> np.ndarray:
    return np.asarray(g._data if isinstance(g, Tensor) else g)


def _norm(a: np.ndarray) -> float:
    value = float(np.linalg.norm(np.asarray(a, dtype=np.float64).ravel()))
    return value if np.isfinite(value) else (1e308 if value > 0 else 0.0)


def heat_map(g: np.ndarray) -> dict:
    """The top-left corner of ``g`` as rows of numbers (3 significant digits), for a small heat map.

    A 0-d or 1-d gradient is one row; more dimensions are flattened to (rows, last axis).
    """
    a = np.asarray(g, dtype=np.float64)
    a = a.reshape(1, -1) if a.ndim < 2 else a.reshape(-1, a.shape[-1])
    corner = np.nan_to_num(a[:HEAT_ROWS, :HEAT_COLS], nan=0.0, posinf=1e308, neginf=-1e308)
    return {
        "rows": int(a.shape[0]), "cols": int(a.shape[1]),
        "values": [[float(f"{v:.3g}") for v in row] for row in corner],
        "max_abs": float(f"{np.abs(corner).max():.3g}") if corner.size else 0.0,
    }


_PART = re.compile(r"\s*(d\w+)\s*=\s*(.+?)\s*$")


def rule_with_shapes(t: Tensor, g_shape: tuple, contributions: list) -> list[str]:
    """The op's VJP rule with this node's shapes in it, one line per input whose VJP ran:
    ``dW = X^T G: (30, 32) @ (32, 200) -> (30, 200)`` for a product of two factors (each ``G``,
    an input or its transpose ``^T``), else ``dx = G (1 - y^2): G (32, 200) -> (32, 200)``.

    The rule's parts (``dA = ...``) belong to the op's last arguments in order (``where``'s two
    parts to ``a`` and ``b``, not to the condition); a variadic op's one ``dx_i`` part to each."""
    parts = [m.groups() for m in map(_PART.match, _split_rule(t.op_rule or "")) if m]
    inputs = t.op_inputs
    offset = len(inputs) - len(parts)
    names = {lhs[1:]: inputs[offset + k] for k, (lhs, _) in enumerate(parts)} if offset >= 0 else {}  # A -> its input
    lines = []
    for position, _, part in contributions:
        given = f"G {_shape(g_shape)} -> {_shape(np.shape(_as_array(part)))}"
        if len(parts) == 1 and parts[0][0].endswith("_i"):
            lines.append(f"{parts[0][0]} = {parts[0][1]} (i = {position}): {given}")
        elif offset >= 0 and 0 <= position - offset < len(parts):
            lhs, rhs = parts[position - offset]
            product = _product_shapes(rhs, names, g_shape)
            lines.append(f"{lhs} = {rhs}: " + (f"{product} -> {_shape(np.shape(_as_array(part)))}" if product else given))
        else:
            lines.append(f"d(input {position}): {given}")
    return lines


def _split_rule(rule: str) -> list[str]:
    """``dA = G B^T, dB = A^T G`` -> the parts, split only at commas that start a new ``dX =``."""
    return re.split(r",\s*(?=d\w+\s*=)", rule) if rule else []


def _product_shapes(rhs: str, names: dict[str, Any], g_shape: tuple) -> str:
    factors = rhs.split()
    if len(factors) != 2:
        return ""
    shapes = []
    for factor in factors:
        transposed = factor.endswith("^T")
        name = factor[:-2] if transposed else factor
        if name == "G":
            shape = tuple(g_shape)
        elif name in names and isinstance(names[name], Tensor):
            shape = tuple(names[name].shape)
        else:
            return ""
        if transposed:
            if len(shape) < 2:
                return ""
            shape = shape[:-2] + (shape[-1], shape[-2])
        shapes.append(shape)
    return " @ ".join(_shape(s) for s in shapes)


# ----- the forward graph -------------------------------------------------------------------------
def _graph_data(order: list[Tensor], root: Tensor, names: dict[int, str]) -> dict:
    """Nodes (inputs first) with labels, values and module calls, and the module-call groups."""
    index = {id(t): i for i, t in enumerate(order)}
    modules = ModuleGroups(order, names)
    nodes = []
    for i, t in enumerate(order):
        kind = "op" if t.op is not None else ("param" if t.requires_grad else "const")
        label = t.op if t.op is not None else (names.get(id(t)) or t.name or ("leaf" if t.requires_grad else "constant"))
        nodes.append({
            "id": i, "label": label, "op": t.op, "kind": kind, "shape": list(t.shape), "dtype": str(t.dtype),
            "value": _value_text(t.data), "module": t.op_module, "groups": modules.chains[i],
            "parents": sorted({index[id(p)] for p in t.parents}), "root": t is root,
        })
    colors = [[bound if np.isfinite(bound) else None, color] for bound, color, _ in GRAD_BUCKETS]
    return {"nodes": nodes, "groups": modules.groups, "grad_colors": colors,
            "zero_color": ZERO_GRAD_COLOR, "nonfinite_color": NONFINITE_GRAD_COLOR}


def _value_text(data: np.ndarray) -> str:
    if data.size == 0:
        return "empty"
    x = np.asarray(data, dtype=np.float64)
    if x.size == 1:
        return f"value {_fmt(float(x.reshape(-1)[0]))}"
    if not np.isfinite(x).all():  # a mask of -inf, say
        return f"min {_fmt(float(x.min()))}, max {_fmt(float(x.max()))}"
    return f"mean {_fmt(float(x.mean()))}, std {_fmt(float(x.std()))}"


def _shape(shape: Any) -> str:
    shape = tuple(int(n) for n in shape)
    return "()" if shape == () else f"({shape[0]},)" if len(shape) == 1 else str(shape)


def _fmt(x: float) -> str:
    return f"{x:.4g}"
