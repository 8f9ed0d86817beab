"""The documentation runs as written and its links lead somewhere (documentation that cannot rot).

The pages checked are README.md, docs/*.md, and every markdown file inside the repository that
those link to (followed from page to page). Every ```python block of a page runs: the blocks of one
page in order, in one namespace, like a tutorial, in a temporary directory. Each is compiled with
the page's path and line numbers, so a failure's traceback points at the line that broke. A block
that is deliberately not runnable has ``<!-- not-run: reason -->`` on the line just above its fence;
other languages (```bash, ```text) are never run.

Every relative link of a page must name a file or folder of the repository, and an ``#anchor`` a
heading of the markdown page it points to (GitHub's heading ids).
"""
from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.S | re.M)
ANY_FENCE = re.compile(r"^```.*?^```\s*$", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^()\s]+)\)")
NOT_RUN = re.compile(r"<!--\s*not-run:(.*?)-->\s*$")

@dataclass
class Block:
    line: int  # of the block's first code line
    code: str
    not_run: str | None  # the reason given, for a block marked not-run


def python_blocks(text: str) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(text):
        above = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.search(above)
        blocks.append(Block(text.count("\n", 0, match.start(1)) + 1, match.group(1),
                            marker.group(1).strip() if marker else None))
    return blocks


def prose(text: str) -> str:
    """The page without its code: fenced blocks and inline code spans."""
    return INLINE_CODE.sub("", ANY_FENCE.sub("", text))


def links(text: str) -> list[str]:
    """Relative link targets of a page (web and mail links left out), in order."""
    return [t for t in LINK.findall(prose(text)) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def anchors(text: str) -> set[str]:
    """GitHub's ids for a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", ANY_FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def rel(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def resolve(page: Path, target: str) -> tuple[Path, str]:
    """A link target as (path, anchor); the page itself for a bare ``#anchor``."""
    path, _, anchor = target.partition("#")
    return ((page.parent / path).resolve() if path else page.resolve()), anchor


def pages() -> list[Path]:
    """README.md, docs/*.md and every markdown page of the repository they lead to."""
    todo = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found: dict[str, Path] = {}
    while todo:
        page = todo.pop(0)
        if rel(page) in found or not page.is_file():
            continue
        found[rel(page)] = page
        for target in links(page.read_text(encoding="utf-8")):
            path, _ = resolve(page, target)
            if path.suffix == ".md" and path.is_relative_to(ROOT):
                todo.append(path)
    return list(found.values())


DOCS = pages()
IDS = [rel(d) for d in DOCS]


def test_the_markdown_parser_finds_blocks_lines_and_markers() -> None:
    text = ("intro\n```python\na = 1\n```\n\n```bash\nls\n```\n<!-- not-run: needs a GPU -->\n```python\nb = 2\n```\n"
            "```python\nb = a + 1\nc = 2\n```\n")
    assert python_blocks(text) == [Block(3, "a = 1\n", None), Block(11, "b = 2\n", "needs a GPU"),
                                   Block(14, "b = a + 1\nc = 2\n", None)]


def test_the_link_parser_finds_relative_links_and_heading_ids() -> None:
    text = ("# API `nn` & more\n[a](docs/a.md) ![pic](x.svg) [web](https://x.org) `[not](b.md)`\n"
            "```python\n# comment\nx[0](1)\n```\n## Coming from PyTorch / from NumPy\n## Notes\n## Notes\n"
            "[here](#notes-1)\n")
    assert links(text) == ["docs/a.md", "x.svg", "#notes-1"]
    assert anchors(text) == {"api-nn--more", "coming-from-pytorch--from-numpy", "notes", "notes-1"}


def test_the_checked_pages_include_every_linked_page() -> None:
    for name in ["README.md", "docs/tutorial.md", "docs/api.md", "docs/safety.md", "docs/speed.md",
                 "docs/verification.md", "docs/in-place.md", "viz/README.md"]:
        assert name in IDS, name


#: what each page's blocks must leave behind, beyond running without an error
EXPECTED_FILES = {
    "README.md": ["graph.png", "grads.png", "rules.svg"],
    "docs/tutorial.md": ["names_mlp.svg"],
    "docs/api.md": ["model.safetensors"],
    "viz/README.md": ["mlp.svg", "mlp.dot"],
}


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_every_python_block_runs_in_order(doc: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = rel(doc)
    blocks = python_blocks(doc.read_text(encoding="utf-8"))
    for block in blocks:
        assert block.not_run is None or block.not_run, f"{name}:{block.line}: not-run needs a reason"
    runnable = [b for b in blocks if b.not_run is None]
    assert len(runnable) >= len(blocks) - 1, f"{name}: not-run should be rare"
    namespace: dict = {"__name__": f"docs:{name}"}
    for block in runnable:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile("\n" * (block.line - 1) + block.code, str(doc), "exec"), namespace)
            except Exception as error:
                error.add_note(f"in the ```python block of {name} starting at line {block.line}")
                raise
    for file in EXPECTED_FILES.get(name, []):
        data = (tmp_path / file).read_bytes()
        # whichever renderer made them (the system dot, or graphviz-pure without it)
        if file.endswith(".svg"):
            assert data.lstrip().startswith((b"<?xml", b"<svg")), file
        elif file.endswith(".png"):
            assert data.startswith(b"\x89PNG"), file
        else:
            assert data, file


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_every_relative_link_leads_to_a_file_and_heading(doc: Path) -> None:
    broken = []
    for target in links(doc.read_text(encoding="utf-8")):
        path, anchor = resolve(doc, target)
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with id #{anchor} in {rel(path)}")
    assert not broken, f"{rel(doc)}: broken links: {broken}"


def test_the_docs_keep_their_examples() -> None:
    counts = {rel(doc): len(python_blocks(doc.read_text(encoding="utf-8"))) for doc in DOCS}
    assert counts["README.md"] >= 4 and counts["docs/tutorial.md"] >= 9, counts
    assert counts["docs/api.md"] >= 3 and counts["docs/safety.md"] >= 3 and counts["viz/README.md"] >= 1, counts


def test_the_readme_stays_a_front_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text) <= 10_500, f"README.md has {len(text)} characters: move detail to a page under docs/"
    assert "pip install -e . && python -m models.names train" in text
    assert "pip install -e '.[test]' && pytest" in text
