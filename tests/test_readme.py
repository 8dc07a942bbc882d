"""The Python examples of the README and of docs/ run as written, what the README's block 0's comments say holds
for the bundled model, and the public API that llmcore's docstring lists is where it says."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
DOC_BLOCKS = {f"{doc.name}:{i}": code for doc in sorted((ROOT / "docs").glob("*.md"))
              for i, code in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S))}


def _run(code: str, monkeypatch, tmp_path) -> tuple[dict, list]:
    monkeypatch.chdir(tmp_path)
    shown = []
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **k: shown.append(self))
    names: dict = {}
    exec(compile(code, "README.md", "exec"), names)
    return names, shown


@pytest.mark.parametrize("code", BLOCKS[1:] + list(DOC_BLOCKS.values()),
                         ids=[f"block{i}" for i in range(1, len(BLOCKS))] + list(DOC_BLOCKS))
def test_readme_python_blocks(code, monkeypatch, tmp_path):
    """Every block but the README's first (which the next test runs and checks) runs as written."""
    _, shown = _run(code, monkeypatch, tmp_path)
    if "fig.show()" in code:
        assert shown and shown[0].data


def _comment(code: str, expression: str) -> str:
    """The comment that the README writes after `expression` in a block."""
    line = next(ln for ln in code.splitlines() if ln.startswith(expression + " ") or ln == expression)
    return line.split("#", 1)[1].strip()


def test_readme_block0_says_what_the_model_gives(monkeypatch, tmp_path):
    """The shapes and the completion that block 0's comments state are the ones the library computes."""
    from llmcore.analysis.trace import GenerationTrace

    code = BLOCKS[0]
    names, _ = _run(code, monkeypatch, tmp_path)
    ckpt, trace, umap_map = names["ckpt"], names["trace"], names["umap_map"]
    cfg, steps = ckpt.model.config, len(trace)
    assert _comment(code, "trace.completion") == repr(trace.completion)
    # one step per word read: the prompt's words but the last (their next word is the prompt's), then the completion's
    assert steps == len(trace.words) == trace.n_prompt - 1 + len(trace.generated_words)
    assert trace.boundary == trace.n_prompt - 1 and trace.generated(trace.boundary) and not trace.generated(0)
    generated = range(trace.boundary, steps)
    assert all(trace.next_words[s] == trace.candidates(s)[0][0] for s in generated)  # greedy by default
    blocks, width = re.fullmatch(r"\(word steps, embed \+ (\d+) blocks \+ final, (\d+)\)",
                                 _comment(code, "trace.hidden.shape")).groups()
    assert (int(blocks), int(width)) == (cfg.n_layer, cfg.n_embd)
    assert trace.hidden.shape == (steps, cfg.n_layer + 2, cfg.n_embd)
    assert trace.context_probs.shape == (steps, len(trace.context_names))
    np.testing.assert_allclose(trace.context_probs.sum(1), 1, atol=1e-4)  # the next-word mass, split by sub-context
    placed = names["umap_map"].place(trace.hidden[:, -1])
    assert placed.shape == (steps, 2) and np.isfinite(placed).all()
    assert umap_map.from_cache  # "shipped, so nothing is fitted"
    assert 0 <= umap_map.quality.trustworthiness <= 1 and 0 <= umap_map.quality.knn_preservation <= 1
    saved = GenerationTrace.load(tmp_path / "trace.npz")
    assert saved.completion == trace.completion and np.array_equal(saved.hidden, trace.hidden)


def test_the_public_api_listed_in_llmcore_is_where_it_says():
    """Every `llmcore.X   name, name` line of llmcore's docstring names a module that holds those names."""
    import llmcore

    rows = re.findall(r"^    (llmcore[\w.]*) +(.+(?:\n {37}.+)*)", llmcore.__doc__, re.M)
    assert len(rows) >= 30
    for module, names in rows:
        held = importlib.import_module(module)
        listed = [n.split(" ")[0] for n in re.split(r",\s*", names.strip())]
        assert all(hasattr(held, n) for n in listed), (module, [n for n in listed if not hasattr(held, n)])
