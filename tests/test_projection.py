"""Projectors: the scikit-learn contract, exactness of PCA, deterministic placement, faithfulness measures."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from llmcore.projection import (
    NeighbourPlacement,
    PCAProjector,
    SemanticAxesProjector,
    TSNEProjector,
    UMAPProjector,
    make_projector,
    map_quality,
)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6, size=(4, 16))
    labels = np.repeat(np.array(["a", "b", "c", "d"], object), 80)
    X = centres[np.repeat(np.arange(4), 80)] + rng.normal(size=(320, 16))
    return X.astype(np.float32), labels


def test_pca_is_exact(blobs):
    X, _ = blobs
    ours = PCAProjector(3).fit(X)
    ref = PCA(3).fit(X)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-4)
    np.testing.assert_allclose(np.abs(ours.components_), np.abs(ref.components_), atol=1e-4)
    Y = ours.transform(X)
    assert Y.dtype == np.float32 and Y.shape == (320, 3)
    full = PCAProjector(2).fit(X[:, :2])
    np.testing.assert_allclose(full.inverse_transform(full.transform(X[:, :2])), X[:, :2], atol=1e-4)


def test_contract_errors(blobs):
    X, _ = blobs
    with pytest.raises(RuntimeError, match="not fitted"):
        PCAProjector().transform(X)
    with pytest.raises(ValueError, match="unknown projection method"):
        make_projector("mds")
    with pytest.raises(ValueError, match="2D or 3D"):
        make_projector("pca", n_components=4)
    with pytest.raises(ValueError, match="NaN"):
        PCAProjector().fit(np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="features"):
        PCAProjector().fit(X).transform(X[:, :5])


def test_neighbour_placement_is_deterministic(blobs):
    X, _ = blobs
    p = NeighbourPlacement().set_reference(X, PCAProjector(2).fit_transform(X))
    new = X[:20] + 0.3
    alone = np.concatenate([p.transform(new[i : i + 1]) for i in range(20)])
    np.testing.assert_array_equal(alone, p.transform(new))
    np.testing.assert_array_equal(p.transform(np.concatenate([new, X[100:200]]))[:20], p.transform(new))
    np.testing.assert_allclose(p.transform(X[:5]), p.embedding_[:5], atol=1e-5)  # reference points stay put


def test_semantic_axes(blobs):
    X, labels = blobs
    axes = SemanticAxesProjector([("a", "b"), ("c", "d")]).fit(X, labels)
    Y = axes.transform(X)
    assert Y[labels == "b", 0].mean() > Y[labels == "a", 0].mean()
    assert Y[labels == "d", 1].mean() > Y[labels == "c", 1].mean()
    with pytest.raises(ValueError, match="no point is labelled 'zebra'"):
        SemanticAxesProjector([("a", "zebra"), ("c", "d")]).fit(X, labels)
    with pytest.raises(ValueError, match="need the label"):
        SemanticAxesProjector([("a", "b"), ("c", "d")]).fit(X)


def test_map_quality_separates_good_from_bad_maps(blobs):
    X, _ = blobs
    good = map_quality(X, PCAProjector(2).fit_transform(X))
    bad = map_quality(X, np.random.default_rng(1).normal(size=(len(X), 2)))
    assert good.trustworthiness > 0.8 > bad.trustworthiness + 0.2
    assert good.knn_preservation > bad.knn_preservation


@pytest.mark.slow
@pytest.mark.parametrize("cls", [UMAPProjector, TSNEProjector])
def test_nonlinear_maps_fit_and_place(blobs, cls):
    X, labels = blobs
    p = cls(n_components=2, random_state=0)
    Y = p.fit_transform(X)
    assert Y.shape == (320, 2) and map_quality(X, Y).trustworthiness > 0.85
    np.testing.assert_array_equal(p.transform(X[:3] + 0.1), p.transform(X[:3] + 0.1))


def test_story_map_is_scikit_learns_lda_and_separates_the_labels(blobs):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from llmcore.projection import LDAProjector

    X, labels = blobs
    noisy = X.copy()
    noisy[:, 0] += np.random.default_rng(1).normal(scale=60, size=len(X))  # most variance has nothing to do with labels
    lda = LDAProjector(2).fit(noisy, labels)
    Y = lda.transform(noisy)
    ref = LinearDiscriminantAnalysis(n_components=2).fit(noisy.astype(np.float64), labels.astype(str)).transform(noisy)
    for i in range(2):  # the same axes as scikit-learn's, up to sign
        assert abs(np.corrcoef(Y[:, i], ref[:, i])[0, 1]) > 0.999
    np.testing.assert_array_equal(lda.transform(noisy[:7]), Y[:7])  # linear: a point lands alone as in a batch
    pca = PCAProjector(2).fit_transform(noisy)

    def separation(Z):  # between-group spread over within-group spread
        groups = [Z[labels == g] for g in set(labels)]
        return np.var([g.mean(0) for g in groups], axis=0).sum() / np.mean([g.var(0).sum() for g in groups])
    assert separation(Y) > 3 * separation(pca)
    with pytest.raises(ValueError, match="label of every point"):
        LDAProjector(2).fit(noisy)


def test_story_map_with_fewer_groups_than_axes_fills_them(blobs):
    from llmcore.projection import LDAProjector

    X, labels = blobs
    two = np.where(labels == "a", "a", "b")  # 2 groups give 1 discriminant axis; the others come from PCA
    Y = make_projector("lda", 3).fit_transform(X, two)
    assert Y.shape == (len(X), 3) and np.isfinite(Y).all() and np.linalg.matrix_rank(Y) == 3
    assert isinstance(make_projector("lda", 2), LDAProjector)
