"""What one forward pass keeps: the KV cache of the positions seen so far, the activation cache of every depth
(TransformerLens style), and the attention of the newest queries computed afterwards from both."""

from __future__ import annotations

import math

import torch

from llmcore.model.depths import depths, pattern_hook


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
