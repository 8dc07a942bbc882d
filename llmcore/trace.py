"""Generation with every layer captured: `trace_generation` returns a `GenerationTrace` of NumPy arrays."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from llmcore.checkpoint import Checkpoint, file_mode
from llmcore.model import GPT, ActivationCache, KVCache, from_dict
from llmcore.suggest import ADD_A_WORD, unknown_words_message
from llmcore.tokenizer import Tokenizer

MAX_NEW_WORDS = 64
MAX_PROMPT_CHARS = 10_000


class PromptError(ValueError):
    """A prompt or sampling setting that cannot be used; the message says what to change."""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class SamplingConfig:
    """How the next word is chosen. temperature 0 means greedy; top_k None and top_p 1.0 mean no cut."""

    temperature: float = 0.0
    top_k: int | None = None
    top_p: float = 1.0
    seed: int = 0
    max_new_words: int = 12
    stop_at_period: bool = True

    def __post_init__(self) -> None:
        t, k, p, n = self.temperature, self.top_k, self.top_p, self.max_new_words
        if not _is_number(t) or not 0 <= t <= 100:
            raise PromptError(f"temperature must be a number from 0 (greedy) to 100, got {t!r}")
        if k is not None and (not _is_whole(k) or k < 1):
            raise PromptError(f"top-k must be a whole number >= 1 (or off), got {k!r}")
        if not _is_number(p) or not 0 < p <= 1:
            raise PromptError(f"top-p must be in (0, 1], got {p!r}")
        if not _is_whole(n) or not 1 <= n <= MAX_NEW_WORDS:
            raise PromptError(f"word limit must be a whole number from 1 to {MAX_NEW_WORDS}, got {n!r}")
        if not _is_whole(self.seed) or not 0 <= self.seed < 2**63:
            raise PromptError(f"seed must be a whole number from 0 to 2**63-1, got {self.seed!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def from_dict(cls, d: dict) -> SamplingConfig:
        return from_dict(cls, d)


@dataclass
class GenerationTrace:
    """Everything one generation did, step by step. S steps, P prompt tokens, L depths, C width, G sub-contexts.

    Depths (`layer_names`) are: embed, block 1 ... block n, final (after ln_f).
    hidden: (S, L, C) state at the newest position of each step; prompt_hidden: (P, L, C).
    topk_ids / topk_probs: (S, K) next-word candidates; chosen_probs: (S,) probability of the word taken.
    context_probs: (S, G) next-word probability mass per sub-context.
    lens_top_ids / lens_top_probs: (S, L, K') logit lens per depth; lens_context_probs: (S, L, G).
    attention: (S, n_layer, n_head, W) the newest query's attention over the W positions of the window;
    attention_start: (S,) index of the window's first token in prompt + generated tokens.
    """

    prompt_words: list[str]
    prompt_ids: np.ndarray
    generated_ids: np.ndarray
    vocab: list[str]
    layer_names: list[str]
    context_names: list[str]
    hidden: np.ndarray
    prompt_hidden: np.ndarray
    topk_ids: np.ndarray
    topk_probs: np.ndarray
    chosen_probs: np.ndarray
    context_probs: np.ndarray
    lens_top_ids: np.ndarray
    lens_top_probs: np.ndarray
    lens_context_probs: np.ndarray
    attention: np.ndarray
    attention_start: np.ndarray
    sampling: dict[str, Any] = field(default_factory=dict)
    unknown_words: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    stop_reason: str = ""

    def __post_init__(self) -> None:
        S, P, L = len(self.generated_ids), len(self.prompt_ids), len(self.layer_names)
        C, G = self.hidden.shape[-1] if self.hidden.size else self.prompt_hidden.shape[-1], len(self.context_names)
        checks = {"hidden": (self.hidden, (S, L, C)), "prompt_hidden": (self.prompt_hidden, (P, L, C)),
                  "context_probs": (self.context_probs, (S, G)), "chosen_probs": (self.chosen_probs, (S,)),
                  "lens_context_probs": (self.lens_context_probs, (S, L, G)),
                  "attention_start": (self.attention_start, (S,))}
        for name, (arr, shape) in checks.items():
            if arr.shape != shape:
                raise ValueError(f"GenerationTrace.{name} has shape {arr.shape}, expected {shape}")
        if self.topk_ids.shape != self.topk_probs.shape or self.topk_ids.shape[0] != S:
            raise ValueError("GenerationTrace.topk_ids and topk_probs must both be (S, K)")
        if self.lens_top_ids.shape[:2] != (S, L) or self.attention.shape[0] != S:
            raise ValueError("GenerationTrace.lens_top_ids must be (S, L, K) and attention (S, ...)")
        if len(self.prompt_words) != P:
            raise ValueError("GenerationTrace.prompt_words must have one word per prompt id")

    # ---- readable views
    @property
    def n_steps(self) -> int:
        return len(self.generated_ids)

    @property
    def generated_words(self) -> list[str]:
        return [self.vocab[i] for i in self.generated_ids]

    @property
    def completion(self) -> str:
        return " ".join(self.generated_words)

    @property
    def text(self) -> str:
        return " ".join(self.prompt_words + self.generated_words)

    def candidates(self, step: int) -> list[tuple[str, float]]:
        return [(self.vocab[i], float(p)) for i, p in zip(self.topk_ids[step], self.topk_probs[step])]

    def dominant_context(self, step: int) -> str:
        return self.context_names[int(np.argmax(self.context_probs[step]))]

    def lens_top_words(self) -> list[list[str]]:
        """Top word per (step, depth) of the logit lens."""
        return [[self.vocab[i] for i in row[:, 0]] for row in self.lens_top_ids]

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly digest: the completion and per step the candidates and dominant sub-context."""
        steps = [{"step": s + 1, "word": self.vocab[self.generated_ids[s]], "p": round(float(self.chosen_probs[s]), 4),
                  "dominant_context": self.dominant_context(s),
                  "context_probs": {c: round(float(p), 4) for c, p in zip(self.context_names, self.context_probs[s])},
                  "candidates": [{"word": w, "p": round(p, 4)} for w, p in self.candidates(s)]}
                 for s in range(self.n_steps)]
        return {"prompt": " ".join(self.prompt_words), "completion": self.completion, "text": self.text,
                "unknown_words": self.unknown_words, "notices": self.notices, "stop_reason": self.stop_reason,
                "sampling": self.sampling, "steps": steps}

    # ---- persistence (NumPy .npz without pickle; strings travel in a JSON header)
    _ARRAYS = ("prompt_ids", "generated_ids", "hidden", "prompt_hidden", "topk_ids", "topk_probs", "chosen_probs",
               "context_probs", "lens_top_ids", "lens_top_probs", "lens_context_probs", "attention",
               "attention_start")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        meta = {k: v for k, v in asdict(self).items() if k not in self._ARRAYS}
        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        try:
            os.fchmod(fd, file_mode())
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, __meta__=np.array(json.dumps(meta)), **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def to_json(self) -> str:
        """Every field as JSON (arrays as nested lists with their dtype), for tools that do not read .npz."""
        data = {k: v for k, v in asdict(self).items() if k not in self._ARRAYS}
        data["arrays"] = {k: {"dtype": str(getattr(self, k).dtype), "shape": list(getattr(self, k).shape),
                              "data": getattr(self, k).tolist()} for k in self._ARRAYS}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> GenerationTrace:
        """A trace from `to_json`'s text; shapes are checked on construction."""
        try:
            data = json.loads(text)
            arrays = {k: np.array(v["data"], dtype=v["dtype"]).reshape(v["shape"])
                      for k, v in data.pop("arrays").items()}
            return cls(**data, **arrays)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a trace in JSON ({type(e).__name__}: {e})") from None

    @classmethod
    def load(cls, path: str | Path) -> GenerationTrace:
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["__meta__"]))
                arrays = {k: z[k] for k in cls._ARRAYS}
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"{path}: not a readable trace file ({e})") from None
        return cls(**meta, **arrays)


def encode_prompt(tokenizer: Tokenizer, prompt: str,
                  block_size: int) -> tuple[list[int], list[str], list[str], list[str]]:
    """Ids, words, unknown words and notices for a prompt; raises PromptError if nothing usable is left."""
    if not isinstance(prompt, str):
        raise PromptError(f"the prompt must be text, got {type(prompt).__name__}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PromptError(f"the prompt has {len(prompt):,} characters; use at most {MAX_PROMPT_CHARS:,}")
    enc = tokenizer.encode(prompt)
    if not enc.ids:
        raise PromptError("the prompt is empty: type a few words, e.g. 'a dog devours pizza in'")
    if len(enc.unknown) == len(enc.ids):
        examples = ", ".join(w for w in ("cat", "dog", "eats", "pizza", "home") if w in tokenizer.stoi)
        raise PromptError(f"none of the words are known to this model: "
                          f"{unknown_words_message(enc.unknown[:8], tokenizer.vocab)}; use words of its world, "
                          f"e.g. {examples}; {ADD_A_WORD}")
    notices = []
    if enc.unknown:
        notices.append(f"unknown words read as <unk>: {unknown_words_message(enc.unknown, tokenizer.vocab)}; "
                       f"{ADD_A_WORD}")
    ids, words = enc.ids, enc.words
    if len(ids) > block_size:
        notices.append(f"the prompt has {len(ids)} words but the model reads at most {block_size}; "
                       f"kept the last {block_size}")
        ids, words = ids[-block_size:], words[-block_size:]
    words = [w if i != tokenizer.unk_id else tokenizer.vocab[i] for w, i in zip(words, ids)]
    return ids, words, enc.unknown, notices


def _pick(logits: torch.Tensor, s: SamplingConfig, gen: torch.Generator) -> int:
    """Choose the next token id from (V,) logits under the sampling settings."""
    if s.greedy:
        return int(torch.argmax(logits))
    logits = logits / s.temperature
    if s.top_k is not None and s.top_k < logits.numel():
        kth = torch.topk(logits, s.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    if s.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, 0) - sorted_p < s.top_p  # smallest set whose mass reaches top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs / probs.sum(), 1, generator=gen))


class _Step(NamedTuple):
    logits: torch.Tensor  # (V,) at the newest position
    act: ActivationCache | None  # residual stream of this forward pass
    token: int  # the id chosen
    start: int  # index of the window's first token in prompt + generated
    cache: KVCache  # the cache of this window (it keeps growing after this step)
    n_keys: int  # keys the newest query could see at this step


def _steps(model: GPT, ids: list[int], s: SamplingConfig, stop_id: int | None, capture: bool) -> Iterator[_Step]:
    """The generation loop, shared by plain and traced generation."""
    gen = torch.Generator().manual_seed(s.seed)
    block = model.config.block_size
    seq, start = list(ids), 0
    cache, act = model.new_cache(), ActivationCache(attention=False) if capture else None
    logits, _ = model(torch.tensor([seq]), cache=cache, capture=act)
    for step in range(s.max_new_words):
        nxt = _pick(logits[0, -1], s, gen)
        yield _Step(logits[0, -1], act, nxt, start, cache, cache.length)
        if nxt == stop_id and s.stop_at_period or step == s.max_new_words - 1:
            return
        seq.append(nxt)
        act = ActivationCache(attention=False) if capture else None
        if cache.length < block:
            logits, _ = model(torch.tensor([[nxt]]), cache=cache, capture=act)
        else:  # context full: slide the window and rebuild the cache
            start = len(seq) - block
            cache = model.new_cache()
            logits, _ = model(torch.tensor([seq[start:]]), cache=cache, capture=act)


@torch.inference_mode()
def generate(model: GPT, tokenizer: Tokenizer, prompt: str, sampling: SamplingConfig | None = None) -> list[str]:
    """Plain KV-cached generation (nothing captured): the generated words."""
    s = sampling or SamplingConfig()
    ids, *_ = encode_prompt(tokenizer, prompt, model.config.block_size)
    if model.training:
        model.eval()
    return [tokenizer.vocab[r.token] for r in _steps(model, ids, s, tokenizer.stoi.get("."), capture=False)]


@torch.inference_mode()
def trace_generation(ckpt: Checkpoint, prompt: str, sampling: SamplingConfig | None = None,
                     top_k: int = 10, lens_k: int = 5) -> GenerationTrace:
    """Generate from a prompt and record every step at every depth (see GenerationTrace)."""
    s = sampling or SamplingConfig()
    model, tok = ckpt.model, ckpt.tokenizer
    if model.training:
        model.eval()
    ids, words, unknown, notices = encode_prompt(tok, prompt, model.config.block_size)
    stop_id = tok.stoi.get(".")
    records = list(_steps(model, ids, s, stop_id, capture=True))
    return _build_trace(ckpt, ids, words, unknown, notices, s, records, top_k, lens_k, stop_id)


def _build_trace(ckpt: Checkpoint, ids, words, unknown, notices, s: SamplingConfig, records: list[_Step],
                 top_k: int, lens_k: int, stop_id: int | None) -> GenerationTrace:
    """Turn the per-step activations into arrays, batching the logit lens over all steps and depths."""
    model, tok, n_layer = ckpt.model, ckpt.tokenizer, ckpt.model.config.n_layer
    names, cmat = ckpt.context_matrix()
    depths = ["embed"] + [f"blocks.{i}.resid_post" for i in range(n_layer)] + ["ln_f"]
    queries = [f"blocks.{i}.attn.q" for i in range(n_layer)]
    newest = _newest(records, depths + queries if queries[0] in records[0].act else depths)
    resid = newest[:, : len(depths)]  # (S, L, C)
    # logit lens at every depth up to the last block; the final depth is the model's own output distribution (for
    # our GPT the same as the last block's lens; other models may add e.g. a logit soft-cap)
    lens = model.decode_residual(resid[:, :-1])  # (S, L - 1, V)
    probs = torch.cat([lens, torch.stack([r.logits for r in records])[:, None]], dim=1).softmax(-1)  # (S, L, V)
    top = torch.topk(probs, min(max(top_k, lens_k), len(tok)), dim=-1)  # (S, L, k)
    probs, top_ids, top_probs = probs.numpy(), top.indices.numpy(), top.values.numpy()
    masses = (probs.reshape(-1, probs.shape[-1]) @ cmat).reshape(*probs.shape[:2], -1)  # (S, L, G)
    chosen = np.fromiter((r.token for r in records), np.int64, len(records))
    reason = "period" if records[-1].token == stop_id and s.stop_at_period else "word limit"
    return GenerationTrace(
        prompt_words=words, prompt_ids=np.array(ids, np.int64), generated_ids=chosen, vocab=tok.vocab,
        layer_names=["embed"] + [f"block {i + 1}" for i in range(n_layer)] + ["final"], context_names=names,
        hidden=resid.numpy(), prompt_hidden=torch.stack([records[0].act[n][0] for n in depths], dim=1).numpy(),
        topk_ids=top_ids[:, -1, :top_k], topk_probs=top_probs[:, -1, :top_k],
        chosen_probs=probs[np.arange(len(records)), -1, chosen], context_probs=masses[:, -1],
        lens_top_ids=top_ids[:, :, :lens_k], lens_top_probs=top_probs[:, :, :lens_k], lens_context_probs=masses,
        attention=_attention(model, records, newest[:, len(depths):]).numpy(),
        attention_start=np.array([r.start for r in records], np.int64), sampling=asdict(s), unknown_words=unknown,
        notices=notices, stop_reason=reason)


def _newest(records: list[_Step], names: list[str]) -> torch.Tensor:
    """(S, len(names), C) the named activations, each (B=1, T, C), at each step's newest position."""
    first = [records[0].act[n][:, -1:] for n in names]
    if all(r.act[names[0]].size(1) == 1 for r in records[1:]):  # one token read per step: one cat gathers all
        parts = first + [r.act[n] for r in records[1:] for n in names]
    else:  # the window slid: some steps re-read the whole window
        parts = first + [r.act[n][:, -1:] for r in records[1:] for n in names]
    return torch.cat(parts).view(len(records), len(names), -1)


def _attention(model: GPT, records: list[_Step], q: torch.Tensor) -> torch.Tensor:
    """(S, n_layer, nh, W) attention of each step's newest query: from the captured queries and the KV cache, in a
    batch per context window (or taken from the patterns the model captured, for models that hand them back)."""
    n_layer = model.config.n_layer
    if "blocks.0.attn.pattern" in records[0].act:
        W = max(r.n_keys for r in records)
        out = torch.zeros(len(records), n_layer, model.config.n_head, W)
        for i, r in enumerate(records):
            pat = torch.stack([r.act[f"blocks.{j}.attn.pattern"][0, :, -1] for j in range(n_layer)])
            out[i, :, :, : pat.shape[-1]] = pat
        return out
    n_keys = torch.tensor([r.n_keys for r in records])
    windows = {id(r.cache): r.cache for r in records}
    if len(windows) == 1:  # the common case: one window, one batch
        keys = torch.stack([k[0, :, : int(n_keys.max())] for k in records[0].cache.k])  # (n_layer, nh, T, hs)
        return model.newest_query_attention(q, keys, n_keys)
    out = torch.zeros(len(records), n_layer, model.config.n_head, int(n_keys.max()))
    for cache in windows.values():
        rows = [i for i, r in enumerate(records) if r.cache is cache]
        T = int(n_keys[rows].max())
        keys = torch.stack([k[0, :, :T] for k in cache.k])
        out[rows, :, :, :T] = model.newest_query_attention(q[rows], keys, n_keys[rows])
    return out


@torch.inference_mode()
def candidate_states(ckpt: Checkpoint, trace: GenerationTrace, step: int, k: int = 5) -> tuple[list[str], np.ndarray,
                                                                                              np.ndarray]:
    """Where each of a step's top-k candidates would take the state: (words, probabilities (k,), states (k, L, C)),
    the residual stream at every depth after reading the candidate instead of the word that was chosen."""
    if not 0 <= step < trace.n_steps:
        raise ValueError(f"step must be in 0..{trace.n_steps - 1}, got {step}")
    block = ckpt.model.config.block_size
    before = (list(trace.prompt_ids) + list(trace.generated_ids[:step]))[-(block - 1):]
    ids = [int(i) for i in trace.topk_ids[step, :k]]
    act = ActivationCache(attention=False)
    ckpt.model(torch.tensor([before + [c] for c in ids]), capture=act)
    states = act.residual_stack()[:, :, -1].transpose(0, 1).numpy()  # (k, L, C)
    return [trace.vocab[i] for i in ids], trace.topk_probs[step, :k].copy(), states
