"""Projections of high-dimensional points to 2D/3D maps, all scikit-learn estimators behind one factory.

Every projector is a scikit-learn transformer (`BaseEstimator`, `TransformerMixin`): `__init__` only stores its
parameters, `fit(X, y=None)` checks them and returns self, `transform(X)` before `fit` raises `NotFittedError`,
learned state ends in `_`, and `clone`, `get_params`/`set_params` and `Pipeline` work. A fitted projector is rebuilt
without fitting by `Projector.restore(state, **params)` from its constructor parameters and the arrays of
`fitted_state()` (how cached maps come back). PCA, semantic axes and the story map (linear discriminant analysis of
the sub-context labels) are linear maps. UMAP and t-SNE have no exact out-of-sample map; new points are placed by
`NeighbourPlacement`: the inverse-distance weighted mean of the map positions of their `placement_k` nearest
reference points in the original space. That placement is deterministic and independent of what else is placed
with it (bench/bench_maps.py compares it with umap-learn's own `transform`). UMAP is fitted on exact nearest
neighbours (no NN-descent and its numba compilation); t-SNE on at most `fit_points` seeded reference points, the
others placed as new points are.

Over 400 lines on purpose: five estimators (PCA, LDA, custom axes, UMAP, t-SNE) share one base class and
its checks; each is short.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from llmcore.maps.linear import pca_plane
from llmcore.maps.methods import MAP_METHODS, MapMethod, map_method
from llmcore.maps.placement import (
    PLACEMENT_K,
    MapQuality,
    NeighbourIndex,
    neighbour_place,
    rowwise_project,
)

if TYPE_CHECKING:
    from sklearn.utils import Tags

Progress = Callable[[str], None]


class FractionProgress(Protocol):
    """A Progress that also takes the fraction of a fit done (dashboard.mapjobs.MapJob): UMAP and t-SNE report it."""

    def __call__(self, message: str) -> None: ...

    def advance(self, fraction: float) -> None: ...


def _check_matrix(X: np.ndarray, n_features: int | None = None, owner: str = "the projector") -> np.ndarray:
    """X as a finite (points, features) float32 array; scikit-learn's messages (NaN, sparse, 1-D, empty)."""
    X = check_array(X, dtype=np.float32)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but {owner} is expecting {n_features} features as input")
    return X


def _labels_of(y: np.ndarray | None, projector: Projector, who_needs: str) -> np.ndarray:
    """The labels a labelled fit needs (scikit-learn's message where they are missing)."""
    if y is None:
        raise ValueError(f"{type(projector).__name__} requires y to be passed, but the target y is None: {who_needs} "
                         "the label of every point (fit(X, labels))")
    return np.asarray(y)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


class Projector(TransformerMixin, BaseEstimator):
    """What every projector shares: parameter checks, the fitted check, and the fitted state (save and restore)."""

    _state: tuple[str, ...] = ()  # the learned arrays that define a fitted projector, in `fitted_state()`
    method: MapMethod  # its entry in the registry: name, capabilities, fit version (llmcore.maps.methods)
    _fit_needs_y = False  # labels (axes, LDA) or a map computed elsewhere (NeighbourPlacement)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._fit_needs_y
        tags.transformer_tags.preserves_dtype = ["float32"]  # maps are float32 whatever the input
        return tags

    def _check_input(self, X: np.ndarray) -> np.ndarray:
        """X to place: fitted first, then the fitted number of features (scikit-learn's message)."""
        self._check_fitted()
        return _check_matrix(X, self.n_features_in_, type(self).__name__)

    def _require(self, name: str, ok: bool, rule: str) -> None:
        if not ok:
            raise ValueError(f"{type(self).__name__}: {name} must be {rule}, got {getattr(self, name)!r}")

    def _check_params(self) -> None:
        """Called by fit and restore (never by __init__, which only stores): one clear ValueError per bad value."""
        self._require("n_components", _is_int(self.n_components) and self.n_components >= 1, "an integer >= 1")
        self._require("random_state", _is_int(self.random_state) and self.random_state >= 0, "an integer >= 0")

    def _check_fitted(self) -> None:
        check_is_fitted(self, list(self._state))

    def fitted_state(self) -> dict[str, np.ndarray]:
        """The learned arrays, by attribute name: with the constructor parameters, all `restore` needs."""
        self._check_fitted()
        return {name: getattr(self, name) for name in self._state}

    @classmethod
    def restore(cls, state: dict[str, np.ndarray], **params: Any) -> Projector:
        """A fitted projector without fitting: `cls(**params)` given the arrays of `fitted_state()`. The
        parameters and arrays are checked as fit checks them (ValueError naming the rule), e.g. for a cache file."""
        projector = cls(**params)
        projector._check_params()
        projector._set_state(state)
        return projector

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        """Take the learned arrays (fit and restore both end here): exactly `_state`, finite, consistent shapes."""
        if set(state) != set(self._state):
            raise ValueError(f"{type(self).__name__}: a fitted state holds the arrays {sorted(self._state)}, "
                             f"got {sorted(state)}")
        arrays = {name: np.asarray(value, np.float32) for name, value in state.items()}
        for name, value in arrays.items():
            if not np.isfinite(value).all():
                raise ValueError(f"{type(self).__name__}: {name} contains NaN or infinite values")
        self.n_features_in_ = self._check_shapes(arrays)
        for name, value in arrays.items():
            setattr(self, name, value)

    def _check_shapes(self, arrays: dict[str, np.ndarray]) -> int:
        """Raise ValueError unless the arrays fit together; return the number of input features."""
        raise NotImplementedError


class _LinearProjector(Projector):
    """A linear map: coordinates = (x - mean_) @ components_.T."""

    _state = ("mean_", "components_")

    def _check_shapes(self, arrays: dict[str, np.ndarray]) -> int:
        mean, comps = arrays["mean_"], arrays["components_"]
        if mean.ndim != 1 or comps.shape != (self.n_components, len(mean)):
            raise ValueError(f"{type(self).__name__}: components_ must have shape (n_components={self.n_components}"
                             f", {len(mean)} features) to match mean_ {mean.shape}, got {comps.shape}")
        if "explained_variance_ratio_" in arrays and arrays["explained_variance_ratio_"].shape != (len(comps),):
            raise ValueError(f"{type(self).__name__}: explained_variance_ratio_ must have shape ({len(comps)},), "
                             f"got {arrays['explained_variance_ratio_'].shape}")
        return len(mean)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return rowwise_project(self._check_input(X) - self.mean_, self.components_)


class PCAProjector(_LinearProjector):
    """Exact PCA by eigendecomposition of the covariance, signs fixed so that fits are reproducible (the
    NumPy-only `llmcore.maps.linear.pca_plane`, which training uses without scikit-learn)."""

    method = MAP_METHODS["pca"]

    _state = ("mean_", "components_", "explained_variance_ratio_")

    def __init__(self, n_components: int = 2, *, random_state: int = 0) -> None:
        self.n_components, self.random_state = n_components, random_state

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> PCAProjector:
        self._check_params()
        X = _check_matrix(X)
        if self.n_components > min(X.shape):
            raise ValueError(f"PCAProjector: n_components must be between 1 and {min(X.shape)} (points and features"
                             f" of X), got {self.n_components}")
        plane = pca_plane(X, self.n_components)
        self._set_state({"mean_": plane.mean, "components_": plane.components,
                         "explained_variance_ratio_": plane.explained_variance_ratio})
        return self

    def inverse_transform(self, Y: np.ndarray) -> np.ndarray:
        """Points of the plane back in the original space (the closest point of the fitted subspace)."""
        self._check_fitted()
        return (np.asarray(Y, np.float32) @ self.components_ + self.mean_).astype(np.float32)


class SemanticAxesProjector(_LinearProjector):
    """Custom axes, as in the TensorFlow Embedding Projector: axis i runs from the centroid of label group
    `axes[i][0]` to that of `axes[i][1]` (e.g. animals → food against home → nature). Needs labels in fit."""

    method = MAP_METHODS["axes"]

    def __init__(self, axes: list[tuple[str, str]] | None = None, n_components: int = 2, *,
                 random_state: int = 0) -> None:
        self.axes, self.n_components, self.random_state = axes, n_components, random_state

    _fit_needs_y = True

    def _check_params(self) -> None:
        super()._check_params()
        pairs = self.axes if isinstance(self.axes, (list, tuple)) else []
        self._require("axes", len(pairs) >= self.n_components and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs),
            f"a list of at least n_components={self.n_components} (from, to) label pairs")

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> SemanticAxesProjector:
        self._check_params()
        X = _check_matrix(X)
        y = _labels_of(y, self, "semantic axes need")
        vectors = []
        for a, b in self.axes[: self.n_components]:
            for label in (a, b):
                if not np.any(y == label):
                    raise ValueError(f"no point is labelled {label!r}; choose labels from {sorted(set(y))[:12]}")
            v = X[y == b].mean(0) - X[y == a].mean(0)
            vectors.append(v / max(np.linalg.norm(v), 1e-12))
        self._set_state({"mean_": X.mean(0), "components_": np.stack(vectors)})
        return self


class LDAProjector(_LinearProjector):
    """The story map: scikit-learn's LinearDiscriminantAnalysis on the points' labels, i.e. the linear axes that
    best separate the labelled groups (animals, food, places, ...). Linear, so placement is exact and instant.
    With fewer than n_components + 1 groups, the missing axes are the principal axes of what is left."""

    method = MAP_METHODS["lda"]

    def __init__(self, n_components: int = 2, *, random_state: int = 0) -> None:
        self.n_components, self.random_state = n_components, random_state

    _fit_needs_y = True

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> LDAProjector:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        self._check_params()
        X = _check_matrix(X)
        y = _labels_of(y, self, "the story map needs").astype(str)
        if len(y) != len(X) or len(set(y)) < 2:
            raise ValueError(f"the story map needs one label per point and at least 2 groups, got {len(y)} labels for "
                             f"{len(X)} points in {len(set(y))} class(es)")
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
        self._set_state({"mean_": lda.xbar_, "components_": np.ascontiguousarray(comps, np.float32)})
        self.classes_ = list(lda.classes_)
        return self


class NeighbourPlacement(Projector):
    """Places new points at the weighted mean map position of their `placement_k` nearest reference points
    (original space). `fit(X, Y)` takes a map Y of X computed elsewhere; UMAP and t-SNE compute Y themselves."""

    _state = ("X_ref_", "embedding_")

    def __init__(self, placement_k: int = PLACEMENT_K) -> None:
        self.placement_k = placement_k

    _fit_needs_y = True

    def _check_params(self) -> None:
        if hasattr(self, "n_components"):
            super()._check_params()
        self._require("placement_k", _is_int(self.placement_k) and self.placement_k >= 1, "an integer >= 1")

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> NeighbourPlacement:
        """Use y, a map (N, d) of the reference points X (N, C) computed elsewhere, for placement."""
        self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None: it needs the "
                             "map positions of the reference points (fit(X, Y))")
        self._set_state({"X_ref_": _check_matrix(X), "embedding_": check_array(y, dtype=np.float32)})
        return self

    def set_reference(self, X: np.ndarray, embedding: np.ndarray) -> NeighbourPlacement:
        """Use a map computed elsewhere for placement (`NeighbourPlacement.fit(X, embedding)`, for any subclass)."""
        return NeighbourPlacement.fit(self, X, embedding)

    def _check_shapes(self, arrays: dict[str, np.ndarray]) -> int:
        X, emb = arrays["X_ref_"], arrays["embedding_"]
        d = getattr(self, "n_components", emb.shape[-1])
        if X.ndim != 2 or len(X) < 1 or emb.shape != (len(X), d):
            raise ValueError(f"{type(self).__name__}: embedding_ must have shape ({len(X)} reference points, {d} "
                             f"dimensions) to match X_ref_ {X.shape}, got {emb.shape}")
        return X.shape[1]

    def transform(self, X: np.ndarray) -> np.ndarray:
        return neighbour_place(self._check_input(X), self.X_ref_, self.embedding_, self.placement_k,
                               self._neighbour_index())

    def _neighbour_index(self) -> NeighbourIndex:
        """X_ref_ prepared for neighbour search, kept while X_ref_ is the same array."""
        if getattr(self, "_index_of", None) is not self.X_ref_:
            self._index, self._index_of = NeighbourIndex(self.X_ref_), self.X_ref_
        return self._index

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        self.fit(X, y)
        return self.embedding_.copy()


class UMAPProjector(NeighbourPlacement):
    """UMAP (umap-learn) on exact nearest neighbours. Imported lazily: its numba compilation costs seconds on the
    first fit in a process."""

    method = MAP_METHODS["umap"]

    def __init__(self, n_components: int = 2, *, random_state: int = 0, n_neighbors: int = 15,
                 min_dist: float = 0.1, placement_k: int = PLACEMENT_K, progress: Progress | None = None) -> None:
        self.n_components, self.random_state, self.placement_k = n_components, random_state, placement_k
        self.n_neighbors, self.min_dist, self.progress = n_neighbors, min_dist, progress

    _fit_needs_y = False

    def _check_params(self) -> None:
        super()._check_params()
        self._require("n_neighbors", _is_int(self.n_neighbors) and self.n_neighbors >= 2, "an integer >= 2")
        self._require("min_dist", _is_real(self.min_dist) and self.min_dist >= 0, "a number >= 0")
        self._require("progress", self.progress is None or callable(self.progress), "None or a callable")

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> UMAPProjector:
        import warnings

        self._check_params()
        X = _check_matrix(X)
        _say(self.progress, "loading umap-learn (the first fit in a process compiles it with numba)")
        try:
            import umap
        except ImportError as e:  # pragma: no cover - umap-learn is a core dependency
            raise ImportError("UMAP maps need umap-learn: pip install umap-learn") from e
        _say(self.progress, f"fitting UMAP on {len(X):,} points (exact nearest neighbours)")
        kw = ({"tqdm_kwds": {"disable": False, "file": _EpochCounter(self.progress), "mininterval": 0.5}}
              if hasattr(self.progress, "advance") else {})
        k = min(self.n_neighbors, len(X) - 1)
        model = umap.UMAP(n_components=self.n_components, n_neighbors=k, min_dist=self.min_dist,
                          random_state=self.random_state, init="spectral" if len(X) > 50 else "random", n_jobs=1,
                          low_memory=True, precomputed_knn=exact_neighbours(X, k), **kw)
        with warnings.catch_warnings():  # "no search index, so no transform": placement is ours
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
            warnings.filterwarnings("ignore", message="n_jobs value 1 overridden")
            self._set_state({"X_ref_": X, "embedding_": model.fit_transform(X)})
        return self


def exact_neighbours(X: np.ndarray, k: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Each point's k nearest points (itself first) by Euclidean distance, exactly: (indices (N, k) int64,
    distances (N, k) float32), ties broken by index. As umap-learn's NN-descent returns them, without its numba
    compilation (seconds per process) and without its approximation."""
    X64 = np.asarray(X, np.float64)
    sq = np.einsum("nc,nc->n", X64, X64)
    idx, dist = np.empty((len(X), k), np.int64), np.empty((len(X), k), np.float32)
    for start in range(0, len(X), chunk):
        rows = np.arange(start, min(start + chunk, len(X)))
        d2 = np.maximum(sq[rows, None] - 2.0 * X64[rows] @ X64.T + sq[None], 0.0)
        d2[rows - start, rows] = -1.0  # the point itself comes first, even among duplicates
        near = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(X) else np.tile(np.arange(len(X)), (len(rows), 1))
        near_d = np.take_along_axis(d2, near, 1)
        order = np.lexsort((near, near_d), axis=1)
        idx[rows], dist[rows] = np.take_along_axis(near, order, 1), np.sqrt(np.maximum(
            np.take_along_axis(near_d, order, 1), 0.0))
    return idx, dist


class TSNEProjector(NeighbourPlacement):
    """t-SNE (openTSNE, Barnes-Hut) fitted on at most `fit_points` reference points, drawn with the seed; the other
    reference points are placed from them as new points are (k-NN placement). By default (None) a 2D map is fitted
    on up to 10,000 points and a 3D map, whose Barnes-Hut gradient costs twice as much, on 2,000: on the bundled
    model a 2D map fitted on 2,000 of 6,000 states kept its trustworthiness but fewer example states fell in their
    own word's region (0.73 against 0.80), and the 2D maps are the ones that choose the default view. At a few
    thousand points the Barnes-Hut gradient is faster than the FFT one, in 2D too (docs/design.md, "Maps")."""

    method = MAP_METHODS["tsne"]

    def __init__(self, n_components: int = 2, *, random_state: int = 0, perplexity: float = 30.0,
                 placement_k: int = PLACEMENT_K, fit_points: int | None = None,
                 progress: Progress | None = None) -> None:
        self.n_components, self.random_state, self.placement_k = n_components, random_state, placement_k
        self.perplexity, self.fit_points, self.progress = perplexity, fit_points, progress

    _fit_needs_y = False

    def _check_params(self) -> None:
        super()._check_params()
        self._require("perplexity", _is_real(self.perplexity) and self.perplexity > 0, "a number > 0")
        self._require("fit_points", self.fit_points is None or _is_int(self.fit_points) and self.fit_points >= 10,
                      "None or an integer >= 10")
        self._require("progress", self.progress is None or callable(self.progress), "None or a callable")

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> TSNEProjector:
        self._check_params()
        X = _check_matrix(X)
        try:
            from openTSNE import TSNE
        except ImportError as e:
            raise ImportError("t-SNE maps need openTSNE: pip install openTSNE") from e
        at_most = self.fit_points or (10_000 if self.n_components <= 2 else 2_000)
        fit = fit_subset(len(X), at_most, self.random_state)
        _say(self.progress, f"fitting t-SNE on {len(fit):,} points" if len(fit) == len(X) else
             f"fitting t-SNE on {len(fit):,} of {len(X):,} points (the others are placed by their nearest neighbours)")
        perplexity = min(self.perplexity, max(2.0, (len(fit) - 1) / 3))
        method = "fft" if self.n_components <= 2 and len(fit) > 10_000 else "bh"
        kw = {"callbacks": _IterationCounter(self.progress, 750), "callbacks_every_iters": 10} \
            if hasattr(self.progress, "advance") else {}
        emb = np.asarray(TSNE(n_components=self.n_components, perplexity=perplexity, random_state=self.random_state,
                              negative_gradient_method=method, n_jobs=1, verbose=False, **kw)
                         .fit(X[fit].astype(np.float64)), np.float32)
        coords = np.empty((len(X), self.n_components), np.float32)
        coords[fit] = emb
        rest = np.setdiff1d(np.arange(len(X)), fit)
        if len(rest):
            coords[rest] = NeighbourPlacement(self.placement_k).fit(X[fit], emb).transform(X[rest])
        self._set_state({"X_ref_": X, "embedding_": coords})
        return self


def fit_subset(n: int, at_most: int, random_state: int) -> np.ndarray:
    """The sorted indices of the points a map is fitted on: all n, or `at_most` of them drawn with the seed."""
    if n <= at_most:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, at_most, replace=False))


class _EpochCounter:
    """A file for umap-learn's tqdm bar: reads 'n/total' from what it writes and reports the fraction done."""

    def __init__(self, progress: FractionProgress) -> None:
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

    def __init__(self, progress: FractionProgress, total: int) -> None:
        self.progress, self.total, self.offset, self.last = progress, total, 0, 0

    def __call__(self, iteration: int, *_: object) -> bool:
        if iteration < self.last:
            self.offset += self.last
        self.last = iteration
        self.progress.advance(min((self.offset + iteration) / self.total, 1.0))
        return False


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


PROJECTORS: dict[str, type[Projector]] = {cls.method.name: cls for cls in (PCAProjector, UMAPProjector,
                                                                            TSNEProjector, SemanticAxesProjector,
                                                                            LDAProjector)}


def projector_class(method: str) -> type[Projector]:
    """The projector class of a method name: 'pca', 'umap', 'tsne', 'lda' (the story map) or 'axes'."""
    return PROJECTORS[map_method(method).name]


def make_projector(method: str = "pca", n_components: int = 2, random_state: int = 0, **params: Any) -> Projector:
    """The projector for a method name: 'pca', 'umap', 'tsne', 'lda' (the story map; labels in fit) or 'axes'
    (needs axes=[(from, to), ...])."""
    cls = projector_class(method)
    if n_components not in (2, 3):
        raise ValueError(f"maps are 2D or 3D, got n_components={n_components}")
    return cls(n_components=n_components, random_state=random_state, **params)


def fit_projection(X: np.ndarray, labels: np.ndarray | None, method: str, n_components: int, *,
                   random_state: int = 0, params: dict | None = None,
                   progress: Progress | None = None) -> tuple[np.ndarray, Projector, MapQuality]:
    """Fit a method's projector on X (labels: what 'axes' and 'lda' separate) and measure the map: (coords,
    projector, quality). BLAS runs on one thread here, so a fit gives the same map in any process: the parallel
    refit of `llmcore maps` equals a serial one (torch's own threads are not touched)."""
    from threadpoolctl import threadpool_limits

    extra = {"progress": progress} if map_method(method).neighbour_placed else {}
    proj = make_projector(method, n_components, random_state, **(params or {}), **extra)
    with threadpool_limits(limits=1, user_api="blas"):
        coords = proj.fit_transform(X, labels)
        _say(progress, "measuring trustworthiness")
        ev = float(proj.explained_variance_ratio_.sum()) if isinstance(proj, PCAProjector) else None
        quality = map_quality(X, coords, explained_variance=ev)
    return coords, proj, quality


def map_quality(X: np.ndarray, Y: np.ndarray, *, n_neighbors: int = 10, sample: int = 2000, random_state: int = 0,
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
