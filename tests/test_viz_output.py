"""viz.draw(...)'s graph: render(path), view() and the Jupyter display, with graphviz-pure only."""
from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import viz
from autograd_np import Tensor, nn

renderer_module = sys.modules["viz.renderer"]

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """PATH holds only an empty folder: no system dot; graphviz-pure is found in the scripts dir."""
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None
    assert viz.find_renderer().kind == "graphviz-pure"
    return empty


@pytest.fixture
def out(tmp_path) -> Path:
    """An empty folder for the outputs, so that stray files show up in its listing."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def graph():
    w = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="w")
    x = Tensor(np.array([4.0, 5.0, 6.0]))
    return viz.draw(((w * x).tanh() * w).sum())


def is_svg(data: bytes) -> bool:
    root = ET.fromstring(data)
    return root.tag == "{http://www.w3.org/2000/svg}svg" and b"graphviz-pure" in data[:400]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----- render(path) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, check",
    [
        ("g.png", lambda data: data.startswith(PNG)),
        ("g.svg", is_svg),
        ("g.jpg", lambda data: data.startswith(JPEG)),
        ("g.jpeg", lambda data: data.startswith(JPEG)),
        ("g.dot", lambda data: data.startswith(b"digraph autograd_np {")),
        ("g.gv", lambda data: data.startswith(b"digraph autograd_np {")),
    ],
)
def test_render_writes_exactly_the_file_asked_for(name, check, no_dot, out):
    g = graph()
    assert g.render(out / name) == str(out / name)
    assert listing(out) == [name]  # no DOT source beside it, no temporary file left
    assert check((out / name).read_bytes())


def test_render_pdf_without_dot_is_a_png_on_a_pdf_page(no_dot, out):
    with pytest.warns(UserWarning, match="graphviz-pure cannot write PDF"):
        graph().render(out / "g.pdf")
    assert listing(out) == ["g.pdf"]
    assert (out / "g.pdf").read_bytes().startswith(b"%PDF")


def test_render_relative_path_directory_and_default_name(no_dot, out, monkeypatch):
    g = graph()
    monkeypatch.chdir(out)
    assert g.render("rel.png") == "rel.png"
    assert g.render("inner.svg", directory="sub") == os.path.join("sub", "inner.svg")
    assert g.render() == "autograd_np.svg"  # the graph's name and format
    assert listing(out) == ["autograd_np.svg", "rel.png", "sub"]
    assert listing(out / "sub") == ["inner.svg"]
    assert (out / "rel.png").read_bytes().startswith(PNG)


def test_render_with_format_appends_the_suffix_as_graphviz_does(no_dot, out):
    g = graph()
    assert g.render(out / "g", format="png") == str(out / "g.png")
    assert g.render(out / "h.svg", format="svg") == str(out / "h.svg")
    assert listing(out) == ["g.png", "h.svg"]
    with pytest.raises(ValueError, match=r"format='png' but .*'svg'"):
        g.render(out / "h.svg", format="png")
    with pytest.raises(ValueError, match="unknown format 'bmp'"):
        g.render(out / "g", format="bmp")
    assert listing(out) == ["g.png", "h.svg"]


@pytest.mark.parametrize("name", ["g.bmp", "g", "g.png.txt"])
def test_unknown_or_missing_suffix_is_a_clear_error_and_writes_nothing(name, no_dot, out):
    with pytest.raises(ValueError, match=r"cannot tell the output format.*\.svg, \.png.*format="):
        graph().render(out / name)
    assert listing(out) == []


def test_source_is_written_only_when_asked(no_dot, out):
    g = graph()
    assert g.render(out / "g.gv", outfile=out / "g.png") == str(out / "g.png")  # graphviz's pair
    assert listing(out) == ["g.gv", "g.png"]
    assert (out / "g.gv").read_text() == g.source
    g.render(out / "h.gv", outfile=out / "h.svg", cleanup=True)
    assert listing(out) == ["g.gv", "g.png", "h.svg"]
    with pytest.raises(ValueError, match="both be"):
        g.render(out / "same.dot", outfile=out / "same.dot")


def test_render_keeps_the_old_file_when_rendering_fails(tmp_path, out, monkeypatch):
    (out / "g.png").write_bytes(b"old picture")
    fake = tmp_path / "failing-renderer"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('layout failed')\nsys.exit(2)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(renderer_module, "find_renderer", lambda: viz.Renderer(str(fake), "graphviz-pure"))
    with pytest.raises(viz.RenderError, match="exit status 2.*layout failed"):
        graph().render(out / "g.png")
    assert listing(out) == ["g.png"] and (out / "g.png").read_bytes() == b"old picture"


def test_render_is_atomic_when_the_rename_fails(no_dot, out, monkeypatch):
    (out / "g.svg").write_bytes(b"old picture")

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(renderer_module.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        graph().render(out / "g.svg")
    assert listing(out) == ["g.svg"] and (out / "g.svg").read_bytes() == b"old picture"


def test_raise_if_result_exists(no_dot, out):
    g = graph()
    g.render(out / "g.svg")
    with pytest.raises(FileExistsError):
        g.render(out / "g.svg", raise_if_result_exists=True)


def test_graphviz_only_options_are_refused(no_dot, out):
    with pytest.raises(ValueError, match="renderer/formatter"):
        graph().render(out / "g.png", renderer="cairo")
    assert listing(out) == []


def test_module_level_render_also_leaves_no_stray_files(no_dot, out):
    w = Tensor(np.ones(3), requires_grad=True)
    assert viz.render((w * w).sum(), out / "g.png") == out / "g.png"
    assert listing(out) == ["g.png"] and (out / "g.png").read_bytes().startswith(PNG)


# ----- view() --------------------------------------------------------------------------------
@pytest.fixture
def headless(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="these always have a viewer")
def test_view_without_a_display_writes_a_file_and_says_where(no_dot, headless, capsys):
    start = time.monotonic()
    path = Path(graph().view())
    try:
        assert time.monotonic() - start < 30
        assert path.name == "autograd_np.svg" and is_svg(path.read_bytes())
        assert listing(path.parent) == ["autograd_np.svg"]  # a fresh temporary folder
        assert str(path.resolve()) in capsys.readouterr().err
    finally:
        shutil.rmtree(path.parent)


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="these always have a viewer")
def test_view_to_a_named_file_and_quietly(no_dot, headless, out, capsys):
    g = graph()
    assert g.view(out / "v.png") == str(out / "v.png")
    assert str((out / "v.png").resolve()) in capsys.readouterr().err
    g.view(out / "q.svg", quiet_view=True)
    assert capsys.readouterr().err == ""
    g.render(out / "r.svg", view=True)
    assert "r.svg" in capsys.readouterr().err
    assert listing(out) == ["q.svg", "r.svg", "v.png"]
    assert (out / "v.png").read_bytes().startswith(PNG)


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="xdg-open is the Linux/BSD viewer")
def test_view_starts_xdg_open_and_does_not_wait_for_it(no_dot, out, tmp_path, monkeypatch, capsys):
    log = tmp_path / "xdg-open.log"
    fake = no_dot / "xdg-open"
    fake.write_text(
        f"#!{sys.executable}\nimport os, sys, time\n"
        f"open({str(log)!r}, 'w').write(str(os.getpid()) + ' ' + sys.argv[1])\n"
        "time.sleep(120)\n"  # a viewer that stays open
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("DISPLAY", ":99")
    start = time.monotonic()
    path = graph().view(out / "g.svg")
    assert time.monotonic() - start < 30  # not the viewer's 120 s
    deadline = time.monotonic() + 30
    while not (log.exists() and " " in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid, opened = log.read_text().split(" ", 1)
    os.kill(int(pid), signal.SIGTERM)  # the fake viewer this test started
    assert opened == path == str(out / "g.svg")
    assert capsys.readouterr().err == ""  # opened: nothing to say
    assert is_svg((out / "g.svg").read_bytes())


# ----- Jupyter ---------------------------------------------------------------------------------
def test_jupyter_reprs_use_graphviz_pure(no_dot):
    g = graph()
    svg = g._repr_svg_()
    assert isinstance(svg, str) and is_svg(svg.encode())
    bundle = g._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and is_svg(bundle["image/svg+xml"].encode())
    both = g._repr_mimebundle_(include=["image/png", "image/jpeg"])
    assert both["image/png"].startswith(PNG) and both["image/jpeg"].startswith(JPEG)


def test_notebook_display_renders_svg_only():
    """IPython calls every ``_repr_<format>_`` a displayed object has, besides its mime bundle:
    a ``_repr_png_`` would render each graph a second time, as PNG."""
    g = graph()
    assert not hasattr(g, "_repr_png_") and not hasattr(g, "_repr_jpeg_")
    assert list(g._repr_mimebundle_()) == ["image/svg+xml"]


def test_the_drawn_graph_is_still_a_digraph_with_its_source():
    import graphviz

    g = graph()
    assert isinstance(g, graphviz.Digraph)
    assert g.source.startswith("digraph autograd_np {") and '"w\\n(3,)' in g.source
    assert isinstance(g.copy(), viz.VizDigraph)


# ----- the README's example ----------------------------------------------------------------------
def test_the_readme_viz_example_runs_without_dot(no_dot, headless, tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "g.render(" in b)
    model = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.Tanh())
    loss = model(Tensor(np.ones((2, 3)))).sum()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # view()'s temporary folder
    exec(compile(example, "README.md", "exec"), {"loss": loss})
    assert listing(work) == ["grads.png", "graph.png", "rules.svg"]
    assert (work / "graph.png").read_bytes().startswith(PNG)
    assert "layers.0.weight" in (work / "rules.svg").read_text()
    viewed = Path(capsys.readouterr().err.split("the graph is in ")[1].strip())
    assert viewed.parent.parent == tmp_path and is_svg(viewed.read_bytes())

