"""README.md's Python snippets are complete programs that run: each fenced ``python`` block is
executed in a fresh namespace in an empty directory, so the README cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    """The contents of every fenced ```python block, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_readme_has_python_blocks_and_the_extraction_finds_them():
    text = "intro\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\nz = 3\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\nz = 3\n"]
    assert len(python_blocks(README.read_text())) >= 5


@pytest.mark.parametrize("index", range(len(python_blocks(README.read_text()))))
def test_every_readme_python_block_runs(index, tmp_path, monkeypatch):
    block = python_blocks(README.read_text())[index]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"README.md python block {index + 1}", "exec"), {"__name__": "__main__"})
