"""The map methods, named once, with what each can do (scikit-learn's estimator tags, as plain data): whether a map
is linear or places new points among reference neighbours, whether its fit needs labels, whether its first fit pays
numba's JIT, whether it is learned from the states alone, and its fit version. Pure Python: the map store, the pages
and the CLI read it without importing scikit-learn; each projector class in llmcore.maps.projection points to its
entry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class MapMethod:
    name: str  # the key in files, URLs and flags
    title: str  # what a page calls it
    axis_label: str  # the axes' prefix: "PC" 1, "UMAP" 2
    linear: bool  # a linear map: new points are placed by its own projection
    neighbour_placed: bool  # no out-of-sample map of its own: new points are placed among reference neighbours
    needs_labels: bool  # its fit needs labels (the story map) or axes (custom axes)
    needs_numba: bool  # its first fit in a process pays numba's JIT (8-25 s)
    from_states: bool  # learned from the points alone (custom axes are given by the user)
    fit_cost: int  # fitting cost rank, cheapest 0: the slowest fits start first
    fit_version: int  # raised when the same parameters fit a different map, so that older cached maps are refitted


MAP_METHODS: dict[str, MapMethod] = {m.name: m for m in (
    MapMethod(name="lda", title="Story map (LDA)", axis_label="LD", linear=True, neighbour_placed=False,
              needs_labels=True, needs_numba=False, from_states=True, fit_cost=0, fit_version=1),
    MapMethod(name="pca", title="PCA", axis_label="PC", linear=True, neighbour_placed=False, needs_labels=False,
              needs_numba=False, from_states=True, fit_cost=0, fit_version=1),
    # 1: umap-learn's own (approximate, NN-descent) neighbours; 2: exact neighbours
    MapMethod(name="umap", title="UMAP", axis_label="UMAP", linear=False, neighbour_placed=True, needs_labels=False,
              needs_numba=True, from_states=True, fit_cost=1, fit_version=2),
    # 1: every point, FFT gradient in 2D; 2: at most 2,000 points (never shipped); 3: fit_points
    MapMethod(name="tsne", title="t-SNE", axis_label="t-SNE", linear=False, neighbour_placed=True,
              needs_labels=False, needs_numba=False, from_states=True, fit_cost=2, fit_version=3),
    MapMethod(name="axes", title="Custom axes", axis_label="axis", linear=True, neighbour_placed=False,
              needs_labels=True, needs_numba=False, from_states=False, fit_cost=0, fit_version=1),
)}


def method_names(**capabilities: bool) -> tuple[str, ...]:
    """The methods whose capabilities match, in the registry's order: method_names(neighbour_placed=True) is
    ('umap', 'tsne'); method_names() is every method."""
    unknown = set(capabilities) - set(MapMethod.__dataclass_fields__)
    if unknown:
        raise TypeError(f"no map capability named {sorted(unknown)}")
    return tuple(n for n, m in MAP_METHODS.items() if all(getattr(m, k) == v for k, v in capabilities.items()))


def map_method(name: str) -> MapMethod:
    """A method's entry; ValueError naming the methods there are for an unknown one."""
    if name not in MAP_METHODS:
        raise ValueError(f"unknown projection method {name!r}; use one of {tuple(MAP_METHODS)}")
    return MAP_METHODS[name]
