"""Projections of high-dimensional states to 2D/3D maps, behind one scikit-learn-style interface."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from llmcore.reference import ReferenceStates

METHODS = ("pca",)


class PCAProjector:
    """Exact PCA (scikit-learn); placement of new points is a fixed linear map, so it is deterministic."""

    def __init__(self, n_components: int = 2, random_state: int = 0):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> PCAProjector:
        X = _check_matrix(X)
        if not 1 <= self.n_components <= min(X.shape):
            raise ValueError(f"n_components must be between 1 and {min(X.shape)}, got {self.n_components}")
        self.pca_ = PCA(n_components=self.n_components, svd_solver="full", random_state=self.random_state).fit(X)
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "pca_"):
            raise RuntimeError("PCAProjector is not fitted yet; call fit first")
        return self.pca_.transform(_check_matrix(X, self.pca_.n_features_in_)).astype(np.float32)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Y: np.ndarray) -> np.ndarray:
        return self.pca_.inverse_transform(Y).astype(np.float32)


def _check_matrix(X: np.ndarray, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D array (points, features), got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"expected {n_features} features, got {X.shape[1]}")
    if not np.isfinite(X).all():
        raise ValueError("input contains NaN or infinite values")
    return X


def make_projector(method: str = "pca", n_components: int = 2, random_state: int = 0) -> PCAProjector:
    """The projector for a method name."""
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; use one of {METHODS}")
    if n_components not in (2, 3):
        raise ValueError(f"maps are 2D or 3D, got n_components={n_components}")
    return PCAProjector(n_components, random_state)


@dataclass
class ContextMap:
    """A fitted map of reference states at one depth. coords: (N, d) float32; labels per point."""

    layer: str
    method: str
    coords: np.ndarray
    contexts: np.ndarray
    words: np.ndarray
    next_words: np.ndarray
    projector: PCAProjector

    @property
    def explained_variance(self) -> float:
        return float(np.sum(getattr(self.projector, "explained_variance_ratio_", [np.nan])))

    def place(self, states: np.ndarray) -> np.ndarray:
        """Coordinates of new states (n, C) in this map."""
        return self.projector.transform(np.asarray(states).reshape(-1, self.projector.pca_.n_features_in_))


def fit_context_map(ref: ReferenceStates, layer: str, method: str = "pca", n_components: int = 2,
                    random_state: int = 0) -> ContextMap:
    proj = make_projector(method, n_components, random_state)
    coords = proj.fit_transform(ref.layer(layer))
    return ContextMap(layer, method, coords, ref.contexts, ref.words, ref.next_words, proj)
