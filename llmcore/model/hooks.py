"""Forward hooks at the same sites of every model (our GPT, Hugging Face GPT-2 and Llama style): the residual stream
at each depth, each block's attention and MLP output, the heads before the attention's output projection, the final
norm. Hooks act only in the thread that installed them (the dashboard shares one model between sessions) and are
removed in `finally`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

if TYPE_CHECKING:
    from llmcore.model.protocols import LanguageModel

from llmcore.model.protocols import Sites

BLOCK_PATHS = ("transformer.h", "model.layers", "gpt_neox.layers")
Edit = Callable[[torch.Tensor], "torch.Tensor | None"]  # a site's (B, T, C) tensor -> a replacement, or None


def _child(module: nn.Module, names: Sequence[str]) -> nn.Module:
    for n in names:
        if hasattr(module, n):
            return getattr(module, n)
    raise ValueError(f"{type(module).__name__} has none of the sub-modules {', '.join(names)}")


def model_sites(model: LanguageModel) -> Sites:
    """The hook sites of any llmcore.model.protocols.LanguageModel (our GPT, llmcore.model.hf.HFCausalLM)."""
    return model.sites()


def hf_sites(hf: nn.Module, final_norm: nn.Module, head: nn.Module, n_head: int) -> Sites:
    """The hook sites of a Hugging Face causal LM: its decoder blocks, their attention, MLP and output projection."""
    blocks = decoder_blocks(hf)
    attn = [_child(b, ("attn", "self_attn", "attention")) for b in blocks]
    return Sites(None, blocks, attn, [_child(b, ("mlp",)) for b in blocks],
                 [_child(a, ("c_proj", "o_proj", "dense", "out_proj")) for a in attn], final_norm, head, n_head)


def decoder_blocks(hf: nn.Module) -> list[nn.Module]:
    """The decoder blocks of a Hugging Face causal LM."""
    blocks = next((hf.get_submodule(p) for p in BLOCK_PATHS if has_submodule(hf, p)), None)
    if blocks is None:
        raise ValueError(f"{type(hf).__name__}: cannot find the decoder blocks ({', '.join(BLOCK_PATHS)})")
    return list(blocks)


def has_submodule(model: nn.Module, path: str) -> bool:
    """Whether the model holds a submodule at this dotted path."""
    try:
        model.get_submodule(path)
        return True
    except AttributeError:
        return False


def _site(sites: Sites, kind: str, layer: int) -> tuple[nn.Module, bool]:
    """(module, hook its input?) of a site. Residual depth 0 is block 0's input, depth d the output of block d."""
    if kind == "resid":
        if layer == 0:
            return (sites.embed, False) if sites.embed is not None else (sites.blocks[0], True)
        return sites.blocks[layer - 1], False
    if kind == "proj":
        return sites.proj[layer], True
    if kind == "norm":
        return sites.norm, True
    return (sites.attn if kind == "attn" else sites.mlp)[layer], False


def _guarded(edits: list[Edit], owner: int) -> Edit:
    def apply(x: torch.Tensor) -> torch.Tensor | None:
        if threading.get_ident() != owner:
            return None
        changed = None
        for fn in edits:
            y = fn(x if changed is None else changed)
            changed = y if y is not None else changed
        return changed
    return apply


def _register(module: nn.Module, pre: bool, fn: Edit) -> torch.utils.hooks.RemovableHandle:
    """A hook that hands fn the main tensor (first argument or output, a tuple's first element) and puts back
    what fn returns (None: leave it)."""
    if pre:
        def pre_hook(mod: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
            x = args[0] if args else kwargs["hidden_states"]
            y = fn(x)
            if y is None:
                return None
            return ((y,) + tuple(args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": y})
        return module.register_forward_pre_hook(pre_hook, with_kwargs=True)

    def hook(mod: nn.Module, args: tuple, out: Any) -> Any:
        y = fn(out[0] if isinstance(out, tuple) else out)
        if y is None:
            return None
        return (y,) + tuple(out[1:]) if isinstance(out, tuple) else y
    return module.register_forward_hook(hook)


@contextmanager
def hooked(sites: Sites, edits: dict[tuple[str, int], list[Edit]]) -> Iterator[None]:
    """Install edits at sites ((kind, layer) -> functions of the site's (B, T, C) tensor) for one block of code."""
    owner, handles = threading.get_ident(), []
    try:
        for (kind, layer), fns in edits.items():
            module, pre = _site(sites, kind, layer)
            handles.append(_register(module, pre, _guarded(fns, owner)))
        yield
    finally:
        for h in handles:
            h.remove()
