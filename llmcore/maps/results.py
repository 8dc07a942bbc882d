"""Page results kept beside a checkpoint's maps: what every visitor of one model sees the same (the held-out
breakdown, the ablation, the counterfactual grid, the grammar a steered completion is held to, the training replay),
so that a page's first draw reads a file instead of running the model or regenerating its corpus.

One safetensors file per (result, parameters) in maps/results/: a result dataclass's arrays as tensors, its other
fields (and plain JSON results) in the metadata, with a key naming the checkpoint (weights, world, held-out pairs,
training seed and vocabulary), the result's name, its parameters and its format, and a hash of every array. A file
that does not match, is damaged, too large, or holds a field of the wrong type is ignored (the result is computed
again). Only the dataclasses named in KINDS are rebuilt from a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import save as np_save

from llmcore.files import atomic_write
from llmcore.inputs import InputError, parse_json, read_safetensors
from llmcore.maps.store import cache_dirs, default_cache_dir, tensors_sha
from llmcore.model.checkpoint import Checkpoint

FORMAT = 1
RESULTS_DIR = "results"
MAX_BYTES = 32 << 20
T = TypeVar("T")


def _kinds() -> dict[str, type]:
    """The result dataclasses a file may hold, by name (imported when a file is read or written)."""
    from llmcore.analysis.attribution import Ablation
    from llmcore.analysis.counterfactual import CounterfactualGrid
    from llmcore.analysis.evaluate import HeldOutBreakdown
    from llmcore.analysis.steering import SteeringSweep

    return {c.__name__: c for c in (Ablation, HeldOutBreakdown, CounterfactualGrid, SteeringSweep)}


# A non-array field's annotation -> whether a JSON value fits it.
_FITS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "list[list[str]]": lambda v: isinstance(v, list) and all(_FITS["list[str]"](x) for x in v),
}


def result_key(ckpt: Checkpoint, name: str, params: dict[str, Any]) -> str:
    """What a kept result depends on: the model's weights and world, its held-out pairs, vocabulary and corpus seed,
    the result's name, its parameters and this format."""
    text = json.dumps([FORMAT, name, params, ckpt.content_hash, ckpt.world.content_hash, ckpt.held_out,
                       ckpt.tokenizer.vocab, ckpt.train_config.get("corpus_seed", 0)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def result_path(folder: Path, key: str) -> Path:
    return Path(folder) / RESULTS_DIR / f"{key[:24]}.safetensors"


def kept_result(ckpt: Checkpoint, name: str, params: dict[str, Any], compute: Callable[[], T], *,
                write: bool = True, cache_dir: Path | None = None) -> T:
    """The result read from the checkpoint's maps/ or the cache folder, else `compute()` (written to `cache_dir`,
    by default the user cache, unless write is False or the folder cannot be written)."""
    key = result_key(ckpt, name, params)
    for folder in cache_dirs(ckpt, cache_dir):
        found = load_result(result_path(folder, key), key)
        if found is not None:
            return found
    value = compute()
    if write:
        try:
            save_result(result_path(cache_dir or default_cache_dir(ckpt), key), key, value)
        except (OSError, InputError):  # a cache that cannot be written: computed again after the next start
            pass
    return value


def save_result(path: Path, key: str, value: Any) -> Path:
    """Write a result dataclass of KINDS (arrays as tensors), a float array or a plain JSON value, atomically."""
    tensors: dict[str, np.ndarray] = {}
    if isinstance(value, np.ndarray):
        tensors["value"] = np.ascontiguousarray(value)
        body = json.dumps({"kind": "array"})
    elif dataclasses.is_dataclass(value):
        kind = type(value).__name__
        if _kinds().get(kind) is not type(value):
            raise TypeError(f"{kind} is not a kept result kind")
        fields = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.type == "np.ndarray" and v.dtype.kind in "OU":  # words (A, F): kept as text
                fields[f.name] = {"shape": list(v.shape), "strings": [str(x) for x in v.ravel()]}
            elif f.type == "np.ndarray":
                tensors[f.name] = np.ascontiguousarray(v)
            elif f.type in _FITS:
                fields[f.name] = v.item() if isinstance(v, np.generic) else v
            else:
                raise TypeError(f"{kind}.{f.name}: a field of type {f.type} cannot be kept")
        body = json.dumps({"kind": kind, "fields": fields})
    else:
        body = json.dumps({"kind": "json", "value": value})
    meta = {"key": key, "result": body, "sha": tensors_sha(tensors)}
    atomic_write(path, np_save(tensors, metadata=meta))
    return path


def load_result(path: Path, key: str) -> Any | None:
    """The result in `path` if it is ours, has this key and is whole, else None."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_BYTES:
            return None
        tensors, meta = read_safetensors(path)
        if meta.get("key") != key or meta.get("sha") != tensors_sha(tensors):
            return None
        body = parse_json(meta["result"])
        if body.get("kind") == "json":
            return body["value"] if not tensors else None
        if body.get("kind") == "array":
            return tensors["value"] if tensors.keys() == {"value"} and tensors["value"].dtype.kind in "f" else None
        return _rebuild(_kinds()[body["kind"]], body["fields"], tensors)
    except (OSError, SafetensorError, InputError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _rebuild(cls: type, fields: dict[str, Any], tensors: dict[str, np.ndarray]) -> Any:
    """An instance of cls from checked values: every array field a numeric tensor, every other field of its type."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.type == "np.ndarray" and f.name in fields:
            v = _words(fields[f.name])
        elif f.type == "np.ndarray":
            v = tensors[f.name]
            if v.dtype.kind not in "biuf":
                raise TypeError(f"{f.name}: not a numeric array")
        else:
            v = fields[f.name]
            if not _FITS[f.type](v):
                raise TypeError(f"{f.name}: not a {f.type}")
        values[f.name] = v
    if set(fields) | set(tensors) != set(values):
        raise ValueError("fields that the result does not have")
    return cls(**values)


def _words(value: Any) -> np.ndarray:
    """An array of words kept as {"shape": [...], "strings": [...]}, checked."""
    shape, strings = value["shape"], value["strings"]
    if not (isinstance(shape, list) and all(_FITS["int"](n) and n >= 0 for n in shape) and _FITS["list[str]"](strings)
            and int(np.prod(shape)) == len(strings)):
        raise TypeError("not an array of words")
    return np.array(strings, object).reshape(shape)


def is_kept_result(path: Path) -> bool:
    """Whether `path` is a file this module wrote (by its name and its metadata), so that it may be removed."""
    from llmcore.inputs import safetensors_metadata

    if not re.fullmatch(r"[0-9a-f]{24}", path.stem):
        return False
    try:
        return {"key", "result", "sha"} <= safetensors_metadata(path).keys()
    except (OSError, SafetensorError, InputError, ValueError):
        return False


def corpus_check(ckpt: Checkpoint) -> dict[str, Any]:
    """The exact training corpus recreated: its size, in how many sentences each held-out pair occurs in any
    form ('dogs' counts as 'dog'; should be 0) and each held-out animal at all, and every animal and food named
    together ("pairs": llmcore.world.corpus.pair_counts)."""
    from llmcore.world.corpus import pair_counts
    from llmcore.world.load import generate_corpus

    sentences = generate_corpus(ckpt.world, int(ckpt.train_config.get("corpus_seed", 0)))
    sets = [{ckpt.world.lemma(w) for w in s.split()} for s in sentences]
    counts = {f"{a} + {f}": sum(1 for s in sets if a in s and f in s) for a, f in ckpt.held_out}
    with_animal = {a: sum(1 for s in sets if a in s) for a, _ in ckpt.held_out}
    return {"sentences": len(sentences), "tokens": sum(len(s.split()) for s in sentences), "counts": counts,
            "with_animal": with_animal, "pairs": pair_counts(ckpt.world, sets)}


def _held_out(ckpt: Checkpoint) -> Any:
    from llmcore.analysis.evaluate import held_out_breakdown

    return held_out_breakdown(ckpt.model, ckpt.tokenizer, ckpt.world, ckpt.held_out)


def _ablation(ckpt: Checkpoint) -> Any:
    from llmcore.analysis.attribution import ablate

    return ablate(ckpt)


def _grid(ckpt: Checkpoint) -> Any:
    from llmcore.analysis.counterfactual import counterfactual_grid

    return counterfactual_grid(ckpt)


def _grammar(ckpt: Checkpoint) -> list[list[str]]:
    from llmcore.analysis.steering import grammar_pairs

    return sorted([a, b] for a, b in grammar_pairs(ckpt.world))


def _replay(aligned: bool) -> Callable[[Checkpoint], np.ndarray]:
    def replay(ckpt: Checkpoint) -> np.ndarray:
        from llmcore.maps.alignment import snapshot_coords

        snapshots = ckpt.snapshots()
        if len(snapshots) < 2:
            raise ValueError("fewer than two embedding snapshots to replay")
        return snapshot_coords(snapshots, 2, aligned=aligned)
    return replay


# The results that depend on the model alone (no prompt, no setting), by name: what `llmcore maps` keeps with a
# checkpoint so that the Model card, Causes and Training pages draw at once.
MODEL_RESULTS: dict[str, Callable[[Checkpoint], Any]] = {
    "corpus_counts": corpus_check, "held_out_breakdown": _held_out, "ablation": _ablation,
    "counterfactual_grid": _grid, "grammar_pairs": _grammar, "replay_aligned": _replay(True),
    "replay_naive": _replay(False)}


def model_result(ckpt: Checkpoint, name: str, *, cache_dir: Path | None = None) -> Any:
    """MODEL_RESULTS[name] of this checkpoint, kept (see kept_result)."""
    return kept_result(ckpt, name, {}, lambda: MODEL_RESULTS[name](ckpt), cache_dir=cache_dir)


def keep_model_results(ckpt: Checkpoint, folder: Path, say: Callable[[str], None] = lambda _: None) -> int:
    """Compute every MODEL_RESULTS entry this checkpoint has (one it cannot have, such as an ablation without
    held-out pairs, is said and skipped) and keep it in `folder`; returns how many were computed now."""
    done = 0
    for name, compute in MODEL_RESULTS.items():
        key = result_key(ckpt, name, {})
        path = result_path(folder, key)
        if load_result(path, key) is not None:
            continue
        try:
            save_result(path, key, compute(ckpt))
            done += 1
        except ValueError as e:
            say(f"{name}: not kept ({e})")
    return done


def remove_stale_results(ckpt: Checkpoint, folder: Path) -> int:
    """Delete the kept model results in `folder`'s results/ that this checkpoint and code never read (another
    model's, an older format's); only files that are ours by name and content. Returns how many were deleted."""
    from llmcore.files import remove_own_file
    from llmcore.inputs import safetensors_metadata

    current = {result_key(ckpt, name, {}) for name in MODEL_RESULTS}
    removed = 0
    for path in sorted((Path(folder) / RESULTS_DIR).glob("*.safetensors")):
        if is_kept_result(path) and safetensors_metadata(path)["key"] not in current:
            removed += remove_own_file(path)
    return removed
