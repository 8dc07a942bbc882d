"""Sub-context regions on maps and sub-context membership of states in the original space."""

from __future__ import annotations

import numpy as np
import pytest

from llmcore.analysis.reference import SubContextClassifier
from llmcore.maps.regions import SMALL_ISLAND, RegionMap, region_map
from llmcore.maps.store import MapBook


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
    assert (r.lift(r.centres[:3]) > 0.9).all()  # equal crowds: three hills of the same height
    assert r.lift(np.array([[5.0, -5.0]]))[0] < 0.2


def test_a_regions_small_islands_are_told_apart_from_its_main_ones():
    """A sub-context with a crowd of 300 states and a tight knot of 10 far away (3 % of its states): both are islands
    of its region; the shares of the states in each add up to what lies in the region; the main outline circles the
    crowd only and the small one the knot only, and together they are the whole outline."""
    rng = np.random.default_rng(1)
    pts = np.concatenate([rng.normal(scale=0.8, size=(300, 2)), [12.0, 12.0] + rng.normal(scale=0.1, size=(10, 2))])
    r = region_map(pts, np.array(["animals"] * 310), ["animals"])
    crowd = r.island(0, (0.0, 0.0))
    knot = r.island(0, (12.0, 12.0))
    assert crowd.any() and knot.any() and not (crowd & knot).any()
    assert np.unique(r.share[0][crowd]).size == 1 and np.unique(r.share[0][knot]).size == 1
    assert r.share[0][knot][0] == pytest.approx(10 / 310, abs=0.01)
    assert r.share[0][knot][0] < SMALL_ISLAND < r.share[0][crowd][0]
    assert (r.share[0][r.density[0] < 0.5] == 0).all()
    main, small = (np.stack(r.outline(0, islands=k), 1) for k in ("main", "small"))
    main, small = main[~np.isnan(main[:, 0])], small[~np.isnan(small[:, 0])]
    assert len(main) and len(small)
    assert (np.linalg.norm(main, axis=1) < 6).all() and (np.linalg.norm(small - 12, axis=1) < 2).all()
    every = np.stack(r.outline(0), 1)
    assert len(every[~np.isnan(every[:, 0])]) == len(main) + len(small)


def test_terrain_has_hills_and_plains(ckpt):
    """The shipped model's terrain on every depth's PCA map (the one the Landscape page draws): at least 30 % of
    the grid is hill (above 0.3 of the peak) and at least 20 % plain (below 0.1), not thin spikes."""
    book = MapBook(ckpt)
    names = ckpt.context_matrix()[0]
    for layer in book.layer_names:  # every depth
        m = book.get(f"context:{layer}", "pca", 2)
        r = region_map(m.coords, m.reference.labels["context"], names)
        assert r.height.max() == pytest.approx(1.0, abs=1e-5)
        assert (r.height >= 0.3).mean() >= 0.30 and (r.height < 0.1).mean() >= 0.20, layer
        hills = r.height >= 0.3
        assert (r.dominant[hills] >= 0).all()  # every hill is coloured by a sub-context


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


def test_the_classifier_gives_scikit_learns_distance_weighted_neighbours():
    """SubContextClassifier is KNeighborsClassifier(weights="distance") in NumPy: the same probabilities on random
    states, including states equal to reference states (those take the reference's label alone), in chunks."""
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(900, 32)).astype(np.float32), rng.choice(["a", "b", "c"], 900)
    queries = np.concatenate([rng.normal(size=(300, 32)).astype(np.float32), X[:7]])
    ours = SubContextClassifier(n_neighbors=9).fit(X, labels)
    theirs = KNeighborsClassifier(n_neighbors=9, weights="distance", algorithm="brute").fit(X, labels)
    assert ours.classes_ == list(theirs.classes_)
    np.testing.assert_allclose(ours.predict_proba(queries, chunk=64), theirs.predict_proba(queries), atol=1e-5)
    assert (ours.predict(X[:7]) == labels[:7]).all()


def test_region_outline_is_the_closed_half_peak_line():
    """Marching squares on a round bump: one polyline, closed (it ends on its first point), every point on the
    half-peak circle; and a grid without the level has no outline."""
    x, y = np.linspace(-3, 3, 61), np.linspace(-2, 2, 41)
    density = np.exp(-(x[None, :] ** 2 + y[:, None] ** 2))[None]
    rm = RegionMap(["bump"], x, y, density, np.zeros((41, 61), int), density[0], np.zeros((1, 2)), np.ones(1))
    xs, ys = rm.outline(0)
    assert not np.isnan(xs).any() and len(xs) > 40  # one line
    assert (xs[0], ys[0]) == (xs[-1], ys[-1])  # closed
    assert np.allclose(np.hypot(xs, ys), np.sqrt(np.log(2)), atol=0.01)
    assert len(np.unique(np.stack([xs, ys], 1)[:-1], axis=0)) == len(xs) - 1  # no point visited twice
    flat = RegionMap(["bump"], x, y, density * 0.4, np.zeros((41, 61), int), density[0], np.zeros((1, 2)), np.ones(1))
    assert flat.outline(0)[0].size == 0


def test_segments_are_chained_into_their_lines():
    """Shuffled, randomly flipped segments of a closed square and of an open zig-zag come back as exactly those two
    lines, every segment used once."""
    from llmcore.maps.regions import chain_segments

    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], float)
    zigzag = np.array([[5, 0], [6, 1], [7, 0], [8, 1]], float)
    segs = [(p[i], p[i + 1]) for p in (square, zigzag) for i in range(len(p) - 1)]
    rng = np.random.default_rng(0)
    segs = [segs[i][::-1] if rng.random() < 0.5 else segs[i] for i in rng.permutation(len(segs))]
    lines = chain_segments(np.array([s for s, _ in segs]), np.array([e for _, e in segs]))
    assert sorted(len(line) for line in lines) == [4, 5]
    closed = next(line for line in lines if len(line) == 5)
    assert (closed[0] == closed[-1]).all() and {tuple(p) for p in closed} == {tuple(p) for p in square}
    open_ = next(line for line in lines if len(line) == 4)
    assert [tuple(p) for p in open_] in ([tuple(p) for p in zigzag], [tuple(p) for p in zigzag[::-1]])


@pytest.mark.parametrize("sigma", [0.7, 3.27, 6.55, 40.0])
def test_gaussian_smoothing_is_scipys_without_importing_it(sigma):
    """The region outlines smooth with NumPy (scipy.ndimage costs the first page 0.24 s to import): the same as
    scipy.ndimage.gaussian_filter, edges and kernel radius included, on counts like a map's and on noise."""
    from scipy.ndimage import gaussian_filter

    from llmcore.maps.regions import gaussian_smooth

    rng = np.random.default_rng(0)
    counts = np.histogram2d(rng.normal(size=500), rng.normal(size=500), bins=(120, 90))[0]
    for a in (counts, rng.normal(size=(37, 120))):
        np.testing.assert_allclose(gaussian_smooth(a, sigma), gaussian_filter(a, sigma), rtol=1e-10, atol=1e-12)


def test_a_small_cluster_is_part_of_its_region_and_stray_states_are_not():
    """A sub-context's region is outlined at half its local peak: a dozen of its states together far from its
    biggest crowd are an island of the region (each cluster peaks at 1), while three lone states are not."""
    rng = np.random.default_rng(1)
    big = rng.normal(scale=0.3, size=(300, 2))
    small = np.array([6.0, 6.0]) + rng.normal(scale=0.1, size=(12, 2))
    stray = np.array([[-6.0, 6.0], [6.0, -6.0], [-6.0, -6.0]])
    other = rng.uniform(-7, 7, size=(200, 2))  # another sub-context spanning the map
    pts = np.concatenate([big, small, stray, other])
    labels = np.array(["animals"] * (300 + 12 + 3) + ["food"] * 200)
    r = region_map(pts, labels, ["animals", "food"])
    inside = r.inside(np.array([[0.0, 0.0], [6.0, 6.0], *stray]), ["animals"] * 5)
    assert inside.tolist() == [True, True, False, False, False]
    main, island = r.island(0, (0.0, 0.0)), r.island(0, (6.0, 6.0))
    assert main.any() and island.any() and not (main & island).any()  # two separate parts of one region
    assert not r.island(0, (-6.0, 6.0)).any()
    np.testing.assert_allclose(r.centres[0], [0, 0], atol=0.3)  # the label's spot: the biggest crowd
