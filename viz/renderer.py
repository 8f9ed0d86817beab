"""DOT source -> SVG / PNG / PDF, with the system ``dot`` or the ``graphviz-pure`` fallback.

Renderer lookup (``find_renderer``), in this order:

1. ``dot`` on ``PATH`` (the system Graphviz: every format, vector PDF);
2. ``graphviz-pure`` on ``PATH`` (a pip-installable Rust port of ``dot``, a declared
   dependency of this project; same command-line flags);
3. ``graphviz-pure`` in this interpreter's scripts directories (its own and the
   ``pip --user`` one), for a virtual environment used without being activated (a Jupyter
   kernel, ``.venv/bin/python ...``) or a user install whose bin directory is not on PATH.

If none is found, ``RendererNotFoundError`` says how to install one. ``graphviz-pure``
writes svg, png and jpg but not pdf; a PDF requested from it is a PNG rendered at
``PDF_FALLBACK_DPI`` and wrapped in a PDF page by matplotlib (a ``UserWarning`` says so).
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path
from typing import NamedTuple

import graphviz

#: file suffix -> output format; ``.dot``/``.gv`` is the DOT source itself (no renderer needed).
SUFFIX_FORMATS = {
    ".svg": "svg", ".png": "png", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg",
    ".dot": "dot", ".gv": "dot",
}
PDF_FALLBACK_DPI = 200
INSTALL_HINT = (
    "install a Graphviz renderer: `pip install graphviz-pure` (a wheel, no system "
    "packages needed) or the system Graphviz (`apt-get install graphviz`, "
    "`brew install graphviz`, `conda install graphviz`)"
)


class RendererNotFoundError(RuntimeError):
    """Neither ``dot`` nor ``graphviz-pure`` could be found."""


class RenderError(RuntimeError):
    """The renderer ran but failed (its stderr is in the message)."""


class Renderer(NamedTuple):
    path: str  # executable to run
    kind: str  # "dot" or "graphviz-pure"


def _script_dirs() -> list[str]:
    """Where pip puts console scripts for the running interpreter (also with ``--user``)."""
    dirs = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    try:
        dirs.append(sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user")))
    except (KeyError, AttributeError):  # no user scheme on this platform
        pass
    return [d for d in dict.fromkeys(dirs) if d]


def find_renderers() -> list[Renderer]:
    """Every renderer that can be found, in the order ``find_renderer`` prefers them."""
    found = []
    dot = shutil.which("dot")
    if dot:
        found.append(Renderer(dot, "dot"))
    pure = shutil.which("graphviz-pure")
    for directory in _script_dirs():
        if pure:
            break
        pure = shutil.which("graphviz-pure", path=directory)
    if pure:
        found.append(Renderer(pure, "graphviz-pure"))
    return found


def find_renderer() -> Renderer:
    """The renderer ``render`` will use: system ``dot`` first, then ``graphviz-pure``."""
    found = find_renderers()
    if found:
        return found[0]
    raise RendererNotFoundError(
        "no Graphviz renderer found: `dot` is not on PATH and the `graphviz-pure` command "
        f"is not installed; {INSTALL_HINT}. (Saving to a .dot file needs no renderer.)"
    )


def pipe_source(source: str, fmt: str, *, engine: str = "dot", dpi: float | None = None) -> bytes:
    """Run the renderer on DOT ``source`` and return the ``fmt`` bytes (svg, png, pdf, jpg)."""
    if fmt == "dot":
        return source.encode("utf-8")
    renderer = find_renderer()
    if fmt == "pdf" and renderer.kind == "graphviz-pure":
        return _pdf_via_png(source, engine)
    cmd = [renderer.path, f"-T{fmt}"]
    if engine != "dot":
        cmd.append(f"-K{engine}")
    if dpi is not None:
        cmd.append(f"-Gdpi={dpi}")
    proc = subprocess.run(cmd, input=source.encode("utf-8"), capture_output=True)
    if proc.returncode != 0 or not proc.stdout:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"{' '.join(cmd)} failed (exit status {proc.returncode}): {message}")
    return proc.stdout


def _pdf_via_png(source: str, engine: str) -> bytes:
    """graphviz-pure has no PDF output: a high-resolution PNG on a PDF page of the same size."""
    warnings.warn(
        f"graphviz-pure cannot write PDF; this PDF holds a {PDF_FALLBACK_DPI}-dpi PNG of the "
        "graph. Render .svg, or install the system Graphviz for a vector PDF.",
        UserWarning,
        stacklevel=2,
    )
    try:
        from matplotlib.figure import Figure
        from matplotlib.image import imread
    except ImportError:
        raise RenderError(
            "a PDF without the system Graphviz needs matplotlib (pip install -e '.[plot]'), "
            "or install Graphviz (apt-get install graphviz), or render .svg"
        ) from None

    png = pipe_source(source, "png", engine=engine, dpi=PDF_FALLBACK_DPI)
    image = imread(io.BytesIO(png), format="png")
    height, width = image.shape[:2]
    fig = Figure(figsize=(width / PDF_FALLBACK_DPI, height / PDF_FALLBACK_DPI), dpi=PDF_FALLBACK_DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image, interpolation="none")  # vector backends embed the pixels unresampled
    ax.set_axis_off()
    out = io.BytesIO()
    fig.savefig(out, format="pdf", dpi=PDF_FALLBACK_DPI)
    return out.getvalue()


def format_for(path: str | os.PathLike) -> str:
    """The output format implied by ``path``'s suffix (ValueError for an unknown one)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise ValueError(
            f"cannot tell the output format from {str(path)!r}: use one of the suffixes "
            + ", ".join(SUFFIX_FORMATS)
        )
    return SUFFIX_FORMATS[suffix]


class VizDigraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that renders through ``find_renderer()``.

    ``pipe()`` (and so Jupyter's inline SVG, which calls ``pipe(format="svg")``) works
    with the system ``dot`` or with the ``graphviz-pure`` fallback; ``write(path)``
    saves a file whose format follows the suffix. Everything else is the plain
    ``graphviz.Digraph`` API (``source``, ``node()``, ``edge()``, ``save()`` ...);
    note that the inherited ``render()``/``view()`` still call ``dot`` itself.
    """

    def pipe(  # type: ignore[override]
        self,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> bytes | str:
        """The graph rendered as ``format`` (bytes, or str when ``encoding`` is given)."""
        if renderer or formatter or neato_no_op:
            raise ValueError("VizDigraph.pipe: renderer/formatter/neato_no_op are not supported")
        data = pipe_source(self.source, format or self.format, engine=engine or self.engine)
        return data.decode(encoding) if encoding else data

    def write(self, path: str | os.PathLike) -> Path:
        """Save to ``path`` as SVG, PNG, JPG, PDF or DOT source, chosen by its suffix."""
        return write_source(self.source, path, engine=self.engine)


def write_source(source: str, path: str | os.PathLike, *, engine: str = "dot") -> Path:
    """Render DOT ``source`` to ``path`` in the format its suffix names."""
    path = Path(path)
    data = pipe_source(source, format_for(path), engine=engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
