"""Interventions that show *why* a state goes where it goes: causal tracing (activation patching) and patched runs.
The counterfactual grid over the world and the held-out finding live in llmcore.analysis.counterfactual, component
attribution and ablation in llmcore.analysis.attribution, steering vectors in llmcore.analysis.steering.

Everything works on any Checkpoint, our GPT and the Hugging Face adapter alike, through the forward hooks of
llmcore.model.hooks on the residual stream, the attention output and the MLP output of each block.

A little over 400 lines on purpose: the patched run and the causal trace built from it share the hooks and the
corruptions (named words or noise) defined here."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from llmcore.analysis.trace import PromptError, encode_prompt
from llmcore.model.checkpoint import Checkpoint
from llmcore.model.depths import depth_labels
from llmcore.model.hooks import Edit, hooked, model_sites
from llmcore.model.protocols import Labeller, LanguageModel, Sites

KINDS = ("resid", "attn", "mlp")  # what a patch restores: the residual stream, a block's attention or MLP output
KIND_NAMES = {"resid": "residual stream", "attn": "attention output", "mlp": "MLP output"}
ARTICLES = ("a", "an", "the")
MAX_SEEDS = 100
# The smallest change in the target's probability between the clean and the corrupted run for which restored shares
# mean something: below it a share divides float noise by a near-zero difference (a tiny model whose corruption
# moved p by 8e-5 gave 0.9996 for a restoration that is exact).
MIN_EFFECT = 0.01
UNASKED = 0.05  # a target below this on the clean prompt is not what the prompt leads to: no corruption helps
_MARKS = re.compile(r"^(Ġ|▁|##)+")
# rows per seed -> the noise edits of a batch with that many rows per seed (Noise on the embedding)
NoiseEdits = Callable[[int], dict[tuple[str, int], list[Edit]]]


def _depths(kind: str, n_layer: int) -> range:
    """Layers of a kind's sites: residual depths 0..n (embed, block 1..n), attention/MLP of blocks 1..n."""
    return range(n_layer + 1) if kind == "resid" else range(1, n_layer + 1)


def _site_key(kind: str, depth: int) -> tuple[str, int]:
    """(kind, layer) of a row: attention/MLP rows are numbered like the residual depth after their block."""
    return (kind, depth) if kind == "resid" else (kind, depth - 1)


# ---------------------------------------------------------------- inputs
def word_ids(ckpt: Checkpoint, prompt: str, what: str = "prompt") -> list[int]:
    """Token ids of a prompt in which every word is known; a PromptError names the unknown ones."""
    ids, _, unknown, notices = encode_prompt(ckpt.tokenizer, prompt, ckpt.model.config.block_size)
    if unknown:
        raise PromptError(f"the {what} has words this model does not know: {', '.join(dict.fromkeys(unknown))}")
    if notices:
        raise PromptError(f"the {what} is longer than the model's context of {ckpt.model.config.block_size} words")
    return ids


def target_ids(ckpt: Checkpoint, target: Sequence[str] | None, prompt_words: list[str]) -> tuple[list[str], list[int]]:
    """The target words and ids; by default the habitats of the prompt's first animal."""
    if target is None:
        animals = ckpt.world.animals
        first = next((w for w in prompt_words if w in animals), None)
        if first is None:
            raise PromptError("no target words given and the prompt names no animal of the world; give target "
                              "words, e.g. target=['home', 'yard']")
        target = list(animals[first].habitats)
    if isinstance(target, str) or not all(isinstance(w, str) for w in target):
        raise PromptError("the target must be a list of words")
    words = list(dict.fromkeys(w.strip() for w in target if w.strip()))
    if not words:
        raise PromptError("the target set is empty: give at least one word whose probability to trace")
    stoi = ckpt.tokenizer.stoi
    ids = [stoi.get(w, stoi.get(f"Ġ{w}", stoi.get(f"▁{w}"))) for w in words]
    unknown = [w for w, i in zip(words, ids) if i is None]
    if unknown:
        raise PromptError(f"target words this model does not know: {', '.join(unknown)}")
    return words, ids


def _is_article(token: str) -> bool:
    return _MARKS.sub("", token).strip().lower() in ARTICLES


@dataclass(frozen=True)
class Noise:
    """Gaussian noise added to the embeddings of chosen positions, averaged over n_seeds draws (Meng et al. 2022).
    scale None: three times the standard deviation of the token embeddings."""

    positions: tuple[int, ...]
    scale: float | None = None
    n_seeds: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.positions or not all(isinstance(p, int) and not isinstance(p, bool) for p in self.positions):
            raise PromptError(f"noise positions must be a non-empty list of whole numbers, got {self.positions!r}")
        if self.scale is not None and not (finite(self.scale) and self.scale > 0):
            raise PromptError(f"noise scale must be a finite number > 0, got {self.scale!r}")
        if not isinstance(self.n_seeds, int) or not 1 <= self.n_seeds <= MAX_SEEDS:
            raise PromptError(f"noise seeds must be a whole number from 1 to {MAX_SEEDS}, got {self.n_seeds!r}")


def finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# ---------------------------------------------------------------- causal tracing
@dataclass
class CausalTrace:
    """A clean run, a corrupted run, and every single-state patch between them. K = 3 kinds (KINDS), D = n_layer + 1
    depths (embed, block 1 ... block n), T positions (the prompt plus the articles skipped before the target).

    restored_prob: (K, D, T) target probability of the corrupted run with one clean state put back;
    restored: (K, D, T) the same as a share, 0 = the corrupted run, 1 = the clean run (1 where both runs agree);
    reverse_prob / reverse: (K, D, T) the clean run with one corrupted state put in, on the same scale.
    Attention and MLP have no row at the embedding depth: row 0 of those kinds is NaN.
    States are not kept: `patched_run` gives the residual stream of a run with chosen states restored.
    """

    words: list[str]
    corrupt_words: list[str]
    target: list[str]
    depth_names: list[str]
    clean_prob: float
    corrupt_prob: float
    restored_prob: np.ndarray
    restored: np.ndarray
    reverse_prob: np.ndarray
    reverse: np.ndarray
    corruption: str
    noise_positions: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        shape = (len(KINDS), len(self.depth_names), len(self.words))
        for name in ("restored_prob", "restored", "reverse_prob", "reverse"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"CausalTrace.{name} has shape {getattr(self, name).shape}, expected {shape}")
        if len(self.corrupt_words) != len(self.words):
            raise ValueError("CausalTrace.corrupt_words must have one word per position")

    @property
    def measurable(self) -> bool:
        """Whether the corruption changes the target's probability by at least MIN_EFFECT, so that shares mean
        something."""
        return abs(self.clean_prob - self.corrupt_prob) >= MIN_EFFECT

    def share(self, kind: str, depth: int, position: int) -> float:
        return float(self.restored[KINDS.index(kind), depth, position])

    def to_dict(self) -> dict:
        """JSON-friendly: shares rounded to 4 places, NaN as None."""
        r = lambda a: [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in a]  # noqa: E731
        return {"words": self.words, "corrupt_words": self.corrupt_words, "target": self.target,
                "corruption": self.corruption, "depths": self.depth_names,
                "clean_prob": round(self.clean_prob, 4), "corrupt_prob": round(self.corrupt_prob, 4),
                "measurable": self.measurable,
                "restored": {k: r(self.restored[i]) for i, k in enumerate(KINDS)},
                "reverse": {k: r(self.reverse[i]) for i, k in enumerate(KINDS)}}


def _noise_scale(ckpt: Checkpoint, noise: Noise) -> float:
    if noise.scale is not None:
        return float(noise.scale)
    return 3.0 * float(ckpt.model.input_embeddings().detach().float().std())


def _noise_edit(noise: Noise, *, C: int, scale: float, rows_per_seed: int) -> Edit:
    """Adds seed j's noise to the noised positions of rows j*rows_per_seed ... (j+1)*rows_per_seed - 1 (rows past
    n_seeds*rows_per_seed, e.g. a batch's clean half, are left alone)."""
    gen = torch.Generator().manual_seed(noise.seed)
    eps = torch.randn(noise.n_seeds, len(noise.positions), C, generator=gen) * scale  # (n_seeds, P_noise, C)
    pos = torch.tensor(noise.positions)
    rows = eps.repeat_interleave(rows_per_seed, dim=0)  # (n_seeds * rows_per_seed, P_noise, C)

    def add(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[: len(rows), pos] += rows.to(x.dtype)
        return x
    return add


def _capture(model: LanguageModel, sites: Sites, ids: torch.Tensor,
             extra: dict | None = None) -> tuple[dict, torch.Tensor]:
    """Every site's tensor ((kind, layer) -> (B, T, C)) and the next-word probabilities (B, V) of one pass."""
    keep: dict[tuple[str, int], torch.Tensor] = {}
    edits: dict[tuple[str, int], list[Edit]] = {k: list(v) for k, v in (extra or {}).items()}
    for kind in KINDS:
        for d in _depths(kind, sites.n_layer):
            key = _site_key(kind, d)
            edits.setdefault(key, []).append(lambda x, key=key: keep.__setitem__(key, x.detach().clone()))
    with hooked(sites, edits):
        logits, _ = model(ids)
    return keep, logits[:, -1].float().softmax(-1)


def _patch_edit(rows: torch.Tensor, cols: torch.Tensor, source: torch.Tensor, src_rows: torch.Tensor) -> Edit:
    """Puts source[src_rows, cols] into rows `rows` at positions `cols`."""
    def put(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[rows, cols] = source[src_rows, cols].to(x.dtype)
        return x
    return put


def _add_patches(edits: dict, sites: Sites, kind: str, *, T: int, n_seeds: int, source: dict, offset: int) -> int:
    """Edits for a block of rows from `offset`: per seed, row 0 unpatched, then one row per (depth, position) of
    `kind` with that state taken from `source` ((kind, layer) -> (n_seeds or 1, T, C)). Returns the block's rows."""
    depths = list(_depths(kind, sites.n_layer))
    R = 1 + len(depths) * T
    for j, d in enumerate(depths):
        key = _site_key(kind, d)
        local = torch.arange(1 + j * T, 1 + (j + 1) * T)
        rows = offset + (torch.arange(n_seeds)[:, None] * R + local[None]).reshape(-1)  # (n_seeds * T,)
        cols = torch.arange(T).repeat(n_seeds)
        src_rows = torch.arange(n_seeds).repeat_interleave(T) % source[key].shape[0]
        edits.setdefault(key, []).append(_patch_edit(rows, cols, source[key], src_rows))
    return n_seeds * R


def _patching_pass(model: LanguageModel, sites: Sites, kind: str, *, restore_ids: torch.Tensor,
                   clean_ids: torch.Tensor, clean: dict, corrupt: dict, n_seeds: int,
                   noise: dict | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass for a kind: the corrupted run with each clean state restored, then the clean run with each
    corrupted state put in. -> next-word probabilities of both, each (n_seeds, 1 + D*T, V), row 0 unpatched."""
    T = clean_ids.shape[1]
    edits: dict[tuple[str, int], list[Edit]] = {k: list(v) for k, v in (noise or {}).items()}
    n = _add_patches(edits, sites, kind, T=T, n_seeds=n_seeds, source=clean, offset=0)
    _add_patches(edits, sites, kind, T=T, n_seeds=n_seeds, source=corrupt, offset=n)
    with hooked(sites, edits):
        logits, _ = model(torch.cat([restore_ids.repeat(n, 1), clean_ids.repeat(n, 1)]))
    probs = logits[:, -1].float().softmax(-1).view(2, n_seeds, n // n_seeds, -1)
    return probs[0], probs[1]


def with_articles(model: LanguageModel, ids: list[int], corrupt_ids: list[int], *, vocab: list[str],
                  block: int) -> tuple[list[int], list[int]]:
    """Both prompts extended by the articles the clean run would say next (at most two), so the target is read
    where the content word comes, as the quality measure does with 'in the'."""
    for _ in range(2):
        if len(ids) >= block:
            break
        nxt = int(model(torch.tensor([ids]))[0][0, -1].argmax())
        if not _is_article(vocab[nxt]):
            break
        ids, corrupt_ids = ids + [nxt], corrupt_ids + [nxt]
    return ids, corrupt_ids


def _share(p: torch.Tensor, clean: float, corrupt: float) -> np.ndarray:
    """(p - corrupt) / (clean - corrupt); 1 where the two runs agree (nothing to restore)."""
    den = clean - corrupt
    p = p.numpy().astype(np.float64)
    return np.ones_like(p) if abs(den) < 1e-7 else (p - corrupt) / den


@torch.no_grad()
def causal_trace(ckpt: Checkpoint, prompt: str, *, corrupt: str | Noise, target: Sequence[str] | None = None,
                 skip_articles: bool = True) -> CausalTrace:
    """Restore (and, in reverse, corrupt) one state at a time at every depth and position, for the residual
    stream, the attention output and the MLP output; one batched forward pass per kind, both directions in it.

    corrupt: a counterfactual prompt of the same length ("an otter devours pizza in"), or Noise on positions.
    target: words whose summed probability is read at the next word; default the prompt animal's habitats.
    """
    model, tok = ckpt.model, ckpt.tokenizer
    sites = model_sites(model)
    ids, cids, words, target_id, n_seeds, noise_for = _prepare(ckpt, prompt, corrupt=corrupt, target=target,
                                                               skip_articles=skip_articles)
    clean_x, corrupt_x = torch.tensor([ids]), torch.tensor([cids])
    noise = noise_for(1) if noise_for else {}
    clean_states, clean_p = _capture(model, sites, clean_x)
    corrupt_states, corrupt_p = _capture(model, sites, clean_x.repeat(n_seeds, 1) if noise else corrupt_x, noise)
    tgt = torch.tensor(target_id)
    p_clean, p_corrupt = float(clean_p[0, tgt].sum()), float(corrupt_p[:, tgt].sum(-1).mean())
    D, T = sites.n_layer + 1, len(ids)
    out = {n: np.full((len(KINDS), D, T), np.nan) for n in ("restored_prob", "reverse_prob")}
    for k, kind in enumerate(KINDS):
        R = 1 + len(_depths(kind, sites.n_layer)) * T
        fwd, rev = _patching_pass(model, sites, kind, restore_ids=clean_x if noise else corrupt_x, clean_ids=clean_x,
                                  clean=clean_states, corrupt=corrupt_states, n_seeds=n_seeds,
                                  noise=noise_for(R) if noise else None)
        fwd, rev = (p[:, 1:, tgt].sum(-1).mean(0) for p in (fwd, rev))
        first = 0 if kind == "resid" else 1
        out["restored_prob"][k, first:] = fwd.view(-1, T).numpy()
        out["reverse_prob"][k, first:] = rev.view(-1, T).numpy()
    return CausalTrace(
        words=[tok.vocab[i] for i in ids], corrupt_words=[tok.vocab[i] for i in cids], target=words,
        depth_names=depth_labels(sites.n_layer)[:-1], clean_prob=p_clean,
        corrupt_prob=p_corrupt, restored_prob=out["restored_prob"],
        restored=_share(torch.from_numpy(out["restored_prob"]), p_clean, p_corrupt),
        reverse_prob=out["reverse_prob"], reverse=_share(torch.from_numpy(out["reverse_prob"]), p_clean, p_corrupt),
        corruption=f"noise (x{n_seeds} seeds)" if noise else " ".join(tok.vocab[i] for i in cids),
        noise_positions=list(corrupt.positions) if noise else [])



# ---------------------------------------------------------------- the trace in one plain sentence
ROLES = {"animals": "the animal", "food": "the food"}


def changed_positions(ct: CausalTrace) -> list[int]:
    """Positions whose word the corruption changed, or put noise on."""
    return [t for t, (a, b) in enumerate(zip(ct.words, ct.corrupt_words)) if a != b] or list(ct.noise_positions)


def best_restore(ct: CausalTrace, position: int) -> tuple[int, float]:
    """(depth, share) of the residual state at a position that brings back most: the first depth within 0.02 of
    the best."""
    col = ct.restored[0][:, position]
    d = int(np.nonzero(col >= np.nanmax(col) - 0.02)[0][0])
    return d, float(col[d])


def decides(ct: CausalTrace, position: int) -> bool:
    """Whether the word at a position decides the answer: its state alone brings back at least half, and no other
    word's state before the last brings back more."""
    share = best_restore(ct, position)[1]
    others = [np.nanmax(ct.restored[0][:, t]) for t in range(len(ct.words) - 1) if t != position]
    return share >= 0.5 and all(share >= o for o in others)


def _what(world: Labeller, target: Sequence[str]) -> str:
    """'the place' when every target word is a location of the world, else 'the answer'."""
    return "the place" if all(world.label(w)[0] == "locations" for w in target) else "the answer"


def trace_lead(ct: CausalTrace, world: Labeller, *, clean_top: str, corrupt_top: str, patched_top: str) -> str:
    """The trace in one plain sentence: what the corruption does to the next word, and what putting back the
    changed word's best state brings back (patched_top: the next word of that patched run)."""
    t = changed_positions(ct)[0]
    word, target = ct.words[t], "/".join(ct.target)
    verb = (f"Blur '{word}' with noise" if ct.noise_positions else f"Swap '{word}' for '{ct.corrupt_words[t]}'")
    if not ct.measurable and ct.clean_prob < UNASKED:
        return (f"{verb} and the probability of {target} barely moves ({ct.clean_prob:.2f} → {ct.corrupt_prob:.2f}): "
                f"this prompt does not lead to {target} at all (the model says '{clean_top}' next, and {target} has "
                f"{ct.clean_prob:.2f} before anything is corrupted), so there is nothing to put back; trace a prompt "
                f"that ends where {target} comes next.")
    if not ct.measurable:
        return (f"{verb} and the probability of {target} barely moves ({ct.clean_prob:.2f} → {ct.corrupt_prob:.2f}): "
                "there is nothing to put back; choose a corruption that changes the answer.")
    falls = f"{target} falls from {ct.clean_prob:.2f} to {ct.corrupt_prob:.2f}"
    said = (f"the model still says '{clean_top}', but {falls}" if corrupt_top == clean_top else
            f"the model says '{corrupt_top}' instead of '{clean_top}' (both among them: {falls})"
            if corrupt_top in ct.target else
            f"the model says '{corrupt_top}' instead of '{clean_top}'")
    d, share = best_restore(ct, t)
    again = " again" if patched_top == clean_top else ""
    role = ROLES.get(world.label(word)[0], f"'{word}'")
    verdict = "decides" if decides(ct, t) else "alone does not decide"
    return (f"{verb} and {said}. Put back only the state of '{word}' (at {ct.depth_names[d]}) and it says "
            f"'{patched_top}'{again}, with {share:.0%} of the {target} probability back: {role} {verdict} "
            f"{_what(world, ct.target)}.")


@dataclass
class PatchedRun:
    """One corrupted run with chosen clean states put back. states: (D, T, C) its residual stream at every depth
    (embed, block 1 ... block n) and position (the first noise seed's, for noise); target_prob: mean over seeds;
    top_word: the most likely next word (of the probabilities averaged over seeds)."""

    words: list[str]
    states: np.ndarray
    target_prob: float
    top_word: str = ""


def _prepare(ckpt: Checkpoint, prompt: str, *, corrupt: str | Noise, target: Sequence[str] | None, skip_articles: bool
             ) -> tuple[list[int], list[int], list[str], list[int], int, NoiseEdits | None]:
    """Checked ids of both runs, the target, the seed count and the noise edits (see causal_trace)."""
    model, tok = ckpt.model, ckpt.tokenizer
    ids = word_ids(ckpt, prompt)
    if isinstance(corrupt, Noise):
        bad = [p for p in corrupt.positions if not 0 <= p < len(ids)]
        if bad:
            raise PromptError(f"noise positions {bad} are outside the prompt's {len(ids)} words (0..{len(ids) - 1})")
        cids = list(ids)
    elif isinstance(corrupt, str):
        cids = word_ids(ckpt, corrupt, "corrupted prompt")
        if len(cids) != len(ids):
            raise PromptError(f"the corrupted prompt has {len(cids)} words and the prompt {len(ids)}: a positional "
                              "corruption needs the same number of words")
    else:
        raise PromptError("corrupt must be a prompt (text) or Noise(positions=...)")
    words, tid = target_ids(ckpt, target, [tok.vocab[i] for i in ids])
    if skip_articles:
        ids, cids = with_articles(model, ids, cids, vocab=tok.vocab, block=model.config.block_size)
    if not isinstance(corrupt, Noise):
        return ids, cids, words, tid, 1, None
    scale = _noise_scale(ckpt, corrupt)
    noise = lambda rows: {("resid", 0): [_noise_edit(corrupt, C=model.config.n_embd, scale=scale,  # noqa: E731
                                                     rows_per_seed=rows)]}
    return ids, cids, words, tid, corrupt.n_seeds, noise


@torch.no_grad()
def patched_run(ckpt: Checkpoint, prompt: str, *, corrupt: str | Noise, restore: Sequence[tuple[str, int, int]] = (),
                target: Sequence[str] | None = None, skip_articles: bool = True) -> PatchedRun:
    """The corrupted run with the clean states (kind, depth, position) put back, all at once."""
    model, sites = ckpt.model, model_sites(ckpt.model)
    ids, cids, _, tid, n_seeds, noise = _prepare(ckpt, prompt, corrupt=corrupt, target=target,
                                                 skip_articles=skip_articles)
    clean_states, _ = _capture(model, sites, torch.tensor([ids]))
    edits = noise(1) if noise else {}
    for kind, depth, pos in restore:
        if kind not in KINDS or depth not in _depths(kind, sites.n_layer) or not 0 <= pos < len(ids):
            raise PromptError(f"no state ({kind}, depth {depth}, position {pos}) to restore")
        key = _site_key(kind, depth)
        edits.setdefault(key, []).append(_patch_edit(torch.arange(n_seeds), torch.full((n_seeds,), pos),
                                                     clean_states[key], torch.zeros(n_seeds, dtype=torch.long)))
    x = torch.tensor([ids] if noise else [cids]).repeat(n_seeds, 1)
    states, probs = _capture(model, sites, x, edits)
    resid = torch.stack([states[("resid", d)][0] for d in range(sites.n_layer + 1)]).float().numpy()
    return PatchedRun(words=[ckpt.tokenizer.vocab[i] for i in ids], states=resid,
                      target_prob=float(probs[:, torch.tensor(tid)].sum(-1).mean()),
                      top_word=ckpt.tokenizer.vocab[int(probs.mean(0).argmax())])
