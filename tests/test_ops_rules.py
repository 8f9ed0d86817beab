"""Every op carries its VJP rule as one short line of ASCII; an op without one still draws."""
from __future__ import annotations

import re
from pathlib import Path
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import autograd_np
import viz
from autograd_np import Tensor
from autograd_np.ops import OPS

#: "dx = ...", "dA = ..., dB = ...", "dx_i = ...": a derivative name, then what it equals
RULE_SHAPE = re.compile(r"^d\w+ = \S.*$")
MAX_RULE_LENGTH = 60  # one line under a node, in a small font


def test_the_op_table_holds_the_engine_ops():
    assert {"add", "mul", "tanh", "matmul", "linear", "getitem", "cross_entropy"} <= set(OPS)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_has_a_short_one_line_ascii_rule(name: str):
    rule = OPS[name].rule
    assert isinstance(rule, str) and rule.strip(), f"{name} has no rule"
    assert rule.isascii() and rule.isprintable(), f"{name}: {rule!r} is not one line of printable ASCII"
    assert len(rule) <= MAX_RULE_LENGTH, f"{name}: {rule!r} is longer than {MAX_RULE_LENGTH} characters"
    assert RULE_SHAPE.match(rule), f"{name}: {rule!r} does not read 'dx = ...'"
    assert "G" in rule, f"{name}: {rule!r} does not mention the incoming gradient G"


def test_a_tensor_reports_its_ops_rule_and_a_leaf_none():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = x.tanh()
    assert x.op_rule is None
    assert y.op_rule == OPS["tanh"].rule == "dx = G (1 - y^2)"


def user_ops():
    """Two ops defined as a user would: one without a rule, one with a non-ASCII rule."""
    @autograd_np.primitive("cube_no_rule")
    def cube(x):
        return x ** 3

    cube.defvjp(lambda g, y, x: g * 3 * x * x)

    @autograd_np.primitive("sin_unicode_rule")
    def sin(x):
        return np.sin(x)

    sin.defvjp(lambda g, y, x: g * np.cos(x), rule="∂x = G·cos(x) ≤ G")
    return cube, sin


def test_user_ops_stay_out_of_the_engine_table():
    cube, sin = user_ops()
    assert cube.rule == "" and "cube_no_rule" not in OPS and "sin_unicode_rule" not in OPS


def test_an_op_without_a_rule_is_drawn_without_one(tmp_path):
    cube, sin = user_ops()
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    loss = sin(cube(x)).sum()
    assert cube(x).op_rule == ""
    g = viz.draw(loss, show_rule=True, show_grad=True)
    label = next(line for line in g.source.splitlines() if "cube_no_rule" in line)
    assert "FONT" not in label and label.startswith('\tn1 [label="cube_no_rule\\n(2,)\\n|grad|=')
    sin_label = next(line for line in g.source.splitlines() if "sin_unicode_rule" in line)
    assert "dx = G cos(x) &lt;= G</FONT>" in sin_label  # spelled in ASCII, escaped for DOT
    assert g.source.isascii()
    svg = ET.parse(viz.render(g, tmp_path / "user_ops.svg")).getroot()
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "cube_no_rule" in texts and "dx = G cos(x) <= G" in texts
    assert not any("cube" in (t or "") and "=" in (t or "") for t in texts)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_rule_is_stated_once_on_its_docstrings_vjp_line(name: str):
    from autograd_np.primitives import rule_in

    assert OPS[name].rule == rule_in(OPS[name].__doc__)
    assert f"VJP: {OPS[name].rule}\n" in OPS[name].__doc__


def test_the_op_table_passes_no_rule_beside_the_docstring():
    source = (Path(autograd_np.__file__).parent / "ops.py").read_text()
    assert not re.search(r"\brule=", source)


def test_a_kernel_behind_a_rule_computes_the_rule():
    """tanh's VJP reads as its math; backward() on arrays runs its kernel: the two agree."""
    tanh = OPS["tanh"]
    rng = np.random.default_rng(0)
    g, x = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    y = np.tanh(x)
    assert tanh.array_vjps is not tanh.vjps
    np.testing.assert_allclose(tanh.array_vjps[0](g, y, x), tanh.vjps[0](g, y, x), rtol=1e-15)
