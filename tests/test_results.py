"""Page results kept beside the maps (llmcore.maps.results): what is read back is what was computed, a damaged,
foreign or ill-typed file is ignored, and the bundled model ships its results for its current weights."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from safetensors.numpy import save as np_save

from llmcore.maps import results
from llmcore.maps.callbacks import clear_map_cache
from llmcore.maps.store import tensors_sha
from llmcore.model.checkpoint import load_checkpoint


def _same(a, b) -> None:
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":  # float sums differ in their last bits with BLAS threads
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    elif isinstance(a, np.ndarray):
        assert a.shape == b.shape and (a == b).all()
    elif dataclasses.is_dataclass(a):
        assert type(a) is type(b)
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name))
    else:
        assert a == b


@pytest.fixture(scope="module")
def tiny(tiny_ckpt_dir):
    return load_checkpoint(tiny_ckpt_dir)


@pytest.fixture(scope="module")
def kept(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("kept")
    results.keep_model_results(tiny, folder)
    return folder


@pytest.mark.parametrize("name", list(results.MODEL_RESULTS))
def test_a_kept_result_reads_back_as_computed(tiny, kept, name):
    key = results.result_key(tiny, name, {})
    back = results.load_result(results.result_path(kept, key), key)
    assert back is not None, f"{name} was not kept"
    _same(results.MODEL_RESULTS[name](tiny), back)


def test_a_result_is_read_from_the_folder_not_computed(tiny, kept):
    def fail():
        raise AssertionError("computed although kept")

    assert results.kept_result(tiny, "grammar_pairs", {}, fail, cache_dir=kept)


def test_damaged_foreign_and_ill_typed_files_are_ignored(tiny, kept, tmp_path):
    key = results.result_key(tiny, "ablation", {})
    good = results.result_path(kept, key).read_bytes()
    path = tmp_path / "r.safetensors"
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one flipped bit in the arrays
    assert results.load_result(path, key) is None
    path.write_bytes(good)
    assert results.load_result(path, "another model's key") is None
    ablation = results.load_result(path, key)
    fields = {"names": ablation.names, "baseline": "high", "n_prompts": ablation.n_prompts}  # a float field as text
    tensors = {"zero": ablation.zero, "mean": ablation.mean}
    meta = {"key": key, "result": json.dumps({"kind": "Ablation", "fields": fields}), "sha": tensors_sha(tensors)}
    path.write_bytes(np_save(tensors, metadata=meta))
    assert results.load_result(path, key) is None
    meta["result"] = json.dumps({"kind": "os.system", "fields": {}})  # only the result kinds are rebuilt
    path.write_bytes(np_save(tensors, metadata=meta))
    assert results.load_result(path, key) is None


def test_another_model_does_not_read_these_results(tiny, ckpt):
    assert results.result_key(tiny, "ablation", {}) != results.result_key(ckpt, "ablation", {})
    assert results.result_key(ckpt, "ablation", {}) != results.result_key(ckpt, "ablation", {"verb": "eats"})


def test_clearing_the_map_cache_removes_kept_results_and_only_them(tiny, tmp_path):
    maps = tmp_path / "maps"
    key = results.result_key(tiny, "grammar_pairs", {})
    results.save_result(results.result_path(maps, key), key, [["a", "b"]])
    other = maps / "results" / "notes.txt"
    other.write_text("not ours")
    assert clear_map_cache(tmp_path) == 1
    assert other.exists() and not results.result_path(maps, key).exists()


def test_the_bundled_model_ships_its_results(ckpt):
    """`llmcore maps` keeps them in checkpoints/default/maps/results (run it after retraining the bundled model)."""
    for name in results.MODEL_RESULTS:
        key = results.result_key(ckpt, name, {})
        assert results.load_result(results.result_path(ckpt.path / "maps", key), key) is not None, name
    key = results.result_key(ckpt, "replay_naive", {})  # a cheap one, recomputed
    _same(results.MODEL_RESULTS["replay_naive"](ckpt), results.load_result(results.result_path(ckpt.path / "maps",
                                                                                               key), key))
