"""Aligning training snapshots: rotations only, and a steadier replay than per-frame PCA."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group

from llmcore.maps.alignment import align_snapshots, snapshot_coords


def test_alignment_undoes_a_rotation_and_keeps_distances():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(50, 8))
    R = ortho_group.rvs(8, random_state=1)
    aligned = align_snapshots(np.stack([E @ R, E]))
    np.testing.assert_allclose(aligned[0], aligned[1], atol=1e-4)
    np.testing.assert_allclose(pdist(aligned[0]), pdist(E), rtol=1e-4)


def test_aligned_replay_moves_less_than_unaligned(ckpt, frame_displacement):
    snaps = ckpt.snapshots()
    assert len(snaps) >= 20
    aligned = frame_displacement(snapshot_coords(snaps, aligned=True))
    naive = frame_displacement(snapshot_coords(snaps, aligned=False))
    assert aligned.mean() < naive.mean()
    assert np.median(aligned) <= np.median(naive)


def test_a_model_aligned_with_itself_is_the_identity(tiny_ckpt):
    from llmcore.maps.alignment import align_models

    for method in ("procrustes", "cca"):
        al = align_models(tiny_ckpt, tiny_ckpt, "block 1", method=method)
        assert al.method == method and al.n_sentences >= 5 and al.n_words >= 10
        np.testing.assert_allclose(al.matrix, np.eye(al.matrix.shape[0]), atol=1e-3 if method == "cca" else 1e-5)
        assert al.residual < 1e-3


@pytest.fixture(scope="module")
def other_world_model(tmp_path_factory):
    """A tiny model of another world: the fox is replaced by a wolf, and a cow that eats bread at home is added."""
    from llmcore.model.checkpoint import load_checkpoint
    from llmcore.training.trainer import Trainer

    from .conftest import TINY_MODEL, TINY_WORLD, tiny_train_config

    text = TINY_WORLD.read_text().replace("fox", "wolf") + (
        '\n[animals.cow]\nkind = "a pet"\nhabitats = ["home"]\ndiet = ["bread"]\ndrinks = ["milk"]\n')
    text = text.replace('pets = ["cat", "dog"]', 'pets = ["cat", "dog", "cow"]')
    world = tmp_path_factory.mktemp("other") / "world.toml"
    world.write_text(text)
    out = world.parent / "ckpt"
    Trainer(out, world, TINY_MODEL, tiny_train_config(steps=120, seed=7)).run()
    return load_checkpoint(out)


@pytest.mark.slow
def test_models_of_different_worlds_align_on_their_shared_words(tiny_ckpt, other_world_model):
    """Aligned on the sentences both can read, the other world's model lands near the first's states: the residual
    on held-back sentences is below 0.6 (of the target's spread; 0.37 at embed and 0.47 at final when written)
    and well below the 1.0 that pairing the states at random gives."""
    from llmcore.maps.alignment import align_models, align_states, sentence_states, shared_sentences

    for layer in ("embed", "final"):
        al = align_models(other_world_model, tiny_ckpt, layer)
        assert al.method == "procrustes" and al.n_sentences >= 20
        assert al.residual < 0.6, (layer, al.residual)
        sents = shared_sentences(other_world_model, tiny_ckpt)
        assert all("wolf" not in s and "fox" not in s and "cow" not in s for s in sents)
        S = sentence_states(other_world_model, sents, layer)
        T = sentence_states(tiny_ckpt, sents, layer)
        words = np.arange(len(S))
        shuffled = align_states(S, T[np.random.default_rng(0).permutation(len(T))], words // 5, words)
        assert al.residual < 0.7 * shuffled.residual
