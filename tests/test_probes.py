"""Trait probes: the world's traits, sentence roles, and probes scored on held-back animals against a shuffled
control (small fits on the bundled model)."""

from __future__ import annotations

import numpy as np
import pytest

from llmcore.analysis.corpus_states import ROLES, corpus_states, sentence_roles
from llmcore.analysis.probes import READ_BAR, fit_probes, world_traits
from llmcore.model.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def ckpt():
    return load_checkpoint()


@pytest.fixture(scope="module")
def states(ckpt):
    return corpus_states(ckpt, n_sentences=1200)


def test_traits_come_from_the_world(ckpt):
    world = ckpt.world
    traits = world_traits(world)
    n = len(world.animals)
    assert len({t.name for t in traits}) == len(traits)
    for t in traits:
        assert 3 <= len(t.animals) <= n - 3 and t.animals <= set(world.animals)
    by_name = {t.name: t for t in traits}
    for a in world.animals.values():  # every animal's own subgroup and kind, as the world states them
        group = by_name.get(f"group: {world.label(a.name)[1]}")
        assert group is None or a.name in group.animals
        kind = by_name.get(f"kind: {a.kind}")
        assert kind is None or a.name in kind.animals


def test_sentence_roles_point_at_the_words(ckpt, states):
    world = ckpt.world
    for s, roles in zip(states.sentences[:200], states.roles[:200]):
        subject, pos = sentence_roles(world, s.split())
        if not subject:
            assert (roles == -1).all()
            continue
        words = s.split()
        assert world.lemma(words[pos[0]]) == subject
        if pos[1] >= 0:
            assert world.label(words[pos[1]])[0] == "actions"
        if pos[3] >= 0:
            assert words[pos[3]] in world.grammar.prepositions
    starts = np.flatnonzero(states.position == 0)
    assert len(starts) == len(states.sentences)


def test_probes_read_traits_of_animals_they_never_saw(ckpt, states):
    traits = [t for t in world_traits(ckpt.world) if t.family in ("group", "kind")]
    res = fit_probes(states, ckpt.world, traits=traits)
    K, R, L = len(traits), len(ROLES), len(states.layer_names)
    assert res.accuracy.shape == (K, R, L) and res.control.shape == (K,)
    assert ((res.accuracy >= 0) & (res.accuracy <= 1)).all()
    assert res.readable(0.9), "no group or kind read at 90 % on held-back animals"
    assert abs(np.mean(res.control) - 0.5) < 0.15, "shuffled traits should read near chance"
    assert np.mean([res.best(k)[0] for k in range(K)]) > np.mean(res.control) + 0.25
    k = res.readable(0.9)[0]
    assert f"'{traits[k].name}'" in res.sentence(k)
    first = res.first_readable(k, res.best(k)[1], bar=0.9)
    assert first is not None and res.accuracy[k, res.best(k)[1], first] >= 0.9
    scores = res.read(states.states[states.roles[0, 0]], 0) if states.roles[0, 0] >= 0 else None
    assert scores is None or scores.shape == (K, L)


@pytest.mark.slow
def test_bundled_features_meet_the_probe_bar(ckpt):
    from llmcore.analysis.features import load_features

    f = load_features(ckpt)
    if f is None:
        pytest.skip("the bundled checkpoint has no features.safetensors")
    readable = f.probes.readable(READ_BAR)
    assert len(readable) >= 10
    assert np.mean(f.probes.control[readable]) < 0.65
