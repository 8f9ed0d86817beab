"""viz: pictures of autograd_np computation graphs.

    import viz
    g = viz.draw(loss, show_grad=True)   # a graphviz.Digraph subclass (inline SVG in Jupyter)
    g.render("graph.png")                # .svg / .png / .jpg / .pdf / .dot by suffix; g.view()
    viz.render(loss, "graph.png")        # the same in one call
    viz.step_through(loss, "backward.html")   # the backward pass, one node at a time (an HTML page)

Module parameters are labelled with their names (``layers.0.weight``) from the live
modules that hold them (``autograd_np.nn.root_modules``); ``params=`` overrides that.
Rendering uses the system ``dot`` when it is on PATH and the pip-installed
``graphviz-pure`` command otherwise (see ``viz.find_renderer``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import graphviz

from autograd_np import Tensor

from .draw import GRAD_BUCKETS, GraphTooLargeError, draw, grad_color
from .renderer import (
    Renderer,
    RendererNotFoundError,
    RenderError,
    VizDigraph,
    find_renderer,
    find_renderers,
    format_for,
    write_source,
)
from .step_through import StepThroughFile, record_backward, step_through


def render(graph: Tensor | graphviz.Digraph, path: str | os.PathLike, **draw_kwargs: Any) -> Path:
    """Draw ``graph`` (a Tensor, or a Digraph from ``draw``) and save it to ``path``.

    The suffix picks the format: ``.svg``, ``.png``, ``.jpg``, ``.pdf``, or ``.dot``/``.gv``
    for the DOT source (which needs no renderer). ``draw_kwargs`` go to ``draw``.
    Returns the path written.
    """
    format_for(path)  # an unknown suffix fails before any drawing
    if isinstance(graph, Tensor):
        graph = draw(graph, **draw_kwargs)
    elif draw_kwargs:
        raise TypeError("viz.render: draw options only apply when a Tensor is given")
    return write_source(graph.source, path, engine=graph.engine)


__all__ = [
    "draw", "render", "step_through", "record_backward", "StepThroughFile", "find_renderer", "find_renderers", "format_for", "grad_color", "GRAD_BUCKETS",
    "VizDigraph", "Renderer", "GraphTooLargeError", "RendererNotFoundError", "RenderError",
]
