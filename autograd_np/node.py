"""Node: how a Tensor was computed. The one place that owns graph state.

A Tensor made by a recorded op holds a ``Node``; a leaf (made by the user, or
any result computed with recording off) holds ``None``. The backward walk in
``graph.py`` reads nodes and frees them; ``primitives.py`` creates them.
"""
from __future__ import annotations

import itertools
import weakref
from typing import Any, Callable

import numpy as np

#: One clock for node creation and in-place changes: a tensor changed after a node was
#: recorded has ``changed_at(t) > node.seq``.
next_stamp = itertools.count(1).__next__


#: In an op's ``reads``: its output (inputs are 0, 1, ...).
OUTPUT = -1


class _LastChange:
    stamp = 0  # when any tensor was last changed in place (0: never)


_last_change = _LastChange()  # an instance: storing on it is cheaper than changing a class


class Version:
    """When a tensor's values last changed in place, shared by every tensor that shares its
    memory: ``detach()`` results and views (basic slices, reshape, transpose), as PyTorch's
    version counter is. ``views`` holds weak references to the view tensors made of it."""

    __slots__ = ("stamp", "views")

    def __init__(self) -> None:
        self.stamp = 0
        self.views: list | None = None


def version_of(t: Any) -> Version:
    """``t``'s change record, made on first need (most tensors never need one)."""
    if t._version is None:
        t._version = Version()
    return t._version


def changed_at(t: Any) -> int:
    """The stamp of the last in-place change to ``t``'s values (0: never)."""
    return 0 if t._version is None else t._version.stamp


def mark_changed(t: Any) -> None:
    """Record that ``t``'s values (and so those of every tensor sharing them) changed in place, now."""
    version_of(t).stamp = _last_change.stamp = next_stamp()


def share_changes(source: Any, alias: Any, view: bool) -> None:
    """``alias`` shares ``source``'s memory: a change to either is a change to both. A ``view``
    (an op's output aliasing its input) is also remembered, so a recorded in-place change to
    memory that a live view shows can be refused (the view's graph would go stale)."""
    version = alias._version = version_of(source)
    if view:
        if version.views is None:
            version.views = []
        version.views = [ref for ref in version.views if ref() is not None]
        version.views.append(weakref.ref(alias))


def live_views(t: Any) -> list:
    """The live tensors that are views sharing ``t``'s memory (including ``t`` if it is one)."""
    version = t._version
    if version is None or not version.views:
        return []
    return [v for v in (ref() for ref in version.views) if v is not None]


def last_change() -> int:
    """The stamp of the most recent in-place change to any tensor: a graph recorded after it
    needs no per-node check."""
    return _last_change.stamp


class GraphFreedError(RuntimeError):
    """Backpropagating through (or drawing) a graph whose intermediates ``backward()`` released."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (
            "backward through a graph that has already been freed: the first backward() "
            "released its intermediate arrays; pass retain_graph=True to that first call "
            "if you need to backpropagate through the graph again"
        ))


class ModuleCall:
    """One call of an ``nn.Module`` (``module``), made inside ``outer`` (the enclosing call, or
    ``None`` at the top). Every node recorded during the call points to it (``Node.call``).
    The module is held weakly: a graph does not keep a dropped model alive."""

    __slots__ = ("_module", "outer", "_path")

    def __init__(self, module: Any, outer: "ModuleCall | None") -> None:
        self._module, self.outer, self._path = weakref.ref(module), outer, None

    @property
    def module(self) -> Any:
        """The module called; ``None`` once it has been dropped."""
        return self._module()

    @property
    def path(self) -> str:
        """The module's dotted name under the outermost module called (``blocks.0.attn``);
        ``""`` for the outermost module itself. A module called that is not a sub-module of
        the one calling it is named ``<ClassName>``; one dropped before its path was asked, ``<dropped>``."""
        if self._path is None:
            module = self.module
            if self.outer is None:
                self._path = ""
            elif module is None or self.outer.module is None:
                return "<dropped>"
            else:
                name = next((n for n, m in self.outer.module.named_modules() if m is module and n), None)
                name = name or f"<{type(module).__name__}>"
                self._path = f"{self.outer.path}.{name}" if self.outer.path else name
        return self._path


class _ModuleScope:
    current: ModuleCall | None = None  # the innermost nn.Module call running now


module_scope = _ModuleScope()


class Node:
    """One recorded op application.

    - ``op``: the Primitive; ``args``: its arguments as given (Tensors and constants);
    - ``inputs``: the same with each Tensor replaced by its array (what the forward saw);
    - ``kwargs``: keyword parameters (``axis``, ``shape``, ``index``, ...);
    - ``saved``: what a ``saves=True`` op kept for its VJP;
    - ``seq``: creation number. A node is always created after its inputs, so
      sorting nodes by ``seq`` gives a topological order;
    - ``call``: the ``nn.Module`` call it was recorded in (``ModuleCall``), or ``None``.
    """

    __slots__ = ("op", "args", "inputs", "kwargs", "saved", "seq", "freed", "call")

    def __init__(self, op: Any, args: tuple, inputs: Any, kwargs: dict, saved: Any) -> None:
        self.op = op
        self.args = args
        self.inputs = inputs
        self.kwargs = kwargs
        self.saved = saved
        self.seq = next_stamp()
        self.freed = False
        self.call = module_scope.current

    def free(self) -> None:
        """Drop the links to inputs and saved arrays so their memory can be released."""
        self.args = self.inputs = ()
        self.saved = None
        self.freed = True


def as_recorded(node: Node, t: Any) -> Any:
    """``t`` as it was when ``node`` recorded it. A recorded in-place op (``t += ...``) gives
    ``t`` a new value and graph and keeps the old ones in a snapshot, ``t._replaced = (stamp,
    snapshot)``; a node recorded before the change means the snapshot. ``node.args`` is
    updated, so the next walk finds the snapshot directly."""
    recorded = t
    while recorded._replaced is not None and recorded._replaced[0] > node.seq:
        recorded = recorded._replaced[1]
    if recorded is not t:
        node.args = tuple(recorded if a is t else a for a in node.args)
    return recorded


def recorded_args(node: Node) -> tuple:
    """``node.args`` with every Tensor as it was when the node recorded it (``as_recorded``)."""
    for arg in node.args:
        if getattr(arg, "_replaced", None) is not None:  # a Tensor changed in place since
            as_recorded(node, arg)
    return node.args


class TracedNode(Node):
    """A Node made in anomaly mode: it also remembers where the user's code called the op."""

    __slots__ = ("site",)

    def __init__(self, op: Any, args: tuple, inputs: Any, kwargs: dict, saved: Any, site: str) -> None:
        super().__init__(op, args, inputs, kwargs, saved)
        self.site = site


class GradHooks:
    """What to do with a tensor's gradient once it is complete: hooks, and whether to keep it."""

    __slots__ = ("hooks", "retain")

    def __init__(self) -> None:
        self.hooks: dict[int, Callable] = {}
        self.retain = False

    def add(self, fn: Callable) -> "HookHandle":
        key = next_stamp()
        self.hooks[key] = fn
        return HookHandle(self.hooks, key)

    def apply(self, g: Any) -> Any:
        """Run every hook in order; a hook's non-None result replaces the gradient."""
        for fn in list(self.hooks.values()):
            replaced = fn(g)
            if replaced is not None:
                replaced = getattr(replaced, "_data", replaced)
                if np.shape(replaced) != np.shape(g):
                    raise RuntimeError(
                        f"hook {getattr(fn, '__name__', fn)!r} returned a gradient of shape {np.shape(replaced)} "
                        f"for a gradient of shape {np.shape(g)}"
                    )
                g = replaced
        return g


class HookHandle:
    """Returned by ``Tensor.register_hook``: ``handle.remove()`` unregisters the hook."""

    __slots__ = ("_hooks", "_key")

    def __init__(self, hooks: dict, key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)
