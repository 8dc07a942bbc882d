"""Decision and loss landscapes."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector

from llmcore.maps.landscape import decision_landscape, decode_states
from llmcore.maps.projection import PCAProjector
from llmcore.maps.store import MapBook
from llmcore.training.losslandscape import batch_loss, eval_batch, loss_on_plane, path_plane, random_loss_landscape


def test_inverse_decode_agrees_with_decoding_the_states(ckpt):
    ref = MapBook(ckpt).reference("context:block 3")
    X = ref.X[:500]
    full = PCAProjector(X.shape[1]).fit(ref.X)  # all components: the inverse is exact
    np.testing.assert_allclose(decode_states(ckpt, "block 3", full.inverse_transform(full.transform(X))),
                               decode_states(ckpt, "block 3", X), atol=1e-3)


def test_decision_landscape_on_a_2d_map(ckpt):
    m = MapBook(ckpt).get("context:final", "pca", 2)
    extent = np.stack([m.coords.min(0), m.coords.max(0)])
    d = decision_landscape(ckpt, "final", m.projector, extent, grid=30)
    assert d.context_probs.shape == (30, 30, len(d.context_names))
    np.testing.assert_allclose(d.context_probs.sum(-1), 1, atol=1e-4)
    assert d.explained_variance == m.quality.explained_variance and 0 < d.explained_variance < 1
    assert (d.entropy >= 0).all() and len(set(d.context_probs.argmax(-1).ravel())) >= 2
    # at the reference points the plane predicts the same sub-context as the states themselves more often than not
    # (a 2D slice of 128 dims keeps 29 % of the final layer's variance; README: Decision landscape)
    _, cmat = ckpt.context_matrix()
    X, pca = m.reference.X, m.projector
    on_plane = decode_states(ckpt, "final", pca.inverse_transform(pca.transform(X))) @ cmat
    assert np.mean(on_plane.argmax(1) == (decode_states(ckpt, "final", X) @ cmat).argmax(1)) >= 0.5


def test_shipped_loss_landscapes(ckpt):
    ls = ckpt.loss_landscapes()
    assert set(ls) == {"random", "pca"}
    batch = eval_batch(ckpt.world, ckpt.tokenizer, ckpt.model.config.block_size)
    evaluated = batch_loss(ckpt.model, batch)
    for land in ls.values():
        assert land.loss.shape[0] >= 21 and land.loss.shape[1] >= 21
        assert abs(land.centre_loss - evaluated) < 1e-4
    r = ls["random"]
    assert abs(r.loss[10, 10] - evaluated) < 1e-4 and r.loss.min() >= evaluated - 0.05
    p = ls["pca"]
    np.testing.assert_allclose(p.path[-1], 0, atol=1e-3)  # the last snapshot is the trained model
    assert abs(p.path_loss[-1] - evaluated) < 1e-3 and p.path_loss[0] > p.path_loss[-1]
    assert len(p.path) == len(ckpt.snapshot_steps) and 0 < p.explained.sum() <= 1


def test_loss_on_plane_restores_the_weights(tiny_ckpt):
    model = tiny_ckpt.model
    before = parameters_to_vector(model.parameters()).clone()
    batch = eval_batch(tiny_ckpt.world, tiny_ckpt.tokenizer, model.config.block_size, n=8)
    land = random_loss_landscape(model, batch, n=3)
    assert torch.equal(parameters_to_vector(model.parameters()), before)
    assert abs(land.loss[1, 1] - land.centre_loss) < 1e-5
    d = torch.zeros_like(before)
    centre = loss_on_plane(model, batch, d, d, alphas=np.zeros(2), betas=np.zeros(1))
    assert np.allclose(centre, land.centre_loss, atol=1e-5)


def test_path_plane_is_the_svd_of_the_path():
    """The training path's plane through its Gram matrix (chunked, small memory) is an SVD's: the same directions
    (up to sign), coordinates and explained shares, from float16 snapshots as the trainer keeps them."""
    rng = np.random.default_rng(0)
    theta = rng.normal(size=70_001).astype(np.float32)
    snaps = [(theta + rng.normal(size=theta.size) * (i + 1) * rng.uniform(0.05, 0.3)).astype(np.float16)
             for i in range(7)] + [theta.astype(np.float16)]
    dirs, path, explained = path_plane(snaps, theta, chunk=4096)
    D = np.stack([s.astype(np.float64) for s in snaps]) - theta
    _, s, vt = np.linalg.svd(D, full_matrices=False)
    for k in range(2):
        assert abs(float(vt[k] @ dirs[k])) > 1 - 1e-5
        np.testing.assert_allclose(np.abs(path[:, k]), np.abs(D @ vt[k]), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(explained, s[:2] ** 2 / (s**2).sum(), rtol=1e-5)
    assert (path[np.abs(path).argmax(0), [0, 1]] > 0).all()  # signs fixed: the same plane every time


def _prompts(ckpt, n: int = 40) -> list[str]:
    """The Trajectory page's example prompts and the starts of n sentences of the world (2 words and more)."""
    from dashboard.views.trajectory import EXAMPLES

    rng = np.random.default_rng(0)
    starts = [s.split() for s in ckpt.world.reference_sentences(99, n)]
    return list(EXAMPLES) + [" ".join(w[: rng.integers(2, max(3, len(w)))]) for w in starts]


def test_next_word_regions_agree_with_the_states_own_predictions(ckpt):
    """What real states predict next, on the plane of their predictions: the colour under a prompt's state is what
    the state itself predicts at >= 85 % of the steps of many prompts (the decoded PCA slice: about half)."""
    from llmcore.analysis.trace import trace_generation
    from llmcore.maps.landscape import next_word_regions

    ref = MapBook(ckpt).reference("context:final")
    r = next_word_regions(ckpt, "final", ref.X)
    names, cmat = ckpt.context_matrix()
    np.testing.assert_array_equal(r.predicted, (decode_states(ckpt, "final", ref.X) @ cmat).argmax(1))
    np.testing.assert_allclose(r.place(ref.X), r.coords, atol=1e-4)
    assert set(np.unique(r.label)) <= set(range(-1, len(names))) and (r.share[r.label >= 0] > 0).all()
    # a blank cell has no reference state near it; a cell with a state on it is coloured
    cells = np.stack(np.meshgrid(r.x, r.y), -1).reshape(-1, 2)
    scale = np.ptp(r.coords, 0)
    nearest = np.array([np.min(np.linalg.norm((r.coords - c) / scale, axis=1)) for c in cells[::37]])
    assert (nearest[r.label.ravel()[::37] < 0] > 0.04 - 1e-9).all()
    assert all(s != "" for s in r.shown_at(r.coords[::50]))
    hits = total = 0
    for prompt in _prompts(ckpt):
        steps = trace_generation(ckpt, prompt)
        shown = r.shown_at(r.place(steps.hidden[:, -1]))
        hits += sum(steps.next_context(i) == c for i, c in enumerate(shown))
        total += len(steps)
    assert hits / total >= 0.85, (hits, total)


def test_next_word_regions_of_a_tiny_model(tiny_ckpt):
    """Any model: the tiny one (which may predict one sub-context nearly everywhere) still gets a plane and cells."""
    from llmcore.maps.landscape import next_word_regions

    ref = MapBook(tiny_ckpt).reference("context:final")
    r = next_word_regions(tiny_ckpt, "final", ref.X, grid=40)
    assert r.label.shape == (40, 40) and r.coords.shape == (len(ref.X), 2) and (r.label >= 0).any()


def test_the_decision_slice_says_what_it_shows(ckpt):
    """DecisionLandscape.shown_at reads the picture: the function words inside their dashed line, else the content
    sub-context whose colour is there."""
    from llmcore.world.types import FUNCTION_CONTEXT

    m = MapBook(ckpt).get("context:final", "pca", 2)
    d = decision_landscape(ckpt, "final", m.projector, np.stack([m.coords.min(0), m.coords.max(0)]), grid=20)
    g = d.context_names.index(FUNCTION_CONTEXT)
    xy = np.stack(np.meshgrid(d.x, d.y), -1).reshape(-1, 2)
    shown = d.shown_at(xy, FUNCTION_CONTEXT)
    probs = d.context_probs.reshape(-1, len(d.context_names))
    for p, s in zip(probs, shown):
        content = [i for i in range(len(p)) if i != g]
        assert s == (FUNCTION_CONTEXT if p[g] > 0.5 else d.context_names[content[int(np.argmax(p[content]))]])
