"""Generation with every layer captured: `trace_generation` returns a `GenerationTrace` of NumPy arrays.

Over 400 lines on purpose: the trace type, its file formats and the traced generation loop that fills it
are one contract; the loop is shared with plain generation (`generation_steps`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from llmcore.files import atomic_write
from llmcore.inputs import InputError, is_number, is_whole, parse_json
from llmcore.model.checkpoint import Checkpoint
from llmcore.model.config import from_dict
from llmcore.model.depths import depths, pattern_hook, query_hook
from llmcore.model.protocols import LanguageModel
from llmcore.model.tokenizer import Tokenizer
from llmcore.world.suggest import ADD_A_WORD, unknown_words_message
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:  # torch is imported by the functions that compute: a trace read from a file needs NumPy only
    import torch

    from llmcore.model.caches import ActivationCache, KVCache

MAX_NEW_WORDS = 64
MAX_PROMPT_CHARS = 10_000


class PromptError(ValueError):
    """A prompt or sampling setting that cannot be used; the message says what to change."""


_is_number, _is_whole = is_number, is_whole  # Python or NumPy scalars; bools are not numbers here


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
        if not isinstance(self.stop_at_period, (bool, np.bool_)):
            raise PromptError(f"stop_at_period must be true or false, got {self.stop_at_period!r}")
        # NumPy scalars become Python numbers, so the settings stay JSON-friendly in the trace
        for name, cast in (("temperature", float), ("top_p", float), ("seed", int), ("max_new_words", int),
                           ("stop_at_period", bool)) + ((("top_k", int),) if k is not None else ()):
            object.__setattr__(self, name, cast(getattr(self, name)))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def from_dict(cls, d: dict) -> SamplingConfig:
        return from_dict(cls, d)


TRACE_FORMAT = 2  # 2: one axis of word steps; 1 (no version in the file): prompt positions and generation apart


@dataclass
class GenerationTrace:
    """Everything one generation did, one step per word read: the prompt's words, then each generated word read.

    P prompt words, S generated words, N = P - 1 + S word steps, L depths (`layer_names`: embed, block 1 ...
    block n, final), C width, G sub-contexts. Step i is the state after reading words[i]; next_words[i] is the word
    that followed it: the prompt's own for i < boundary (= P - 1), the one generated from step boundary on.
    hidden: (N, L, C) the residual stream at the newest position; topk_ids / topk_probs: (N, K) next-word candidates;
    next_probs: (N,) the probability given to next_words[i]; context_probs: (N, G) next-word mass per sub-context;
    lens_top_ids / lens_top_probs: (N, L, K') logit lens per depth; lens_context_probs: (N, L, G);
    attention: (N, n_layer, n_head, W) the newest query's attention over the W positions of the window;
    attention_start: (N,) index of the window's first token in prompt + generated tokens;
    context_top_ids / context_top_probs: (N, G, m) the m likeliest next words of each sub-context (id -1 and
    probability 0 where a sub-context has fewer words); word_ids: (W,) every word of a sub-context other than the
    function words'; word_probs: (N, W) the next-word probability of each of them.
    """

    prompt_words: list[str]
    prompt_ids: np.ndarray
    generated_ids: np.ndarray
    vocab: list[str]
    layer_names: list[str]
    context_names: list[str]
    hidden: np.ndarray
    topk_ids: np.ndarray
    topk_probs: np.ndarray
    next_probs: np.ndarray
    context_probs: np.ndarray
    lens_top_ids: np.ndarray
    lens_top_probs: np.ndarray
    lens_context_probs: np.ndarray
    attention: np.ndarray
    attention_start: np.ndarray
    context_top_ids: np.ndarray
    context_top_probs: np.ndarray
    word_ids: np.ndarray
    word_probs: np.ndarray
    sampling: dict[str, Any] = field(default_factory=dict)
    unknown_words: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    stop_reason: str = ""

    def __post_init__(self) -> None:
        P, S, L, G = len(self.prompt_ids), len(self.generated_ids), len(self.layer_names), len(self.context_names)
        N = P - 1 + S
        if P < 1 or S < 1 or len(self.prompt_words) != P:
            raise ValueError("GenerationTrace needs a prompt word per prompt id and at least one generated word")
        K, m = self.topk_ids.shape[-1], self.context_top_ids.shape[-1]
        checks = {"hidden": (N, L, self.hidden.shape[-1]), "topk_ids": (N, K), "topk_probs": (N, K),
                  "next_probs": (N,), "context_probs": (N, G), "lens_top_ids": (N, L, self.lens_top_ids.shape[-1]),
                  "lens_top_probs": self.lens_top_ids.shape, "lens_context_probs": (N, L, G),
                  "attention": (N, *self.attention.shape[1:]), "attention_start": (N,),
                  "context_top_ids": (N, G, m), "context_top_probs": (N, G, m),
                  "word_probs": (N, len(self.word_ids))}
        for name, shape in checks.items():
            if getattr(self, name).shape != tuple(shape):
                raise ValueError(f"GenerationTrace.{name} has shape {getattr(self, name).shape}, expected "
                                 f"{tuple(shape)}")

    # ---- the word steps
    def __len__(self) -> int:
        return len(self.prompt_ids) - 1 + len(self.generated_ids)

    @property
    def n_prompt(self) -> int:
        return len(self.prompt_ids)

    @property
    def boundary(self) -> int:
        """Index of the first step whose next word was generated (the step after reading the prompt's last word)."""
        return self.n_prompt - 1

    @property
    def n_steps(self) -> int:
        """How many words were generated (the steps from `boundary` on)."""
        return len(self.generated_ids)

    @cached_property
    def generated_words(self) -> list[str]:
        return [self.vocab[i] for i in self.generated_ids]

    @cached_property
    def words(self) -> list[str]:
        """The word read at each step."""
        return self.prompt_words + self.generated_words[:-1]

    @cached_property
    def next_words(self) -> list[str]:
        """The word that followed each step: the prompt's own, then the generated ones."""
        return self.prompt_words[1:] + self.generated_words

    def generated(self, i: int) -> bool:
        return i >= self.boundary

    @property
    def completion(self) -> str:
        return " ".join(self.generated_words)

    @property
    def text(self) -> str:
        return " ".join(self.prompt_words + self.generated_words)

    def candidates(self, i: int) -> list[tuple[str, float]]:
        return [(self.vocab[j], float(p)) for j, p in zip(self.topk_ids[i], self.topk_probs[i])]

    def next_context(self, i: int) -> str:
        """The 'next' reading: the sub-context holding most of the next-word probability at step i."""
        return self.context_names[int(np.argmax(self.context_probs[i]))]

    def context_top(self, i: int, context: str) -> list[tuple[str, float]]:
        """The likeliest next words of one sub-context at step i, likeliest first, with their probabilities."""
        g = self.context_names.index(context)
        return [(self.vocab[j], float(p)) for j, p in zip(self.context_top_ids[i, g], self.context_top_probs[i, g])
                if j >= 0]

    @cached_property
    def _columns(self) -> dict[str, int]:
        return {self.vocab[j]: c for c, j in enumerate(self.word_ids)}

    def word_prob(self, i: int, word: str) -> float | None:
        """The next-word probability of a word of a sub-context at step i (None for a word not kept: function
        words and words outside the vocabulary)."""
        c = self._columns.get(word)
        return None if c is None else float(self.word_probs[i, c])

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly digest: the completion and, per word step, what was read, what came next and the
        candidates; `steps` repeats the generated steps alone."""
        word_steps = [{"step": i + 1, "read": self.words[i], "next": self.next_words[i],
                       "p_next": round(float(self.next_probs[i]), 4),
                       "next_from": "generated" if self.generated(i) else "prompt", "next_context":
                       self.next_context(i),
                       "context_probs": {c: round(float(p), 4) for c, p in zip(self.context_names,
                                                                                self.context_probs[i])},
                       "candidates": [{"word": a, "p": round(p, 4)} for a, p in self.candidates(i)]}
                      for i in range(len(self))]
        steps = [{"step": s + 1, "word": d["next"], "p": d["p_next"], "dominant_context": d["next_context"],
                  "context_probs": d["context_probs"], "candidates": d["candidates"]}
                 for s, d in enumerate(word_steps[self.boundary:])]
        return {"prompt": " ".join(self.prompt_words), "completion": self.completion, "text": self.text,
                "unknown_words": self.unknown_words, "notices": self.notices, "stop_reason": self.stop_reason,
                "sampling": self.sampling, "steps": steps, "word_steps": word_steps}

    # ---- persistence (NumPy .npz without pickle; strings travel in a JSON header with the format's version)
    _ARRAYS = ("prompt_ids", "generated_ids", "hidden", "topk_ids", "topk_probs", "next_probs", "context_probs",
               "lens_top_ids", "lens_top_probs", "lens_context_probs", "attention", "attention_start",
               "context_top_ids", "context_top_probs", "word_ids", "word_probs")

    def _meta(self) -> dict[str, Any]:
        return {"format": TRACE_FORMAT, **{k: v for k, v in asdict(self).items() if k not in self._ARRAYS}}

    @classmethod
    def _build(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], source: str) -> GenerationTrace:
        """A trace from its header and arrays, of this format or the one before (read and joined into one axis)."""
        meta = dict(meta)
        version = meta.pop("format", 1)
        if version == 1:
            return cls(**meta, **_joined_v1(arrays))
        if version != TRACE_FORMAT:
            raise ValueError(f"{source}: a trace of format {version!r}; this version reads formats 1 and "
                             f"{TRACE_FORMAT} (trace it again with this version)")
        return cls(**meta, **{k: arrays[k] for k in cls._ARRAYS})

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        buf = io.BytesIO()
        np.savez_compressed(buf, __meta__=np.array(json.dumps(self._meta())),
                            **{k: getattr(self, k) for k in self._ARRAYS})
        atomic_write(path, buf.getvalue())
        return path

    def to_json(self) -> str:
        """Every field as JSON (arrays as nested lists with their dtype), for tools that do not read .npz."""
        data = self._meta()
        data["arrays"] = {k: {"dtype": str(getattr(self, k).dtype), "shape": list(getattr(self, k).shape),
                              "data": getattr(self, k).tolist()} for k in self._ARRAYS}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> GenerationTrace:
        """A trace from `to_json`'s text; shapes are checked on construction."""
        try:
            data = parse_json(text)  # nesting checked before parsing
            arrays = {k: np.array(v["data"], dtype=v["dtype"]).reshape(v["shape"])
                      for k, v in data.pop("arrays").items()}
            return cls._build(data, arrays, "<json>")
        except (InputError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a trace in JSON ({type(e).__name__}: {e})") from None

    @classmethod
    def load(cls, path: str | Path) -> GenerationTrace:
        from llmcore.inputs import parse_json, read_bytes

        try:  # a regular file of bounded size, read without pickle; its JSON header's nesting checked first
            with np.load(io.BytesIO(read_bytes(Path(path), MAX_TRACE_FILE_BYTES)), allow_pickle=False) as z:
                meta = parse_json(str(z["__meta__"]))
                arrays = {k: z[k] for k in z.files if k != "__meta__"}
            return cls._build(meta, arrays, str(path))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a readable trace file ({e})") from None


V1_PROMPT = {"prompt_topk_ids": "topk_ids", "prompt_topk_probs": "topk_probs", "prompt_next_probs": "chosen_probs",
             "prompt_context_probs": "context_probs", "prompt_lens_top_ids": "lens_top_ids",
             "prompt_lens_top_probs": "lens_top_probs", "prompt_lens_context_probs": "lens_context_probs",
             "prompt_attention": "attention"}


def _joined_v1(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A format-1 trace's arrays (prompt positions and generation steps apart) on the one axis of word steps."""
    P = len(a["prompt_ids"])
    out = {new: np.concatenate([a[old], a[new if new != "next_probs" else "chosen_probs"]])
           for old, new in ((o, "next_probs" if n == "chosen_probs" else n) for o, n in V1_PROMPT.items())}
    out["hidden"] = np.concatenate([a["prompt_hidden"][:-1], a["hidden"]])
    out["attention_start"] = np.concatenate([np.zeros(P - 1, np.int64), a["attention_start"]])
    for k in ("prompt_ids", "generated_ids", "context_top_ids", "context_top_probs", "word_ids", "word_probs"):
        out[k] = a[k]
    return out


MAX_TRACE_FILE_BYTES = 256 << 20  # a trace of the longest prompt and every layer is a few MB


class EncodedPrompt(NamedTuple):
    """A prompt as the model reads it: ids, words (unknown ones as <unk>), the unknown words, notices."""

    ids: list[int]
    words: list[str]
    unknown: list[str]
    notices: list[str]


def encode_prompt(tokenizer: Tokenizer, prompt: str, block_size: int) -> EncodedPrompt:
    """Ids, words, unknown words and notices for a prompt; raises PromptError if nothing usable is left."""
    if not isinstance(prompt, str):
        raise PromptError(f"the prompt must be text, got {type(prompt).__name__}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PromptError(f"the prompt has {len(prompt):,} characters; use at most {MAX_PROMPT_CHARS:,}")
    enc = tokenizer.encode(prompt)
    if not enc.ids:
        raise PromptError("the prompt is empty: type a few words, e.g. 'a dog devours pizza in'")
    if all(w in ".!?" for w in enc.words):
        raise PromptError("the prompt is only punctuation: type a few words, e.g. 'a dog devours pizza in'")
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
    return EncodedPrompt(ids, words, enc.unknown, notices)


def pick_token(logits: torch.Tensor, s: SamplingConfig, gen: torch.Generator) -> int:
    """Choose the next token id from (V,) logits under the sampling settings (`s`), with the seeded generator."""
    import torch

    if s.greedy:
        return int(torch.argmax(logits))
    # float64, and the largest logit moved to 0 before dividing: finite for every temperature down to 5e-324
    logits = logits.double()
    logits = (logits - logits.max()) / s.temperature
    if s.top_k is not None and s.top_k < logits.numel():
        kth = torch.topk(logits, s.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    if s.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, 0) - sorted_p < s.top_p  # smallest set whose mass reaches top_p
        keep[0] = True  # the likeliest word always stays, however small top_p is
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs / probs.sum(), 1, generator=gen))


class GenerationStep(NamedTuple):
    """One step of the generation loop: what the forward pass gave and what was chosen."""

    logits: torch.Tensor  # (V,) at the newest position
    window_logits: torch.Tensor  # (T, V) at every position read by this forward pass
    act: ActivationCache | None  # residual stream of this forward pass
    token: int  # the id chosen
    start: int  # index of the window's first token in prompt + generated
    cache: KVCache  # the cache of this window (it keeps growing after this step)
    n_keys: int  # keys the newest query could see at this step


def generation_steps(model: LanguageModel, ids: list[int], s: SamplingConfig, *, stop_id: int | None,
                     capture: bool) -> Iterator[GenerationStep]:
    """The generation loop, shared by plain and traced generation. Tensors live on the model's device; the choice
    is made on the CPU, so a seed picks the same words on any device."""
    import torch

    from llmcore.model.caches import ActivationCache

    gen = torch.Generator().manual_seed(s.seed)
    block, dev = model.config.block_size, model.device
    seq, start = list(ids), 0
    cache, act = model.new_cache(), ActivationCache(attention=False) if capture else None
    logits, _ = model(torch.tensor([seq], device=dev), cache=cache, capture=act)
    for step in range(s.max_new_words):
        nxt = pick_token(logits[0, -1].cpu(), s, gen)
        yield GenerationStep(logits[0, -1], logits[0], act, nxt, start, cache, cache.length)
        if nxt == stop_id and s.stop_at_period or step == s.max_new_words - 1:
            return
        seq.append(nxt)
        act = ActivationCache(attention=False) if capture else None
        if cache.length < block:
            logits, _ = model(torch.tensor([[nxt]], device=dev), cache=cache, capture=act)
        else:  # context full: slide the window and rebuild the cache
            start = len(seq) - block
            cache = model.new_cache()
            logits, _ = model(torch.tensor([seq[start:]], device=dev), cache=cache, capture=act)


def generate(model: LanguageModel, tokenizer: Tokenizer, prompt: str,
             sampling: SamplingConfig | None = None) -> list[str]:
    """Plain KV-cached generation (nothing captured): the generated words."""
    import torch

    s = sampling or SamplingConfig()
    ids, *_ = encode_prompt(tokenizer, prompt, model.config.block_size)
    if model.training:
        model.eval()
    with torch.inference_mode():
        return [tokenizer.vocab[r.token] for r in generation_steps(model, ids, s, stop_id=tokenizer.stoi.get("."),
                                                          capture=False)]


def trace_generation(ckpt: Checkpoint, prompt: str, sampling: SamplingConfig | None = None, *,
                     top_k: int = 10, lens_k: int = 5) -> GenerationTrace:
    """Generate from a prompt and record every step at every depth (see GenerationTrace)."""
    import torch

    s = sampling or SamplingConfig()
    for name, k in (("top_k", top_k), ("lens_k", lens_k)):
        if not is_whole(k) or not 1 <= k <= 1000:
            raise PromptError(f"{name} must be a whole number from 1 to 1000, got {k!r}")
    top_k, lens_k = int(top_k), int(lens_k)
    model, tok = ckpt.model, ckpt.tokenizer
    if model.training:
        model.eval()
    enc = encode_prompt(tok, prompt, model.config.block_size)
    stop_id = tok.stoi.get(".")
    with torch.inference_mode():
        records = list(generation_steps(model, enc.ids, s, stop_id=stop_id, capture=True))
        return _build_trace(ckpt, enc, records, sampling=s, top_k=top_k, lens_k=lens_k, stop_id=stop_id)


def _build_trace(ckpt: Checkpoint, enc: EncodedPrompt, records: list[GenerationStep], *, sampling: SamplingConfig,
                 top_k: int, lens_k: int, stop_id: int | None) -> GenerationTrace:
    """Turn the activations into arrays, batching the logit lens over every position read and every depth.

    Rows are the word steps: the P prompt positions (the first forward pass), then the newest position of each
    later forward pass (steps 2..S of the generation).
    """
    import torch

    model, tok, n_layer = ckpt.model, ckpt.tokenizer, ckpt.model.config.n_layer
    ids, s = enc.ids, sampling
    names, membership = ckpt.context_matrix()
    stack = depths(n_layer)
    hooks, queries = [d.hook for d in stack], [query_hook(i) for i in range(n_layer)]
    P = len(ids)
    rows = _position_rows(records, hooks + queries if queries[0] in records[0].act else hooks)
    resid = rows[:, : len(hooks)]  # (N, L, C)
    # logit lens at every depth up to the last block; the final depth is the model's own output distribution (for
    # our GPT the same as the last block's lens; other models may add e.g. a logit soft-cap)
    lens = model.decode_residual(resid[:, :-1])  # (N, L - 1, V)
    out = torch.cat([records[0].window_logits] + [r.logits[None] for r in records[1:]])  # (N, V)
    probs = torch.cat([lens, out[:, None]], dim=1).softmax(-1)  # (N, L, V)
    top = torch.topk(probs, min(max(top_k, lens_k), len(tok)), dim=-1)  # (N, L, k)
    probs, top_ids, top_probs = probs.cpu().numpy(), top.indices.cpu().numpy(), top.values.cpu().numpy()
    masses = (probs.reshape(-1, probs.shape[-1]) @ membership).reshape(*probs.shape[:2], -1)  # (N, L, G)
    top_in = context_tops(probs[:, -1], membership)  # (N, G, m) twice
    named = np.delete(membership, names.index(FUNCTION_CONTEXT), axis=1)
    word_ids = np.flatnonzero(named.any(1))  # every word of a sub-context other than the function words'
    chosen = np.fromiter((r.token for r in records), np.int64, len(records))
    nexts = np.concatenate([np.array(ids[1:], np.int64), chosen])
    next_probs = probs[np.arange(len(nexts)), -1, nexts]
    attention = _attention(model, records, P, rows[:, len(hooks):]).cpu().numpy()
    resid = resid.cpu()
    reason = "period" if records[-1].token == stop_id and s.stop_at_period else "word limit"
    return GenerationTrace(
        prompt_words=enc.words, prompt_ids=np.array(ids, np.int64), generated_ids=chosen, vocab=tok.vocab,
        layer_names=[d.label for d in stack], context_names=names, hidden=resid.numpy(),
        topk_ids=top_ids[:, -1, :top_k], topk_probs=top_probs[:, -1, :top_k], next_probs=next_probs,
        context_probs=masses[:, -1], lens_top_ids=top_ids[:, :, :lens_k], lens_top_probs=top_probs[:, :, :lens_k],
        lens_context_probs=masses, attention=attention,
        attention_start=np.array([0] * (P - 1) + [r.start for r in records], np.int64),
        context_top_ids=top_in[0], context_top_probs=top_in[1], word_ids=word_ids.astype(np.int64),
        word_probs=probs[:, -1, word_ids], sampling=asdict(s), unknown_words=enc.unknown, notices=enc.notices,
        stop_reason=reason)


CONTEXT_TOP = 5  # words kept per sub-context and word step


def context_tops(probs: np.ndarray, membership: np.ndarray, m: int = CONTEXT_TOP) -> tuple[np.ndarray, np.ndarray]:
    """The m likeliest words of each sub-context in each row of probs (N, V), membership (V, G) the 0/1 membership:
    ids (N, G, m) and probabilities (N, G, m), likeliest first; id -1 and 0 where a sub-context has fewer."""
    N, G = len(probs), membership.shape[1]
    ids, out = np.full((N, G, m), -1, np.int64), np.zeros((N, G, m), np.float32)
    for g in range(G):
        members = np.flatnonzero(membership[:, g])
        k = min(m, len(members))
        if k:
            part = probs[:, members]
            order = np.argsort(-part, axis=1, kind="stable")[:, :k]
            ids[:, g, :k], out[:, g, :k] = members[order], np.take_along_axis(part, order, 1)
    return ids, out


def _position_rows(records: list[GenerationStep], names: list[str]) -> torch.Tensor:
    """(P + S - 1, len(names), C) the named activations, each (B=1, T, C): every position of the first forward
    pass (the prompt), then the newest position of each later step."""
    import torch

    first = [records[0].act[n][0] for n in names]  # each (P, C)
    P = first[0].size(0)
    head = torch.stack(first, dim=1)  # (P, len(names), C)
    if len(records) == 1:
        return head
    if all(r.act[names[0]].size(1) == 1 for r in records[1:]):  # one token read per step: one cat gathers all
        parts = [r.act[n] for r in records[1:] for n in names]
    else:  # the window slid: some steps re-read the whole window
        parts = [r.act[n][:, -1:] for r in records[1:] for n in names]
    return torch.cat([head, torch.cat(parts).view(len(records) - 1, len(names), -1)]) if P else head


def _attention(model: LanguageModel, records: list[GenerationStep], P: int, q: torch.Tensor) -> torch.Tensor:
    """(N, n_layer, nh, W) attention of each row's query (the P prompt positions, then each later step's newest):
    from the captured queries and the KV cache, in a batch per context window (or taken from the patterns the model
    captured, for models that hand them back)."""
    import torch

    from llmcore.model.caches import newest_query_attention

    n_layer = model.config.n_layer
    caches = [records[0].cache] * P + [r.cache for r in records[1:]]
    n_keys = torch.tensor(list(range(1, P + 1)) + [r.n_keys for r in records[1:]])
    out = torch.zeros(len(caches), n_layer, model.config.n_head, int(n_keys.max()), device=model.device)
    if pattern_hook(0) in records[0].act:  # the model handed the patterns back
        pats = [torch.stack([r.act[pattern_hook(j)][0, :, -1] for j in range(n_layer)]) for r in records[1:]]
        first = torch.stack([records[0].act[pattern_hook(j)][0] for j in range(n_layer)])  # (nl, nh, P, P)
        pats = [first[:, :, t, : t + 1] for t in range(P)] + pats
        for i, pat in enumerate(pats):
            out[i, :, :, : pat.shape[-1]] = pat[..., : int(n_keys[i])]
        return out
    for cache in {id(c): c for c in caches}.values():
        rows = [i for i, c in enumerate(caches) if c is cache]
        T = int(n_keys[rows].max())
        keys = torch.stack([k[0, :, :T] for k in cache.k])  # (n_layer, nh, T, hs)
        out[rows, :, :, :T] = newest_query_attention(q[rows], keys, n_keys[rows])
    return out


def candidate_states(ckpt: Checkpoint, trace: GenerationTrace, step: int, k: int = 5) -> tuple[list[str], np.ndarray,
                                                                                              np.ndarray]:
    """Where each of a word step's top-k candidates would take the state: (words, probabilities (k,), states
    (k, L, C)), the residual stream at every depth after reading the candidate instead of the word that came next.
    `step` is a word step (0 = after the first word)."""
    import torch

    from llmcore.model.caches import ActivationCache

    if not 0 <= step < len(trace):
        raise ValueError(f"step must be in 0..{len(trace) - 1}, got {step}")
    block = ckpt.model.config.block_size
    before = (list(trace.prompt_ids) + list(trace.generated_ids))[: step + 1][-(block - 1):]
    ids = [int(i) for i in trace.topk_ids[step, :k]]
    act = ActivationCache(attention=False)
    with torch.inference_mode():
        ckpt.model(torch.tensor([before + [c] for c in ids], device=ckpt.model.device), capture=act)
    stack, _ = act.residual_stack()
    states = stack[:, :, -1].transpose(0, 1).cpu().numpy()  # (k, L, C)
    return [trace.vocab[i] for i in ids], trace.topk_probs[step, :k].copy(), states
