"""Aligning training snapshots: rotations only, and a steadier replay than per-frame PCA."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group

from llmcore.alignment import align_snapshots, frame_displacement, snapshot_coords


def test_alignment_undoes_a_rotation_and_keeps_distances():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(50, 8))
    R = ortho_group.rvs(8, random_state=1)
    aligned = align_snapshots(np.stack([E @ R, E]))
    np.testing.assert_allclose(aligned[0], aligned[1], atol=1e-4)
    np.testing.assert_allclose(pdist(aligned[0]), pdist(E), rtol=1e-4)


def test_aligned_replay_moves_less_than_unaligned(ckpt):
    snaps = ckpt.snapshots()
    assert len(snaps) >= 20
    aligned = frame_displacement(snapshot_coords(snaps, aligned=True))
    naive = frame_displacement(snapshot_coords(snaps, aligned=False))
    assert aligned.mean() < naive.mean()
    assert np.median(aligned) <= np.median(naive)
