"""viz.draw labels module parameters with their dotted names without params= (nn.root_modules)."""
from __future__ import annotations

import gc
import re
import weakref

import numpy as np
import pytest

import viz
from autograd_np import Tensor, nn

LEAF_LABEL = re.compile(r'\[label="([^"\\]*)\\n[^"]*requires_grad')


def leaf_names(g) -> list[str]:
    """The first label line of every leaf that requires grad, sorted."""
    return sorted(LEAF_LABEL.findall(g.source))


class Net(nn.Module):
    def __init__(self) -> None:
        self.l1 = nn.Linear(3, 4, rng=np.random.default_rng(0))
        self.l2 = nn.Linear(4, 2, rng=np.random.default_rng(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.l2(self.l1(x).tanh())


X = Tensor(np.ones((2, 3)))


def test_sequential_parameters_are_named():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    names = leaf_names(viz.draw(model(X).sum()))
    assert names == ["layers.0.bias", "layers.0.weight", "layers.2.bias", "layers.2.weight"]
    assert names == sorted(name for name, _ in model.named_parameters())  # the state_dict keys


def test_user_module_attributes_are_named_and_nesting_is_dotted():
    class Outer(nn.Module):
        def __init__(self) -> None:
            self.body = Net()
            self.scale = Tensor(np.full(2, 0.5), requires_grad=True)

        def forward(self, x: Tensor) -> Tensor:
            return self.body(x) * self.scale

    net = Net()
    assert leaf_names(viz.draw(net(X).sum())) == ["l1.bias", "l1.weight", "l2.bias", "l2.weight"]
    outer = Outer()
    assert leaf_names(viz.draw(outer(X).sum())) == [
        "body.l1.bias", "body.l1.weight", "body.l2.bias", "body.l2.weight", "scale",
    ]


def test_explicit_params_win_and_fill_in_from_modules():
    net = Net()
    g = viz.draw(net(X).sum(), params={"W1": net.l1.weight})
    assert leaf_names(g) == ["W1", "l1.bias", "l2.bias", "l2.weight"]


def test_a_tensors_own_name_is_kept():
    net = Net()
    net.l2.weight.name = "readout"
    assert leaf_names(viz.draw(net(X).sum())) == ["l1.bias", "l1.weight", "l2.bias", "readout"]


def test_module_names_can_be_switched_off():
    net = Net()
    assert leaf_names(viz.draw(net(X).sum(), module_names=False)) == ["leaf"] * 4


def test_plain_tensors_and_constants_are_not_named_by_modules():
    net = Net()
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    source = viz.draw((net(X * w)).sum()).source
    assert "leaf\\n(2, 3)\\nrequires_grad" in source and "constant\\n(2, 3)" in source


def test_the_module_that_names_most_of_the_graph_wins():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    tail = model[2:]  # another live top-level module holding the last layer as layers.0
    assert leaf_names(viz.draw(model(X).sum()))[-2:] == ["layers.2.bias", "layers.2.weight"]
    h = Tensor(np.ones((2, 4)))
    # both name the same two leaves: the newer module (tail) wins the tie
    assert leaf_names(viz.draw(tail(h).sum())) == ["layers.0.bias", "layers.0.weight"]


def test_a_dropped_module_names_nothing():
    loss = Net()(X).sum()  # the module is gone; its parameters live on in the graph
    gc.collect()
    assert leaf_names(viz.draw(loss)) == ["leaf"] * 4


# ----- the registry -----------------------------------------------------------------------------
def test_root_modules_lists_live_top_level_modules_oldest_first():
    first, second = Net(), nn.Sequential(nn.Linear(2, 2))
    roots = nn.root_modules()
    assert roots.index(first) < roots.index(second)
    assert not any(m is first.l1 or m is second.layers[0] for m in roots)  # sub-modules are not roots


def test_the_registry_keeps_nothing_alive():
    gc.collect()
    before = sum(type(m) is Net for m in nn.root_modules())
    net = Net()
    ref = weakref.ref(net)
    assert sum(type(m) is Net for m in nn.root_modules()) == before + 1
    del net
    gc.collect()
    assert ref() is None
    assert sum(type(m) is Net for m in nn.root_modules()) == before


def test_a_half_built_module_is_left_out():
    class Broken(nn.ModuleList):
        def __init__(self) -> None:
            raise RuntimeError("fails before its list exists")

    with pytest.raises(RuntimeError):
        Broken()
    half = Broken.__new__(Broken)  # registered, but named_children() cannot run
    roots = nn.root_modules()
    assert half not in roots
    net = Net()
    assert leaf_names(viz.draw(net(X).sum()))[0] == "l1.bias"
