"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go
import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_blocks(code, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    shown = []
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **k: shown.append(self))
    exec(compile(code, "README.md", "exec"), {})
    if "fig.show()" in code:
        assert shown and shown[0].data
