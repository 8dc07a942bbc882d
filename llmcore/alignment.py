"""Aligning embedding snapshots taken during training in one stable frame, so a replay shows words moving."""

from __future__ import annotations

import numpy as np

from llmcore.projection import PCAProjector


def align_snapshots(snapshots: np.ndarray, reference: int = -1) -> np.ndarray:
    """Rotate each centred snapshot (T, V, C) onto the reference snapshot with orthogonal Procrustes.

    Rotations and reflections do not change distances between words, so nothing a map shows is lost; what goes
    away is the arbitrary spin of the whole cloud from one snapshot to the next.
    """
    from scipy.linalg import orthogonal_procrustes

    S = np.asarray(snapshots, np.float64)
    S = S - S.mean(1, keepdims=True)
    target = S[reference]
    out = np.empty_like(S)
    for t, E in enumerate(S):
        R, _ = orthogonal_procrustes(E, target)
        out[t] = E @ R
    return out.astype(np.float32)


def snapshot_coords(snapshots: np.ndarray, n_components: int = 2, aligned: bool = True) -> np.ndarray:
    """(T, V, d) map positions of every word in every snapshot.

    aligned: Procrustes-align, then one PCA fitted on all aligned snapshots places them in the same frame.
    not aligned: the naive replay, a PCA per snapshot (axes may flip and spin between frames).
    """
    S = np.asarray(snapshots, np.float32)
    if aligned:
        A = align_snapshots(S)
        pca = PCAProjector(n_components).fit(A.reshape(-1, A.shape[-1]))
        return np.stack([pca.transform(E) for E in A])
    return np.stack([PCAProjector(n_components).fit_transform(E) for E in S])


def frame_displacement(coords: np.ndarray) -> np.ndarray:
    """(T-1,) mean distance a word moves between consecutive frames, relative to the map's overall size."""
    scale = np.linalg.norm(coords - coords.mean(1, keepdims=True), axis=-1).mean()
    return np.linalg.norm(np.diff(coords, axis=0), axis=-1).mean(1) / max(scale, 1e-12)


def procrustes_map(source: np.ndarray, target: np.ndarray):
    """A function taking points of the source space onto the target space: the orthogonal rotation (plus the
    shift of means) that best matches paired points `source[i]` ↔ `target[i]`."""
    from scipy.linalg import orthogonal_procrustes

    n = min(len(source), len(target))
    s_mean, t_mean = source[:n].mean(0), target[:n].mean(0)
    R, _ = orthogonal_procrustes(source[:n] - s_mean, target[:n] - t_mean)
    return lambda X: ((np.asarray(X) - s_mean) @ R + t_mean).astype(np.float32)
