"""Maps: reference sets (the word map, one context map per layer), fitted once, cached on disk, placed into.

A map is keyed by the checkpoint's content hash, the reference set (its name and which points it holds), the
method and its parameters. The shipped checkpoint carries its maps in `checkpoints/default/maps/`, so opening
the dashboard fits nothing; other maps are computed on first use (with progress) and cached in the user cache
folder (`llmcore.files.user_cache_dir`), never in a checkpoint's folder unless a command names it
(`llmcore maps CKPT`, training's `--out`). Cached files are looked for in the checkpoint's own maps/ first.

Over 400 lines on purpose: fitting, the cache file format (written and validated on read) and the MapBook
that serves the pages are one contract.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import save as np_save

from llmcore.analysis.reference import ReferenceStates, reference_states
from llmcore.files import atomic_write, remove_own_file, user_cache_dir
from llmcore.inputs import InputError, parse_json, read_safetensors, safetensors_metadata
from llmcore.maps.methods import MAP_METHODS, method_names
from llmcore.maps.placement import PLACEMENT_K, MapQuality, Placement
from llmcore.model.checkpoint import MAPS_DIR, Checkpoint
from llmcore.model.depths import depth_labels

if TYPE_CHECKING:
    from llmcore.maps.bestview import BestView
    from llmcore.maps.projection import Progress, Projector
from llmcore.model.tokenizer import UNK

WATCH_FILE = "watch_maps.safetensors"  # llmcore.maps.watch's maps, stored with the other caches


@dataclass
class ReferenceSet:
    """Points a map is fitted on. X: (N, C) float32; labels: name -> (N,) array (word, context, subgroup, ...)."""

    name: str
    X: np.ndarray
    labels: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        for k, v in self.labels.items():
            if len(v) != len(self.X):
                raise ValueError(f"ReferenceSet {self.name}: label {k!r} has {len(v)} entries for {len(self.X)} points")

    @property
    def digest(self) -> str:
        """Which points these are (names and words, not float values, which differ in the last bits by machine)."""
        h = hashlib.sha256(self.name.encode())
        h.update("\x1f".join(map(str, self.labels["word"])).encode())
        return h.hexdigest()[:16]


def word_reference(ckpt: Checkpoint) -> ReferenceSet:
    """The input embeddings of the vocabulary (the model ties them to the output embeddings, so they are one map)."""
    tok, world = ckpt.tokenizer, ckpt.world
    words = [w for w in tok.vocab if w != UNK]
    wte = ckpt.model.input_embeddings().detach().float().cpu().numpy()
    X = wte[[tok.stoi[w] for w in words]].astype(np.float32)
    labels = [world.label(w) for w in words]
    return ReferenceSet("words", X, {"word": np.array(words, object),
                                     "context": np.array([c for c, _ in labels], object),
                                     "subgroup": np.array([g for _, g in labels], object)})


def context_reference(ref: ReferenceStates, layer: str) -> ReferenceSet:
    """Hidden states at corpus positions at one depth, labelled by their word and the word that follows."""
    return ReferenceSet(f"context:{layer}", ref.layer(layer), {
        "word": ref.words, "context": ref.contexts, "next_word": ref.next_words, "next_context": ref.next_contexts})


@dataclass
class FittedMap:
    """A map of a reference set. coords: (N, d) float32. `place` puts new points into it deterministically, with
    NumPy alone (llmcore.maps.placement); `projector`, the fitted scikit-learn estimator, is restored from the map's
    arrays when first asked for (a map read from the cache places points without importing scikit-learn)."""

    reference: ReferenceSet
    method: str
    n_components: int
    params: dict[str, Any]
    coords: np.ndarray
    fitted: Projector | Callable[[], Projector] = field(repr=False)  # the estimator, or how to restore it
    quality: MapQuality
    key: str = ""
    from_cache: bool = field(default=False, compare=False)
    placement: Placement | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.placement is None:
            self.placement = placement_of(self.method, self.fitted)

    @property
    def axis_label(self) -> str:
        return MAP_METHODS[self.method].axis_label

    @property
    def projector(self) -> Projector:
        if callable(self.fitted):  # estimators are not callable: this is the restore of a cached map
            self.fitted = self.fitted()
        return self.fitted

    def place(self, X: np.ndarray) -> np.ndarray:
        """Coordinates (n, d) of new points (n, C); the same point lands on the same spot in any batch."""
        return self.placement.place(np.asarray(X, np.float32).reshape(-1, self.reference.X.shape[1]))


def placement_of(method: str, projector: Projector) -> Placement:
    """The arrays of a fitted projector that place new points (the same arithmetic as its `transform`)."""
    if MAP_METHODS[method].neighbour_placed:
        return Placement.neighbours(projector.X_ref_, projector.embedding_, projector.placement_k)
    return Placement.linear(projector.mean_, projector.components_)


@dataclass(frozen=True)
class _MapSpec:
    """What a map is fitted with: the method, its dimensions and seed, and params (the projector's constructor
    parameters, plus 'label', the reference label that axes and the story map are fitted on)."""

    method: str
    n_components: int
    random_state: int
    params: dict[str, Any]

    def key_fields(self) -> dict[str, Any]:
        return {"method": self.method, "n_components": self.n_components, "random_state": self.random_state,
                "params": self.params}

    def projector_params(self) -> dict[str, Any]:
        """The constructor parameters, the same for a fit and for a restore from the cache."""
        return {"n_components": self.n_components, "random_state": self.random_state,
                **{k: v for k, v in self.params.items() if k != "label"}}


def map_key(ckpt: Checkpoint, ref: ReferenceSet, *, method: str, n_components: int, random_state: int,
            params: dict[str, Any]) -> str:
    """The cache key of a map: the checkpoint's content hash, which points, the projector's settings and the
    version of its fit (a map cached by code that fitted it differently is refitted)."""
    return _key(ckpt.content_hash, ref.name, ref.digest, method=method, n_components=n_components,
                random_state=random_state, params=params)


def _key(content_hash: str, reference: str, digest: str, *, method: str, n_components: int, random_state: int,
         params: dict[str, Any]) -> str:
    spec = {"checkpoint": content_hash, "reference": reference, "digest": digest, "method": method,
            "n_components": n_components, "random_state": random_state, "params": params,
            "version": MAP_METHODS[method].fit_version}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


def remove_stale_maps(ckpt: Checkpoint, folder: Path) -> int:
    """Delete the map files in `folder` this code never reads: another model's, and maps fitted by an older version
    of their method's fit (their name is no longer their key). Returns how many were deleted. Only files that are
    ours by name and content (a map file's metadata) are deleted: an unreadable file, and every other file, is left
    alone."""
    removed = 0
    for path in sorted(Path(folder).glob("*.safetensors")):
        meta = own_map_metadata(path)
        if meta is None:
            continue
        try:
            key = _key(ckpt.content_hash, meta["reference"], meta["digest"], method=meta["method"],
                       n_components=int(meta["n_components"]), random_state=0, params=parse_json(meta["params"]))
            current = meta["checkpoint"] == ckpt.content_hash and path.stem == key == meta["key"]
        except (ValueError, KeyError, TypeError):
            current = False
        if not current:
            removed += remove_own_file(path)
    return removed


def own_map_metadata(path: Path) -> dict[str, str] | None:
    """A map file's metadata if `path` is one of ours (24-hex name, readable, our fields), else None."""
    if not re.fullmatch(r"[0-9a-f]{24}", path.stem):
        return None
    try:
        meta = safetensors_metadata(path)
    except (SafetensorError, ValueError, OSError):
        return None
    return meta if {"key", "checkpoint", "method", "reference", "digest"} <= meta.keys() else None


def default_cache_dir(ckpt: Checkpoint) -> Path:
    """Where a checkpoint's computed maps and caches are written unless a folder is named: its own folder in the
    user cache (one per checkpoint content), never the checkpoint's folder, which may be the install."""
    return user_cache_dir() / ckpt.content_hash


def cache_dirs(ckpt: Checkpoint, cache_dir: Path | None = None) -> list[Path]:
    """Where a cached file of this checkpoint is looked for, in order: its own maps/ (the shipped maps), then the
    folder it is written to (`cache_dir`, else `default_cache_dir`)."""
    own = [ckpt.path / MAPS_DIR] if ckpt.path is not None else []
    write = Path(cache_dir) if cache_dir is not None else default_cache_dir(ckpt)
    return own + [write] if write not in own else own


def find_cached(ckpt: Checkpoint, name: str, cache_dir: Path | None = None) -> Path:
    """The first cached copy of file `name` (see `cache_dirs`); if none exists, where it would be written."""
    dirs = cache_dirs(ckpt, cache_dir)
    return next((d / name for d in dirs if (d / name).exists()), dirs[-1] / name)


def write_path(ckpt: Checkpoint, name: str, cache_dir: Path | None = None) -> Path:
    """Where a newly computed cache file `name` is written."""
    return (Path(cache_dir) if cache_dir is not None else default_cache_dir(ckpt)) / name


def cached_map(ckpt: Checkpoint, ref: ReferenceSet, method: str = "pca", n_components: int = 2, *,
               params: dict[str, Any] | None = None, cache_dir: Path | None = None) -> FittedMap | None:
    """The map from the disk cache if a valid one is there, else None (nothing is fitted)."""
    spec = _MapSpec(method, n_components, 0, dict(params or {}))
    key = map_key(ckpt, ref, **spec.key_fields())
    return _load(find_cached(ckpt, f"{key}.safetensors", cache_dir), key=key, ckpt=ckpt, ref=ref, spec=spec)


def get_map(ckpt: Checkpoint, ref: ReferenceSet, method: str = "pca", n_components: int = 2, *,
            random_state: int = 0, params: dict[str, Any] | None = None, cache_dir: Path | None = None,
            progress: Progress | None = None) -> FittedMap:
    """The map from the disk cache if a valid one is there, else fitted now (reporting progress) and cached."""
    spec = _MapSpec(method, n_components, random_state, dict(params or {}))
    key = map_key(ckpt, ref, **spec.key_fields())
    cached = _load(find_cached(ckpt, f"{key}.safetensors", cache_dir), key=key, ckpt=ckpt, ref=ref, spec=spec)
    if cached is not None:
        return cached
    fitted = fit_map(ref, method, n_components, random_state=random_state, params=spec.params, progress=progress)
    _keep(fitted, key=key, path=write_path(ckpt, f"{key}.safetensors", cache_dir), ckpt=ckpt)
    return fitted


def _keep(fitted: FittedMap, *, key: str, path: Path, ckpt: Checkpoint) -> None:
    """Name a fitted map by its key and cache it (a place that cannot be written: the map still works, it is just
    not cached)."""
    fitted.key = key
    try:
        _save(path, fitted, ckpt)
    except (OSError, InputError):
        pass


def fit_map(ref: ReferenceSet, method: str, n_components: int = 2, *, random_state: int = 0,
            params: dict[str, Any] | None = None, progress: Progress | None = None) -> FittedMap:
    """Fit a projector on a reference set and measure how faithful the map is."""
    from llmcore.maps.projection import fit_projection

    params = dict(params or {})
    spec = _MapSpec(method, n_components, random_state, params)
    labels = ref.labels[params.get("label", "context")] if method in ("axes", "lda") else None
    coords, proj, quality = fit_projection(ref.X, labels, method, n_components, random_state=random_state,
                                           params=_without_random_state(spec), progress=progress)
    return FittedMap(ref, method, n_components, params, coords, proj, quality)


def _without_random_state(spec: _MapSpec) -> dict[str, Any]:
    return {k: v for k, v in spec.projector_params().items() if k not in ("n_components", "random_state")}


# A linear projector's fitted arrays by their names in a cached map file. A placement projector's state is the
# reference points (the reference set itself) and the coordinates ("coords"), which every map file holds.
_FILE_NAMES = {"mean_": "mean", "components_": "components", "explained_variance_ratio_": "evr"}


def _save(path: Path, m: FittedMap, ckpt: Checkpoint) -> None:
    tensors = {"coords": m.coords.astype(np.float32)}
    if not MAP_METHODS[m.method].neighbour_placed:
        tensors.update({_FILE_NAMES[k]: v for k, v in m.projector.fitted_state().items()})
    meta = {"key": m.key, "checkpoint": ckpt.content_hash, "reference": m.reference.name,
            "digest": m.reference.digest, "method": m.method, "n_components": str(m.n_components),
            "params": json.dumps(m.params, sort_keys=True), "quality": json.dumps(m.quality.to_dict()),
            "sha": tensors_sha(tensors)}
    atomic_write(path, np_save(tensors, metadata=meta))


def _load(path: Path, *, key: str, ckpt: Checkpoint, ref: ReferenceSet, spec: _MapSpec) -> FittedMap | None:
    """A cached map, or None if it is missing, corrupt, stale or from another checkpoint (never trusted blindly)."""
    method, n_components = spec.method, spec.n_components
    if not path.exists():
        return None
    try:
        tensors, meta = read_safetensors(path)
    except (SafetensorError, ValueError, OSError):
        return None
    coords = tensors.get("coords")
    expected = {"key": key, "checkpoint": ckpt.content_hash, "reference": ref.name, "digest": ref.digest,
                "method": method}
    if (coords is None or any(meta.get(k) != v for k, v in expected.items())
            or coords.shape != (len(ref.X), n_components)
            or tensors_sha(tensors) != meta.get("sha")):
        return None
    try:
        q = parse_json(meta["quality"])  # nesting checked: the file may come from anywhere
        quality = MapQuality(**q)
        placement = _placement(spec, tensors, ref.X)
    except (KeyError, TypeError, ValueError):
        return None
    return FittedMap(ref, method, n_components, spec.params, coords, lambda: _restore_projector(spec, tensors, ref.X),
                     quality, key, from_cache=True, placement=placement)


def tensors_sha(tensors: dict[str, np.ndarray]) -> str:
    """One hash over every array of a cached map, so damage anywhere in the file is noticed."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return h.hexdigest()


def _placement(spec: _MapSpec, tensors: dict[str, np.ndarray], X: np.ndarray) -> Placement:
    """What places new points on a cached map, from its file's arrays (ValueError when they do not make one, as
    `_restore_projector` would raise: its parameters are checked the same way)."""
    if MAP_METHODS[spec.method].neighbour_placed:
        return Placement.neighbours(X, tensors["coords"], spec.params.get("placement_k", PLACEMENT_K))
    placement = Placement.linear(tensors["mean"], tensors["components"])
    if placement.components.shape != (spec.n_components, X.shape[1]):
        raise ValueError(f"components {placement.components.shape} do not map {X.shape[1]} features to "
                         f"{spec.n_components} dimensions")
    return placement


def _restore_projector(spec: _MapSpec, tensors: dict[str, np.ndarray], X: np.ndarray) -> Projector:
    """The fitted projector of a cached map, through its constructor and `Projector.restore` (ValueError when
    the file's arrays do not make one): a linear map from its stored arrays, a placement from the reference
    points and the stored coordinates."""
    from llmcore.maps.projection import NeighbourPlacement, projector_class

    cls = projector_class(spec.method)
    if issubclass(cls, NeighbourPlacement):
        state = {"X_ref_": X, "embedding_": tensors["coords"]}
    else:
        stored = {v: k for k, v in _FILE_NAMES.items()}
        state = {stored[name]: value for name, value in tensors.items() if name in stored}
    return cls.restore(state, **spec.projector_params())


STATES_FILE = "reference_states.safetensors"  # a cache (not shipped: 18 MB); rebuilt from the model when missing


def _save_states(path: Path, ref: ReferenceStates, ckpt: Checkpoint) -> None:
    texts = {k: "\x1f".join(map(str, getattr(ref, k))) for k in ("words", "next_words", "contexts", "next_contexts")}
    states = np.ascontiguousarray(ref.states)  # safetensors writes the raw buffer: it must be in C order
    meta = {"checkpoint": ckpt.content_hash, "layers": json.dumps(ref.layer_names), **texts,
            "sha": tensors_sha({"states": states})}
    atomic_write(path, np_save({"states": states}, metadata=meta))


def _load_states(path: Path, ckpt: Checkpoint) -> ReferenceStates | None:
    """The cached reference states, or None if missing, damaged or another model's."""
    try:
        tensors, meta = read_safetensors(path)
        if meta.get("checkpoint") != ckpt.content_hash or tensors_sha(tensors) != meta.get("sha"):
            return None
        texts = {k: np.array(meta[k].split("\x1f"), object) for k in ("words", "next_words", "contexts",
                                                                        "next_contexts")}
        return ReferenceStates(tensors["states"], **texts, layer_names=parse_json(meta["layers"]))
    except (OSError, SafetensorError, ValueError, KeyError):
        return None


class MapBook:
    """The reference sets of one checkpoint and their maps, computed lazily and shared."""

    def __init__(self, ckpt: Checkpoint, cache_dir: Path | None = None) -> None:
        self.ckpt, self.cache_dir = ckpt, cache_dir
        self._states: ReferenceStates | None = None
        self._refs: dict[str, ReferenceSet] = {}

    @property
    def states(self) -> ReferenceStates:
        """The reference states: from the on-disk copy next to the maps when it is this model's, else computed
        (seconds) and written there, so a later start of the dashboard skips the model run."""
        if self._states is None:
            self._states = _load_states(find_cached(self.ckpt, STATES_FILE, self.cache_dir), self.ckpt)
            if self._states is None:
                self._states = reference_states(self.ckpt)
                try:
                    _save_states(write_path(self.ckpt, STATES_FILE, self.cache_dir), self._states, self.ckpt)
                except (OSError, InputError):  # a place that cannot be written: computed again next time
                    pass
        return self._states

    @property
    def layer_names(self) -> list[str]:
        return depth_labels(self.ckpt.model_config.n_layer)

    def reference(self, name: str) -> ReferenceSet:
        """'words' or 'context:<layer>'."""
        if name not in self._refs:
            if name == "words":
                self._refs[name] = word_reference(self.ckpt)
            elif name.startswith("context:") and name[8:] in self.layer_names:
                self._refs[name] = context_reference(self.states, name[8:])
            else:
                raise ValueError(f"unknown reference set {name!r}; use 'words' or 'context:<layer>' with a layer "
                                 f"from {self.layer_names}")
        return self._refs[name]

    def get(self, name: str, method: str = "pca", n_components: int = 2, *, params: dict | None = None,
            progress: Progress | None = None) -> FittedMap:
        """The map of reference set `name` ('words' or 'context:<layer>'): from the cache, else fitted now."""
        return get_map(self.ckpt, self.reference(name), method, n_components, params=params,
                       cache_dir=self.cache_dir, progress=progress)

    def cached(self, name: str, method: str = "pca", n_components: int = 2, *,
               params: dict | None = None) -> FittedMap | None:
        """The map if it is already on disk, else None: nothing is fitted."""
        return cached_map(self.ckpt, self.reference(name), method, n_components, params=params,
                          cache_dir=self.cache_dir)

    def best_view(self, methods: Sequence[str] = method_names(linear=True, from_states=True),
                  progress: Progress | None = None, remeasure: bool = False) -> BestView:
        """The measured default view (llmcore.maps.bestview.BestView): stored with the maps, else measured now on the
        given methods' maps and stored."""
        from llmcore.maps.bestview import load_best_view, measure_best_view, save_best_view

        view = None if remeasure else next(filter(None, (load_best_view(self.ckpt, d)
                                                          for d in cache_dirs(self.ckpt, self.cache_dir))), None)
        if view is None:
            view = measure_best_view(self, list(methods), progress)
            try:
                save_best_view(view, self.cache_dir if self.cache_dir is not None else default_cache_dir(self.ckpt))
            except (OSError, InputError):  # a place that cannot be written: measured again next time
                if self.cache_dir is not None:
                    raise  # a folder the user named: say so
        return view

    def precompute(self, methods: Sequence[str] = method_names(from_states=True), dims: Sequence[int] = (2, 3),
                   progress: Progress | None = None,
                   workers: int = 1) -> int:
        """Fit (or load) every standard map; returns how many were fitted now. The linear maps (PCA, the story
        map) are fitted here; UMAP and t-SNE maps in `workers` processes when more than 1, each fit the same map
        as a serial one (same seed, one BLAS thread), reported as it ends."""
        todo = []
        for name in ["words"] + [f"context:{layer}" for layer in self.layer_names]:
            for method in methods:
                for d in dims:
                    if self.cached(name, method, d) is None:
                        todo.append((name, method, d))
        _say(progress, f"{len(todo)} of {len(methods) * len(dims) * (len(self.layer_names) + 1)} maps to fit, "
                       "the rest are cached")
        slow = [t for t in todo if MAP_METHODS[t[1]].neighbour_placed] if workers > 1 else []
        for i, (name, method, d) in enumerate([t for t in todo if t not in slow], 1):
            _say(progress, f"{name} {method} {d}D ({i} of {len(todo) - len(slow)} fitted here)")
            self.get(name, method, d, progress=progress)
        if slow:
            self._fit_in_processes(slow, workers, progress)
        return len(todo)

    def _fit_in_processes(self, todo: list[tuple[str, str, int]], workers: int, progress: Progress | None) -> None:
        """Fit UMAP and t-SNE maps in worker processes (started fresh: no torch threads forked), slowest first, and
        cache each as it arrives."""
        import multiprocessing
        import time
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from llmcore.maps.projection import fit_projection

        order = sorted(todo, key=lambda t: (-MAP_METHODS[t[1]].fit_cost, -t[2], t[0]))  # slowest kind first
        _say(progress, f"fitting {len(order)} UMAP and t-SNE maps in {workers} processes")
        t0 = time.perf_counter()
        refs = {name: self.reference(name).X for name, _, _ in order}
        with ProcessPoolExecutor(min(workers, len(order)), mp_context=multiprocessing.get_context("spawn")) as pool:
            with _workers_main():
                jobs = {pool.submit(fit_projection, refs[name], None, method, d): (name, method, d)
                        for name, method, d in order}
            for done, job in enumerate(as_completed(jobs), 1):
                name, method, d = jobs[job]
                coords, proj, quality = job.result()
                ref = self.reference(name)
                spec = _MapSpec(method, d, 0, {})
                key = map_key(self.ckpt, ref, **spec.key_fields())
                _keep(FittedMap(ref, method, d, {}, coords, proj, quality), key=key, ckpt=self.ckpt,
                      path=write_path(self.ckpt, f"{key}.safetensors", self.cache_dir))
                _say(progress, f"{name} {method} {d}D fitted ({done} of {len(order)}, {time.perf_counter() - t0:.0f}"
                               f" s into the parallel fits; trustworthiness {quality.trustworthiness:.3f})")


@contextmanager
def _workers_main() -> Iterator[None]:
    """A spawned worker first runs its parent's `__main__` again: the `llmcore` script, but under Streamlit's AppTest
    a page script that fails outside its page. The workers only need llmcore.maps.projection (no torch), so while they
    are started it stands in as `__main__`."""
    import llmcore.maps.projection

    main = sys.modules["__main__"]
    sys.modules["__main__"] = llmcore.maps.projection
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def nearest_neighbours(ref: ReferenceSet, index: int, k: int = 10, metric: str = "cosine") -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """The k points nearest to point `index` in the original space: (indices, distances), nearest first."""
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    X = ref.X.astype(np.float64)
    if metric == "cosine":
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        d = 1.0 - Xn @ Xn[index]
    else:
        d = np.linalg.norm(X - X[index], axis=1)
    d[index] = np.inf
    order = np.argsort(d, kind="stable")[: min(k, len(X) - 1)]
    return order, d[order]
