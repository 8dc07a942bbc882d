"""Projectors: the scikit-learn contract, exactness of PCA, deterministic placement, faithfulness measures."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from llmcore.maps.projection import (
    LDAProjector,
    NeighbourPlacement,
    PCAProjector,
    SemanticAxesProjector,
    TSNEProjector,
    UMAPProjector,
    make_projector,
    map_quality,
)

# One of each projector with parameters off their defaults, so a round trip that drops one is noticed.
EXAMPLES = [PCAProjector(3, random_state=4), LDAProjector(3, random_state=1),
            SemanticAxesProjector([("a", "b"), ("c", "d")], 2, random_state=2), NeighbourPlacement(placement_k=4),
            UMAPProjector(3, random_state=5, n_neighbors=7, min_dist=0.3, placement_k=6),
            TSNEProjector(2, random_state=6, perplexity=12.0, placement_k=3, fit_points=500)]


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
    with pytest.raises(NotFittedError, match="not fitted"):
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


def test_neighbour_placement_finds_the_neighbours_every_distance_would(blobs):
    """The nearest rows come from one matrix-vector product, then are measured exactly: the positions are those of
    measuring the distance to every reference row, to the bit (reference rows far from the origin, in clusters)."""
    from llmcore.maps.placement import neighbour_place

    X, _ = blobs
    ref = (np.concatenate([X, X[:30]]) * 7 + 40).astype(np.float32)  # duplicated rows, large norms
    emb = np.random.default_rng(1).normal(size=(len(ref), 2)).astype(np.float32)
    new = np.concatenate([ref[::7], ref[::11] + 0.05, ref[:40:3] * 1.01]).astype(np.float32)

    def every_distance(x):
        d = np.sqrt(np.square(ref - x).sum(1))
        idx = np.argsort(d, kind="stable")[:10]
        w = 1.0 / np.maximum(d[idx], 1e-6) ** 2
        w[d[idx] < 1e-6] = 1e12
        return (w / w.sum()) @ emb[idx]

    expected = np.stack([every_distance(x) for x in new]).astype(np.float32)
    np.testing.assert_array_equal(neighbour_place(new, ref, emb, 10), expected)


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

    from llmcore.maps.projection import LDAProjector

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
    from llmcore.maps.projection import LDAProjector

    X, labels = blobs
    two = np.where(labels == "a", "a", "b")  # 2 groups give 1 discriminant axis; the others come from PCA
    Y = make_projector("lda", 3).fit_transform(X, two)
    assert Y.shape == (len(X), 3) and np.isfinite(Y).all() and np.linalg.matrix_rank(Y) == 3
    assert isinstance(make_projector("lda", 2), LDAProjector)


@pytest.mark.parametrize("est", EXAMPLES, ids=lambda e: type(e).__name__)
def test_projectors_are_scikit_learn_estimators(est, blobs):
    """clone and get_params/set_params round-trip every constructor parameter; transform before fit raises."""
    X, _ = blobs
    params = est.get_params()
    twin = clone(est)
    assert type(twin) is type(est) and twin.get_params() == params and twin is not est
    assert type(est)(**params).get_params() == params
    changed = clone(est).set_params(random_state=9) if "random_state" in params else clone(est).set_params(
        placement_k=2)
    assert changed.get_params() != params and est.get_params() == params
    with pytest.raises(NotFittedError):
        est.transform(X)
    with pytest.raises(NotFittedError):
        est.fitted_state()


@pytest.mark.parametrize("est", [PCAProjector(2), LDAProjector(2)], ids=lambda e: type(e).__name__)
def test_linear_projectors_pass_scikit_learns_estimator_checks(est):
    """All of check_estimator (about 47 checks; UMAP, t-SNE and axes need more than generic data, see above)."""
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        failed = [r for r in check_estimator(est, on_fail=None) if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:200]) for r in failed]


def test_projectors_work_in_a_pipeline(blobs):
    X, labels = blobs
    scaled = StandardScaler().fit_transform(X)
    pipe = make_pipeline(StandardScaler(), LDAProjector(2))
    np.testing.assert_allclose(pipe.fit_transform(X, labels), LDAProjector(2).fit(scaled, labels).transform(scaled),
                               atol=1e-4)
    pca = make_pipeline(StandardScaler(), PCAProjector(2)).fit(X)
    np.testing.assert_allclose(pca.transform(X[:9]), PCAProjector(2).fit(scaled).transform(scaled[:9]), atol=1e-4)
    assert pca.named_steps["pcaprojector"].n_features_in_ == X.shape[1]


@pytest.mark.parametrize("est, message", [
    (PCAProjector(0), "PCAProjector: n_components must be an integer >= 1, got 0"),
    (PCAProjector(2.5), "n_components must be an integer"),
    (PCAProjector(40), "n_components must be between 1 and 16"),
    (LDAProjector(2, random_state=-1), "random_state must be an integer >= 0, got -1"),
    (SemanticAxesProjector([("a", "b")], 2), "axes must be a list of at least n_components=2"),
    (SemanticAxesProjector(None), "axes must be"),
    (NeighbourPlacement(placement_k=0), "placement_k must be an integer >= 1, got 0"),
    (UMAPProjector(n_neighbors=1), "UMAPProjector: n_neighbors must be an integer >= 2, got 1"),
    (UMAPProjector(min_dist=-0.5), "min_dist must be a number >= 0"),
    (UMAPProjector(placement_k=2.0), "placement_k must be an integer"),
    (TSNEProjector(perplexity=0), "TSNEProjector: perplexity must be a number > 0, got 0"),
    (TSNEProjector(progress="loud"), "progress must be None or a callable"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_parameters_are_checked_in_fit_not_in_init(est, message, blobs):
    """Bad values construct (scikit-learn's __init__ only stores them) and fit names the parameter and the rule,
    before any work (UMAP would compile with numba first)."""
    X, labels = blobs
    y = PCAProjector(2).fit_transform(X) if type(est) is NeighbourPlacement else labels
    with pytest.raises(ValueError, match=re.escape(message)):
        est.fit(X, y)


@pytest.mark.parametrize("est", EXAMPLES[:4], ids=lambda e: type(e).__name__)
def test_restore_rebuilds_a_fitted_projector_without_fitting(est, blobs):
    X, labels = blobs
    fitted = clone(est).fit(X, PCAProjector(2).fit_transform(X) if type(est) is NeighbourPlacement else labels)
    state = fitted.fitted_state()
    again = type(est).restore(state, **fitted.get_params())
    assert again.get_params() == fitted.get_params() and again.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(again.transform(X[:40] + 0.2), fitted.transform(X[:40] + 0.2))
    name = next(iter(state))
    with pytest.raises(ValueError, match="a fitted state holds the arrays"):
        type(est).restore({k: v for k, v in state.items() if k != name}, **fitted.get_params())
    with pytest.raises(ValueError, match="must have shape"):
        type(est).restore({**state, name: state[name][:-1]}, **fitted.get_params())
    with pytest.raises(ValueError, match="NaN"):
        type(est).restore({**state, name: np.full_like(state[name], np.nan)}, **fitted.get_params())


def test_placement_k_is_the_number_of_neighbours(blobs):
    X, _ = blobs
    Y = PCAProjector(2).fit_transform(X)
    new = X[:10] + 0.3
    one = NeighbourPlacement(placement_k=1).fit(X, Y).transform(new)
    nearest = np.argmin(((X[None] - new[:, None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(one, Y[nearest], atol=1e-6)  # k = 1: the nearest reference point's position
    assert not np.allclose(NeighbourPlacement(placement_k=10).fit(X, Y).transform(new), one)


def test_exact_neighbours_match_a_brute_force_search_and_put_each_point_first():
    from llmcore.maps.projection import exact_neighbours

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    X[7] = X[3]  # a duplicate: each of the two still comes first in its own list
    idx, dist = exact_neighbours(X, 6, chunk=64)
    assert idx.shape == dist.shape == (300, 6) and dist.dtype == np.float32
    assert np.array_equal(idx[:, 0], np.arange(300)) and np.all(dist[:, 0] == 0) and idx[3, 1] == 7
    d = np.linalg.norm(X[:, None].astype(np.float64) - X[None], axis=2)
    np.fill_diagonal(d, -1)
    ref = np.argsort(d, axis=1, kind="stable")[:, :6]
    assert np.array_equal(idx, ref)
    np.testing.assert_allclose(dist[:, 1:], np.take_along_axis(d, ref, 1)[:, 1:], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_tsne_on_a_subset_places_the_other_points_and_stays_faithful(blobs):
    """t-SNE fitted on `fit_points` seeded points: the others get the k-NN placement of new points, the map is as
    trustworthy, and the same seed gives the same map."""
    from llmcore.maps.projection import fit_subset

    X, _ = blobs
    p = TSNEProjector(n_components=2, random_state=0, fit_points=120)
    Y = p.fit_transform(X)
    fit = fit_subset(len(X), 120, 0)
    rest = np.setdiff1d(np.arange(len(X)), fit)
    assert len(fit) == 120 and Y.shape == (320, 2)
    placed = NeighbourPlacement(10).fit(X[fit], Y[fit]).transform(X[rest])
    np.testing.assert_array_equal(Y[rest], placed)
    assert map_quality(X, Y).trustworthiness > 0.85
    np.testing.assert_array_equal(TSNEProjector(n_components=2, random_state=0, fit_points=120).fit_transform(X), Y)
    with pytest.raises(ValueError, match="fit_points must be None or an integer >= 10"):
        TSNEProjector(fit_points=3).fit(X)
