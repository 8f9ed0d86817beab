"""Every ```python block of README.md and docs/*.md runs as written (documentation that cannot rot).

The blocks of one file run in order in one namespace, like a tutorial, in a temporary directory.
Each is compiled with the markdown's file name and line numbers, so a failure's traceback points at
the line that broke. A block that is deliberately not runnable has ``<!-- not-run: reason -->`` on
the line just above its fence; other languages (```bash, ```text) are never run.
"""
from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.S | re.M)
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


def test_the_markdown_parser_finds_blocks_lines_and_markers() -> None:
    text = ("intro\n```python\na = 1\n```\n\n```bash\nls\n```\n<!-- not-run: needs a GPU -->\n```python\nb = 2\n```\n"
            "```python\nb = a + 1\nc = 2\n```\n")
    assert python_blocks(text) == [Block(3, "a = 1\n", None), Block(11, "b = 2\n", "needs a GPU"),
                                   Block(14, "b = a + 1\nc = 2\n", None)]


#: what each file's blocks must leave behind, beyond running without an error
EXPECTED_FILES = {
    "README.md": ["graph.png", "grads.png", "rules.svg"],
    "tutorial.md": ["names_mlp.svg"],
}


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_python_block_runs_in_order(doc: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(doc.read_text(encoding="utf-8"))
    for block in blocks:
        assert block.not_run is None or block.not_run, f"{doc.name}:{block.line}: not-run needs a reason"
    runnable = [b for b in blocks if b.not_run is None]
    assert len(runnable) >= len(blocks) - 1, f"{doc.name}: not-run should be rare"
    namespace: dict = {"__name__": f"docs:{doc.name}"}
    for block in runnable:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile("\n" * (block.line - 1) + block.code, str(doc), "exec"), namespace)
            except Exception as error:
                error.add_note(f"in the ```python block of {doc.name} starting at line {block.line}")
                raise
    for name in EXPECTED_FILES.get(doc.name, []):
        data = (tmp_path / name).read_bytes()
        # whichever renderer made them (the system dot, or graphviz-pure without it)
        assert data.lstrip().startswith((b"<?xml", b"<svg") if name.endswith(".svg") else b"\x89PNG"), name


def test_the_docs_keep_their_examples() -> None:
    counts = {doc.name: len(python_blocks(doc.read_text(encoding="utf-8"))) for doc in DOCS}
    assert counts["README.md"] >= 3 and counts["tutorial.md"] >= 9, counts
