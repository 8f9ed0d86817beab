"""Build a Graphviz picture of an autograd_np graph (uses only the public graph walk).

Nodes and edges
---------------
- one node per recorded op (rounded box: op name, small arguments, output shape) and one
  per leaf Tensor (ellipse: name, shape, ``requires_grad`` or ``constant``). Constants
  (leaves that do not require grad, e.g. the input batch) are dashed and grey. The
  output tensor has a thick border.
- one edge per *distinct* (input, op) pair, pointing along the data flow. An input that
  one op uses several times (``x * x``) gets a single edge labelled ``x2``, so the edge
  count equals the number of distinct input->op dependencies.
- Non-Tensor arguments (Python scalars, arrays) and keyword arguments are not nodes;
  short ones are written in the op's label (``pow`` / ``2``, ``sum`` / ``axis=(1,)``).
- With ``show_rule`` an op node's label is HTML-like, so that its VJP rule
  (``tensor.op_rule``) can sit under the rest in a smaller font.
"""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Iterable, Mapping

import numpy as np

import autograd_np
from autograd_np import Tensor
from autograd_np import GraphFreedError
from autograd_np.nn import root_modules

from .modules import ModuleGroups
from .renderer import VizDigraph

#: gradient-norm colour buckets: (upper bound, exclusive; fill colour; legend text)
GRAD_BUCKETS: list[tuple[float, str, str]] = [
    (1e-6, "#4575b4", "(0, 1e-6)  vanishing"),
    (1e-4, "#91bfdb", "[1e-6, 1e-4)"),
    (1e-2, "#c7e9c0", "[1e-4, 1e-2)"),
    (1e0, "#74c476", "[1e-2, 1)"),
    (1e2, "#fee090", "[1, 1e2)"),
    (1e4, "#fc8d59", "[1e2, 1e4)"),
    (math.inf, "#d73027", ">= 1e4  exploding"),
]
ZERO_GRAD_COLOR = "#bdbdbd"  # exactly zero: no gradient reaches this node
NONFINITE_GRAD_COLOR = "#000000"  # nan or inf
_DARK_FILLS = {GRAD_BUCKETS[0][1], GRAD_BUCKETS[-1][1], NONFINITE_GRAD_COLOR}

OP_FILL = "#f2f2f2"
RULE_FONT_SIZE = "9"
RULE_COLOR = "#333333"  # on light fills; dark fills keep the node's white text
RULE_GAP = '<FONT POINT-SIZE="4"> </FONT>'  # a thin blank line between the label and its rules
RULE_NODE_MARGIN = "0.11,0.08"  # Graphviz's default is 0.11,0.055: a little more room below the rules
PARAM_FILL = "#cfe2f3"
MODULE_FILL = "#efe6f7"  # a module call drawn as one box (group_modules)
CONST_COLOR = "#888888"
RANKDIRS = ("TB", "LR", "BT", "RL")


class GraphTooLargeError(ValueError):
    """The graph has more nodes than ``max_nodes`` (nothing is drawn)."""


def draw(
    tensor: Tensor,
    params: Any = None,
    *,
    show_values: bool | str = False,
    show_grad: bool = False,
    grad_output: Any = None,
    rankdir: str = "TB",
    max_nodes: int | None = 500,
    collapse_chains: bool = False,
    show_rule: bool = False,
    show_jvp: bool = False,
    graph_attr: Mapping[str, str] | None = None,
    module_names: bool = True,
    group_modules: bool = False,
) -> VizDigraph:
    """The computation graph that produced ``tensor``, as a ``graphviz.Digraph`` subclass.

    Args:
        tensor: the output to draw back from (usually the loss).
        params: names for leaf tensors: an object with ``named_parameters()`` (a module),
            a dict ``name -> Tensor`` or an iterable of ``(name, Tensor)`` pairs. Leaves
            not named here fall back to ``Tensor.name``, then to ``module_names``.
        show_values: ``True``/``"meanstd"`` adds mean and std of every tensor's value,
            ``"minmax"`` adds min and max (a one-element tensor shows its value).
        show_grad: colour every node by the norm of d(tensor)/d(node), computed with
            ``autograd_np.grad(tensor, nodes, retain_graph=True)``, and add a legend.
            The graph must be live: draw before ``backward()`` or after
            ``backward(retain_graph=True)``. ``.grad`` attributes are not touched.
        grad_output: the seed for ``show_grad`` when ``tensor`` has more than one element.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right); also ``BT``, ``RL``.
        max_nodes: refuse (``GraphTooLargeError``, naming the count and the limit) to
            draw more nodes than this; the count is taken after ``collapse_chains``.
            ``None`` disables the check.
        collapse_chains: merge each op with the single-input ops that follow it while the
            intermediate results have no other use (``add -> tanh -> mul``) into one node
            labelled with the ops; its shape, values and gradient are the last op's.
        show_rule: write each op's VJP rule (``tensor.op_rule``, such as
            ``dx = G (1 - y^2)``) under its node's label, in a smaller font; a collapsed
            chain lists ``op: rule`` once per distinct op. Rules are written in ASCII
            (other characters are spelled out: ``ᵀ`` as ``^T``, ``∂`` as ``d``), so that
            both renderers can measure them. An op defined without a rule shows none.
        show_jvp: also write each op's JVP, its forward-mode rule (``tensor.op_jvp_rule``,
            such as ``dy = dx (1 - y^2)``), on the line after the VJP (alone without ``show_rule``).
        graph_attr: extra Graphviz graph attributes (``{"label": "my model"}``, ``size``...).
        module_names: name a parameter of a live ``nn.Module`` as its top-most module's
            ``named_parameters()`` does (``layers.0.weight``), without ``params``. The
            modules come from ``autograd_np.nn.root_modules()``; where several name the
            same tensor, the one naming most of this graph's leaves wins (then the newest).
        group_modules: draw each call of a sub-module of the model (the ops recorded in its
            ``forward``, ``tensor.op_module``) as one box labelled with its path and class
            (``blocks.0 (Block)``, ``N nodes``); a parameter only that call uses goes in it.
    Raises:
        RuntimeError: if ``backward()`` already freed the graph.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"viz.draw: expected an autograd_np.Tensor, got {type(tensor).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"viz.draw: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if show_values not in (False, True, "meanstd", "minmax"):
        raise ValueError(f"viz.draw: show_values must be False, True, 'meanstd' or 'minmax', got {show_values!r}")

    order = _walk(tensor)
    names = _param_names(params)
    fallback_names = _module_names(order) if module_names else {}
    all_names = {**fallback_names, **names}
    boxes = ModuleGroups(order, all_names) if group_modules else None
    groups, group_of = _group(order, collapse_chains, boxes)
    position = {id(t): i for i, t in enumerate(order)}
    if max_nodes is not None and len(groups) > max_nodes:
        raise GraphTooLargeError(_too_large_message(order, len(groups), max_nodes, collapse_chains, boxes, all_names))

    norms = _grad_norms(tensor, order, grad_output) if show_grad else {}
    show_dtype = len({t.dtype for t in order}) > 1

    g = VizDigraph(name="autograd_np", format="svg")
    g.attr(**{"rankdir": rankdir, **dict(graph_attr or {})})
    g.attr("node", fontname="Helvetica", fontsize="10")
    g.attr("edge", fontname="Helvetica", fontsize="9")
    for i, members in enumerate(groups):
        rules = _rules(members, show_rule, show_jvp)
        last = members[-1]
        box = boxes.chains[position[id(members[0])]] if boxes else None
        lines = [f"{boxes.groups[box[0]]['label']}: {len(members)} nodes"] if box else _header(members, names, fallback_names)
        lines.append(_shape_text(last.shape))
        if last.op is None and last.requires_grad:
            lines.append("requires_grad")
        if show_dtype:
            lines.append(str(last.dtype))
        if show_values:
            lines.append(_value_text(last.data, show_values))
        attrs = _style(last, is_root=last is tensor)
        if box:
            attrs.update(shape="box", style="rounded,filled", fillcolor=MODULE_FILL)
        if show_grad and id(last) in norms:
            norm = norms[id(last)]
            lines.append(f"|grad|={_fmt(norm)}")
            fill = attrs["fillcolor"] = grad_color(norm)  # op and param nodes are filled
            if fill in _DARK_FILLS:
                attrs["fontcolor"] = "white"
        if rules:
            label = _html_label(lines, rules, dark=attrs.get("fontcolor") == "white")
            attrs["margin"] = RULE_NODE_MARGIN
        else:
            label = "\\n".join(_escape(line) for line in lines)
        g.node(f"n{i}", label=label, **attrs)

    counts: dict[tuple[int, int], int] = {}
    for t in order:
        for parent in t.parents:
            key = (group_of[id(parent)], group_of[id(t)])
            if key[0] != key[1]:
                counts[key] = counts.get(key, 0) + 1
    for (a, b), k in counts.items():
        g.edge(f"n{a}", f"n{b}", **({"label": f"x{k}"} if k > 1 else {}))

    if show_grad:
        g.node("legend", label=_legend(), shape="plaintext")
    return g


# ----- the walk and chain grouping -------------------------------------------------
def _walk(tensor: Tensor) -> list[Tensor]:
    try:
        return autograd_np.topological_order(tensor)
    except GraphFreedError:
        raise GraphFreedError(
            "viz.draw: the graph behind this tensor was freed by backward(), so there is "
            "nothing left to draw. Draw before calling backward(), or call "
            "backward(retain_graph=True) first."
        ) from None


def _group(order: list[Tensor], collapse: bool, boxes: ModuleGroups | None = None) -> tuple[list[list[Tensor]], dict[int, int]]:
    """Node groups in topological order (singletons unless ``collapse``; one per outermost module
    call with ``boxes``) and id -> group index."""
    groups: list[list[Tensor]] = []
    group_of: dict[int, int] = {}
    box_index: dict[str, int] = {}
    position = {id(t): i for i, t in enumerate(order)} if boxes is not None else {}
    consumers: dict[int, int] = {}
    if collapse:
        for t in order:
            for parent in set(map(id, t.parents)):
                consumers[parent] = consumers.get(parent, 0) + 1
    for i, t in enumerate(order):
        parents = t.parents
        if boxes is not None and boxes.chains[i]:
            index = box_index.setdefault(boxes.chains[i][0], len(groups))
            if index == len(groups):
                groups.append([])
            groups[index].append(t)
        elif (
            collapse
            and len(parents) == 1
            and parents[0].op is not None
            and consumers[id(parents[0])] == 1
            and (boxes is None or not boxes.chains[position[id(parents[0])]])
        ):
            index = group_of[id(parents[0])]
            groups[index].append(t)
        else:
            index = len(groups)
            groups.append([t])
        group_of[id(t)] = index
    return groups, group_of


def _too_large_message(order: list[Tensor], count: int, max_nodes: int, collapsed: bool,
                       boxes: ModuleGroups | None, names: dict[int, str]) -> str:
    """Names the count, the limit, and what each flag not yet given would bring it down to."""
    message = f"viz.draw: the graph has {count} nodes, more than max_nodes={max_nodes}"
    if collapsed:
        message += " (after collapse_chains)"
    else:
        fewer = len(_group(order, True, boxes)[0])
        message += f"; collapse_chains=True would draw {fewer}"
    if boxes is None and any(t.op_module_call is not None for t in order):
        boxed = len(_group(order, True, ModuleGroups(order, names))[0])
        message += f"; group_modules=True with collapse_chains=True would draw {boxed} (a box per module call)"
    return message + ". Pass a larger max_nodes, or max_nodes=None to draw it anyway."


# ----- names and gradients ------------------------------------------------------------
def _param_names(params: Any) -> dict[int, str]:
    """id(tensor) -> name, from a module, a dict or (name, tensor) pairs (duck typed)."""
    if params is None:
        return {}
    if callable(getattr(params, "named_parameters", None)):
        pairs: Iterable = params.named_parameters()
    elif callable(getattr(params, "items", None)):
        pairs = params.items()
    else:
        pairs = params
    names: dict[int, list[str]] = {}
    for item in pairs:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], Tensor)):
            raise TypeError(
                "viz.draw: params must be a module with named_parameters(), a dict name -> Tensor "
                f"or an iterable of (name, Tensor) pairs; got an element of type {type(item).__name__}"
            )
        names.setdefault(id(item[1]), []).append(str(item[0]))
    return {key: " = ".join(value) for key, value in names.items()}


def _module_names(order: list[Tensor]) -> dict[int, str]:
    """id(leaf) -> dotted name from the live top-level modules (``nn.root_modules()``)."""
    leaves = {id(t) for t in order if t.op is None and t.requires_grad}
    if not leaves:
        return {}
    found = []
    for rank, module in enumerate(root_modules()):
        try:
            named = {id(p): name for name, p in module.named_parameters() if id(p) in leaves}
        except Exception:  # a module whose parameters cannot be listed names nothing
            continue
        if named:
            found.append((len(named), rank, named))
    names: dict[int, str] = {}
    for *_, named in sorted(found, key=lambda item: item[:2], reverse=True):
        for key, name in named.items():
            names.setdefault(key, name)
    return names


def _grad_norms(root: Tensor, order: list[Tensor], grad_output: Any) -> dict[int, float]:
    """id(node) -> L2 norm of d(root)/d(node) for every node that requires grad."""
    if not root.requires_grad:
        raise RuntimeError("viz.draw(show_grad=True): the tensor does not require grad, so it has no gradients")
    if grad_output is None and root.size != 1:
        raise ValueError(
            f"viz.draw(show_grad=True): the tensor has shape {root.shape}; pass grad_output "
            "(same shape) or draw a scalar such as the loss"
        )
    nodes = [t for t in order if t.requires_grad]
    grads = autograd_np.grad(root, nodes, grad_output=grad_output, retain_graph=True)
    return {
        id(t): float(np.linalg.norm(np.asarray(gt.data, dtype=np.float64).ravel()))
        for t, gt in zip(nodes, grads)
    }


def grad_color(norm: float) -> str:
    """Fill colour of a gradient norm (see ``GRAD_BUCKETS``)."""
    if not math.isfinite(norm):
        return NONFINITE_GRAD_COLOR
    if norm == 0:
        return ZERO_GRAD_COLOR
    return next(color for bound, color, _ in GRAD_BUCKETS if norm < bound)


def _legend() -> str:
    rows = [(color, text) for _, color, text in GRAD_BUCKETS]
    rows += [(ZERO_GRAD_COLOR, "0  (no gradient reaches it)"), (NONFINITE_GRAD_COLOR, "nan / inf")]
    cells = "".join(
        f'<TR><TD BGCOLOR="{color}" WIDTH="24"> </TD><TD ALIGN="LEFT">{_html(text)}</TD></TR>'
        for color, text in rows
    )
    title = "|grad| = L2 norm of d(output)/d(node)"
    return (
        '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
        f'<TR><TD COLSPAN="2"><B>{_html(title)}</B></TD></TR>{cells}</TABLE>>'
    )


# ----- labels ------------------------------------------------------------------------------
def _header(members: list[Tensor], names: dict[int, str], fallback_names: dict[int, str]) -> list[str]:
    first = members[0]
    if first.op is None:  # a leaf: params= name, else Tensor.name, else its module's name
        name = names.get(id(first)) or first.name or fallback_names.get(id(first))
        if first.requires_grad:
            return [name or "leaf"]
        return [f"{name} (constant)" if name else "constant"]
    if len(members) == 1:
        extras = _extras(first)
        return [first.op] + ([extras] if extras else [])
    ops = [t.op for t in members]
    if len(ops) > 4:
        ops = ops[:2] + ["..."] + ops[-1:]
    return [" -> ".join(ops), f"({len(members)} ops)"]


def _rules(members: list[Tensor], vjp: bool = True, jvp: bool = False) -> list[str]:
    """The rule lines of an op node: the rule (VJP, then JVP), or ``op: rule`` per distinct op of a chain."""
    lines = []
    for wanted, rule_of in ((vjp, "op_rule"), (jvp, "op_jvp_rule")):
        if not wanted:
            continue
        rules = {t.op: ascii_rule(getattr(t, rule_of)) for t in members if t.op is not None and getattr(t, rule_of)}
        rules = {op: rule for op, rule in rules.items() if rule}
        lines += list(rules.values()) if len(members) == 1 else [f"{op}: {rule}" for op, rule in rules.items()]
    return lines


def _html_label(lines: list[str], rules: list[str], dark: bool) -> str:
    """An HTML-like label: ``lines`` as usual, then ``rules`` in a smaller font."""
    color = "" if dark else f' COLOR="{RULE_COLOR}"'
    small = "".join(
        f'<BR/><FONT POINT-SIZE="{RULE_FONT_SIZE}"{color}>{_html(rule)}</FONT>' for rule in rules
    )
    return "<" + "<BR/>".join(_html(line) for line in lines) + "<BR/>" + RULE_GAP + small + ">"


#: spellings of non-ASCII characters that turn up in written-out VJP rules
_ASCII_SPELLINGS = {
    "∂": "d", "∇": "grad ", "·": " ", "⋅": " ", "×": " x ", "⊙": " * ", "−": "-", "–": "-",
    "Σ": "sum ", "∑": "sum ", "√": "sqrt", "≈": "~", "≤": "<=", "≥": ">=", "≠": "!=",
    "→": "->", "←": "<-", "∈": " in ", "…": "...", "′": "'", "ᵀ": "^T",
}
_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7",
                 "⁸": "8", "⁹": "9", "⁻": "-", "⁺": "+", "⁽": "(", "⁾": ")", "ⁿ": "n", "ⁱ": "i"}
_SUPERSCRIPT_RUN = re.compile(f"[{''.join(_SUPERSCRIPTS)}]+")


def ascii_rule(rule: str) -> str:
    """``rule`` on one line of printable ASCII: ``x⁻¹ Wᵀ · ∂L`` -> ``x^(-1) W^T   dL``.

    Superscript runs become ``^x`` or ``^(xy)``, common math signs get their ASCII
    spelling, Greek letters their names, accented letters lose the accent, and what is
    left becomes ``?``. Line breaks and tabs become spaces.
    """
    def superscript(match: re.Match) -> str:
        text = "".join(_SUPERSCRIPTS[c] for c in match.group())
        return f"^{text}" if len(text) == 1 else f"^({text})"

    text = _SUPERSCRIPT_RUN.sub(superscript, rule)
    out = []
    for char in text:
        if char.isascii():
            out.append(char if char.isprintable() else " ")
        elif char in _ASCII_SPELLINGS:
            out.append(_ASCII_SPELLINGS[char])
        elif unicodedata.name(char, "").startswith("GREEK "):
            out.append(_greek_name(char))
        else:
            plain = "".join(c for c in unicodedata.normalize("NFKD", char) if c.isascii() and c.isprintable())
            out.append(plain or "?")
    return " ".join("".join(out).split())


def _greek_name(char: str) -> str:
    """``σ`` -> ``sigma``, ``Δ`` -> ``Delta`` (from the Unicode name)."""
    name = unicodedata.name(char)
    letter = name.split(" LETTER ")[-1].split()[0].lower() if " LETTER " in name else "?"
    return letter.capitalize() if " CAPITAL " in name else letter


def _extras(t: Tensor) -> str:
    """Short text for an op's non-Tensor arguments and keyword arguments (None/False omitted)."""
    parts = [_short(a) for a in t.op_inputs if not isinstance(a, Tensor)]
    parts += [f"{k}={_short(v)}" for k, v in t.op_params.items() if v is not None and v is not False]
    text = ", ".join(parts)
    return text if len(text) <= 40 else text[:37] + "..."


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"array{value.shape}"
    if isinstance(value, (float, np.floating)) or (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
        return _fmt(float(value))
    if isinstance(value, np.ndarray):
        return str(value.item())
    if isinstance(value, slice):
        text = f"{'' if value.start is None else value.start}:{'' if value.stop is None else value.stop}"
        return text + (f":{value.step}" if value.step is not None else "")
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_short, value)) + ("," if len(value) == 1 else "") + ")"
    if value is Ellipsis:
        return "..."
    return str(value)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "scalar ()" if shape == () else str(tuple(shape))


def _value_text(data: np.ndarray, mode: bool | str) -> str:
    if data.size == 0:
        return "empty"
    if data.size == 1:
        return f"value={_fmt(float(data.reshape(-1)[0]))}"
    x = np.asarray(data, dtype=np.float64)
    if mode == "minmax":
        return f"min={_fmt(float(x.min()))} max={_fmt(float(x.max()))}"
    return f"mean={_fmt(float(x.mean()))} std={_fmt(float(x.std()))}"


def _style(t: Tensor, is_root: bool) -> dict[str, str]:
    if t.op is not None:
        attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": OP_FILL}
    elif t.requires_grad:
        attrs = {"shape": "ellipse", "style": "filled", "fillcolor": PARAM_FILL}
    else:
        attrs = {"shape": "ellipse", "style": "dashed", "color": CONST_COLOR, "fontcolor": "#555555"}
    if is_root:
        attrs["penwidth"] = "2.5"
    return attrs


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _escape(line: str) -> str:
    """Text for a DOT label: backslashes would start escape sequences such as \\n."""
    return line.replace("\\", "\\\\")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
