"""A decoder-only transformer in the nanoGPT manner, with a KV cache and an activation cache for tracing."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from llmcore.model.caches import ActivationCache, KVCache
from llmcore.model.config import GPTConfig
from llmcore.model.depths import EMBED_HOOK, FINAL_HOOK, pattern_hook, query_hook, resid_hook
from llmcore.model.protocols import Sites


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
