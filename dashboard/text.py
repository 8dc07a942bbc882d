"""Text for the screen: user text shown safely (Markdown control characters escaped, never HTML), counted nouns
that agree in number, probabilities written so that small ones stay readable, the vocabulary's size said one
way everywhere, and a map's faithfulness in one line."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmcore.maps.placement import MapQuality

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:])")


def escape_md(text: str) -> str:
    """Text that Streamlit's Markdown shows literally (no links, emphasis, HTML or LaTeX)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 word', '2 words', '0 words': a number and its noun agreeing in number."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def prob(p: float) -> str:
    """A probability as the screen shows it: two decimals from 0.01, four below, 'under 0.0001' below that."""
    if p >= 0.01 or p == 0:
        return f"{p:.2f}"
    return f"{p:.4f}" if p >= 0.0001 else "under 0.0001"


def vocabulary_size(vocab: list[str]) -> str:
    """The size of a model's vocabulary, as every page says it: '617 words plus <unk>' (the unknown-word entry is
    not a word)."""
    from llmcore.model.tokenizer import UNK

    words = sum(w != UNK for w in vocab)
    return count(words, "word") + (f" plus {UNK}" if UNK in vocab else "")


def faithfulness(q: MapQuality) -> str:
    """A map's quality (llmcore.maps.placement.MapQuality) in one line for its title."""
    return (f"{q.explained_variance:.0%} of the spread shown · " if q.explained_variance is not None else "") + \
        (f"trustworthiness {q.trustworthiness:.2f} of 1 · {q.knn_preservation:.0%} of each point's {q.n_neighbors} "
         "nearest kept")
