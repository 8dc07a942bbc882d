"""Bad input, fuzzed with hypothesis: only the project's own clear errors come out; nothing crashes or hangs.

Cases per run (hypothesis max_examples): tokenizer 400, prompts 300, sampling settings 400, world files 200,
CLI 60 — about 1,360 in all.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcore.cli import main as cli
from llmcore.trace import MAX_NEW_WORDS, PromptError, SamplingConfig, trace_generation
from llmcore.world import WorldError, world_from_dict


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30), st.none(),
                    st.booleans(), st.text(max_size=5))


@fast(400)
@given(st.text(max_size=2000))
def test_tokenizer_takes_any_text(ckpt, text):
    enc = ckpt.tokenizer.encode(text)
    assert len(enc.ids) == len(enc.words) and all(0 <= i < len(ckpt.tokenizer) for i in enc.ids)
    assert set(enc.unknown) <= set(enc.words)


@fast(300)
@given(st.one_of(st.text(max_size=300), st.text(alphabet="abcdefghijklmnopqrstuvwxyz .\n\t\x00", max_size=400),
                 st.lists(st.sampled_from(["a", "dog", "eats", "pizza", "in", "the", ".", "zebra", "\u202e"]),
                          max_size=80).map(" ".join)))
def test_any_prompt_gives_a_trace_or_a_clear_error(ckpt, prompt):
    try:
        t = trace_generation(ckpt, prompt, SamplingConfig(max_new_words=3))
    except PromptError as e:
        assert str(e)
        return
    assert 1 <= t.n_steps <= 3 and len(t.prompt_words) <= ckpt.model.config.block_size
    assert math.isclose(float(t.context_probs.sum(1).min()), 1.0, abs_tol=1e-3)


@fast(400)
@given(temperature=NUMBERS, top_k=NUMBERS, top_p=NUMBERS, seed=NUMBERS, words=NUMBERS)
def test_sampling_settings_are_checked(ckpt, temperature, top_k, top_p, seed, words):
    try:
        s = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, max_new_words=words)
    except PromptError as e:
        assert str(e)
        return
    t = trace_generation(ckpt, "a cat", s)
    assert 1 <= t.n_steps <= min(int(words), MAX_NEW_WORDS)


WORLD_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
                            lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                            max_leaves=20)


@fast(200)
@given(st.one_of(WORLD_VALUES, st.fixed_dictionaries({"taxonomy": WORLD_VALUES, "animals": WORLD_VALUES,
                                                     "corpus": WORLD_VALUES})))
def test_broken_worlds_give_world_errors(data):
    try:
        world_from_dict(data, "fuzz.toml")
    except WorldError as e:
        assert str(e).startswith("fuzz.toml: [")


@fast(60)
@given(st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["--temperature", "--top-k", "--top-p", "--seed",
                                                                 "--max-words", "nan", "-1", "1e309", "0"])),
                max_size=6))
def test_cli_generate_exits_0_or_2(capsys, args):
    try:
        code = cli(["generate", "a dog"] + args)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    assert code in (0, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err
