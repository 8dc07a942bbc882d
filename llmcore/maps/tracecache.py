"""A trace kept next to a checkpoint's maps, with the candidate states of each of its word steps: the dashboard's
default prompt, so that a cold start draws its first page from files, without torch (about two seconds of a cold
start on a 2-core machine), and its step slider moves before torch has loaded.

One safetensors file per (prompt, sampling): the trace's arrays and, per word step, the top-k candidates' ids,
probabilities and states (k, L, C). Its metadata names the checkpoint (content hash, vocabulary and sub-contexts),
the prompt, the sampling and this format's version, and a hash of every array; a file that does not match, is
damaged or is too large is ignored (the trace is then computed as usual).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import save as np_save

from llmcore.analysis.trace import GenerationTrace, SamplingConfig
from llmcore.files import atomic_write, remove_own_file
from llmcore.inputs import InputError, parse_json, read_safetensors, safetensors_metadata
from llmcore.maps.store import tensors_sha
from llmcore.model.checkpoint import Checkpoint

FORMAT = 3  # 2: the trace keeps each sub-context's likeliest words and every named word's probability; 3: one axis
MAX_BYTES = 16 << 20  # a trace of the dashboard's word limit is well under 1 MB
CANDIDATES_K = 5  # candidate next words per step, as the Trajectory page draws them


@dataclass(frozen=True)
class Candidates:
    """Per word step s: the top-k candidate next words' ids (S, k), probabilities (S, k) and the states each would
    lead to, at every depth (S, k, L, C) (llmcore.analysis.trace.candidate_states of every step)."""

    ids: np.ndarray
    probs: np.ndarray
    states: np.ndarray

    def for_step(self, trace: GenerationTrace, step: int) -> tuple[list[str], np.ndarray, np.ndarray]:
        """candidate_states(ckpt, trace, step)'s answer: (words, probabilities (k,), states (k, L, C))."""
        return [trace.vocab[i] for i in self.ids[step]], self.probs[step].copy(), self.states[step]


def compute_candidates(ckpt: Checkpoint, trace: GenerationTrace, k: int = CANDIDATES_K) -> Candidates:
    from llmcore.analysis.trace import candidate_states

    rows = [candidate_states(ckpt, trace, s, k) for s in range(len(trace))]
    index = {w: i for i, w in enumerate(trace.vocab)}
    return Candidates(np.array([[index[w] for w in words] for words, _, _ in rows], np.int64),
                      np.stack([p for _, p, _ in rows]).astype(np.float32),
                      np.stack([s for _, _, s in rows]).astype(np.float32))


def cache_path(folder: Path, ckpt: Checkpoint, prompt: str, sampling: SamplingConfig) -> Path:
    return folder / "traces" / f"{_key(ckpt, prompt, sampling)[:24]}.safetensors"


def _key(ckpt: Checkpoint, prompt: str, sampling: SamplingConfig) -> str:
    names = ckpt.context_matrix()[0]
    text = json.dumps([FORMAT, ckpt.content_hash, ckpt.tokenizer.vocab, names, prompt, asdict(sampling)])
    return hashlib.sha256(text.encode()).hexdigest()


def save_trace(folder: Path, ckpt: Checkpoint, prompt: str, sampling: SamplingConfig, trace: GenerationTrace,
               candidates: Candidates) -> Path:
    """Write the trace and its candidates (atomically) where `load_trace` finds them; the folder keeps one trace
    (the one a cold start shows), so an older one (another model's, prompt's or format's) is removed."""
    meta = {k: v for k, v in asdict(trace).items() if k not in GenerationTrace._ARRAYS}
    tensors = {f"trace.{k}": np.ascontiguousarray(getattr(trace, k)) for k in GenerationTrace._ARRAYS}
    tensors |= {"candidates.ids": candidates.ids, "candidates.probs": candidates.probs,
                "candidates.states": np.ascontiguousarray(candidates.states)}
    path = cache_path(folder, ckpt, prompt, sampling)
    meta = {"key": _key(ckpt, prompt, sampling), "trace": json.dumps(meta), "sha": tensors_sha(tensors)}
    atomic_write(path, np_save(tensors, metadata=meta))
    for old in path.parent.glob("*.safetensors"):
        if old != path and _is_kept_trace(old):
            remove_own_file(old)
    return path


def _is_kept_trace(path: Path) -> bool:
    """Whether `path` is a trace file this module wrote (by its name and its metadata), so it may be replaced."""
    if not re.fullmatch(r"[0-9a-f]{24}", path.stem):
        return False
    try:
        return {"key", "trace", "sha"} <= safetensors_metadata(path).keys()
    except (OSError, SafetensorError, ValueError):
        return False


def load_trace(folder: Path, ckpt: Checkpoint, prompt: str,
               sampling: SamplingConfig) -> tuple[GenerationTrace, Candidates] | None:
    """The kept trace of this prompt and sampling for this checkpoint, or None (missing, stale or damaged)."""
    path = cache_path(folder, ckpt, prompt, sampling)
    try:
        if not path.exists() or path.is_symlink() or path.stat().st_size > MAX_BYTES:
            return None
        tensors, meta = read_safetensors(path)
        if meta.get("key") != _key(ckpt, prompt, sampling) or meta.get("sha") != tensors_sha(tensors):
            return None
        arrays = {k: tensors[f"trace.{k}"] for k in GenerationTrace._ARRAYS}
        trace = GenerationTrace(**parse_json(meta["trace"]), **arrays)
        cands = Candidates(tensors["candidates.ids"], tensors["candidates.probs"], tensors["candidates.states"])
        _check(trace, cands)
    except (OSError, SafetensorError, InputError, KeyError, TypeError, ValueError):
        return None
    return trace, cands


def _check(trace: GenerationTrace, c: Candidates) -> None:
    S, (L, C) = len(trace), trace.hidden.shape[1:]
    if c.ids.ndim != 2 or len(c.ids) != S or c.probs.shape != c.ids.shape or \
            c.states.shape != (*c.ids.shape, L, C):
        raise ValueError("candidates do not match the trace's steps")
    if c.ids.size and (c.ids.min() < 0 or c.ids.max() >= len(trace.vocab)):
        raise ValueError("candidate ids outside the vocabulary")
