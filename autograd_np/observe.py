"""Watching the backward walk: ``observe_backward(callback)``.

``graph.backprop`` asks ``watching.callback`` once per walk; when a callback is set it hands each
tensor it reaches, and each gradient it sends on, to a ``WalkObserver``, which gives the callback
one ``BackwardStep`` per tensor. With no callback the walk runs as it did (one check per node).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from .tensor_type import Tensor


class BackwardStep:
    """What the walk did at one tensor (given to an ``observe_backward`` callback).

    - ``tensor``: the tensor reached (an op's output, or a leaf);
    - ``grad``: its complete gradient d(root)/d(tensor) as the walk holds it (after hooks): an
      array, or a Tensor under ``create_graph``;
    - ``contributions``: ``(position, input, gradient)`` for each input whose VJP ran, in the
      order they ran: the gradient this node adds to that input's total (empty for a leaf).
    """

    __slots__ = ("tensor", "grad", "contributions")

    def __init__(self, tensor: Tensor, grad: Any) -> None:
        self.tensor, self.grad, self.contributions = tensor, grad, []


class WalkObserver:
    """One walk's steps, each handed to the ``observe_backward`` callback once complete (its
    tensor's VJPs ran). One per walk, so a walk started inside another keeps its own steps."""

    def __init__(self, callback: Any, accumulate: Callable) -> None:
        self.callback, self.add = callback, accumulate
        self.step: BackwardStep | None = None

    def arrived(self, t: Tensor, g: Any) -> None:
        self.finish()
        self.step = BackwardStep(t, g)

    def accumulate(self, grads: dict[int, Any], t: Tensor, g: Any, node: Any, position: int) -> None:
        """The walk's ``accumulate``, noting what was sent to ``t``."""
        self.add(grads, t, g, node, position)
        if g is not None and self.step is not None:
            self.step.contributions.append((position, t, g))

    def finish(self) -> None:
        step, self.step = self.step, None
        if step is not None:
            self.callback(step)


class _Watching:
    callback: Any = None  # the innermost observe_backward callback, or None


watching = _Watching()


@contextlib.contextmanager
def observe_backward(callback: Callable[[BackwardStep], Any]) -> Iterator[None]:
    """Inside the block, every backward walk (``backward()``, ``grad()``) calls ``callback(step)``
    once per tensor it reaches, in the order it runs them, with a ``BackwardStep`` (the tensor,
    its complete gradient, each input's contribution) after that tensor's VJPs ran. The arrays
    are the walk's own: copy them to keep them. Blocks nest; the innermost callback is called.
    """
    outer = watching.callback
    watching.callback = callback
    try:
        yield
    finally:
        watching.callback = outer
