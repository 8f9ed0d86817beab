"""The tape walk: the public graph walk and reverse-mode backpropagation.

Every op applied to an input that requires grad records a ``Node`` on its
output (``node.py``): the op and its arguments. Following those links from a
loss back to the leaves gives the graph; running each op's VJPs along it,
outputs before inputs, is backpropagation (``backprop`` below; ``loss.backward()``
is ``backward`` below, installed on Tensor by ``api.py``).

Public walk (what ``viz`` uses, and anyone who wants to inspect a graph):

- ``tensor.op``          name of the op that produced it (``None`` for a leaf)
- ``tensor.parents``     the Tensors it was computed from (``()`` for a leaf)
- ``tensor.op_inputs`` / ``tensor.op_params``   the op's arguments (with constants) and keywords
- ``tensor.op_rule``     the op's VJP as one line of text (``tensor.op_jvp_rule``: its JVP)
- ``tensor.op_module``  the ``nn.Module`` path whose forward recorded the op (``blocks.0.attn``)
- ``topological_order(root)``   every Tensor reachable from ``root``, inputs first.

Watching the walk: ``with observe_backward(callback):`` calls ``callback(step)`` for every
tensor the walk reaches, in the order it runs them (``BackwardStep``: the tensor, its
complete incoming gradient, and the gradient its VJPs sent to each input).
"""
from __future__ import annotations

import contextlib
import operator
from typing import Any, Sequence

import numpy as np

from .grad_mode import enable_grad
from .anomaly import _anomaly, check_backward
from .capture_hook import _capture
from .node import OUTPUT, GraphFreedError, Node, as_recorded, changed_at, last_change
from .observe import WalkObserver, watching
from .observe import BackwardStep, observe_backward  # noqa: F401  (public here, with the walk)
from .tensor_type import Tensor


def topological_order(root: Tensor) -> list[Tensor]:
    """All Tensors reachable from ``root`` through ``parents``, inputs before outputs.

    Raises ``GraphFreedError`` if the walk meets a node that ``backward()`` freed.
    """
    leaves, made = _reachable([root], requiring_grad_only=False)
    return leaves + made


def _reachable(roots: Sequence[Tensor], requiring_grad_only: bool) -> tuple[list[Tensor], list[Tensor]]:
    """The leaves, and the recorded nodes in creation order: a node is always created after its
    inputs, so leaves + nodes is a topological order. One iterative pass, no recursion limit."""
    seen = {id(t): t for t in roots}
    stack = list(seen.values())
    leaves, made = [], []
    while stack:
        t = stack.pop()
        node = t._node
        if node is None:
            leaves.append(t)
            continue
        if node.freed:
            raise GraphFreedError()
        made.append(t)
        for arg in node.args:
            if isinstance(arg, Tensor):
                if arg._replaced is not None:
                    arg = as_recorded(node, arg)
                if id(arg) not in seen and (arg._requires_grad or not requiring_grad_only):
                    seen[id(arg)] = arg
                    stack.append(arg)
    made.sort(key=_creation_number)
    return leaves, made


_creation_number = operator.attrgetter("_node.seq")
_AS_IS = contextlib.nullcontext()


def backward(self: Tensor, grad_output: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (installed as ``Tensor.backward``).

    A tensor of size 1 is seeded with 1; any other needs ``grad_output`` of
    its shape. The graph is freed afterwards unless ``retain_graph=True``.
    """
    if not self._requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no graph "
            "(did you forget requires_grad=True on a parameter, or call inside no_grad()?)"
        )
    backprop([self], [seed_gradient(self, grad_output)], retain_graph=retain_graph)


def seed_gradient(output: Tensor, grad_output: Any) -> np.ndarray:
    """The gradient backward starts from: 1 for a one-element output, else ``grad_output``."""
    if grad_output is None:
        if output._data.size != 1:
            raise RuntimeError(
                f"backward: output has shape {output.shape}; gradients can be implicitly "
                "created only for a scalar output, pass grad_output of the same shape"
            )
        seed = np.empty_like(output._data)
        seed.fill(1)
        return seed
    seed = grad_output._data if isinstance(grad_output, Tensor) else np.asarray(grad_output, dtype=output.dtype)
    if seed.shape != output.shape:
        raise ValueError(f"backward: grad_output has shape {seed.shape} but the output has shape {output.shape}")
    return seed


def backprop(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    *,
    targets: Sequence[Tensor] | None = None,
    create_graph: bool = False,
    retain_graph: bool = False,
) -> dict[int, Any]:
    """Run the VJPs from ``roots`` (seeded with ``seeds``) back to the leaves.

    Without ``targets`` (``backward()``) each leaf's gradient is added into its
    ``.grad``. With ``targets`` (``grad()``) the gradient of each target is
    returned, keyed by ``id(target)``, and no leaf's ``.grad`` is touched. With
    ``create_graph`` the VJPs run on Tensors and are recorded: the gradients
    are differentiable.
    """
    if _capture.tracer is not None:  # autograd_np.compile is capturing a step: it records this walk
        return _capture.tracer.backprop(roots, seeds, targets, create_graph, retain_graph)
    order, check = walk_order(roots)
    grads = seeded(roots, seeds)
    found = None if targets is None else dict.fromkeys(id(t) for t in targets)  # grad(): id -> gradient
    observer = None if watching.callback is None else WalkObserver(watching.callback, accumulate)
    add = accumulate if observer is None else observer.accumulate
    with enable_grad() if create_graph else _AS_IS:
        for t in reversed(order):  # outputs before inputs: each gradient is complete when popped
            g = grads.pop(id(t), None)
            if g is None:
                continue
            g = hand_over(t, g, found)  # hooks, retain_grad; a leaf's .grad, or grad()'s result
            if observer is not None:
                observer.arrived(t, g)
            node = t._node
            if node is None:
                continue
            vjps, out, inputs, kwargs = vjp_arguments(t, node, create_graph, check)
            for i, arg in enumerate(node.args):  # one VJP per input that wants a gradient
                if isinstance(arg, Tensor) and arg._requires_grad:
                    add(grads, arg, vjps[i](g, out, *inputs, **kwargs), node, i)
            if not retain_graph:
                node.free()
    if observer is not None:
        observer.finish()
    return found or {}


def gradients_for(found: dict[int, Any], inputs: Sequence[Tensor]) -> list[Tensor]:
    """What ``backprop`` found for each input, as a Tensor in the input's dtype (zeros where no
    gradient flowed); a differentiable gradient (``create_graph``) is returned as it is."""
    result = []
    for t in inputs:
        g = found.get(id(t))
        if g is None:
            result.append(Tensor(np.zeros_like(t._data)))
        elif isinstance(g, Tensor):
            result.append(g if g.dtype == t.dtype else g.astype(t.dtype))
        else:
            result.append(Tensor(np.array(g, dtype=t.dtype)))
    return result


def walk_order(roots: Sequence[Tensor]) -> tuple[list[Tensor], bool]:
    """The tensors requiring grad that lead to ``roots``, inputs first, and whether an in-place
    change happened since the oldest node was recorded (if not, no node needs checking)."""
    leaves, made = _reachable(roots, requiring_grad_only=True)
    return leaves + made, bool(made) and last_change() > made[0]._node.seq


def seeded(roots: Sequence[Tensor], seeds: Sequence[Any]) -> dict[int, Any]:
    """The gradients the walk starts from, keyed by ``id`` of the tensor."""
    grads: dict[int, Any] = {}
    for root, seed in zip(roots, seeds):
        accumulate(grads, root, seed, None, 0)
    return grads


def hand_over(t: Tensor, g: Any, found: dict[int, Any] | None) -> Any:
    """``t``'s complete gradient to whoever waits for it: its hooks (a hook may replace it) and
    ``retain_grad()``; then, under ``grad()``, ``found`` if ``t`` is one of its targets, or, under
    ``backward()`` (``found`` None), a leaf's ``.grad``. Returns the gradient that flows on."""
    if t._hooks is not None:
        g = run_hooks(t, g)
    if found is not None:
        if id(t) in found:
            found[id(t)] = g
    elif t._node is None:
        accumulate_into_leaf(t, g)
    return g


def vjp_arguments(t: Tensor, node: Node, create_graph: bool, check: bool) -> tuple[Any, Any, Any, dict]:
    """``node``'s VJPs and what they are called with: under ``create_graph`` the rules on Tensors
    (so they are recorded too), else on arrays (with the op's kernels, if it has any); its keywords
    (with ``saved`` for a ``saves=True`` op). Refuses a node whose VJPs would read a value changed
    in place since it was recorded (``check``)."""
    if check:
        check_unchanged(t, node)
    op = node.op
    kwargs = {**node.kwargs, "saved": node.saved} if op.saves else node.kwargs
    if create_graph:
        return op.vjps, t, node.args, kwargs
    return op.array_vjps, t._data, node.inputs, kwargs


def accumulate(grads: dict[int, Any], t: Tensor, g: Any, node: Node | None, position: int) -> None:
    """``grads[t] += g``, checking that ``g`` has t's shape (a wrong VJP is an error, never broadcast).

    The sum is a new array: a VJP may hand back its incoming gradient or a view of it, which
    must never be written into.
    """
    if g is None:
        return
    if g.shape != t._data.shape:
        raise RuntimeError(
            f"backward: the VJP of {node.op.name if node else 'the seed'} gave a gradient of shape {g.shape} "
            f"for an input of shape {t._data.shape}"
        )
    if _anomaly.enabled and node is not None:
        check_backward(node.op.name, position, g, getattr(node, "site", None))
    key = id(t)
    previous = grads.get(key)
    grads[key] = g if previous is None else previous + g


def accumulate_into_leaf(leaf: Tensor, g: Any) -> None:
    """``leaf.grad += g``; the first gradient is copied (in the leaf's dtype), so ``.grad`` never
    shares memory with an array the walk or the user still holds."""
    if leaf._grad is None:
        leaf._grad = np.array(g, dtype=leaf._data.dtype)
    else:
        leaf._grad += g


def run_hooks(t: Tensor, g: Any) -> Any:
    """``t``'s hooks on its complete gradient; keep it in ``t.grad`` if ``retain_grad()`` asked (an op's output)."""
    g = t._hooks.apply(g)
    if t._hooks.retain and t._node is not None:
        kept = g._data if isinstance(g, Tensor) else g
        t._grad = np.array(kept, dtype=t._data.dtype) if t._grad is None else t._grad + kept
    return g


def check_unchanged(t: Tensor, node: Node) -> None:
    """Refuse a node if a value that one of its VJPs about to run reads (``op.reads``: an input,
    or its output ``t``) was changed in place after the node was recorded: the VJP would
    read the new values and return a wrong gradient. Other changes are harmless."""
    op, args = node.op, node.args
    for i, arg in enumerate(args):
        if not (isinstance(arg, Tensor) and arg._requires_grad):
            continue  # no VJP runs for this input
        reads = op.reads_of(i)
        for position in range(-1, len(args)) if reads is None else reads:
            read = t if position == OUTPUT else args[position]
            if isinstance(read, Tensor) and changed_at(read) > node.seq:
                which = "its output" if position == OUTPUT else f"its input {position}"
                raise changed_error(node, which, read)


def changed_error(node: Node, which: str, t: Tensor) -> RuntimeError:
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an in-place operation: "
        f"{which} [{node.op.name}, shape {t._data.shape}] was changed (through .data or an in-place operator) "
        f"after {node.op.name} recorded it, and its VJP reads it. Compute the forward pass again after the "
        f"change, or change a copy (clone())."
    )
