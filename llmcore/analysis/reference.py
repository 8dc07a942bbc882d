"""Reference hidden states: the model's residual stream at corpus positions, labelled by sub-context."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from llmcore.model.checkpoint import Checkpoint
from llmcore.model.protocols import Labeller


@dataclass
class ReferenceStates:
    """N corpus positions at L depths. states: (N, L, C) float32; words / next_words / contexts: (N,) str."""

    states: np.ndarray
    words: np.ndarray
    next_words: np.ndarray
    contexts: np.ndarray  # sub-context of the word at the position
    next_contexts: np.ndarray  # sub-context of the word that follows
    layer_names: list[str]

    def __post_init__(self) -> None:
        n = len(self.states)
        if self.states.ndim != 3 or self.states.shape[1] != len(self.layer_names):
            raise ValueError(f"states must be (N, L={len(self.layer_names)}, C), got {self.states.shape}")
        for name in ("words", "next_words", "contexts", "next_contexts"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ReferenceStates.{name} must have {n} entries")

    def layer(self, name_or_index: str | int) -> np.ndarray:
        """(N, C) states at one depth."""
        i = self.layer_names.index(name_or_index) if isinstance(name_or_index, str) else name_or_index
        return self.states[:, i]


def reference_states(ckpt: Checkpoint, n_positions: int = 6000, seed: int = 12345) -> ReferenceStates:
    """Hidden states at `n_positions` distinct corpus positions (each sentence run from position 0).

    Positions whose words so far repeat an earlier one are skipped: their states would be identical copies.
    torch is imported here, not with the module: the maps read cached states without it.
    """
    import torch

    from llmcore.model.caches import ActivationCache

    model, tok, world = ckpt.model, ckpt.tokenizer, ckpt.world
    model.eval()
    ids = _distinct_prefix_sentences(ckpt, n_positions, seed)
    states, words, nexts, labels = [], [], [], []
    for T in sorted({len(x) for x, _ in ids}):  # batch sentences of equal length: no padding needed
        batch = [(x, keep) for x, keep in ids if len(x) == T]
        act = ActivationCache(attention=False)
        with torch.no_grad():
            model(torch.tensor([x for x, _ in batch], device=model.device), capture=act)
        stack, labels = act.residual_stack()  # (L, B, T, C) and the depths' labels
        rows = torch.tensor([b for b, (_, keep) in enumerate(batch) for _ in keep], device=stack.device)
        cols = torch.tensor([t for _, keep in batch for t in keep], device=stack.device)
        states.append(stack[:, rows, cols].transpose(0, 1).cpu().numpy())  # (n_kept, L, C), one gather per batch
        words += [tok.vocab[x[t]] for x, keep in batch for t in keep]
        nexts += [tok.vocab[x[t + 1]] for x, keep in batch for t in keep]
    label = np.vectorize(lambda w: world.label(w)[0], otypes=[object])
    return ReferenceStates(np.concatenate(states).astype(np.float32), np.array(words, object),
                           np.array(nexts, object), label(np.array(words, object)), label(np.array(nexts, object)),
                           labels)


_SENTENCES: dict[tuple[str, int, int], list[str]] = {}  # the last few worlds' reference sentences
_SENTENCES_LOCK = threading.Lock()  # training jobs and dashboard sessions read it from their own threads


def _reference_sentences(world: Labeller, seed: int, n: int) -> list[str]:
    """The world's reference sentences for a seed, generated once per world content (the weight snapshots measure
    every snapshot on the same sentences); worlds without a content hash are generated each time."""
    key = (world.content_hash, seed, n)
    if not world.content_hash:
        return world.reference_sentences(seed, n)
    with _SENTENCES_LOCK:
        if key in _SENTENCES:
            return _SENTENCES[key]
    sentences = world.reference_sentences(seed, n)  # outside the lock: other worlds need not wait
    with _SENTENCES_LOCK:
        while len(_SENTENCES) >= 4:
            _SENTENCES.pop(next(iter(_SENTENCES)))
        _SENTENCES[key] = sentences
    return sentences


def _distinct_prefix_sentences(ckpt: Checkpoint, n_positions: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """Sentences as ids with the positions (that have a next word) whose prefix is new, until n_positions."""
    tok, block = ckpt.tokenizer, ckpt.model.config.block_size
    seen: set[tuple[int, ...]] = set()
    out, total = [], 0
    n = max(200, n_positions * 3)
    for sentence in _reference_sentences(ckpt.world, seed, n):
        x = tok.encode_corpus([sentence])[:block]
        keep = [t for t in range(len(x) - 1) if tuple(x[: t + 1]) not in seen]
        seen.update(tuple(x[: t + 1]) for t in keep)
        keep = keep[: n_positions - total]
        if keep:
            out.append((x, keep))
            total += len(keep)
        if total >= n_positions:
            break
    return out


class SubContextClassifier:
    """Sub-context probabilities of hidden states from their k nearest reference states (original space), each
    neighbour weighted by 1 / its distance (a state at distance 0 from some reference states takes their labels
    alone): scikit-learn's KNeighborsClassifier(weights="distance") in NumPy, so that training's snapshot
    measures load no scikit-learn (tests/test_regions.py compares the two)."""

    def __init__(self, n_neighbors: int = 15) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X: np.ndarray, labels: np.ndarray) -> SubContextClassifier:
        classes, self.codes_ = np.unique(np.asarray(labels, str), return_inverse=True)
        self.classes_ = list(classes)
        self.X_ = np.asarray(X, np.float64).reshape(len(X), -1)
        self.sq_ = (self.X_**2).sum(1)
        return self

    def predict_proba(self, X: np.ndarray, chunk: int = 512) -> np.ndarray:
        """(n, G) probabilities in the order of `classes_`, `chunk` states at a time."""
        if not hasattr(self, "X_"):
            raise RuntimeError("SubContextClassifier is not fitted yet; call fit first")
        X = np.asarray(X, np.float64).reshape(len(X), -1)
        parts = [self._proba(X[i:i + chunk]) for i in range(0, len(X), chunk)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes_)))

    def _proba(self, X: np.ndarray) -> np.ndarray:
        k = min(self.n_neighbors, len(self.X_))
        d2 = np.maximum((X**2).sum(1)[:, None] - 2 * X @ self.X_.T + self.sq_[None], 0.0)
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
        with np.errstate(divide="ignore"):
            w = 1.0 / np.sqrt(d2[np.arange(len(X))[:, None], idx])
        exact = np.isinf(w)
        hit = exact.any(1)
        w[hit] = exact[hit]  # at distance 0 from some reference states: those alone
        proba = np.zeros((len(X), len(self.classes_)))
        np.add.at(proba, (np.repeat(np.arange(len(X)), k), self.codes_[idx].ravel()), w.ravel())
        return proba / proba.sum(1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_)[self.predict_proba(X).argmax(1)]
