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
