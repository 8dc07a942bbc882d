"""Maps: shipped and cached, faithful, deterministic placement, and caches that are never trusted blindly."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llmcore.maps.projection import projector_class
from llmcore.maps.store import MapBook, get_map, nearest_neighbours
from llmcore.model.checkpoint import MAPS_DIR, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent

REFERENCES = ["words", "context:embed", "context:block 1", "context:block 2", "context:block 3",
              "context:block 4", "context:final"]
# Trustworthiness floors, per kind of map (measured values are in docs/design.md).
# PCA maps are linear views of 128 dims: with World 2.0's grammar the context states spread over more directions
# (2 components keep 28-38 % of the variance), so their floor is that of the PCA word map; UMAP and t-SNE keep 0.85
FLOOR = {("words", "pca"): 0.75, ("context", "pca"): 0.75, "default": 0.85}


@pytest.fixture(scope="module")
def book(ckpt):
    return MapBook(ckpt)


def test_reference_sets(book, ckpt):
    words = book.reference("words")
    assert len(words.X) == len(ckpt.tokenizer) - 1 and {"context", "subgroup"} <= set(words.labels)
    ctx = book.reference("context:final")
    assert len(ctx.X) >= 5000 and {"context", "next_context", "next_word"} <= set(ctx.labels)
    with pytest.raises(ValueError, match="unknown reference set"):
        book.reference("context:block 9")


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("method", ["pca", "umap", "tsne"])
@pytest.mark.parametrize("dims", [2, 3])
def test_shipped_maps_load_without_fitting_and_are_faithful(book, name, method, dims):
    t0 = time.perf_counter()
    m = book.get(name, method, dims, progress=lambda msg: pytest.fail(f"a shipped map was refitted: {msg}"))
    assert m.from_cache and time.perf_counter() - t0 < 5
    assert m.coords.dtype == np.float32 and m.coords.shape == (len(book.reference(name).X), dims)
    floor = FLOOR.get(("words" if name == "words" else "context", method), FLOOR["default"])
    assert m.quality.trustworthiness >= floor, (name, method, dims, m.quality)
    if method == "pca":
        assert 0 < m.quality.explained_variance < 1


@pytest.mark.parametrize("method", ["pca", "umap", "tsne"])
def test_placement_is_deterministic(book, method):
    m = book.get("context:block 2", method, 2)
    X = book.reference("context:block 2").X
    new = X[:20] + 0.01
    alone = np.concatenate([m.place(new[i]) for i in range(20)])
    np.testing.assert_array_equal(alone, m.place(new))
    np.testing.assert_array_equal(m.place(np.concatenate([new, X[500:900]]))[:20], m.place(new))


def test_cache_is_checked_and_recomputed(tmp_path, tiny_ckpt_dir):
    folder = tmp_path / "ck"
    shutil.copytree(tiny_ckpt_dir, folder)
    shutil.rmtree(folder / MAPS_DIR, ignore_errors=True)  # training stored its Watch training maps there
    cache = tmp_path / "cache"  # a folder of this test's own (the user cache is shared by every test)
    ck = load_checkpoint(folder)
    ref = MapBook(ck).reference("context:final")
    first = get_map(ck, ref, "pca", 2, cache_dir=cache)
    assert not first.from_cache and (cache / f"{first.key}.safetensors").is_file()
    assert not (folder / MAPS_DIR).exists()  # nothing written into the checkpoint's folder
    assert get_map(ck, ref, "pca", 2, cache_dir=cache).from_cache
    path = cache / f"{first.key}.safetensors"
    data = bytearray(path.read_bytes())
    data[-8:] = b"\x00" * 8  # corrupt the coordinates
    path.write_bytes(bytes(data))
    again = get_map(ck, ref, "pca", 2, cache_dir=cache)
    assert not again.from_cache
    np.testing.assert_allclose(again.coords, first.coords, atol=1e-5)
    ck.content_hash = "another-model"  # a map cached for other weights is never used
    assert not get_map(ck, ref, "pca", 2, cache_dir=cache).from_cache


@pytest.mark.parametrize("method", ["pca", "umap", "tsne", "lda"])
@pytest.mark.parametrize("dims", [2, 3])
def test_shipped_maps_restore_projectors_that_reproduce_the_stored_coordinates(book, method, dims):
    """A cached map's projector is rebuilt by its constructor and Projector.restore (no refit): the shipped word
    maps place their own reference points on the stored coordinates (words are distinct points)."""
    m = book.get("words", method, dims, progress=lambda msg: pytest.fail(f"a shipped map was refitted: {msg}"))
    assert m.from_cache and type(m.projector) is projector_class(method)
    assert m.projector.get_params()["n_components"] == dims
    scale = float(np.ptp(m.coords, axis=0).max())
    np.testing.assert_allclose(m.place(m.reference.X), m.coords, atol=1e-5 * scale)
    new = m.reference.X[:7] + 0.01  # points that are not reference points: NumPy placement = the estimator's
    np.testing.assert_array_equal(m.place(new), m.projector.transform(new))


def test_a_cached_map_places_points_without_scikit_learn():
    """Reading a map from the cache and placing points needs NumPy only (scikit-learn costs a second of a cold
    start); the estimator is restored when asked for."""
    code = ("import sys, numpy as np\n"
            "from llmcore.model.checkpoint import load_checkpoint\n"
            "from llmcore.maps.store import MapBook\n"
            "book = MapBook(load_checkpoint())\n"
            "m = book.get('words', 'tsne', 2, progress=lambda s: sys.exit('refitted'))\n"
            "assert m.place(m.reference.X[:3] + 0.01).shape == (3, 2)\n"
            "assert not [k for k in sys.modules if k.startswith('sklearn')], 'scikit-learn was imported'\n"
            "m.projector\n"
            "assert 'sklearn' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("method", ["pca", "lda"])
def test_shipped_linear_context_maps_restore_to_the_stored_coordinates(book, method):
    m = book.get("context:final", method, 2, progress=lambda msg: pytest.fail(f"refitted: {msg}"))
    scale = float(np.ptp(m.coords, axis=0).max())
    np.testing.assert_allclose(m.place(m.reference.X), m.coords, atol=1e-4 * scale)  # states: this machine's bits


def test_a_cached_map_whose_arrays_do_not_fit_together_is_refitted(tmp_path, tiny_ckpt_dir):
    """A file with a valid checksum but a projector that cannot be rebuilt (components of the wrong shape) is
    refused by Projector.restore, and the map is fitted again."""
    from safetensors.numpy import save as np_save

    from llmcore.inputs import read_safetensors
    from llmcore.maps.store import tensors_sha

    shutil.copytree(tiny_ckpt_dir, tmp_path / "ck")
    ck = load_checkpoint(tmp_path / "ck")
    ref = MapBook(ck).reference("words")
    first = get_map(ck, ref, "pca", 2, cache_dir=tmp_path / "maps")
    path = tmp_path / "maps" / f"{first.key}.safetensors"
    tensors, meta = read_safetensors(path)
    tensors["components"] = np.ascontiguousarray(tensors["components"][:, :-1])
    path.write_bytes(np_save(tensors, metadata={**meta, "sha": tensors_sha(tensors)}))
    again = get_map(ck, ref, "pca", 2, cache_dir=tmp_path / "maps")
    assert not again.from_cache and again.projector.components_.shape == first.projector.components_.shape
    assert get_map(ck, ref, "pca", 2, cache_dir=tmp_path / "maps").from_cache  # the refit was cached again


def test_nearest_neighbours_in_the_original_space(book):
    ref = book.reference("words")
    words = list(ref.labels["word"])
    idx, dist = nearest_neighbours(ref, words.index("cat"), 5, "cosine")
    assert words.index("cat") not in idx and np.all(np.diff(dist) >= 0)
    assert sum(ref.labels["context"][i] == "animals" for i in idx) >= 4
    e_idx, _ = nearest_neighbours(ref, words.index("cat"), 5, "euclidean")
    assert len(e_idx) == 5
    with pytest.raises(ValueError, match="metric"):
        nearest_neighbours(ref, 0, 5, "manhattan")


@pytest.mark.parametrize("name", REFERENCES)
def test_shipped_story_maps_load_without_fitting(book, name):
    for dims in (2, 3):
        m = book.get(name, "lda", dims, progress=lambda msg: pytest.fail(f"a shipped map was refitted: {msg}"))
        assert m.from_cache and m.coords.shape == (len(book.reference(name).X), dims)
        X = book.reference(name).X[:5]
        np.testing.assert_allclose(m.place(X), m.coords[:5], atol=1e-4)  # linear: placement is the map itself
        assert 0.5 < m.quality.trustworthiness <= 1


def test_the_default_view_is_measured_and_shipped(book, ckpt):
    """The shipped best view belongs to this model, is the highest score, and covers every map method."""
    view = book.best_view(progress=lambda msg: pytest.fail(f"the shipped best view was measured again: {msg}"))
    assert view.content_hash == ckpt.content_hash and view.scores[f"{view.method}@{view.layer}"] == view.score
    assert view.score == max(view.scores.values()) and view.n_states > 20
    assert {k.split("@")[0] for k in view.scores} >= {"pca", "lda", "umap", "tsne"}


def test_reference_states_are_cached_with_the_maps_never_in_the_checkpoint(tmp_path, tiny_ckpt_dir):
    from llmcore.analysis.reference import reference_states
    from llmcore.maps.store import STATES_FILE

    shutil.copytree(tiny_ckpt_dir, tmp_path / "ck")
    ck, cache = load_checkpoint(tmp_path / "ck"), tmp_path / "cache"
    first = MapBook(ck, cache_dir=cache).states
    path = cache / STATES_FILE
    assert path.is_file() and not (tmp_path / "ck" / MAPS_DIR / STATES_FILE).exists()
    again = MapBook(ck, cache_dir=cache).states
    fresh = reference_states(ck)
    np.testing.assert_array_equal(again.states, fresh.states)
    assert list(again.next_contexts) == list(fresh.next_contexts) and again.layer_names == first.layer_names
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # damage: the copy is not used, the states are computed again
    path.write_bytes(bytes(raw))
    np.testing.assert_array_equal(MapBook(ck, cache_dir=cache).states.states, fresh.states)


@pytest.mark.slow
def test_the_parallel_refit_caches_the_maps_a_serial_fit_makes(tmp_path, tiny_ckpt_dir):
    """`precompute` with 2 worker processes caches, for every reference set, the same UMAP and t-SNE maps (to the
    bit) as fitting them one by one in this process, and reports each map as it is fitted."""
    from llmcore.maps.store import fit_map

    shutil.copytree(tiny_ckpt_dir, tmp_path / "ck")
    book = MapBook(load_checkpoint(tmp_path / "ck"), cache_dir=tmp_path / "maps")
    said = []
    names = ["words"] + [f"context:{layer}" for layer in book.layer_names]
    assert book.precompute(("umap", "tsne"), (2,), progress=said.append, workers=2) == 2 * len(names)
    assert sum(" fitted (" in msg for msg in said) == 2 * len(names)
    for name, method in (("words", "umap"), ("context:final", "tsne")):
        cached = book.cached(name, method, 2)
        assert cached is not None and cached.from_cache
        np.testing.assert_array_equal(cached.coords, fit_map(book.reference(name), method, 2).coords)
    assert book.precompute(("umap", "tsne"), (2,), workers=2) == 0  # all cached now


def test_stale_map_files_are_removed_and_current_ones_kept(tmp_path, tiny_ckpt_dir):
    from llmcore.maps.store import remove_stale_maps

    shutil.copytree(tiny_ckpt_dir, tmp_path / "ck")
    ck = load_checkpoint(tmp_path / "ck")
    folder = tmp_path / "maps"
    current = get_map(ck, MapBook(ck).reference("words"), "pca", 2, cache_dir=folder)
    path = folder / f"{current.key}.safetensors"
    shutil.copy(path, folder / f"{'0' * 24}.safetensors")  # a file whose name is not its key (older code's)
    (folder / f"{'1' * 24}.safetensors").write_bytes(b"not a map")  # not ours by content: never deleted
    (folder / "watch_maps.safetensors").write_bytes(b"left alone")
    assert remove_stale_maps(ck, folder) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted([path.name, f"{'1' * 24}.safetensors",
                                                                "watch_maps.safetensors"])
    ck.content_hash = "another-model"
    assert remove_stale_maps(ck, folder) == 1 and not path.exists()


def test_map_methods_are_one_registry_that_the_projectors_agree_with():
    """Every method is named once (llmcore.maps.methods); each projector class points to its entry, and the
    capabilities say what the class is: neighbour-placed methods place by neighbours, linear ones by projection."""
    from llmcore.maps.methods import MAP_METHODS, map_method, method_names
    from llmcore.maps.projection import PROJECTORS, NeighbourPlacement, make_projector

    assert set(PROJECTORS) == set(MAP_METHODS) and all(cls.method.name == n for n, cls in PROJECTORS.items())
    for name, m in MAP_METHODS.items():
        cls = PROJECTORS[name]
        assert m.neighbour_placed == issubclass(cls, NeighbourPlacement) == (not m.linear)
        assert m.needs_labels == cls._fit_needs_y
    assert set(method_names(neighbour_placed=True)) == {"umap", "tsne"} and "axes" not in method_names(from_states=True)
    assert method_names() == tuple(MAP_METHODS)
    with pytest.raises(ValueError, match="unknown projection method 'isomap'"):
        make_projector("isomap")
    with pytest.raises(ValueError, match="use one of"):
        map_method("isomap")
    with pytest.raises(TypeError, match="no map capability"):
        method_names(fast=True)
