"""The tape: recording switch, the public graph walk, and reverse-mode replay.

Every op that produces a Tensor from inputs that require grad records a *node*:
the output Tensor keeps its op and its arguments. Walking those links from a
loss back to the leaves gives the graph; replaying each op's VJP along the walk
in reverse topological order is backpropagation.

Public walk (used by ``viz`` and anyone who wants to inspect a graph):

- ``tensor.op``      name of the op that produced it (``None`` for a leaf)
- ``tensor.parents`` the Tensors it was computed from (``()`` for a leaf)
- ``topological_order(root)`` every Tensor reachable from ``root``, inputs first.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor


class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad()`` block."""
    return _GradMode.enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: ops inside it record nothing (inference, optimizer steps)."""
    previous = _GradMode.enabled
    _GradMode.enabled = False
    try:
        yield
    finally:
        _GradMode.enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Context manager: turn recording back on (used by ``create_graph=True``)."""
    previous = _GradMode.enabled
    _GradMode.enabled = True
    try:
        yield
    finally:
        _GradMode.enabled = previous


FREED_MESSAGE = (
    "backward through a graph that has already been freed: the first backward() "
    "released its intermediate arrays; pass retain_graph=True to that first call "
    "if you need to backpropagate through the graph again"
)


def topological_order(root: "Tensor") -> list["Tensor"]:
    """All Tensors reachable from ``root`` through ``parents``, inputs before outputs.

    Iterative depth-first search, so a chain of 100,000 ops needs no recursion.
    Raises RuntimeError if the walk meets a node whose graph was freed by backward().
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        if node._freed:
            raise RuntimeError(FREED_MESSAGE)
        stack.append((node, True))
        for arg in node._args:
            if hasattr(arg, "_args") and id(arg) not in visited:
                stack.append((arg, False))
    return order


def _needs_grad_order(root: "Tensor") -> list["Tensor"]:
    """Topological order restricted to nodes that require grad (the backward walk)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    append, pop = stack.append, stack.pop
    while stack:
        node, expanded = pop()
        if expanded:
            order.append(node)
            continue
        key = id(node)
        if key in visited:
            continue
        visited.add(key)
        if node._freed:
            raise RuntimeError(FREED_MESSAGE)
        append((node, True))
        for arg in node._args:
            if getattr(arg, "_requires_grad", False) and id(arg) not in visited:
                append((arg, False))
    return order


def backprop(
    roots: Sequence["Tensor"],
    seeds: Sequence[object],
    *,
    targets: Sequence["Tensor"] | None = None,
    create_graph: bool = False,
    retain_graph: bool = False,
) -> dict[int, object]:
    """Replay VJPs from ``roots`` (seeded with ``seeds``) down to the leaves.

    Without ``targets`` (the ``backward()`` path) leaf gradients are accumulated
    into ``leaf.grad`` as raw arrays. With ``targets`` (the ``grad()`` path) the
    gradient of each target is returned in a dict keyed by ``id(target)`` and no
    ``.grad`` is touched. With ``create_graph`` the VJPs run on Tensors, so the
    returned gradients are themselves differentiable.
    """
    # One walk over the union of the roots' graphs.
    if len(roots) == 1:
        order = _needs_grad_order(roots[0])
    else:
        order, seen = [], set()
        for root in roots:
            for node in _needs_grad_order(root):
                if id(node) not in seen:
                    seen.add(id(node))
                    order.append(node)
        order = _reorder(order)

    grads: dict[int, object] = {}
    owned: set[int] = set()  # gradients the engine allocated itself: safe to add into in place
    for root, seed in zip(roots, seeds):
        _accumulate(grads, owned, id(root), seed, create_graph)

    target_ids = None if targets is None else {id(t) for t in targets}
    results: dict[int, object] = {}
    # create_graph: the VJPs themselves must be recorded, even if called under no_grad().
    with enable_grad() if create_graph else contextlib.nullcontext():
        _replay(order, grads, owned, target_ids, results, create_graph, retain_graph)
    return results


def _replay(order, grads, owned, target_ids, results, create_graph, retain_graph) -> None:
    from .tensor import Tensor

    for node in reversed(order):
        key = id(node)
        g = grads.pop(key, None)
        if g is None:
            continue
        if target_ids is not None and key in target_ids:
            results[key] = g
        op = node._op
        if op is None:  # a leaf
            if target_ids is None:
                _accumulate_leaf(node, g, key in owned)
            continue
        args = node._args
        if create_graph:
            inputs, out = args, node
        else:
            inputs = tuple(a.data if isinstance(a, Tensor) else a for a in args)
            out = node.data
        kwargs = node._kwargs
        for i, arg in enumerate(args):
            if isinstance(arg, Tensor) and arg._requires_grad:
                gi = op.vjp(i, g, out, *inputs, **kwargs)
                if gi is not None:
                    _accumulate(grads, owned, id(arg), gi, create_graph)
        if not retain_graph:
            node._free()


def _reorder(nodes: list["Tensor"]) -> list["Tensor"]:
    """Topological sort of a node set (Kahn), for walks that start from several roots."""
    index = {id(n): n for n in nodes}
    indegree = {k: 0 for k in index}
    for n in nodes:
        for arg in n._args:
            if id(arg) in index:
                indegree[id(n)] += 1
    children: dict[int, list] = {k: [] for k in index}
    for n in nodes:
        for arg in n._args:
            if id(arg) in index:
                children[id(arg)].append(n)
    ready = [n for n in nodes if indegree[id(n)] == 0]
    out = []
    while ready:
        n = ready.pop()
        out.append(n)
        for c in children[id(n)]:
            indegree[id(c)] -= 1
            if indegree[id(c)] == 0:
                ready.append(c)
    return out


def _accumulate(grads: dict, owned: set, key: int, g, create_graph: bool) -> None:
    previous = grads.get(key)
    if previous is None:
        grads[key] = g
    elif create_graph or key not in owned:
        # A VJP may hand back a view of its incoming gradient: never write into it.
        grads[key] = previous + g
        if not create_graph:
            owned.add(key)
    else:
        _add_inplace(grads, key, previous, g)


def _add_inplace(grads: dict, key: int, previous: np.ndarray, g: np.ndarray) -> None:
    if (
        type(previous) is np.ndarray
        and previous.shape == np.shape(g)
        and np.result_type(previous, g) == previous.dtype
    ):
        np.add(previous, g, out=previous)
    else:
        grads[key] = previous + g


def _accumulate_leaf(leaf: "Tensor", g, owned: bool) -> None:
    data = leaf.data
    if leaf.grad is None:
        if owned and g.dtype == data.dtype and g.shape == data.shape:
            leaf.grad = g
        else:
            leaf.grad = np.array(np.broadcast_to(g, data.shape), dtype=data.dtype)
    else:
        leaf.grad += g
