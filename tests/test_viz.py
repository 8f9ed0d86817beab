"""viz: graph structure, labels, gradient colouring, limits, and rendering with dot or graphviz-pure."""
from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import autograd_np
import viz
from autograd_np import Tensor

renderer_module = sys.modules["viz.renderer"]

NODE_RE = re.compile(r"^\s*(n\d+) \[label=\"((?:[^\"\\]|\\.)*)\"", re.M)
EDGE_RE = re.compile(r"^\s*(n\d+) -> (n\d+)(?: \[label=(\S+)\])?$", re.M)


def nodes_of(g) -> dict[str, str]:
    """node id -> label (DOT escapes kept, so lines are separated by a literal \\n)."""
    return dict(NODE_RE.findall(g.source))


def edges_of(g) -> list[tuple[str, str, str]]:
    return EDGE_RE.findall(g.source)


def label_of(g, needle: str) -> str:
    matches = [label for label in nodes_of(g).values() if needle in label]
    assert len(matches) == 1, (needle, matches)
    return matches[0]


def small_graph():
    """3 leaves (2 params, 1 constant) and 4 ops; the last mul uses its input twice."""
    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = Tensor(np.array([1.0, -1.0, 0.5]), requires_grad=True)
    x = Tensor(np.full((2, 3), 2.0))
    y = a * x
    z = y + b
    w = z * z
    loss = w.sum()
    return loss, a, b, x


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """PATH holds only an empty directory: no system dot, graphviz-pure only via the scripts dir."""
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


# ----- structure ------------------------------------------------------------------------
def test_one_node_per_op_and_leaf_one_edge_per_dependency():
    loss, *_ = small_graph()
    g = viz.draw(loss)
    nodes, edges = nodes_of(g), edges_of(g)
    assert len(nodes) == 7 == len(autograd_np.topological_order(loss))
    labels = [label.split("\\n")[0] for label in nodes.values()]
    assert sorted(labels) == sorted(["leaf", "leaf", "constant", "mul", "add", "mul", "sum"])
    assert len(edges) == 6  # a->mul, x->mul, mul->add, b->add, add->mul (x2), mul->sum
    assert len(set((s, d) for s, d, _ in edges)) == 6
    repeated = [(s, d) for s, d, lab in edges if lab]
    assert len(repeated) == 1
    src, dst = repeated[0]
    assert nodes[src].startswith("add") and nodes[dst].startswith("mul")
    assert [lab for *_, lab in edges if lab] == ["x2"]


def test_rendered_graph_has_the_same_counts():
    loss, *_ = small_graph()
    rendered = json.loads(viz.draw(loss).pipe(format="json"))
    assert len(rendered["objects"]) == 7
    assert len(rendered["edges"]) == 6


def test_labels_carry_op_shapes_and_grad_status():
    loss, *_ = small_graph()
    g = viz.draw(loss)
    assert label_of(g, "add").split("\\n") == ["add", "(2, 3)"]
    assert label_of(g, "sum").split("\\n")[1] == "scalar ()"
    assert label_of(g, "(3,)").split("\\n") == ["leaf", "(3,)", "requires_grad"]
    constant = [n for n in nodes_of(g).values() if n.startswith("constant")]
    assert constant == ["constant\\n(2, 3)"]
    assert 'style=dashed' in [line for line in g.source.splitlines() if "constant" in line][0]
    assert "penwidth=2.5" in [line for line in g.source.splitlines() if '"sum' in line][0]
    assert "float64" not in g.source  # one dtype in the graph: not shown


def test_small_non_tensor_arguments_appear_in_the_op_label():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    g = viz.draw((x ** 2).sum(axis=1).mean())
    assert label_of(g, "pow").split("\\n")[:2] == ["pow", "2"]
    assert label_of(g, "sum").split("\\n")[:3] == ["sum", "axis=(1,)", "(2,)"]


def test_mixed_dtypes_are_shown():
    x32 = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x32.astype(np.float64) * 2.0).sum()
    g = viz.draw(y)
    assert "float32" in label_of(g, "leaf") and "float64" in label_of(g, "astype\\n")


# ----- names -----------------------------------------------------------------------------
class FakeModule:
    """Duck-typed stand-in for an nn.Module: only named_parameters() matters."""

    def __init__(self, **params):
        self._params = params

    def named_parameters(self):
        return iter(self._params.items())


@pytest.mark.parametrize("kind", ["module", "dict", "pairs"])
def test_param_names_from_module_dict_or_pairs(kind):
    loss, a, b, _ = small_graph()
    named = {"layers.0.weight": a, "layers.0.bias": b}
    params = {"module": FakeModule(**named), "dict": named, "pairs": list(named.items())}[kind]
    g = viz.draw(loss, params=params)
    assert label_of(g, "layers.0.weight").split("\\n") == ["layers.0.weight", "(2, 3)", "requires_grad"]
    assert label_of(g, "layers.0.bias").split("\\n") == ["layers.0.bias", "(3,)", "requires_grad"]
    assert not any(label.startswith("leaf") for label in nodes_of(g).values())


def test_tensor_name_is_the_fallback_and_shared_tensors_keep_both_names():
    loss, a, b, x = small_graph()
    x.name = "inputs"
    g = viz.draw(loss, params=[("enc.weight", a), ("dec.weight", a)])
    assert label_of(g, "enc.weight").startswith("enc.weight = dec.weight\\n")
    assert label_of(g, "inputs").startswith("inputs (constant)\\n")


def test_params_must_be_named():
    loss, a, b, _ = small_graph()
    with pytest.raises(TypeError, match="named_parameters"):
        viz.draw(loss, params=[a, b])


# ----- values ---------------------------------------------------------------------------------
def test_show_values_mean_std_and_min_max():
    loss, a, *_ = small_graph()  # a = 0..5
    assert "mean=2.5 std=1.71" in label_of(viz.draw(loss, show_values=True), "(2, 3)\\nrequires")
    assert "min=0 max=5" in label_of(viz.draw(loss, show_values="minmax"), "(2, 3)\\nrequires")
    # loss = sum((2a + b)^2) over a = [[0,1,2],[3,4,5]], b = [1,-1,.5]
    expected = float(((2 * np.arange(6.0).reshape(2, 3) + [1, -1, 0.5]) ** 2).sum())
    assert f"value={expected:.3g}" in label_of(viz.draw(loss, show_values=True), "sum")
    with pytest.raises(ValueError, match="show_values"):
        viz.draw(loss, show_values="median")


# ----- gradients --------------------------------------------------------------------------------
# Written out here, not read from viz.GRAD_BUCKETS: a moved bound or a changed colour must fail.
LEGEND_ROWS = [
    ("#4575b4", "(0, 1e-6)  vanishing"),
    ("#91bfdb", "[1e-6, 1e-4)"),
    ("#c7e9c0", "[1e-4, 1e-2)"),
    ("#74c476", "[1e-2, 1)"),
    ("#fee090", "[1, 1e2)"),
    ("#fc8d59", "[1e2, 1e4)"),
    ("#d73027", "&gt;= 1e4  exploding"),
    ("#bdbdbd", "0  (no gradient reaches it)"),
    ("#000000", "nan / inf"),
]
# (bound, colour just below it, colour at it): every bucket's upper bound is exclusive.
BUCKET_BOUNDS = [
    (1e-6, "#4575b4", "#91bfdb"),
    (1e-4, "#91bfdb", "#c7e9c0"),
    (1e-2, "#c7e9c0", "#74c476"),
    (1.0, "#74c476", "#fee090"),
    (1e2, "#fee090", "#fc8d59"),
    (1e4, "#fc8d59", "#d73027"),
]


@pytest.mark.parametrize("bound, below, at", BUCKET_BOUNDS, ids=[f"{b:g}" for b, _, _ in BUCKET_BOUNDS])
def test_grad_color_just_below_and_at_every_bound(bound: float, below: str, at: str):
    assert viz.grad_color(math.nextafter(bound, 0.0)) == below
    assert viz.grad_color(bound * (1 - 1e-9)) == below
    assert viz.grad_color(bound) == at


@pytest.mark.parametrize(
    "norm, colour",
    [(0.0, "#bdbdbd"), (5e-324, "#4575b4"), (1e300, "#d73027"), (math.inf, "#000000"), (math.nan, "#000000")],
)
def test_grad_color_at_the_ends(norm: float, colour: str):
    assert viz.grad_color(norm) == colour


def test_show_grad_norms_colours_and_legend():
    w = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    c = Tensor(np.array([4.0, 5.0, 6.0]))
    loss = (w * c).sum()  # d/dw = c (norm sqrt(77) = 8.77), d/d(w*c) = ones(3) (norm sqrt 3)
    g = viz.draw(loss, params={"w": w}, show_grad=True)
    assert "|grad|=8.77" in label_of(g, "w\\n")
    assert "|grad|=1.73" in label_of(g, "mul")
    assert "|grad|=1\\n" in label_of(g, "sum") + "\\n"
    assert "|grad|" not in label_of(g, "constant")  # constants have no gradient
    lines = {line.split(" [")[0].strip(): line for line in g.source.splitlines() if " [label=" in line}
    assert 'fillcolor="#fee090"' in lines["n0"] or 'fillcolor="#fee090"' in lines["n1"]  # 8.77 in [1, 1e2)
    assert sum('fillcolor="#fee090"' in line for line in lines.values()) == 3  # w, mul, sum
    rows = re.findall(r'<TD BGCOLOR="(#[0-9a-f]{6})" WIDTH="24"> </TD><TD ALIGN="LEFT">([^<]*)</TD>', lines["legend"])
    assert rows == LEGEND_ROWS
    assert w.grad is None  # grad() was used, not backward()
    loss.backward()  # the graph was retained
    np.testing.assert_allclose(w.grad, c.data)


@pytest.mark.parametrize(
    "scale, colour", [(1e-8, "#4575b4"), (1e-3, "#c7e9c0"), (1e5, "#d73027"), (0.0, "#bdbdbd")]
)
def test_gradient_magnitude_picks_the_bucket(scale, colour):
    w = Tensor(np.ones(4), requires_grad=True)
    loss = (w * scale).sum()  # d/dw = scale * ones(4): norm 2 * scale
    g = viz.draw(loss, params={"w": w}, show_grad=True)
    line = [line for line in g.source.splitlines() if '"w\\n' in line][0]
    assert f'fillcolor="{colour}"' in line
    assert f"|grad|={2 * scale:.3g}" in line
    assert viz.grad_color(2 * scale) == colour
    assert ("fontcolor=white" in line) == (colour in ("#4575b4", "#d73027"))


def test_nonfinite_gradient_is_black():
    assert viz.grad_color(float("nan")) == viz.grad_color(float("inf")) == "#000000"


def test_show_grad_on_intermediate_needs_grad_output():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    h = w.tanh()
    with pytest.raises(ValueError, match="grad_output"):
        viz.draw(h, show_grad=True)
    g = viz.draw(h, show_grad=True, grad_output=np.full((2, 2), 3.0))
    assert "|grad|=6\\n" in label_of(g, "tanh") + "\\n"  # norm of the seed: 3 * 2


def test_show_grad_after_backward_with_retain_graph_works():
    loss, a, *_ = small_graph()
    loss.backward(retain_graph=True)
    g = viz.draw(loss, params={"a": a}, show_grad=True)
    assert f"|grad|={np.linalg.norm(a.grad):.3g}" in label_of(g, "a\\n")


def test_freed_graph_gives_a_clear_error():
    loss, *_ = small_graph()
    loss.backward()
    for kwargs in ({}, {"show_grad": True}):
        with pytest.raises(RuntimeError, match=r"freed by backward\(\).*retain_graph=True"):
            viz.draw(loss, **kwargs)


def test_show_grad_needs_a_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        viz.draw(Tensor(np.ones(1)), show_grad=True)


# ----- size limits and chain collapsing ----------------------------------------------------------------
def tanh_chain(n: int) -> Tensor:
    h = Tensor(np.ones(3), requires_grad=True)
    for _ in range(n):
        h = h.tanh()
    return h.sum()


def test_max_nodes_refuses_with_the_count_and_the_limit():
    loss = tanh_chain(30)  # 1 leaf + 30 tanh + sum = 32 nodes
    with pytest.raises(viz.GraphTooLargeError, match=r"32 nodes, more than max_nodes=10; collapse_chains=True would draw 2"):
        viz.draw(loss, max_nodes=10)
    assert len(nodes_of(viz.draw(loss, max_nodes=32))) == 32
    assert len(nodes_of(viz.draw(loss, max_nodes=None))) == 32


def test_default_limit_is_500_nodes():
    with pytest.raises(viz.GraphTooLargeError, match="600 nodes, more than max_nodes=500"):
        viz.draw(tanh_chain(598))
    assert len(nodes_of(viz.draw(tanh_chain(498)))) == 500


def test_collapse_chains_merges_single_use_single_input_runs():
    loss = tanh_chain(30)
    g = viz.draw(loss, max_nodes=10, collapse_chains=True)
    assert len(nodes_of(g)) == 2 and len(edges_of(g)) == 1
    assert label_of(g, "tanh").split("\\n")[:2] == ["tanh -> tanh -> ... -> sum", "(31 ops)"]
    with pytest.raises(viz.GraphTooLargeError, match=r"2 nodes, more than max_nodes=1 \(after collapse_chains\)"):
        viz.draw(loss, max_nodes=1, collapse_chains=True)

    small, *_ = small_graph()  # only the final sum can join the squaring mul
    g = viz.draw(small, collapse_chains=True)
    assert len(nodes_of(g)) == 6 and len(edges_of(g)) == 5
    assert label_of(g, "mul -> sum").split("\\n")[1] == "(2 ops)"


def test_collapse_keeps_branches_apart():
    x = Tensor(np.ones(3), requires_grad=True)
    h = x.exp()  # used twice: the chain must stop here
    loss = (h.tanh() + h.sigmoid()).sum()
    g = viz.draw(loss, collapse_chains=True)
    heads = sorted(label.split("\\n")[0] for label in nodes_of(g).values())
    assert heads == ["add -> sum", "exp", "leaf", "sigmoid", "tanh"]


def test_a_leaf_alone_is_one_node():
    g = viz.draw(Tensor(np.ones((2, 2)), requires_grad=True))
    assert list(nodes_of(g).values()) == ["leaf\\n(2, 2)\\nrequires_grad"] and edges_of(g) == []


def test_rankdir_and_graph_attributes():
    loss, *_ = small_graph()
    source = viz.draw(loss, rankdir="LR", graph_attr={"label": "my model"}).source
    assert "rankdir=LR" in source and 'label="my model"' in source
    assert "rankdir=TB" in viz.draw(loss).source
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw(loss, rankdir="up")


# ----- rendering ----------------------------------------------------------------------------------------
def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_is_valid_and_follows_rankdir(tmp_path):
    loss = tanh_chain(5)
    tall = viz.render(loss, tmp_path / "tb.png")
    wide = viz.render(loss, tmp_path / "lr.png", rankdir="LR")
    (w_tb, h_tb), (w_lr, h_lr) = png_size(tall), png_size(wide)
    assert 1_000 < tall.stat().st_size < 1_000_000
    assert 30 < w_tb < h_tb < 3_000  # a 7-node chain drawn top to bottom is tall
    assert 30 < h_lr < w_lr < 3_000  # and left to right it is wide


def test_svg_parses_with_one_element_per_node_and_edge(tmp_path):
    loss, *_ = small_graph()
    path = viz.render(loss, tmp_path / "g.svg", rankdir="LR")
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    classes = [el.get("class") for el in root.iter("{http://www.w3.org/2000/svg}g")]
    assert classes.count("node") == 7 and classes.count("edge") == 6


def test_dot_source_needs_no_renderer(tmp_path, no_dot, monkeypatch):
    monkeypatch.setattr(renderer_module, "_script_dirs", lambda: [])
    loss, *_ = small_graph()
    path = viz.render(loss, tmp_path / "g.dot")
    assert path.read_text().startswith("digraph autograd_np {")
    with pytest.raises(viz.RendererNotFoundError, match=r"pip install graphviz-pure.*apt-get install graphviz"):
        viz.render(loss, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_unknown_suffix_is_refused(tmp_path):
    loss, *_ = small_graph()
    with pytest.raises(ValueError, match=r"\.bmp.*\.svg, \.png"):
        viz.render(loss, tmp_path / "g.bmp")


def test_without_dot_on_path_graphviz_pure_renders(tmp_path, no_dot):
    assert viz.find_renderer().kind == "graphviz-pure"
    loss, *_ = small_graph()
    svg = viz.render(loss, tmp_path / "g.svg").read_text()
    assert "graphviz-pure" in svg[:400]  # its generator comment
    png_size(viz.render(loss, tmp_path / "g.png"))


def test_dot_on_path_is_preferred(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "dot_was_called"
    fake = bin_dir / "dot"
    fake.write_text(
        f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'w').write(' '.join(sys.argv[1:]))\n"
        "sys.stderr.write('fake dot refuses')\nsys.exit(3)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    assert viz.find_renderer() == viz.Renderer(str(fake), "dot")
    loss, *_ = small_graph()
    with pytest.raises(viz.RenderError, match="exit status 3.*fake dot refuses"):
        viz.render(loss, tmp_path / "g.png")
    assert log.read_text() == "-Tpng"


def test_pdf_without_dot_is_a_png_on_a_pdf_page(tmp_path, no_dot):
    loss, *_ = small_graph()
    svg = viz.render(loss, tmp_path / "g.svg").read_text()
    with pytest.warns(UserWarning, match="graphviz-pure cannot write PDF"):
        pdf = viz.render(loss, tmp_path / "g.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    box = [float(v) for v in re.search(rb"MediaBox \[ ([\d. ]+) \]", pdf).group(1).split()]
    width_pt, height_pt = (float(v) for v in re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
    assert box[2] == pytest.approx(width_pt, abs=2) and box[3] == pytest.approx(height_pt, abs=2)


def test_jupyter_display_uses_the_fallback(no_dot):
    loss, *_ = small_graph()
    g = viz.draw(loss, show_grad=True)
    bundle = g._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]
    root = ET.fromstring(bundle["image/svg+xml"].encode())
    assert root.tag.endswith("svg")
    assert g._repr_mimebundle_(include=["image/png"])["image/png"][:4] == b"\x89PNG"


def test_render_accepts_a_drawn_graph(tmp_path):
    loss, *_ = small_graph()
    g = viz.draw(loss, show_values=True)
    path = viz.render(g, tmp_path / "nested" / "g.svg")
    assert ET.parse(path).getroot().tag.endswith("svg")
    with pytest.raises(TypeError, match="draw options"):
        viz.render(g, tmp_path / "g.svg", show_grad=True)
