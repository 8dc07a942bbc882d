"""Word-level tokenizer: every token is a whole word, so every point on a word map is a word."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

UNK = "<unk>"
SPECIALS = (UNK,)
_TOKEN_RE = re.compile(r"[^\W\d_]+|\d+|[.!?]")
_SENTENCE_END = {".", "!", "?"}


@dataclass(frozen=True)
class Encoding:
    """Token ids of a text, the words they came from, and the words that were not in the vocabulary."""

    ids: list[int]
    words: list[str]
    unknown: list[str]


class Tokenizer:
    """Maps lower-cased words to ids; unknown words become `<unk>` and are reported."""

    def __init__(self, vocab: list[str]) -> None:
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocabulary has duplicate words")
        if not vocab or vocab[0] != UNK:
            raise ValueError(f"vocabulary must start with {UNK!r}")
        self.vocab = list(vocab)
        self.stoi = {w: i for i, w in enumerate(self.vocab)}
        self.unk_id = 0

    @classmethod
    def from_sentences(cls, sentences: list[str]) -> Tokenizer:
        """A vocabulary of every word in the sentences, sorted, after the special tokens."""
        words = sorted({w for s in sentences for w in split_words(s)})
        return cls(list(SPECIALS) + words)

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> Encoding:
        words = split_words(text)
        ids = [self.stoi.get(w, self.unk_id) for w in words]
        unknown = [w for w, i in zip(words, ids) if i == self.unk_id]
        return Encoding(ids, words, unknown)

    def encode_corpus(self, sentences: list[str]) -> list[int]:
        """Fast path for trusted corpus text that is already split by spaces."""
        return [self.stoi.get(w, self.unk_id) for s in sentences for w in s.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.vocab[i] for i in ids)


def split_words(text: str) -> list[str]:
    """Lower-case words and sentence ends; '!' and '?' end a sentence like '.', other punctuation is dropped."""
    text = unicodedata.normalize("NFKC", text).lower()
    return ["." if t in _SENTENCE_END else t for t in _TOKEN_RE.findall(text)]
