"""What the tracer, the maps, the landscapes, the interventions and the dashboard need from a model and from the
labeller of its words. Our GPT and llmcore.model.hf.HFCausalLM satisfy `LanguageModel`; World and
llmcore.model.hf.TokenTaxonomy satisfy `Labeller`. A new model kind needs one class that satisfies the protocol."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

    from llmcore.model.caches import ActivationCache
    from llmcore.world.types import Animal


class ModelConfig(Protocol):
    """The numbers every page and measure reads off a model."""

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int  # the most tokens one forward pass reads
    vocab_size: int

    def to_dict(self) -> dict[str, Any]: ...


class ForwardCache(Protocol):
    """A model's own key/value cache: generation hands it back on every call and reads how many positions it holds."""

    @property
    def length(self) -> int: ...


@runtime_checkable
class LanguageModel(Protocol):
    """A causal LM as the project reads it.

    `model(idx, targets=None, cache=None, capture=None)` -> (logits (B, T, vocab), loss or None). With a cache
    (from `new_cache`) only the new tokens are passed. With a capture it fills the residual stream at every depth
    (llmcore.model.depths: `embed`, `blocks.{i}.resid_post`, `ln_f`, each (B, T, C), as the blocks hand it on, after any
    hook of llmcore.model.hooks) and the attention: either `blocks.{i}.attn.pattern` on every pass, or, with a
    llmcore.model.gpt.KVCache, the queries `blocks.{i}.attn.q` from which the tracer rebuilds the newest query's
    pattern. `sites()` names the modules interventions hook.
    """

    config: ModelConfig
    training: bool
    lm_head: torch.nn.Module  # the unembedding: (..., C) after the final norm -> (..., vocab) logits

    def __call__(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: Any = None,
                 capture: ActivationCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    @property
    def device(self) -> torch.device: ...

    def new_cache(self) -> ForwardCache: ...

    def decode_residual(self, resid: torch.Tensor) -> torch.Tensor:
        """Logit lens: a residual-stream state through the final norm and the head -> logits."""
        ...

    def input_embeddings(self) -> torch.Tensor:
        """The token embedding matrix, (vocab, C)."""
        ...

    def sites(self) -> Sites: ...

    def eval(self) -> Any: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def num_params(self) -> int: ...


@runtime_checkable
class Labeller(Protocol):
    """Sub-contexts of a model's words: word -> (sub-context, subgroup), and text to read states from.

    `animals` holds the animals whose (animal, food) prompts the held-out measures, the counterfactual grid and
    the default causal targets use; it is empty for a labeller that has none (word lists of a foreign model).
    """

    taxonomy: dict[str, dict[str, list[str]]]  # context -> subgroup -> words
    animals: Mapping[str, Animal]
    content_hash: str
    source: str  # the file it was read from

    @property
    def contexts(self) -> list[str]: ...

    def label(self, word: str) -> tuple[str, str]:
        """(sub-context, subgroup); words outside the taxonomy get llmcore.world.load.FUNCTION_CONTEXT twice."""
        ...

    def words_of(self, context: str) -> list[str]: ...

    def reference_sentences(self, seed: int, n: int) -> list[str]:
        """Sentences whose states make the maps, deterministic for a seed."""
        ...


@dataclass
class Sites:
    """The modules of a pre-norm decoder that interventions hook: blocks, their attention and MLP, the attention's
    output projection (its input holds the heads side by side), the final norm and the unembedding."""

    embed: nn.Module | None  # its output is the residual stream at depth 0; None: block 0's input is
    blocks: list[nn.Module]
    attn: list[nn.Module]
    mlp: list[nn.Module]
    proj: list[nn.Module]
    norm: nn.Module
    head: nn.Module
    n_head: int

    @property
    def n_layer(self) -> int:
        return len(self.blocks)
