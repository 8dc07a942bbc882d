"""The depths of the residual stream, named once: the label a page shows (and maps are stored under) and the name
a model's forward pass captures it by in an ActivationCache."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

EMBED_HOOK, FINAL_HOOK = "embed", "ln_f"  # token + position embedding; after the final norm
EMBED, FINAL = "embed", "final"  # their labels


def resid_hook(layer: int) -> str:
    """The captured output of block `layer` (0-based)."""
    return f"blocks.{layer}.resid_post"


def pattern_hook(layer: int) -> str:
    """Attention pattern of block `layer`, (B, nh, T, T_all)."""
    return f"blocks.{layer}.attn.pattern"


def query_hook(layer: int) -> str:
    """Queries of block `layer`, heads side by side, (B, T, C)."""
    return f"blocks.{layer}.attn.q"


@dataclass(frozen=True)
class Depth:
    """One depth of the residual stream. index: 0 (embed) ... n_layer + 1 (final); label: as shown, and the key
    the shipped maps are stored under ("embed", "block 3", "final"); hook: its name in an ActivationCache."""

    index: int
    label: str
    hook: str

    @property
    def normed(self) -> bool:
        """True for the final depth: the state after the final norm, which the head reads as it is."""
        return self.hook == FINAL_HOOK


@lru_cache(maxsize=64)
def depths(n_layer: int) -> tuple[Depth, ...]:
    """Every depth of a model with n_layer blocks: embed, block 1 ... block n_layer, final (n_layer + 2)."""
    blocks = [Depth(i + 1, f"block {i + 1}", resid_hook(i)) for i in range(n_layer)]
    return (Depth(0, EMBED, EMBED_HOOK), *blocks, Depth(n_layer + 1, FINAL, FINAL_HOOK))


def depth_labels(n_layer: int) -> list[str]:
    """The labels of `depths(n_layer)`, in order."""
    return [d.label for d in depths(n_layer)]


def depth_named(label: str, n_layer: int) -> Depth:
    """The depth with this label; a ValueError names the labels a model of n_layer blocks has."""
    for d in depths(n_layer):
        if d.label == label:
            return d
    raise ValueError(f"depth {label!r}: this model has {', '.join(depth_labels(n_layer))}")
