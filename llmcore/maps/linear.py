"""PCA and orthogonal Procrustes in NumPy alone: what training's Watch maps and the snapshot replay need, kept apart
from the scikit-learn estimators (llmcore.maps.projection) so that `llmcore train` never loads scikit-learn, SciPy
and pandas (135 MB of its peak memory, issue 28). `PCAProjector` fits with `pca_plane`, so both give one map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmcore.maps.placement import rowwise_project


@dataclass(frozen=True)
class Plane:
    """A fitted PCA: coordinates = (x - mean) @ components.T. mean: (C,), components: (k, C) and
    explained_variance_ratio: (k,), float32."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, X: np.ndarray) -> np.ndarray:
        return rowwise_project(np.asarray(X, np.float32) - self.mean, self.components)


def pca_plane(X: np.ndarray, n_components: int = 2) -> Plane:
    """Exact PCA of a finite (points, features) float32 array by eigendecomposition of the covariance, each
    component's sign fixed (its largest entry positive) so that fits are reproducible."""
    X = np.asarray(X, np.float32)
    mean = X.mean(0, dtype=np.float64)
    Xc = X - mean.astype(np.float32)  # centred first, so float32 products lose nothing that matters
    cov = (Xc.T @ Xc).astype(np.float64) / max(len(X) - 1, 1)
    w, V = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1][:n_components]
    comps = V[:, order].T
    comps *= np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])[:, None]
    return Plane(mean.astype(np.float32), comps.astype(np.float32),
                 (w[order] / max(w.sum(), 1e-12)).astype(np.float32))


def orthogonal_procrustes(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, float]:
    """The orthogonal R that maps A closest to B (min |A @ R - B|) and the sum of the singular values of A.T @ B,
    as scipy.linalg.orthogonal_procrustes returns them."""
    u, w, vt = np.linalg.svd((np.asarray(B).T @ np.asarray(A)).T)
    return u @ vt, float(w.sum())
