"""Finding words: a search by text or regular expression, the known words closest to an unknown one in spelling or
inflection, and how to add a word."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable

ADD_A_WORD = ("to add a word, list it in the world file (llmcore/data/world.toml, or the Training page's world "
              "editor) and retrain")
_SUFFIXES = ("s", "es", "ies", "ed", "ing")
MAX_SEARCH_CHARS = 100


def matching_words(words: Iterable[str], pattern: str) -> list[str]:
    """The words equal to the search text or matching it whole as a regular expression (case ignored), in their
    order; where none does, the words it matches a part of ('ca' finds cat, camel and pelican). ValueError naming
    the rule for a search that is too long or not a valid expression."""
    if not pattern:
        return []
    if len(pattern) > MAX_SEARCH_CHARS:
        raise ValueError(f"the search is longer than {MAX_SEARCH_CHARS} characters")
    try:
        rx = re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        raise ValueError(f"'{pattern}' is not a valid regular expression ({e})") from None
    words = list(words)
    whole = [w for w in words if rx.fullmatch(w) or w == pattern.lower()]
    return whole or [w for w in words if rx.search(w)]


def inflection_candidates(word: str) -> list[str]:
    """Words that `word` may be a form of, or that may be forms of it, by regular English endings."""
    out = [word + "s", word + "es"]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            stem = word[: -len(suffix)]
            out += [stem, stem + "e", stem + "y"] if suffix in ("ies", "ed", "ing") else [stem]
    return out


def suggestions(word: str, vocab: Collection[str], n: int = 3) -> list[str]:
    """Known words for an unknown one: its forms the vocabulary holds first ('sofas' -> 'sofa'), then the closest
    spellings ('dogz' -> 'dog'). Only words of the vocabulary; never a word of another meaning."""
    known = set(vocab)
    forms = [w for w in dict.fromkeys(inflection_candidates(word)) if w in known and w != word]
    spelled = difflib.get_close_matches(word, [w for w in known if w.isalpha()], n=n, cutoff=0.75)
    return list(dict.fromkeys(forms + spelled))[:n]


def unknown_words_message(unknown: list[str], vocab: Collection[str]) -> str:
    """'dogz (did you mean dog, dogs?), xyz (no close word)' for a list of unknown words."""
    parts = []
    for w in dict.fromkeys(unknown):
        close = suggestions(w, vocab)
        parts.append(f"{w} (did you mean {' or '.join(close)}?)" if close else f"{w} (no known word is close)")
    return ", ".join(parts)
