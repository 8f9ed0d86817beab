"""docs/tutorial.md runs as written: every ```python block, in order, in one namespace, in a temp dir.

Each block is compiled with the markdown's file name and line numbers, so a failure's
traceback points at the line of the tutorial that broke.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path


TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line of the block's first code line, code) for every ```python block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def test_the_markdown_parser_finds_blocks_and_their_lines() -> None:
    text = "intro\n```python\na = 1\n```\n\n```bash\nls\n```\n```python\nb = a + 1\nc = 2\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (10, "b = a + 1\nc = 2\n")]


def test_every_python_block_of_the_tutorial_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert len(blocks) >= 9, "the tutorial lost its code blocks"
    namespace: dict = {"__name__": "tutorial"}
    for line, code in blocks:
        code_at_its_line = "\n" * (line - 1) + code
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(code_at_its_line, str(TUTORIAL), "exec"), namespace)
            except Exception as error:
                error.add_note(f"in the ```python block of {TUTORIAL.name} starting at line {line}")
                raise
    assert (tmp_path / "names_mlp.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
