"""The word-level tokenizer."""

from __future__ import annotations

import pytest

from llmcore.model.tokenizer import UNK, Tokenizer, split_words


@pytest.fixture
def tok():
    return Tokenizer.from_sentences(["a cat eats meat .", "a dog drinks milk ."])


def test_lowercase_and_punctuation():
    assert split_words("A Cat, eats MEAT!") == ["a", "cat", "eats", "meat", "."]
    assert split_words("  ") == []
    assert split_words("dog?pizza...") == ["dog", "?".replace("?", "."), "pizza", ".", ".", "."]


def test_unknown_words_are_reported(tok):
    enc = tok.encode("A zebra eats meat in Paris")
    assert enc.words == ["a", "zebra", "eats", "meat", "in", "paris"]
    assert enc.unknown == ["zebra", "in", "paris"]
    assert enc.ids.count(tok.unk_id) == 3 and tok.vocab[tok.unk_id] == UNK


def test_round_trip(tok):
    text = "a dog eats meat ."
    assert tok.decode(tok.encode(text).ids) == text
    assert tok.encode_corpus([text]) == tok.encode(text).ids


def test_vocab_rules():
    with pytest.raises(ValueError, match="start with"):
        Tokenizer(["cat", UNK])
    with pytest.raises(ValueError, match="duplicate"):
        Tokenizer([UNK, "cat", "cat"])
