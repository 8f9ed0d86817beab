"""viz.draw(show_rule=True): each op's VJP rule under its node, in DOT, in SVG from every renderer, via the CLI."""
from __future__ import annotations

import html
import re
import shutil
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import autograd_np
import viz
from autograd_np import Tensor
from autograd_np import functional as F
from autograd_np import nn
from viz.draw import ascii_rule

renderer_module = sys.modules["viz.renderer"]
SVG = "{http://www.w3.org/2000/svg}"

NODE_LINE = re.compile(r"^\t(n\d+) \[label=(.*?) (?:fillcolor|fontcolor|margin|penwidth|shape|style)=", re.M)
GAP = '<FONT POINT-SIZE="4"> </FONT>'  # the thin blank line between a label and its rules
FONT = re.compile(r'^<FONT POINT-SIZE="(\d+)"(?: COLOR="(#[0-9a-f]{6})")?>(.*)</FONT>$')


def parse_label(label: str) -> tuple[list[str], list[str]]:
    """(main lines, small-font lines) of a DOT label, plain ``"a\\nb"`` or HTML-like ``<a<BR/>b>``."""
    if label.startswith('"'):
        return label[1:-1].split("\\n"), []
    assert label.startswith("<") and label.endswith(">"), label
    main, small = [], []
    parts = label[1:-1].split("<BR/>")
    if GAP in parts:
        assert parts.count(GAP) == 1 and FONT.match(parts[parts.index(GAP) + 1]), label
        parts.remove(GAP)
    for part in parts:
        font = FONT.match(part)
        if font:
            assert font.group(1) == "9"
            small.append(html.unescape(font.group(3)))
        else:
            assert not small, f"a normal line after the rules in {label}"
            main.append(html.unescape(part))
    return main, small


def labels(g) -> dict[str, tuple[list[str], list[str]]]:
    return {node: parse_label(label) for node, label in NODE_LINE.findall(g.source)}


def mlp_loss() -> tuple[Tensor, nn.Module]:
    """The names MLP's ops (embedding lookup, reshape, linear, tanh, cross-entropy) and a few more."""
    rng = np.random.default_rng(0)
    emb = Tensor(rng.normal(size=(27, 4)), requires_grad=True)
    model = nn.Sequential(nn.Linear(12, 8, rng=rng), nn.Tanh(), nn.Linear(8, 27, rng=rng))
    X = rng.integers(0, 27, size=(5, 3))
    Y = rng.integers(0, 27, size=5)
    h = emb[X].reshape((5, 12))
    logits = model(h)
    extra = ((logits.sigmoid() * 2.0 - 1.0).exp().mean() + (logits @ logits.T).relu().max()) / 1e3
    return F.cross_entropy(logits, Y) + extra, model


def test_every_op_node_shows_its_rule_under_its_label():
    loss, model = mlp_loss()
    order = autograd_np.topological_order(loss)
    plain = labels(viz.draw(loss, params=model))
    ruled = labels(viz.draw(loss, params=model, show_rule=True))
    ops_seen = set()
    for i, t in enumerate(order):
        main, small = ruled[f"n{i}"]
        assert main == plain[f"n{i}"][0]  # the label above the rule is unchanged
        if t.op is None:
            assert small == []
        else:
            assert small == [t.op_rule] and t.op_rule, t.op
            ops_seen.add(t.op)
    assert {"getitem", "reshape", "linear", "tanh", "cross_entropy", "matmul", "transpose",
            "relu", "max", "mean", "exp", "sigmoid", "mul", "sub", "add", "div"} <= ops_seen


def test_without_the_flag_there_are_no_rules():
    loss, model = mlp_loss()
    source = viz.draw(loss, params=model).source
    rules = {t.op_rule for t in autograd_np.topological_order(loss) if t.op}
    assert len(rules) > 10
    assert not any(rule in source for rule in rules)
    assert "<FONT" not in source and "label=<" not in source


def test_a_collapsed_chain_lists_each_distinct_op_with_its_rule():
    h = Tensor(np.ones(3), requires_grad=True)
    for _ in range(30):
        h = h.tanh()
    g = viz.draw((h * 2.0).sum(), show_rule=True, collapse_chains=True)
    (leaf, op_node) = labels(g).values()
    assert leaf == (["leaf", "(3,)", "requires_grad"], [])
    assert op_node == (
        ["tanh -> tanh -> ... -> sum", "(32 ops)", "scalar ()"],
        ["tanh: dx = G (1 - y^2)", "mul: da = G b, db = G a", "sum: dx = G broadcast"],
    )


def test_rule_text_is_grey_on_light_fills_and_keeps_white_text_on_dark_ones():
    w = Tensor(np.ones(4), requires_grad=True)
    g = viz.draw((w.tanh() * 1e-8).sum(), show_rule=True, show_grad=True)  # |grad| of tanh: 2e-8, dark blue
    lines = {line.split(" [")[0].strip(): line for line in g.source.splitlines() if " [label=" in line}
    assert "fontcolor=white" in lines["n1"] and '<FONT POINT-SIZE="9">dx = G (1 - y^2)</FONT>' in lines["n1"]
    assert "fontcolor" not in lines["n2"] and '<FONT POINT-SIZE="9" COLOR="#333333">da = G b, db = G a</FONT>' in lines["n2"]


@pytest.mark.parametrize(
    "rule, expected",
    [
        ("dx = G (1 - y^2)", "dx = G (1 - y^2)"),
        ("dA = G Bᵀ, dB = Aᵀ G", "dA = G B^T, dB = A^T G"),
        ("∂L/∂x = G·σ(x)(1 − σ(x))", "dL/dx = G sigma(x)(1 - sigma(x))"),
        ("dx = G x⁻¹ + Δ x²", "dx = G x^(-1) + Delta x^2"),
        ("dx = G\n  scatter-added\tover é", "dx = G scatter-added over e"),
        ("dx = G ⟂", "dx = G ?"),
    ],
    ids=["ascii-unchanged", "transpose", "math-and-greek", "superscripts", "whitespace-and-accents", "unknown"],
)
def test_rules_are_spelled_in_ascii(rule: str, expected: str):
    assert ascii_rule(rule) == expected


# ----- rendering with every renderer that is here ----------------------------------------------------
# graphviz-pure is a dependency, so it is always tested; the system dot only where it is installed.
RENDERER_KINDS = ["graphviz-pure"] + (["dot"] if shutil.which("dot") else [])


@pytest.mark.parametrize("kind", RENDERER_KINDS)
def test_rules_render_to_svg_under_their_op_names(kind, tmp_path, monkeypatch):
    renderer = next((r for r in viz.find_renderers() if r.kind == kind), None)
    assert renderer is not None, f"{kind} is not found"
    monkeypatch.setattr(renderer_module, "find_renderer", lambda: renderer)
    loss, model = mlp_loss()
    order = autograd_np.topological_order(loss)
    path = viz.render(loss, tmp_path / "rules.svg", params=model, show_rule=True, show_grad=True)
    svg = path.read_text()
    assert ("graphviz-pure" in svg[:400]) == (kind == "graphviz-pure")
    nodes = {
        el.findtext(f"{SVG}title"): el
        for el in ET.fromstring(svg).iter(f"{SVG}g") if el.get("class") == "node"
    }
    for i, t in enumerate(order):
        texts = [(el.text, el.get("font-size")) for el in nodes[f"n{i}"].iter(f"{SVG}text")]
        if t.op is None:
            assert all(size == "10.00" for _, size in texts)
            continue
        assert texts[0] == (t.op, "10.00")
        assert texts[-1] == (t.op_rule, "9.00")  # the last line, in the small font
        rule_y = float(list(nodes[f"n{i}"].iter(f"{SVG}text"))[-1].get("y"))
        box_ys = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", _outline(nodes[f"n{i}"]))[1::2]]
        assert min(box_ys) < rule_y <= max(box_ys)  # inside the node's box


def _outline(node: ET.Element) -> str:
    """The coordinates of a node's rounded box (a path) or polygon."""
    shape = node.find(f"{SVG}path")
    if shape is not None:
        return shape.get("d")
    return node.find(f"{SVG}polygon").get("points")


# ----- the names CLI ----------------------------------------------------------------------------------
def test_graph_show_rule_through_the_cli(tmp_path, capsys):
    from models.names.cli import main

    dot, plain, svg = tmp_path / "rules.dot", tmp_path / "plain.dot", tmp_path / "rules.svg"
    common = ["graph", "--config", "default", "--batch-size", "2"]
    assert main(common + ["--show-rule", "--out", str(dot)]) == 0
    assert main(common + ["--out", str(plain)]) == 0
    assert main(common + ["--show-rule", "--show-grad", "--out", str(svg)]) == 0
    assert str(svg) in capsys.readouterr().out
    names_ops = ["getitem", "reshape", "linear", "tanh", "cross_entropy"]
    rules = {op: autograd_np.ops.OPS[op].rule for op in names_ops}
    for op, rule in rules.items():
        assert f"{html.escape(rule, quote=False)}</FONT>" in dot.read_text(), op
        assert rule not in plain.read_text()
    texts = {el.text for el in ET.parse(svg).getroot().iter(f"{SVG}text")}
    assert set(rules.values()) <= texts


def test_show_jvp_writes_the_forward_mode_rule_after_the_vjp():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    loss = (x.tanh() * 3.0).sum()
    both = labels(viz.draw(loss, show_rule=True, show_jvp=True))
    assert (["tanh", "(2,)"], ["dx = G (1 - y^2)", "dy = dx (1 - y^2)"]) in both.values()
    only_jvp = labels(viz.draw(loss, show_jvp=True))
    assert (["tanh", "(2,)"], ["dy = dx (1 - y^2)"]) in only_jvp.values()
    assert x.tanh().op_jvp_rule == autograd_np.ops.OPS["tanh"].jvp_rule == "dy = dx (1 - y^2)"
