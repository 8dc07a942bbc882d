"""Steering with a feature's decoder direction (llmcore.analysis.features.steer_with_feature) on the bundled model:
the push raises the words the direction's logit effect names against those it lowers, more the harder it pushes,
and moves the completion."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow
PROMPT = "a dog devours pizza in"
ALPHAS = (0.0, 2.0, 4.0, 8.0)


@pytest.fixture(scope="module")
def fitted(bundled_features):
    return bundled_features


def _gap(trace, up: list, down: list) -> float | None:
    """Mean log-probability of the `up` words minus that of the `down` words as the prompt's last word's next word
    (words the trace keeps probabilities of); None where either side has none."""
    i = trace.n_prompt - 1
    lp = lambda ws: [np.log(p + 1e-12) for w, _ in ws if (p := trace.word_prob(i, w)) is not None]  # noqa: E731
    a, b = lp(up), lp(down)
    return float(np.mean(a) - np.mean(b)) if a and b else None


def test_a_features_direction_pushes_its_logit_effect_and_moves_the_completion(fitted):
    from llmcore.analysis.features import logit_effect, steer_with_feature
    from llmcore.analysis.trace import trace_generation

    ckpt, f = fitted
    plain = trace_generation(ckpt, PROMPT).completion
    assert steer_with_feature(ckpt, f, PROMPT, depth=2, feature=0, alpha=0.0).completion == plain
    last_block = len(f.sae.layer_names) - 2  # only the final norm and the head lie after it: its direct effect
    measured = 0                              # on the logits is the whole effect
    for j in map(int, np.argsort(-f.scores.frequency[last_block])[:10]):
        up, down = logit_effect(ckpt, f, last_block, j)
        runs = [steer_with_feature(ckpt, f, PROMPT, depth=last_block, feature=j, alpha=a) for a in ALPHAS]
        gaps = [_gap(r, up, down) for r in runs]
        if None not in gaps:
            measured += 1
            assert all(np.diff(gaps) > 0), (j, gaps)  # the harder the push, the more it tilts
    moved = [steer_with_feature(ckpt, f, PROMPT, depth=depth, feature=j, alpha=16.0).completion != plain
             for depth in range(last_block + 1) for j in map(int, np.argsort(-f.scores.frequency[depth])[:3])]
    assert measured >= 3 and np.mean(moved) >= 0.5, (measured, moved)


def test_a_feature_steers_only_where_something_can_be_added(fitted):
    from llmcore.analysis.features import steer_with_feature
    from llmcore.analysis.trace import PromptError

    ckpt, f = fitted
    last = len(f.sae.layer_names) - 1
    for depth, feature in ((last, 0), (-1, 0), (0, f.sae.width), (0, 1.5)):
        with pytest.raises(PromptError, match="feature"):
            steer_with_feature(ckpt, f, PROMPT, depth=depth, feature=feature, alpha=1.0)
    with pytest.raises(PromptError, match="finite"):
        steer_with_feature(ckpt, f, PROMPT, depth=0, feature=0, alpha=float("nan"))
