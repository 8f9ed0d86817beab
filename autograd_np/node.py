"""Node: how a Tensor was computed. The one place that owns graph state.

A Tensor made by a recorded op holds a ``Node``; a leaf (made by the user, or
any result computed with recording off) holds ``None``. The backward walk in
``graph.py`` reads nodes and frees them; ``primitive.py`` creates them.
"""
from __future__ import annotations

import itertools
from typing import Any

_next_creation_number = itertools.count(1).__next__


class GraphFreedError(RuntimeError):
    """Backpropagating through (or drawing) a graph whose intermediates ``backward()`` released."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (
            "backward through a graph that has already been freed: the first backward() "
            "released its intermediate arrays; pass retain_graph=True to that first call "
            "if you need to backpropagate through the graph again"
        ))


class Node:
    """One recorded op application.

    - ``op``: the Primitive; ``args``: its arguments as given (Tensors and constants);
    - ``inputs``: the same with each Tensor replaced by its array (what the forward saw);
    - ``kwargs``: keyword parameters (``axis``, ``shape``, ``index``, ...);
    - ``saved``: what a ``saves=True`` op kept for its VJP;
    - ``seq``: creation number. A node is always created after its inputs, so
      sorting nodes by ``seq`` gives a topological order.
    """

    __slots__ = ("op", "args", "inputs", "kwargs", "saved", "seq", "freed")

    def __init__(self, op: Any, args: tuple, inputs: Any, kwargs: dict, saved: Any) -> None:
        self.op = op
        self.args = args
        self.inputs = inputs
        self.kwargs = kwargs
        self.saved = saved
        self.seq = _next_creation_number()
        self.freed = False

    def free(self) -> None:
        """Drop the links to inputs and saved arrays so their memory can be released."""
        self.args = self.inputs = ()
        self.saved = None
        self.freed = True
