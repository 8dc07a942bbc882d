"""Projections of high-dimensional points to 2D/3D maps, all behind one scikit-learn-style interface.

Every projector has `fit(X, y=None)` returning self, `transform(X)` and `fit_transform(X)`, an explicit
`random_state`, and learned state in attributes ending in `_`. PCA, semantic axes and the story map (linear
discriminant analysis of the sub-context labels) are linear maps. UMAP and
t-SNE have no exact out-of-sample map; new points are placed by `NeighbourPlacement`: the inverse-distance
weighted mean of the map positions of their k nearest reference points in the original space. That placement is
deterministic and independent of what else is placed with it (see bench/bench_maps.py for the comparison
with umap-learn's own `transform`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

METHODS = ("pca", "umap", "tsne", "axes", "lda")
Progress = Callable[[str], None]


def _check_matrix(X: np.ndarray, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D array (points, features), got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"expected {n_features} features, got {X.shape[1]}")
    if not np.isfinite(X).all():
        raise ValueError("input contains NaN or infinite values")
    return X


class _Projector:
    n_components: int
    random_state: int

    def _check_fitted(self) -> None:
        if not hasattr(self, "embedding_") and not hasattr(self, "components_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit first")

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, y).transform(X)


class PCAProjector(_Projector):
    """Exact PCA by eigendecomposition of the covariance, signs fixed so that fits are reproducible."""

    def __init__(self, n_components: int = 2, random_state: int = 0):
        self.n_components, self.random_state = n_components, random_state

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> PCAProjector:
        X = _check_matrix(X)
        if not 1 <= self.n_components <= min(X.shape):
            raise ValueError(f"n_components must be between 1 and {min(X.shape)}, got {self.n_components}")
        mean = X.mean(0, dtype=np.float64)
        Xc = X - mean.astype(np.float32)  # centred first, so float32 products lose nothing that matters
        cov = (Xc.T @ Xc).astype(np.float64) / max(len(X) - 1, 1)
        w, V = np.linalg.eigh(cov)
        order = np.argsort(w)[::-1][: self.n_components]
        comps = V[:, order].T
        comps *= np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])[:, None]
        self.mean_, self.components_ = mean.astype(np.float32), comps.astype(np.float32)
        self.explained_variance_ratio_ = (w[order] / max(w.sum(), 1e-12)).astype(np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return _rowwise_project(_check_matrix(X, self.n_features_in_) - self.mean_, self.components_)

    def inverse_transform(self, Y: np.ndarray) -> np.ndarray:
        """Points of the plane back in the original space (the closest point of the fitted subspace)."""
        self._check_fitted()
        return (np.asarray(Y, np.float32) @ self.components_ + self.mean_).astype(np.float32)


class SemanticAxesProjector(_Projector):
    """Custom axes, as in the TensorFlow Embedding Projector: axis i runs from the centroid of label group
    `axes[i][0]` to that of `axes[i][1]` (e.g. animals → food against home → nature). Needs labels in fit."""

    def __init__(self, axes: list[tuple[str, str]], n_components: int = 2, random_state: int = 0):
        if len(axes) < n_components:
            raise ValueError(f"{n_components} axes need {n_components} (from, to) label pairs, got {len(axes)}")
        self.axes, self.n_components, self.random_state = list(axes), n_components, random_state

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> SemanticAxesProjector:
        X = _check_matrix(X)
        if y is None:
            raise ValueError("semantic axes need the label of every point (fit(X, labels))")
        y = np.asarray(y)
        vectors = []
        for a, b in self.axes[: self.n_components]:
            for label in (a, b):
                if not np.any(y == label):
                    raise ValueError(f"no point is labelled {label!r}; choose labels from {sorted(set(y))[:12]}")
            v = X[y == b].mean(0) - X[y == a].mean(0)
            vectors.append(v / max(np.linalg.norm(v), 1e-12))
        self.mean_, self.components_ = X.mean(0), np.stack(vectors).astype(np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return _rowwise_project(_check_matrix(X, self.n_features_in_) - self.mean_, self.components_)


class LDAProjector(_Projector):
    """The story map: scikit-learn's LinearDiscriminantAnalysis on the points' labels, i.e. the linear axes that
    best separate the labelled groups (animals, food, places, ...). Linear, so placement is exact and instant.
    With fewer than n_components + 1 groups, the missing axes are the principal axes of what is left."""

    def __init__(self, n_components: int = 2, random_state: int = 0):
        self.n_components, self.random_state = n_components, random_state

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> LDAProjector:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        X = _check_matrix(X)
        if y is None:
            raise ValueError("the story map (LDA) needs the label of every point (fit(X, labels))")
        y = np.asarray(y, str)
        if len(y) != len(X) or len(set(y)) < 2:
            raise ValueError(f"the story map needs one label per point and at least 2 groups, got {len(set(y))}")
        k = min(self.n_components, len(set(y)) - 1)
        lda = LinearDiscriminantAnalysis(solver="svd", n_components=k).fit(X.astype(np.float64), y)
        comps = lda.scalings_[:, :k].T.astype(np.float64)
        if k < self.n_components:  # fill with the main directions left after removing the discriminant ones
            q, _ = np.linalg.qr(comps.T)
            rest = (X - X.mean(0)) - (X - X.mean(0)) @ q @ q.T
            _, _, vt = np.linalg.svd(rest.astype(np.float64), full_matrices=False)
            scale = np.linalg.norm(comps, axis=1).mean()
            comps = np.concatenate([comps, vt[: self.n_components - k] * scale])
        comps *= np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])[:, None]
        self.mean_, self.components_ = lda.xbar_.astype(np.float32), np.ascontiguousarray(comps, np.float32)
        self.classes_, self.n_features_in_ = list(lda.classes_), X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return _rowwise_project(_check_matrix(X, self.n_features_in_) - self.mean_, self.components_)


def _rowwise_project(Xc: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(n, d) projections computed row by row without BLAS, so a point's coordinates never depend on the batch
    it arrives in (BLAS kernels sum in a batch-dependent order and differ in the last bits)."""
    return np.einsum("nc,dc->nd", Xc, components, optimize=False).astype(np.float32)


class NeighbourPlacement(_Projector):
    """Places new points at the weighted mean map position of their k nearest reference points (original space)."""

    placement_k = 10

    def set_reference(self, X: np.ndarray, embedding: np.ndarray) -> NeighbourPlacement:
        """Use a map computed elsewhere (e.g. loaded from the cache) for placement."""
        self.X_ref_ = _check_matrix(X)
        self.embedding_ = np.asarray(embedding, np.float32)
        self.n_features_in_ = self.X_ref_.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        X = _check_matrix(X, self.n_features_in_)
        k = min(self.placement_k, len(self.X_ref_))
        out = np.empty((len(X), self.embedding_.shape[1]), np.float32)
        for i, x in enumerate(X):  # one point at a time: its position cannot depend on the others
            d = np.sqrt(np.square(self.X_ref_ - x).sum(1))
            idx = np.argpartition(d, k - 1)[:k]
            idx = idx[np.lexsort((idx, d[idx]))]
            w = 1.0 / np.maximum(d[idx], 1e-6) ** 2
            w[d[idx] < 1e-6] = 1e12  # a reference point lands exactly on its own position
            out[i] = (w / w.sum()) @ self.embedding_[idx]
        return out

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        self.fit(X, y)
        return self.embedding_.copy()


class UMAPProjector(NeighbourPlacement):
    """UMAP (umap-learn). Imported lazily: its numba compilation costs seconds on the first fit in a process."""

    def __init__(self, n_components: int = 2, random_state: int = 0, n_neighbors: int = 15, min_dist: float = 0.1,
                 progress: Progress | None = None):
        self.n_components, self.random_state = n_components, random_state
        self.n_neighbors, self.min_dist, self.progress = n_neighbors, min_dist, progress

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> UMAPProjector:
        X = _check_matrix(X)
        _say(self.progress, "loading umap-learn (the first fit in a process compiles it with numba)")
        try:
            import umap
        except ImportError as e:  # pragma: no cover - umap-learn is a core dependency
            raise ImportError("UMAP maps need umap-learn: pip install umap-learn") from e
        _say(self.progress, f"fitting UMAP on {len(X):,} points")
        kw = ({"tqdm_kwds": {"disable": False, "file": _EpochCounter(self.progress), "mininterval": 0.5}}
              if hasattr(self.progress, "advance") else {})
        model = umap.UMAP(n_components=self.n_components, n_neighbors=min(self.n_neighbors, len(X) - 1),
                          min_dist=self.min_dist, random_state=self.random_state, init="spectral" if len(X) > 50
                          else "random", n_jobs=1, low_memory=True, **kw)
        emb = model.fit_transform(X)
        return self.set_reference(X, emb)


class TSNEProjector(NeighbourPlacement):
    """t-SNE (openTSNE: FFT-accelerated in 2D, Barnes-Hut in 3D)."""

    def __init__(self, n_components: int = 2, random_state: int = 0, perplexity: float = 30.0,
                 progress: Progress | None = None):
        self.n_components, self.random_state = n_components, random_state
        self.perplexity, self.progress = perplexity, progress

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> TSNEProjector:
        X = _check_matrix(X)
        try:
            from openTSNE import TSNE
        except ImportError as e:
            raise ImportError("t-SNE maps need openTSNE: pip install openTSNE") from e
        _say(self.progress, f"fitting t-SNE on {len(X):,} points")
        perplexity = min(self.perplexity, max(2.0, (len(X) - 1) / 3))
        method = "fft" if self.n_components <= 2 else "bh"
        kw = {"callbacks": _IterationCounter(self.progress, 750), "callbacks_every_iters": 10} \
            if hasattr(self.progress, "advance") else {}
        emb = TSNE(n_components=self.n_components, perplexity=perplexity, random_state=self.random_state,
                   negative_gradient_method=method, n_jobs=1, verbose=False, **kw).fit(X.astype(np.float64))
        return self.set_reference(X, np.asarray(emb))


class _EpochCounter:
    """A file for umap-learn's tqdm bar: reads 'n/total' from what it writes and reports the fraction done."""

    def __init__(self, progress):
        self.progress = progress

    def write(self, text: str) -> None:
        import re

        found = re.findall(r"(\d+)/(\d+)", text)
        if found:
            done, total = map(int, found[-1])
            self.progress.advance(done / max(total, 1))

    def flush(self) -> None:
        pass


class _IterationCounter:
    """An openTSNE callback: its two phases (250 iterations of early exaggeration, then 500) each count from 1;
    reports the fraction of all iterations done and never asks to stop."""

    def __init__(self, progress, total: int):
        self.progress, self.total, self.offset, self.last = progress, total, 0, 0

    def __call__(self, iteration: int, *_) -> bool:
        if iteration < self.last:
            self.offset += self.last
        self.last = iteration
        self.progress.advance(min((self.offset + iteration) / self.total, 1.0))
        return False


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def make_projector(method: str = "pca", n_components: int = 2, random_state: int = 0, **params) -> _Projector:
    """The projector for a method name: 'pca', 'umap', 'tsne', 'lda' (the story map; labels in fit) or 'axes'
    (needs axes=[(from, to), ...])."""
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; use one of {METHODS}")
    if n_components not in (2, 3):
        raise ValueError(f"maps are 2D or 3D, got n_components={n_components}")
    cls = {"pca": PCAProjector, "umap": UMAPProjector, "tsne": TSNEProjector, "axes": SemanticAxesProjector,
           "lda": LDAProjector}[method]
    return cls(n_components=n_components, random_state=random_state, **params)


@dataclass(frozen=True)
class MapQuality:
    """How faithful a map is. trustworthiness and knn_preservation are in [0, 1]; explained_variance only for PCA."""

    trustworthiness: float
    knn_preservation: float
    n_neighbors: int
    explained_variance: float | None = None

    def to_dict(self) -> dict:
        return {"trustworthiness": self.trustworthiness, "knn_preservation": self.knn_preservation,
                "n_neighbors": self.n_neighbors, "explained_variance": self.explained_variance}


def map_quality(X: np.ndarray, Y: np.ndarray, n_neighbors: int = 10, sample: int = 2000, random_state: int = 0,
                explained_variance: float | None = None) -> MapQuality:
    """Trustworthiness (scikit-learn) and the share of each point's k nearest neighbours that the map keeps."""
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    X, Y = np.asarray(X, np.float32), np.asarray(Y, np.float32)
    if len(X) > sample:
        idx = np.sort(np.random.default_rng(random_state).choice(len(X), sample, replace=False))
        X, Y = X[idx], Y[idx]
    k = min(n_neighbors, len(X) // 2 - 1)
    tw = float(trustworthiness(X, Y, n_neighbors=k))
    nx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X, return_distance=False)[:, 1:]
    ny = NearestNeighbors(n_neighbors=k + 1).fit(Y).kneighbors(Y, return_distance=False)[:, 1:]
    kept = np.mean([len(set(a) & set(b)) / k for a, b in zip(nx, ny)])
    return MapQuality(tw, float(kept), k, explained_variance)
