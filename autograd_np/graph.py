"""The tape: recording switch, the public graph walk, and reverse-mode replay.

Every op that produces a Tensor from inputs that require grad records a *node*:
the output Tensor keeps its op and its arguments. Walking those links from a
loss back to the leaves gives the graph; replaying each op's VJP along the walk
in reverse topological order is backpropagation.

Public walk (used by ``viz`` and anyone who wants to inspect a graph):

- ``tensor.op``      name of the op that produced it (``None`` for a leaf)
- ``tensor.parents`` the Tensors it was computed from (``()`` for a leaf)
- ``tensor.op_inputs`` / ``tensor.op_params`` the op's arguments (with constants) and keywords
- ``topological_order(root)`` every Tensor reachable from ``root``, inputs first.
"""
from __future__ import annotations

import contextlib
import operator
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .tensor import Tensor

#: The Tensor class, filled in by tensor.py once it is defined (tensor.py imports
#: this module, so this one cannot import it back at load time; an import inside
#: the backward functions would cost a microsecond per call).
_Tensor: type = type(None)


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


_NO_KWARGS: dict = {}

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


def _needs_grad_order(roots: Sequence["Tensor"]) -> list["Tensor"]:
    """Every node reachable from ``roots`` through inputs that require grad, inputs first.

    Recorded nodes are numbered in creation order (``Tensor._seq``) and a node
    is always created after its inputs, so sorting the reachable set by that
    number is a topological order (leaves, numbered 0, come first). This is one
    plain traversal plus a C-level sort, and it serves several roots at once.
    Raises RuntimeError if the walk meets a node whose graph was freed by backward().
    """
    Tensor = _Tensor
    seen: dict[int, Tensor] = {}
    stack: list[Tensor] = []
    for root in roots:
        if id(root) not in seen:
            seen[id(root)] = root
            stack.append(root)
    push = stack.append
    while stack:
        node = stack.pop()
        if node._freed:
            raise RuntimeError(FREED_MESSAGE)
        for arg in node._args:
            if isinstance(arg, Tensor) and arg._requires_grad and id(arg) not in seen:
                seen[id(arg)] = arg
                push(arg)
    return sorted(seen.values(), key=_seq_of)


_seq_of = operator.attrgetter("_seq")


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
    order = _needs_grad_order(roots)
    grads: dict[int, object] = {}
    owned: set[int] = set()  # gradients the engine allocated itself: safe to add into in place
    for root, seed in zip(roots, seeds):
        _accumulate(grads, owned, id(root), seed, False, create_graph)

    target_ids = None if targets is None else {id(t) for t in targets}
    results: dict[int, object] = {}
    if create_graph:  # the VJPs themselves must be recorded, even if called under no_grad()
        with enable_grad():
            _replay(order, grads, owned, target_ids, results, create_graph, retain_graph)
    else:
        _replay(order, grads, owned, target_ids, results, create_graph, retain_graph)
    return results


def _replay(order, grads, owned, target_ids, results, create_graph, retain_graph) -> None:
    """Walk ``order`` backwards: pop each node's gradient, run its op's VJPs, pass them on.

    Ownership: on the ordinary (raw array) path a VJP may return its incoming
    gradient ``g``, a view of it, one of the op's arrays, or a new array. Only
    a new one (an ndarray with no ``base`` that is none of those) is *owned* by
    the engine: a later contribution to the same input is added into it in
    place, and a leaf takes it as its ``.grad`` without a copy. Anything else
    is copied before it is written into or handed to a leaf.
    """
    Tensor = _Tensor
    pop = grads.pop
    ndarray = np.ndarray
    for node in reversed(order):
        key = id(node)
        g = pop(key, None)
        if g is None:
            continue
        if target_ids is not None and key in target_ids:
            results[key] = g
        op = node._op
        if op is None:  # a leaf
            if target_ids is None:
                if node.grad is None and key in owned and g.dtype == node.data.dtype and g.shape == node.data.shape:
                    node.grad = g  # a new array nobody else holds: no copy (the common case, inline)
                else:
                    _accumulate_leaf(node, g, key in owned)
            continue
        args = node._args
        kwargs = node._kwargs
        if create_graph:
            inputs, out = args, node
            if op.saves:
                kwargs = {**kwargs, "saved": None}
        else:
            inputs, out = node._inputs, node.data
            if op.saves:
                kwargs = {**kwargs, "saved": node._saved}
        vjp_argnum = op.vjp_argnum
        vjps = op.vjps
        previous = None
        i = -1
        for arg in args:
            i += 1
            if not (isinstance(arg, Tensor) and arg._requires_grad):
                continue
            if vjp_argnum is None:
                gi = vjps[i](g, out, *inputs, **kwargs) if kwargs else vjps[i](g, out, *inputs)
            else:
                gi = vjp_argnum(i, g, out, *inputs, **kwargs)
            if gi is None:
                continue
            is_new = False
            if type(gi) is ndarray and gi.base is None and gi is not g and gi is not out and gi is not previous:
                is_new = not create_graph
                for x in inputs:
                    if gi is x:
                        is_new = False
            previous = gi
            k = id(arg)
            if k in grads:
                _accumulate(grads, owned, k, gi, is_new, create_graph)
            else:  # the first gradient for this input (the common case), inline
                grads[k] = gi
                if is_new:
                    owned.add(k)
        if not retain_graph:  # node._free(), inline
            node._args = node._inputs = ()
            node._kwargs = _NO_KWARGS
            node._saved = None
            node._freed = True


def _accumulate(grads: dict, owned: set, key: int, g, is_new: bool, create_graph: bool) -> None:
    """Add gradient ``g`` into ``grads[key]``, in place when the engine owns the buffer."""
    previous = grads.get(key)
    if previous is None:
        grads[key] = g
        if is_new:
            owned.add(key)
    elif create_graph:
        grads[key] = previous + g
    elif key in owned and _can_add_into(previous, g):
        np.add(previous, g, out=previous)
    elif is_new and _can_add_into(g, previous):
        np.add(g, previous, out=g)
        grads[key] = g
        owned.add(key)
    else:
        # A VJP may hand back a view of its incoming gradient: never write into it.
        grads[key] = previous + g
        owned.add(key)


def _can_add_into(target, other) -> bool:
    return (
        type(target) is np.ndarray
        and target.shape == np.shape(other)
        and np.result_type(target, other) == target.dtype
    )


def _accumulate_leaf(leaf: "Tensor", g, owned: bool) -> None:
    data = leaf.data
    if np.shape(g) != data.shape:  # never broadcast it silently: that would hide a wrong VJP
        raise RuntimeError(
            f"backward: the gradient reaching a leaf of shape {data.shape} has shape {np.shape(g)}; "
            "a VJP returned a gradient of the wrong shape"
        )
    if leaf.grad is None:
        if owned and g.dtype == data.dtype:
            leaf.grad = g  # a new array nobody else holds: no copy
        else:
            leaf.grad = np.array(g, dtype=data.dtype)
    else:
        leaf.grad += g
