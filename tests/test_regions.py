"""Sub-context regions on maps and sub-context membership of states in the original space."""

from __future__ import annotations

import numpy as np

from llmcore.maps import MapBook
from llmcore.regions import SubContextClassifier, region_map


def test_regions_of_separated_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 8.0]])
    labels = np.repeat(np.array(["animals", "food", "locations"]), 200)
    pts = centres[np.repeat(np.arange(3), 200)] + rng.normal(scale=0.7, size=(600, 2))
    r = region_map(pts, labels, ["animals", "food", "locations", "people"])
    assert r.density.shape == (4, 120, 120) and r.counts.tolist() == [200, 200, 200, 0]
    np.testing.assert_allclose(r.centres[:3], centres, atol=0.6)
    for g, (cx, cy) in enumerate(centres):
        i, j = np.argmin(np.abs(r.y - cy)), np.argmin(np.abs(r.x - cx))
        assert r.dominant[i, j] == g
    np.testing.assert_allclose(r.lift(r.centres[:3]), 1.0, atol=0.05)
    assert r.lift(np.array([[5.0, -5.0]]))[0] < 0.2


def test_membership_is_decided_in_the_original_space(ckpt):
    book = MapBook(ckpt)
    ref = book.reference("context:block 2")
    n = len(ref.X)
    idx = np.random.default_rng(0).permutation(n)
    train, test = idx[: n * 4 // 5], idx[n * 4 // 5 :]
    clf = SubContextClassifier().fit(ref.X[train], ref.labels["context"][train])
    proba = clf.predict_proba(ref.X[test])
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-6)
    accuracy = (clf.predict(ref.X[test]) == ref.labels["context"][test].astype(str)).mean()
    assert accuracy > 0.8
