"""The backward observer, module paths on nodes, and the step-through's frames (no browser here:
tests/test_step_through_browser.py drives the page)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import autograd_np as ag
import viz
from autograd_np import Tensor, nn, functional as F
from autograd_np.graph import BackwardStep, observe_backward
from models.names.cli import DEFAULT_DATA, main
from models.names.config import get_config
from models.names.data import read_words
from models.names.train import Run


def names_loss(arch: str | None, batch: int = 4, **overrides) -> tuple[Run, Tensor]:
    config = get_config("default", steps=1, arch=arch)
    for key, value in overrides.items():
        setattr(config, key, value)
    run = Run.from_words(config, read_words(DEFAULT_DATA))
    X, Y = run.splits()["train"]
    ix = np.random.default_rng(0).integers(0, len(X), batch)
    return run, run.batch_loss(X[ix], Y[ix])


def engine_steps(loss: Tensor) -> list[BackwardStep]:
    steps: list[BackwardStep] = []
    with observe_backward(steps.append):
        loss.backward(retain_graph=True)
    return steps


# ----- the observer ------------------------------------------------------------------------------
def test_observer_sees_every_node_once_in_walk_order_with_complete_gradients():
    w = Tensor(np.array([[1.0, 2.0], [3.0, -1.0]]), requires_grad=True)
    x = Tensor(np.array([[0.5, -0.2], [0.1, 0.3]]))
    h = x @ w
    loss = (h * w).sum() + w.sum()  # w reaches the loss along three paths
    steps = engine_steps(loss)
    order = ag.topological_order(loss)
    reached = [s.tensor for s in steps]
    assert len(reached) == len({id(t) for t in reached}) == sum(t.requires_grad for t in order)
    position = {id(t): i for i, t in enumerate(order)}
    assert [position[id(t)] for t in reached] == sorted((position[id(t)] for t in reached), reverse=True)
    assert reached[0] is loss and reached[-1] is w
    # each tensor's incoming gradient is the sum of what the nodes after it contributed
    sent: dict[int, np.ndarray] = {id(loss): np.ones(())}
    for step in steps:
        assert np.allclose(step.grad, sent[id(step.tensor)])
        for position_, target, g in step.contributions:
            assert step.tensor.op_inputs[position_] is target
            sent[id(target)] = sent.get(id(target), 0) + g
    assert np.allclose(steps[-1].grad, w.grad)
    assert sum(1 for s in steps for _, t, _ in s.contributions if t is w) == 3  # three contributions add up


def test_observer_is_off_outside_the_block_and_blocks_nest():
    x = Tensor(np.ones(3), requires_grad=True)
    outer, inner = [], []
    with observe_backward(outer.append):
        with observe_backward(inner.append):
            (x * 2).sum().backward()
        (x * 3).sum().backward()
    (x * 4).sum().backward()
    assert [s.tensor.op for s in inner] == ["sum", "mul", None]
    assert [s.tensor.op for s in outer] == ["sum", "mul", None]
    assert np.allclose(x.grad, 9)


def test_observer_sees_grad_and_create_graph_walks():
    x = Tensor(np.array([0.3, -0.7]), requires_grad=True)
    steps = []
    with observe_backward(steps.append):
        (g,) = ag.grad((x.tanh() ** 2).sum(), [x], create_graph=True)
    assert [s.tensor.op for s in steps] == ["sum", "pow", "tanh", None]
    assert isinstance(steps[-1].grad, Tensor) and np.allclose(steps[-1].grad.data, g.data)


# ----- module paths ------------------------------------------------------------------------------
def test_ops_carry_the_path_of_the_module_call_that_recorded_them():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=1))
    x = Tensor(np.ones((2, 3)))
    out = model(x)
    loss = F.cross_entropy(out, np.array([0, 1]))
    paths = {t.op: t.op_module for t in ag.topological_order(loss) if t.op}
    assert paths == {"linear": "layers.2", "tanh": "layers.1", "cross_entropy": None}
    assert out.op_module_call.module is model.layers[2] and out.op_module_call.outer.module is model
    assert x.op_module is None and (x * 2).op_module is None


def test_transformer_ops_are_under_blocks_0_attn():
    run, loss = names_loss("transformer", n_layer=1)
    paths = {t.op_module for t in ag.topological_order(loss)}
    assert {"blocks.0.attn", "blocks.0", "lm_head", ""} <= paths


# ----- frames ------------------------------------------------------------------------------------
def shown(text: str, label: str) -> float:
    """The number after ``label =`` in a caption."""
    return float(re.search(re.escape(label) + r" = ([-+0-9.e]+)", text).group(1))


@pytest.mark.parametrize("arch, overrides", [(None, {}), ("transformer", {"n_layer": 1})], ids=["mlp", "transformer"])
def test_frames_follow_the_engine_and_show_its_numbers(arch, overrides):
    run, loss = names_loss(arch, **overrides)
    data = viz.record_backward(loss, run.model)
    assert all(p.grad is None for p in run.model.parameters())  # .grad untouched, the graph still live
    order = ag.topological_order(loss)
    frames = data["frames"]
    assert frames[0]["op"] == "forward" and frames[0]["grad_norm"] is None
    steps = engine_steps(loss)
    assert [order[f["node"]] for f in frames[1:]] == [s.tensor for s in steps]  # the engine's order
    nodes = [order[f["node"]] for f in frames[1:]]
    grads = ag.grad(loss, nodes, retain_graph=True)
    for f, t, g, step in zip(frames[1:], nodes, grads, steps):
        norm = float(np.linalg.norm(np.asarray(g.data, dtype=np.float64)))
        assert f["grad_norm"] == pytest.approx(norm, rel=1e-9, abs=1e-300)
        assert shown(f["caption"], "|G|") == pytest.approx(norm, rel=5e-4, abs=1e-12)  # as displayed, 4 digits
        assert f["op"] == (t.op or "leaf") and f["shape"] == list(t.shape) and f["rule"] == (t.op_rule or "")
        assert [c["norm"] for c in f["contributions"]] == pytest.approx(
            [float(np.linalg.norm(np.asarray(g_, dtype=np.float64))) for _, _, g_ in step.contributions])
        heat = np.asarray(f["grad_heat"]["values"])
        corner = np.asarray(g.data, dtype=np.float64).reshape(-1, t.shape[-1] if t.ndim else 1)[:heat.shape[0], :heat.shape[1]]
        assert np.allclose(heat, corner, rtol=5e-3, atol=1e-12)
    # the leaves' totals after every contribution equal their gradients
    last_total = {}
    for f in frames[1:]:
        for c in f["contributions"]:
            last_total[c["input"]] = c["total_norm"]
    for f in frames[1:]:
        if f["op"] == "leaf":
            assert last_total[f["node"]] == pytest.approx(f["grad_norm"], rel=1e-6)


def test_rule_with_shapes_substituted_for_a_linear_layer():
    run, loss = names_loss(None, batch=32)
    frames = viz.record_backward(loss, run.model)["frames"]
    linear = next(f for f in frames if f["op"] == "linear" and f["shape"] == [32, 200])
    assert linear["rule_shapes"] == [
        "dX = G W^T: (32, 200) @ (200, 30) -> (32, 30)",
        "dW = X^T G: (30, 32) @ (32, 200) -> (30, 200)",
        "db = sum_rows G: G (32, 200) -> (200,)",
    ]
    assert linear["module"] == "layers.2"


def test_accumulation_is_counted_where_a_tensor_gets_several_contributions():
    w = Tensor(np.array([1.0, -2.0]), requires_grad=True, name="w")
    loss = (w * w).sum() + (3 * w).sum()
    frames = viz.record_backward(loss)["frames"]
    to_w = [c for f in frames for c in f["contributions"] if c["name"] == "w"]
    assert [c["count"] for c in to_w] == [1, 2, 3]  # mul sends two (x * x), then the other mul
    assert to_w[-1]["total_norm"] == pytest.approx(float(np.linalg.norm(2 * w.data + 3)))
    assert frames[-1]["op"] == "leaf" and frames[-1]["received"] == 3
    assert "the sum of 3 contributions" in frames[-1]["caption"]


def test_page_is_one_self_contained_file(tmp_path):
    run, loss = names_loss(None, batch=32)
    path = viz.step_through(loss, tmp_path / "mlp.html", params=run.model)
    assert isinstance(path, Path) and path == tmp_path / "mlp.html"
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 2_000_000
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched
    assert "fetch(" not in page and "@import" not in page
    frames = json.loads(re.search(r'<script type="application/json" id="backward-frames">(.*?)</script>', page, re.S).group(1))
    assert {"op", "rule", "grad_norm", "shape", "contributions"} <= set(frames[1])
    assert 'id="caption"' in page
    assert "<iframe srcdoc=" in path._repr_html_()
    with pytest.raises(ValueError, match="ending in .html"):
        viz.step_through(loss, tmp_path / "mlp.svg")


def test_refuses_what_it_cannot_step_through():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        viz.step_through(x * 2)
    with pytest.raises(RuntimeError, match="does not require grad"):
        viz.step_through(Tensor(np.ones(())))
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        viz.step_through(y)


# ----- grouping, and the command line -----------------------------------------------------------
def test_gru_grouped_picture_has_one_box_per_step():
    run, loss = names_loss("gru")
    g = viz.draw(loss, params=run.model, group_modules=True, collapse_chains=True)
    steps = g.source.count("cell (GRUCell): 12 nodes")
    assert steps == max(len(w) for w in run.words) + 1 or steps > 5
    assert "cell.xh_to_rz parameters" in g.source
    ungrouped = viz.draw(loss, params=run.model, collapse_chains=True, max_nodes=None)
    assert g.source.count("->") < ungrouped.source.count("->") / 2


def test_cli_step_through_and_grouped_graph(tmp_path, capsys):
    assert main(["graph", "--arch", "gru", "--step-through", "--out", str(tmp_path / "gru.html")]) == 0
    page = (tmp_path / "gru.html").read_text(encoding="utf-8")
    assert '"collapsed":true' in page
    assert main(["graph", "--arch", "gru", "--out", str(tmp_path / "gru.svg")]) == 0
    width, height = map(float, re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', (tmp_path / "gru.svg").read_text()).groups())
    assert width <= 20 * 72 and height <= 11 * 72  # one 1920 x 1080 screen
    assert main(["graph", "--arch", "gru", "--step-through", "--out", str(tmp_path / "gru.svg")]) == 2
    assert "ending in .html" in capsys.readouterr().err


def test_too_large_refusals_suggest_only_flags_that_apply(tmp_path, capsys):
    out = str(tmp_path / "g.dot")
    assert main(["graph", "--arch", "gru", "--batch-size", "2", "--no-group-modules", "--max-nodes", "10", "--out", out]) == 1
    err = capsys.readouterr().err
    assert "--group-modules" in err and "--batch-size 2" not in err and "--layers" not in err
    assert main(["graph", "--arch", "transformer", "--layers", "1", "--max-nodes", "5", "--out", out]) == 1
    err = capsys.readouterr().err
    assert "--layers 1" not in err and "--batch-size 2" in err


def test_a_graph_does_not_keep_a_dropped_module_alive():
    import gc
    import weakref

    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh())
    out = model(Tensor(np.ones((2, 3)))).sum()
    inner = [t for t in ag.topological_order(out) if t.op == "tanh"][0]
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
    assert inner.op_module == "<dropped>" and inner.op_module_call.module is None
    assert viz.record_backward(out)["graph"]["nodes"]  # still drawable


def test_a_walk_inside_a_walk_keeps_its_own_steps():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = Tensor(np.array([2.0, 3.0]), requires_grad=True)

    def hook(g):  # a hook that runs a backward walk of its own
        ag.grad((y * y).sum(), [y])

    h = x * 3
    h.register_hook(hook)
    steps = []
    with observe_backward(steps.append):
        h.sum().backward()
    # the inner walk finishes inside the hook, before the outer walk reaches h
    assert [s.tensor.op for s in steps] == ["sum", "mul", None, "sum", "mul", None]
    assert [t for _, t, _ in steps[1].contributions] == [y, y] and steps[2].tensor is y
    assert steps[4].tensor is h and [t for _, t, _ in steps[4].contributions] == [x]  # not mixed with the inner walk
    assert steps[5].tensor is x and np.allclose(steps[5].grad, 3) and np.allclose(steps[2].grad, 2 * y.data)


def test_rule_parts_find_their_inputs():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.full((2, 3), 2.0), requires_grad=True)
    loss = ag.where(a.data > 0, a, b).sum() + ag.concatenate([a, b], axis=0).sum() + (a @ b.T).sum()
    lines = {f["op"]: f["rule_shapes"] for f in viz.record_backward(loss)["frames"][1:]}
    assert lines["matmul"] == ["dA = G B^T: (2, 2) @ (2, 3) -> (2, 3)", "dB = A^T G: (3, 2) @ (2, 2) -> (3, 2)"]
    assert lines["where"] == ["da = G [cond]: G (2, 3) -> (2, 3)", "db = G [not cond]: G (2, 3) -> (2, 3)"]
    assert lines["concatenate"] == ["dx_i = G[slice of x_i] (i = 0): G (4, 3) -> (2, 3)",
                                    "dx_i = G[slice of x_i] (i = 1): G (4, 3) -> (2, 3)"]
    assert lines["transpose"] == ["dx = G^T: G (3, 2) -> (2, 3)"]


def test_a_too_large_graph_of_module_calls_suggests_group_modules():
    run, loss = names_loss("gru")
    with pytest.raises(viz.GraphTooLargeError, match=r"group_modules=True with collapse_chains=True would draw (\d+)") as err:
        viz.draw(loss, params=run.model, max_nodes=50)
    would = int(re.search(r"group_modules=True with collapse_chains=True would draw (\d+)", str(err.value)).group(1))
    assert would <= 50
    viz.draw(loss, params=run.model, group_modules=True, collapse_chains=True, max_nodes=would)  # fits exactly
    with pytest.raises(viz.GraphTooLargeError, match=f"more than max_nodes={would - 1}"):
        viz.draw(loss, params=run.model, group_modules=True, collapse_chains=True, max_nodes=would - 1)
    plain = (Tensor(np.ones(3), requires_grad=True) * 2).sum()  # no module calls: no such hint
    with pytest.raises(viz.GraphTooLargeError) as err:
        viz.draw(plain, max_nodes=1)
    assert "group_modules" not in str(err.value)
