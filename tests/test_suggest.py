"""Help with unknown words: spelling and inflection suggestions, on the CLI and on every page that takes words."""

from __future__ import annotations

from llmcore.cli import main
from llmcore.world.suggest import ADD_A_WORD, matching_words, suggestions, unknown_words_message

from .conftest import open_page

VOCAB = ["cat", "cats", "dog", "dogs", "sofa", "cushion", "mouse", "mice", "eats", "eat"]


def test_spelling_and_inflection_suggestions():
    assert suggestions("dogz", VOCAB)[0] in ("dog", "dogs")
    assert suggestions("sofas", VOCAB) == ["sofa"]  # a form the world knows
    assert "cushion" not in suggestions("sofas", VOCAB) + suggestions("couch", VOCAB)  # never a guessed synonym
    assert suggestions("eating", VOCAB)[0] == "eat"
    assert suggestions("xylophone", VOCAB) == []
    assert all(w in VOCAB for word in ("dogz", "kats", "mouses", "eatz") for w in suggestions(word, VOCAB))
    message = unknown_words_message(["dogz", "xylophone", "dogz"], VOCAB)
    assert message.count("dogz") == 1 and "did you mean dog" in message and "xylophone (no known word" in message


def test_a_search_matches_whole_words_first_then_parts_of_words():
    """A word, or an expression matching whole words, finds those alone ('cat' is not 'cats'); a search that
    matches no whole word finds the words it is part of ('ca', '^ca', 'ous'), in the vocabulary's order."""
    assert matching_words(VOCAB, "cat") == ["cat"] and matching_words(VOCAB, "c.*s") == ["cats"]
    assert matching_words(VOCAB, "ca") == ["cat", "cats"] == matching_words(VOCAB, "^CA")
    assert matching_words(VOCAB, "ous") == ["mouse"] and matching_words(VOCAB, "zz") == []


def test_cli_names_close_words_and_how_to_add_one(capsys, ckpt):
    assert main(["generate", "a dogz eats", "--max-words", "1"]) == 0
    note = capsys.readouterr().out.splitlines()[0]
    assert note.startswith("note: unknown words") and "dogz (did you mean dog" in note and ADD_A_WORD in note
    assert main(["generate", "dogz catz"]) == 2
    err = capsys.readouterr().err
    assert "did you mean dog" in err and "did you mean cat" in err and ADD_A_WORD in err


def test_pages_that_take_words_suggest_known_ones():
    at = open_page("landscape")
    at.text_input(key="land_prompt").set_value("a dogz eats").run()
    assert any("did you mean dog" in w.value and "world file" in w.value for w in at.warning) and not at.exception
    at = open_page("embeddings")
    at.text_input(key="emb_search").set_value("zebrra").run()
    assert any("did you mean zebra" in w.value and "world file" in w.value for w in at.warning)
    at = open_page("compare")
    at.text_input(key="cmp_a").set_value("a catz eats").run()
    assert any("did you mean cat" in w.value for w in at.warning) and not at.exception
