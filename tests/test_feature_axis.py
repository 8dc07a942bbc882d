"""A feature's decoder direction as a map axis (llmcore.analysis.feature_axis) on the bundled model's features and
reference states: the axis is the direction, the other axis ignores it, and it sorts the states the feature fires
on."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fitted(bundled_features):
    from llmcore.maps.store import MapBook

    ckpt, f = bundled_features
    return f, MapBook(ckpt).states


def test_x_is_the_features_direction_and_y_ignores_it(fitted):
    from llmcore.analysis.feature_axis import feature_axis

    f, ref = fitted
    depth, feature = 2, int(np.argmax(f.scores.frequency[2]))
    X = ref.layer(depth)
    axis = feature_axis(f.sae, depth, feature, X)
    u = f.sae.direction(depth, feature) / np.linalg.norm(f.sae.direction(depth, feature))
    np.testing.assert_allclose(axis.coords[:, 0], (X - X.mean(0)) @ u, atol=1e-3)
    np.testing.assert_array_equal(axis.activation, f.sae.encode(depth, X)[:, feature])
    odd = (np.arange(len(X)) % 2).astype(np.float32)  # every other state pushed 3 along the feature's direction
    pushed = X + 3.0 * odd[:, None] * u[None].astype(np.float32)
    moved = feature_axis(f.sae, depth, feature, pushed).coords - axis.coords
    np.testing.assert_allclose(moved[:, 0] - moved[:, 0].mean(), 3.0 * (odd - 0.5), atol=1e-3)
    np.testing.assert_allclose(moved[:, 1], 0, atol=1e-3)  # a push along the feature leaves the other axis alone
    with pytest.raises(ValueError, match="no feature"):
        feature_axis(f.sae, depth, f.sae.width, X)


def test_the_axis_sorts_what_a_well_graded_feature_fires_on(fitted):
    from llmcore.analysis.feature_axis import FeatureAxis, feature_axis

    f, ref = fitted
    good = [(d, int(j)) for d in range(len(f.sae.layer_names)) for j in np.flatnonzero(f.grades.f1[d] >= 0.8)[:2]]
    seps = [feature_axis(f.sae, d, j, ref.layer(d)).separation for d, j in good]
    assert len(good) >= 6 and np.median(seps) >= 0.9, seps
    # the separation is the share of (firing, silent) pairs in order, counted the slow way on a small case
    x = np.array([0.3, 2.0, -1.0, 1.5, 0.1])
    act = np.array([0.0, 1.0, 0.0, 0.0, 2.0])
    small = FeatureAxis(coords=np.stack([x, np.zeros(5)], 1), activation=act)
    pairs = [a > b for a in x[act > 0] for b in x[act == 0]]
    assert small.separation == pytest.approx(np.mean(pairs))
    assert FeatureAxis(coords=np.zeros((3, 2)), activation=np.zeros(3)).separation is None
    assert small.furthest(np.array(["b", "a", "c", "a", "d"]), 2) == ["a", "b"]


def test_the_feature_axis_map_colours_every_state_by_its_sub_context_and_rings_those_it_fires_on():
    """Every state keeps its sub-context's colour (and legend entry) whether or not the feature fires on it; the
    ones it fires on carry a ring: a feature that fires on all of one sub-context still shows that colour."""
    from dashboard.figures.features import feature_axis_map

    rng = np.random.default_rng(0)
    contexts = np.array(["locations"] * 20 + ["animals"] * 30)
    fires = contexts == "locations"
    words = np.array([f"w{i}" for i in range(50)])
    fig = feature_axis_map(rng.normal(size=(50, 2)), fires, words, contexts, ink="#222222", furthest=["w0"],
                           colours={"animals": "#E69F00", "locations": "#009E73"}, feature="#1")
    by_name = {t.name: t for t in fig.data}
    assert len(by_name["locations"].x) == 20 and len(by_name["animals"].x) == 30
    assert len(by_name["#1 fires (20)"].x) == 20
