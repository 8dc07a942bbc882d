"""Aligning spaces: embedding snapshots taken during training in one stable frame (so a replay shows words moving),
and one model's states onto another's on the text both can read (so two models share one map)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from llmcore.maps.linear import orthogonal_procrustes, pca_plane
from llmcore.model.depths import FINAL, depth_named

if TYPE_CHECKING:
    from llmcore.model.checkpoint import Checkpoint


def align_snapshots(snapshots: np.ndarray, reference: int = -1) -> np.ndarray:
    """Rotate each centred snapshot (T, V, C) onto the reference snapshot with orthogonal Procrustes.

    Rotations and reflections do not change distances between words, so nothing a map shows is lost; what goes
    away is the arbitrary spin of the whole cloud from one snapshot to the next.
    """
    S = np.asarray(snapshots, np.float64)
    S = S - S.mean(1, keepdims=True)
    target = S[reference]
    out = np.empty_like(S)
    for t, E in enumerate(S):
        R, _ = orthogonal_procrustes(E, target)
        out[t] = E @ R
    return out.astype(np.float32)


def snapshot_coords(snapshots: np.ndarray, n_components: int = 2, aligned: bool = True) -> np.ndarray:
    """(T, V, d) map positions of every word in every snapshot.

    aligned: Procrustes-align, then one PCA fitted on all aligned snapshots places them in the same frame.
    not aligned: the naive replay, a PCA per snapshot (axes may flip and spin between frames).
    """
    S = np.asarray(snapshots, np.float32)
    if aligned:
        A = align_snapshots(S)
        pca = pca_plane(A.reshape(-1, A.shape[-1]), n_components)
        return np.stack([pca.transform(E) for E in A])
    return np.stack([pca_plane(E, n_components).transform(E) for E in S])


# ---------------------------------------------------------------------------------------- two models' spaces
@dataclass
class SpaceAlignment:
    """A linear map taking one model's states (width Cb) onto another's (width Ca), fitted on paired states of
    the same words in the same sentences.

    method: 'procrustes' (equal widths: a rotation and one scale) or 'cca' (widths differ: whiten both spaces,
    rotate the source's canonical directions onto the target's, unwhiten); matrix: (Cb, Ca); n_words /
    n_sentences: distinct shared words and sentences used; n_pairs: paired states; residual: on the sentences
    held back from the fit, the error of the mapped states relative to the spread of the target's states
    (0 = perfect, 1 = no better than the target's mean).
    """

    method: str
    source_mean: np.ndarray
    target_mean: np.ndarray
    matrix: np.ndarray
    n_words: int
    n_sentences: int
    n_pairs: int
    residual: float

    def __post_init__(self) -> None:
        if self.matrix.shape != (len(self.source_mean), len(self.target_mean)):
            raise ValueError(f"alignment matrix {self.matrix.shape} does not match the two widths")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """(n, Cb) source states → (n, Ca) in the target's space."""
        return ((np.asarray(X, np.float64) - self.source_mean) @ self.matrix + self.target_mean).astype(np.float32)


def procrustes_map(source: np.ndarray, target: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function taking points of the source space onto the target space: the orthogonal rotation (plus the
    shift of means) that best matches paired points `source[i]` ↔ `target[i]`."""
    n = min(len(source), len(target))
    s_mean, t_mean = source[:n].mean(0), target[:n].mean(0)
    R, _ = orthogonal_procrustes(source[:n] - s_mean, target[:n] - t_mean)
    return lambda X: ((np.asarray(X) - s_mean) @ R + t_mean).astype(np.float32)


def _inv_sqrt(C: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """C^(-1/2) and C^(1/2) of a covariance, with a ridge of `ridge` × its mean eigenvalue."""
    w, V = np.linalg.eigh(C)
    w = np.maximum(w, 0) + ridge * max(float(w.mean()), 1e-12)
    return (V / np.sqrt(w)) @ V.T, (V * np.sqrt(w)) @ V.T


def fit_linear_map(source: np.ndarray, target: np.ndarray, method: str = "auto",
                   ridge: float = 1e-3) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(method, source mean, target mean, matrix) of the map from paired rows source[i] ↔ target[i]."""
    S, T = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if len(S) != len(T) or len(S) < 2:
        raise ValueError(f"an alignment needs at least 2 paired states, got {len(S)} and {len(T)}")
    if method == "auto":
        method = "procrustes" if S.shape[1] == T.shape[1] else "cca"
    sm, tm = S.mean(0), T.mean(0)
    S0, T0 = S - sm, T - tm
    if method == "procrustes":
        if S.shape[1] != T.shape[1]:
            raise ValueError(f"Procrustes needs equal widths, got {S.shape[1]} and {T.shape[1]}; use CCA")
        R, scale = orthogonal_procrustes(S0, T0)
        return method, sm, tm, R * (scale / max(float((S0**2).sum()), 1e-12))
    if method != "cca":
        raise ValueError(f"alignment method {method!r}: choose 'procrustes' or 'cca'")
    n = len(S)
    ws, _ = _inv_sqrt(S0.T @ S0 / n, ridge)
    wt, ut = _inv_sqrt(T0.T @ T0 / n, ridge)
    U, _, Vt = np.linalg.svd(ws @ (S0.T @ T0 / n) @ wt, full_matrices=False)  # canonical directions
    return method, sm, tm, ws @ U @ Vt @ ut


def align_states(source: np.ndarray, target: np.ndarray, sentence_of: np.ndarray, words: np.ndarray, *,
                 method: str = "auto", held_back: float = 0.2) -> SpaceAlignment:
    """Fit on the paired states of most sentences, measure the residual on the rest, then refit on all.

    sentence_of: (n,) sentence index of each pair; words: (n,) the word at each pair.
    """
    sentence_of = np.asarray(sentence_of)
    sentences = np.unique(sentence_of)
    test = np.isin(sentence_of, sentences[:: max(int(round(1 / held_back)), 2)]) if len(sentences) > 4 else \
        np.zeros(len(sentence_of), bool)
    train = ~test if test.any() else np.ones(len(sentence_of), bool)
    check = test if test.any() else train
    _, sm, tm, M = fit_linear_map(source[train], target[train], method)
    T = np.asarray(target, np.float64)
    err = ((np.asarray(source, np.float64)[check] - sm) @ M + tm) - T[check]
    spread = T[check] - T[train].mean(0)
    residual = float(np.sqrt((err**2).sum() / max(float((spread**2).sum()), 1e-12)))
    chosen, sm, tm, M = fit_linear_map(source, target, method)
    return SpaceAlignment(method=chosen, source_mean=sm, target_mean=tm, matrix=M,
                          n_words=len(set(np.asarray(words).tolist())), n_sentences=len(sentences), n_pairs=len(source),
                          residual=residual)


def shared_sentences(a: Checkpoint, b: Checkpoint, n: int = 300, seed: int = 4242) -> list[str]:
    """Sentences from both models' worlds whose every word is one token in both vocabularies (in the order found,
    each once, at most n): the text two models can both read word for word."""

    def usable(ck: Checkpoint, s: str) -> bool:
        enc = ck.tokenizer.encode(s)
        return not enc.unknown and len(enc.ids) == len(enc.words) <= ck.model.config.block_size

    out: dict[str, None] = {}
    for ck in (a, b):
        for s in ck.world.reference_sentences(seed, 4 * n):
            if len(out) < n and s not in out and usable(a, s) and usable(b, s):
                out[s] = None
    return list(out)


def sentence_states(ckpt: Checkpoint, sentences: list[str], layer: str) -> np.ndarray:
    """(total words, C) the model's state after each word of each sentence, at one depth, in order."""
    import torch

    from llmcore.model.caches import ActivationCache

    depth = depth_named(layer, ckpt.model.config.n_layer)
    out = []
    ckpt.model.eval()
    with torch.no_grad():
        for s in sentences:
            act = ActivationCache(attention=False)
            ckpt.model(torch.tensor([ckpt.tokenizer.encode(s).ids], device=ckpt.model.device), capture=act)
            out.append(act[depth.hook][0].float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def align_models(source: Checkpoint, target: Checkpoint, layer: str = FINAL, *, method: str = "auto",
                 n_sentences: int = 300) -> SpaceAlignment:
    """The map from `source`'s states at a depth onto `target`'s, fitted on the states of the shared words in the
    shared sentences (Procrustes for equal widths, CCA where widths differ)."""
    sents = shared_sentences(source, target, n_sentences)
    if len(sents) < 5:
        raise ValueError(f"the two models share only {len(sents)} sentences they can both read word for word; "
                         "at least 5 are needed to align their spaces")
    words = [w for s in sents for w in source.tokenizer.encode(s).words]
    sentence_of = np.repeat(np.arange(len(sents)), [len(source.tokenizer.encode(s).ids) for s in sents])
    return align_states(sentence_states(source, sents, layer), sentence_states(target, sents, layer), sentence_of,
                        np.array(words, object), method=method)


@dataclass
class AlignedMap:
    """Another model's states placed on a map of this model's states: each state is first taken into this model's
    space by `align` (a SpaceAlignment from align_models), then placed by the map (a llmcore.maps.store.FittedMap)."""

    fitted: Any
    align: Callable[[np.ndarray], np.ndarray]

    def place(self, X: np.ndarray) -> np.ndarray:
        """(n, Cb) states of the other model → (n, d) coordinates on the map."""
        return self.fitted.place(self.align(X))
