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

``VizDigraph`` (what ``viz.draw`` returns) routes ``render``, ``view``, ``pipe`` and the
Jupyter display through this lookup, so no output of it needs the system ``dot``.
"""
from __future__ import annotations

import io
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path
from typing import Any, NamedTuple

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


def write_source(source: str, path: str | os.PathLike, *, engine: str = "dot") -> Path:
    """Render DOT ``source`` to ``path`` in the format its suffix names.

    The file appears whole or not at all: the bytes go to a hidden temporary file in the
    same folder, which is renamed over ``path`` (and removed if anything fails).
    """
    path = Path(path)
    data = pipe_source(source, format_for(path), engine=engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, data)
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:  # created with the usual permissions (umask applies)
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _open_in_viewer(path: str | os.PathLike) -> bool:
    """Start the platform's viewer on ``path`` without waiting for it; False if there is none.

    macOS ``open``, Windows' file association, elsewhere ``xdg-open`` when ``DISPLAY`` or
    ``WAYLAND_DISPLAY`` is set. Never blocks: the viewer runs in its own session.
    """
    path = os.fspath(path)
    if sys.platform == "win32":
        try:
            os.startfile(path)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    if sys.platform == "darwin":
        opener = shutil.which("open")
    elif os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        opener = shutil.which("xdg-open")
    else:
        opener = None
    if opener is None:
        return False
    try:
        subprocess.Popen(
            [opener, path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
    except OSError:
        return False
    return True


class VizDigraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose every output goes through ``find_renderer()``.

    ``render(path)``, ``view()``, ``pipe()`` and the Jupyter display (inline SVG) work
    with the system ``dot`` or with the ``graphviz-pure`` fallback, so none needs
    ``dot``. ``render`` writes only the file asked for, in the format its suffix names.
    Everything else is the plain ``graphviz.Digraph`` API (``source``, ``node()``,
    ``edge()``, ``save()`` for the DOT source ...).
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
        _refuse_renderer_options(renderer, formatter, neato_no_op)
        data = pipe_source(self.source, format or self.format, engine=engine or self.engine)
        return data.decode(encoding) if encoding else data

    def write(self, path: str | os.PathLike) -> Path:
        """Save to ``path`` as SVG, PNG, JPG, PDF or DOT source, chosen by its suffix."""
        return write_source(self.source, path, engine=self.engine)

    def render(  # type: ignore[override]
        self,
        filename: str | os.PathLike | None = None,
        directory: str | os.PathLike | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        quiet_view: bool = False,
        *,
        outfile: str | os.PathLike | None = None,
        engine: str | None = None,
        raise_if_result_exists: bool = False,
        overwrite_source: bool = False,
    ) -> str:
        """Write the picture to ``filename`` (or ``outfile``) and return its path.

        The suffix picks the format (``.svg``, ``.png``, ``.jpg``, ``.pdf``, ``.dot``);
        only that file is written, atomically. An unknown suffix is a ``ValueError``
        unless ``format`` is given, which then appends ``.<format>`` as graphviz does
        (``render("g", format="png")`` writes ``g.png``). Without a name the file is
        ``<name>.<format>`` in ``directory`` (default: the current folder).
        Giving both ``filename`` and ``outfile`` also saves the DOT source to
        ``filename`` (graphviz's meaning of the pair); ``cleanup=True`` skips that.
        ``view=True`` then opens it as ``view()`` does.
        """
        _refuse_renderer_options(renderer, formatter, neato_no_op)
        directory = directory if directory is not None else self.directory
        source_path = None
        if outfile is not None:
            if filename is not None and not cleanup:
                source_path = Path(directory or "", filename)
            target = _target(outfile, directory, format, default_name=None)
        else:
            target = _target(filename, directory, format, default_name=f"{self.name or 'graph'}.{format or self.format}")
        if raise_if_result_exists and target.exists():
            raise FileExistsError(f"render: {str(target)!r} exists (raise_if_result_exists=True)")
        if source_path is not None and source_path.resolve() == target.resolve():
            raise ValueError(f"render: the DOT source and the picture would both be {str(target)!r}")
        write_source(self.source, target, engine=engine or self.engine)
        if source_path is not None:
            source_path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(source_path, self.source.encode(self.encoding or "utf-8"))
        if view or quiet_view:
            _show(target, quiet=quiet_view)
        return str(target)

    def view(  # type: ignore[override]
        self,
        filename: str | os.PathLike | None = None,
        directory: str | os.PathLike | None = None,
        cleanup: bool = False,
        quiet: bool = False,
        quiet_view: bool = False,
    ) -> str:
        """Render, then open the file in the platform's viewer without waiting for it.

        Without ``filename`` the picture is ``<name>.<format>`` (SVG unless the graph's
        ``format`` was changed) in a new temporary folder. Where no viewer can be started
        (no display, as on a server or in CI) it is only written, and a line on stderr
        says where (unless ``quiet_view``). Returns the path either way.
        """
        if filename is None and directory is None:
            directory = tempfile.mkdtemp(prefix="viz-")
        target = _target(filename, directory, None, default_name=f"{self.name or 'graph'}.{self.format}")
        write_source(self.source, target, engine=self.engine)
        _show(target, quiet=quiet_view)
        return str(target)

    def _repr_svg_(self) -> str:
        """Inline SVG for Jupyter (PNG: ``_repr_mimebundle_(include=["image/png"])``)."""
        return self.pipe(format="svg", encoding="utf-8")  # type: ignore[return-value]


def _refuse_renderer_options(renderer: str | None, formatter: str | None, neato_no_op: Any) -> None:
    if renderer or formatter or neato_no_op:
        raise ValueError("VizDigraph: graphviz's renderer/formatter/neato_no_op options are not supported")


def _target(
    filename: str | os.PathLike | None,
    directory: str | os.PathLike | None,
    format: str | None,
    *,
    default_name: str | None,
) -> Path:
    """The output path: ``filename`` (in ``directory``), with ``.<format>`` added if its suffix is not one."""
    if filename is None:
        assert default_name is not None
        filename = default_name
    path = Path(directory or "", filename)
    suffix_format = SUFFIX_FORMATS.get(path.suffix.lower())
    if format is None:
        try:
            format_for(path)
        except ValueError as error:
            raise ValueError(f"{error}; or pass format= (render('g', format='png') writes g.png)") from None
        return path
    format = {"jpeg": "jpg", "gv": "dot"}.get(format.lower(), format.lower())
    if format not in SUFFIX_FORMATS.values():
        raise ValueError(f"render: unknown format {format!r}; use one of {sorted(set(SUFFIX_FORMATS.values()))}")
    if suffix_format is None:
        return path.with_name(f"{path.name}.{format}")
    if suffix_format != format:
        raise ValueError(f"render: format={format!r} but {str(path)!r} names {suffix_format!r}; give one of them")
    return path


def _show(path: Path, *, quiet: bool) -> None:
    if not _open_in_viewer(path) and not quiet:
        print(f"viz: no viewer could be started (no display?); the graph is in {path.resolve()}", file=sys.stderr)
