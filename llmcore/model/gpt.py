"""A decoder-only transformer in the nanoGPT manner, with a KV cache and an activation cache for tracing."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from llmcore.model.config import GPTConfig
from llmcore.model.depths import EMBED_HOOK, FINAL_HOOK, depths, pattern_hook, query_hook, resid_hook
from llmcore.model.hooks import Sites


class KVCache:
    """Per-layer keys and values of the positions seen so far, each (B, nh, T, hs)."""

    def __init__(self, n_layer: int) -> None:
        self.k: list[torch.Tensor | None] = [None] * n_layer
        self.v: list[torch.Tensor | None] = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.k[0] is None else self.k[0].size(2)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k[layer] is not None:
            k = torch.cat([self.k[layer], k], dim=2)
            v = torch.cat([self.v[layer], v], dim=2)
        self.k[layer], self.v[layer] = k, v
        return k, v


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout

    def forward(self, x: torch.Tensor, layer: int, cache: KVCache | None = None,
                capture: ActivationCache | None = None) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        if capture is not None:
            capture[query_hook(layer)] = q  # (B, T, C): the heads side by side
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (B, nh, T_past + T, hs)
        T_all = k.size(2)
        if capture is not None and capture.attention:  # explicit softmax so the pattern can be kept; SDPA's maths
            att = (q * (1.0 / math.sqrt(k.size(-1)))) @ k.transpose(-2, -1)  # (B, nh, T, T_all)
            if T > 1:  # a single newest query may see every key: no mask needed
                att = att.masked_fill(_causal_mask(T, T_all, x.device), float("-inf"))
            att = att.softmax(dim=-1)
            capture[pattern_hook(layer)] = att
            y = self.attn_dropout(att) @ v
        else:
            mask = None if T in (1, T_all) else ~_causal_mask(T, T_all, x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and T > 1,
                                               dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


def _causal_mask(t_new: int, t_all: int, device: torch.device) -> torch.Tensor:
    """True where a query (one of the newest t_new positions) must not see a key."""
    q_pos = torch.arange(t_all - t_new, t_all, device=device)[:, None]
    return torch.arange(t_all, device=device)[None, :] > q_pos


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, layer: int, cache: KVCache | None = None,
                capture: ActivationCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), layer, cache, capture)
        return x + self.mlp(self.ln_2(x))


class ActivationCache(dict):
    """Activations of one forward pass by name, TransformerLens style.

    Names: `embed` (token + position embedding), `blocks.{i}.resid_post` (output of block i), `ln_f` (after the
    final norm), and `blocks.{i}.attn.q` (the queries, heads side by side), each (B, T, C); if `attention` is true,
    `blocks.{i}.attn.pattern`, (B, nh, T, T_all).
    Without attention patterns the model keeps its fused attention kernel, so capturing costs almost nothing.
    """

    def __init__(self, attention: bool = True) -> None:
        super().__init__()
        self.attention = attention

    def residual_stack(self) -> tuple[torch.Tensor, list[str]]:
        """Residual stream at every depth (llmcore.model.depths) -> (n_layer + 2, B, T, C) and the depths' labels."""
        ds = depths(sum(1 for k in self if k.endswith(".resid_post")))
        return torch.stack([self[d.hook] for d in ds]), [d.label for d in ds]

    def attention_stack(self) -> torch.Tensor:
        """Attention patterns of every layer -> (n_layer, B, nh, T, T_all)."""
        n = sum(1 for k in self if k.endswith("attn.pattern"))
        return torch.stack([self[pattern_hook(i)] for i in range(n)])


def newest_query_attention(q: torch.Tensor, keys: torch.Tensor, n_keys: torch.Tensor) -> torch.Tensor:
    """Attention of newest queries over cached keys, computed after the fact for all steps and layers at once.

    q: (S, n_layer, C) each step's newest query (captured as `blocks.{i}.attn.q`); keys: (n_layer, nh, T, hs)
    from the KV cache; n_keys: (S,) how many keys each step could see. Returns (S, n_layer, nh, T), zero beyond
    n_keys: the pattern the fused attention kernel used without handing it back.
    """
    S, n_layer, nh, T, hs = q.size(0), q.size(1), keys.size(1), keys.size(2), keys.size(3)
    q = q.view(S, n_layer, nh, hs).permute(1, 2, 0, 3) * (1.0 / math.sqrt(hs))  # (n_layer, nh, S, hs)
    scores = (q @ keys.transpose(-1, -2)).permute(2, 0, 1, 3)  # (S, n_layer, nh, T)
    beyond = torch.arange(T, device=scores.device) >= n_keys.to(scores.device)[:, None, None, None]
    return scores.masked_fill(beyond, float("-inf")).softmax(-1)


class TracedLM(nn.Module):
    """What every model the tracer runs shares (our GPT and the Hugging Face adapter): its size and its device,
    read from its output head."""

    lm_head: nn.Linear

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device


class GPT(TracedLM):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying: input and output embeddings are one map
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):  # GPT-2's scaled init of residual projections
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def new_cache(self) -> KVCache:
        return KVCache(self.config.n_layer)

    def input_embeddings(self) -> torch.Tensor:
        """The token embedding matrix (vocab, C); tied to the head."""
        return self.transformer.wte.weight

    def sites(self) -> Sites:
        """The modules interventions hook (llmcore.model.hooks)."""
        h = list(self.transformer.h)
        return Sites(self.transformer.drop, h, [b.attn for b in h], [b.mlp for b in h], [b.attn.c_proj for b in h],
                     self.transformer.ln_f, self.lm_head, self.config.n_head)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: KVCache | None = None,
                capture: ActivationCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab) and the loss if targets are given; fills `capture` with activations if given."""
        B, T = idx.size()
        past = 0 if cache is None else cache.length
        if past + T > self.config.block_size:
            raise ValueError(f"sequence of {past + T} tokens exceeds block_size {self.config.block_size}")
        pos = torch.arange(past, past + T, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        if capture is not None:
            capture[EMBED_HOOK] = x
        for i, block in enumerate(self.transformer.h):
            x = block(x, i, cache, capture)
            if capture is not None:  # taken here, after any forward hook on the block (interventions) has acted
                capture[resid_hook(i)] = x
        x = self.transformer.ln_f(x)
        if capture is not None:
            capture[FINAL_HOOK] = x
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def decode_residual(self, resid: torch.Tensor) -> torch.Tensor:
        """Logit lens: a residual-stream vector read through the final norm and the head -> logits."""
        return self.lm_head(self.transformer.ln_f(resid))
