"""Sparse autoencoders and the features file: TopK properties, reconstruction, and every bad file refused before
its tensors are read (a link, a FIFO, wrong shapes, another model's features)."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from llmcore.analysis.features import (
    FeaturesError,
    _tensors,
    features_bytes,
    features_of_states,
    fit_features,
    read_features,
    save_features,
)
from llmcore.analysis.probes import world_traits
from llmcore.analysis.sae import SAEConfig, fit_depth, fit_stack, reconstruction_scores
from llmcore.model.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def ckpt():
    return load_checkpoint()


@pytest.fixture(scope="module")
def small(ckpt):
    traits = [t for t in world_traits(ckpt.world) if t.family == "group"]
    return fit_features(ckpt, config=SAEConfig(width=256, k=8, steps=30, batch=256), say=lambda _: None,
                        n_train=200, n_grade=100, traits=traits)


def test_topk_keeps_k_features_and_rebuilds_sparse_data():
    rng = np.random.default_rng(0)
    atoms = rng.normal(size=(64, 16)).astype(np.float32)
    codes = np.zeros((4000, 64), np.float32)
    for row in codes:
        row[rng.choice(64, 3, replace=False)] = rng.uniform(1, 2, 3)
    x = codes @ atoms
    sae = fit_stack(x[:, None], ["d"], SAEConfig(width=128, k=4, steps=400, batch=256))
    acts = sae.encode(0, x)
    assert ((acts > 0).sum(1) <= 4).all() and (acts >= 0).all()
    fve, l0, freq = reconstruction_scores(sae, x[:, None])
    assert fve[0] > 0.8 and l0[0] <= 4 and freq.shape == (1, 128)
    assert np.allclose(np.linalg.norm(sae.dec[0], axis=0), 1, atol=1e-4)
    assert fit_depth(x, SAEConfig(width=32, k=2, steps=5))["enc"].shape == (32, 16)


def test_small_fit_scores_and_grades(ckpt, small):
    L = ckpt.model_config.n_layer + 2
    s, g = small.scores, small.grades
    assert s.fve.shape == (L,) and s.spliced_loss.shape == (L,) and s.clean_loss > 0
    assert (s.l0 <= small.sae.k + 1e-6).all()
    live = g.category >= 0
    assert ((g.f1 >= 0) & (g.f1 <= 1)).all() and (g.f1[~live] == 0).all()
    assert all(g.quality(d, j) == "dead" for d, j in zip(*np.nonzero(~live)))
    for d, j in zip(*np.nonzero(live)):
        p, r, f1 = g.precision[d, j], g.recall[d, j], g.f1[d, j]
        assert abs(f1 - (2 * p * r / (p + r) if p + r else 0)) < 1e-4
        partial = g.label(d, j).startswith(f"some of {g.names[g.category[d, j]]} only (fires on {r:.0%} of them")
        weak = g.label(d, j).startswith(f"weak match: {g.names[g.category[d, j]]} at best ({p:.0%} of its words are")
        assert g.quality(d, j) != "poor" or (partial if p >= 0.8 else weak)


def test_features_file_round_trip(ckpt, small, tmp_path):
    path = save_features(small, tmp_path)
    back = read_features(path, ckpt)
    assert np.allclose(back.sae.dec, small.sae.dec, atol=2e-3)
    assert back.probes.names == small.probes.names and back.grades.names == small.grades.names
    hidden = np.random.default_rng(1).normal(size=(3, len(back.sae.layer_names), ckpt.model_config.n_embd))
    pf = features_of_states(back, ["a", "b", "c"], ["b", "c", "d"], hidden.astype(np.float32))
    assert all(len(pf.active(i, 0)) <= back.sae.k for i in range(3))
    assert json.loads(json.dumps(pf.to_dict(back)))["steps"][0]["read"] == "a"


def test_stale_features_are_refused(ckpt, small, tmp_path):
    path = save_features(dataclasses.replace(small, checkpoint="0" * 16), tmp_path)
    with pytest.raises(FeaturesError, match="stale"):
        read_features(path, ckpt)


def test_wrong_shapes_are_refused_before_reading(ckpt, small, tmp_path):
    from safetensors.numpy import save

    tensors = _tensors(small)
    tensors["sae.enc"] = tensors["sae.enc"][:, :-1]
    from safetensors import safe_open

    good = save_features(small, tmp_path)
    with safe_open(good, framework="numpy") as f:
        metadata = f.metadata()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(save(tensors, metadata=metadata))
    with pytest.raises(FeaturesError, match="sae.enc"):
        read_features(bad, ckpt)


def test_links_fifos_and_foreign_files_are_refused(ckpt, small, tmp_path):
    good = save_features(small, tmp_path)
    link = tmp_path / "link.safetensors"
    link.symlink_to(good)
    with pytest.raises(FeaturesError, match="symbolic link"):
        read_features(link, ckpt)
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(FeaturesError, match="FIFO"):
        read_features(fifo, ckpt)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(features_bytes(small)[:100])
    with pytest.raises(FeaturesError):
        read_features(junk, ckpt)


@pytest.mark.slow
def test_bundled_features_meet_the_bars(ckpt):
    from llmcore.analysis.features import load_features

    f = load_features(ckpt)
    if f is None:
        pytest.skip("the bundled checkpoint has no features.safetensors")
    assert (f.scores.fve >= 0.9).all()
    assert (f.scores.spliced_loss <= 1.1 * f.scores.clean_loss).all()
    assert int((f.grades.f1 >= 0.8).sum()) >= 20
