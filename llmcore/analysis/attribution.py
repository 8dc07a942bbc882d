"""Which components write the answer: direct logit attribution of every head, MLP and the embeddings through the
final norm (linearised), and zero- or mean-ablation of each head and MLP against the held-out measure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from llmcore.analysis.evaluate import held_out_breakdown
from llmcore.analysis.interventions import target_ids, with_articles, word_ids
from llmcore.model.checkpoint import Checkpoint
from llmcore.model.depths import depths
from llmcore.model.hooks import Edit, hooked, model_sites


@dataclass
class Attribution:
    """Direct logit attribution at the last position to the mean logit of the target words, through the final norm
    linearised (its scale frozen at the clean run's value). N components: embed, every head of every block, each
    block's attention bias, each block's MLP, then the final norm's bias (and the head's bias, if any).

    values: (N,) contributions; they add up to target_logit.
    """

    names: list[str]
    values: np.ndarray
    target_logit: float
    target: list[str]
    words: list[str]

    def __post_init__(self) -> None:
        if self.values.shape != (len(self.names),):
            raise ValueError(f"Attribution.values has shape {self.values.shape}, expected ({len(self.names)},)")

    def lead(self) -> str:
        """The attribution in one plain sentence: the part that adds most to the target's score, and the one that
        takes most away (the parts add up to the score)."""
        up, down = int(np.argmax(self.values)), int(np.argmin(self.values))
        text = (f"The model scores {'/'.join(self.target)} {self.target_logit:.2f} after '{' '.join(self.words)}'; "
                f"of the parts that add up to that score, {plain_name(self.names[up])} adds the most "
                f"({self.values[up]:+.2f})")
        if self.values[down] < 0:
            text += f" and {plain_name(self.names[down])} takes away the most ({self.values[down]:+.2f})"
        return text + "."

    def top(self, n: int = 5) -> list[tuple[str, float]]:
        """The n components with the largest absolute contribution."""
        order = np.argsort(-np.abs(self.values))[:n]
        return [(self.names[i], float(self.values[i])) for i in order]


def plain_name(component: str) -> str:
    """A component's name in a sentence: 'the embeddings (the words themselves)', "block 2's MLP", ..."""
    if component == depths(1)[0].label:
        return "the embeddings (the words themselves)"
    words = component.split(" ")
    if words[0] == "block" and len(words) > 2:
        return f"block {words[1]}'s {' '.join(words[2:])}"
    return f"the {component}"


def _norm_parts(norm: nn.Module, x: torch.Tensor) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """The final norm at input x (C,), linearised: a linear map of a component and the constant (bias) it adds."""
    gamma = norm.weight.detach().float()
    if isinstance(norm, nn.LayerNorm):
        scale = gamma / torch.sqrt(x.var(unbiased=False) + norm.eps)
        bias = norm.bias.detach().float() if norm.bias is not None else torch.zeros_like(gamma)
        return lambda c: (c - c.mean(-1, keepdim=True)) * scale, bias
    eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", 1e-6)) or 1e-6  # RMSNorm: x / rms(x) * gamma
    scale = gamma / torch.sqrt(x.pow(2).mean() + eps)
    return lambda c: c * scale, torch.zeros_like(gamma)


@torch.no_grad()
def attribute(ckpt: Checkpoint, prompt: str, *, target: Sequence[str] | None = None,
              skip_articles: bool = True) -> Attribution:
    """Direct logit attribution of every head, MLP and the embeddings (see Attribution)."""
    model, tok = ckpt.model, ckpt.tokenizer
    sites = model_sites(model)
    ids = word_ids(ckpt, prompt)
    words, tid = target_ids(ckpt, target, [tok.vocab[i] for i in ids])
    if skip_articles:
        ids, _ = with_articles(model, ids, ids, vocab=tok.vocab, block=model.config.block_size)
    keep: dict[tuple[str, int], torch.Tensor] = {}
    grab = lambda key: lambda x: keep.__setitem__(key, x[0, -1].detach().float())  # noqa: E731
    edits = {("resid", 0): [grab(("resid", 0))], ("norm", 0): [grab(("norm", 0))]}
    for i in range(sites.n_layer):
        edits[("proj", i)], edits[("mlp", i)] = [grab(("proj", i))], [grab(("mlp", i))]
    with hooked(sites, edits):
        logits, _ = model(torch.tensor([ids]))
    lin, norm_bias = _norm_parts(sites.norm, keep[("norm", 0)])
    w_u = sites.head.weight.detach().float()[tid].mean(0)  # (C,) the mean target direction
    C, nh = w_u.shape[0], sites.n_head
    stack = depths(sites.n_layer)
    names, vecs = [stack[0].label], [keep[("resid", 0)]]
    for i in range(sites.n_layer):
        z, proj, block = keep[("proj", i)], sites.proj[i], stack[i + 1].label
        masked = torch.zeros(nh + 1, C, dtype=z.dtype)
        for h in range(nh):
            masked[h, h * C // nh:(h + 1) * C // nh] = z[h * C // nh:(h + 1) * C // nh]
        out = proj(masked.to(sites.head.weight.dtype)).float()  # rows: each head alone, then nothing (the bias)
        names += [f"{block} head {h + 1}" for h in range(nh)] + [f"{block} attention bias"]
        vecs += list(out[:nh] - out[nh]) + [out[nh]]
        names.append(f"{block} MLP")
        vecs.append(keep[("mlp", i)])
    values = [float(w_u @ lin(v)) for v in vecs] + [float(w_u @ norm_bias)]
    names.append("final norm bias")
    head_bias = getattr(sites.head, "bias", None)
    if head_bias is not None:
        names.append("unembedding bias")
        values.append(float(head_bias.detach().float()[tid].mean()))
    return Attribution(names=names, values=np.array(values), target_logit=float(logits[0, -1, tid].float().mean()),
                       target=words, words=[tok.vocab[i] for i in ids])


@dataclass
class Ablation:
    """Each head and MLP removed in turn, and the held-out generalisation measure (mean probability on the
    animal's habitats over the held-out prompts, llmcore.analysis.evaluate) that is left. N components.

    zero / mean: (N,) the measure with the component's output set to zero / to its mean over the prompts' positions.
    """

    names: list[str]
    zero: np.ndarray
    mean: np.ndarray
    baseline: float
    n_prompts: int

    def lead(self) -> str:
        """The ablation in one plain sentence: the part whose removal (mean-ablation) costs the most."""
        k = int(np.argmin(self.mean))
        return (f"Switch off {plain_name(self.names[k])} (its output replaced by its average) and the probability "
                f"of the animal's places on the {self.n_prompts} never-seen animal-food prompts in their plainest "
                "wording (one animal, no adjective, ending in an article; the Story asks each pair in more "
                f"wordings) falls from {self.baseline:.2f} to {self.mean[k]:.2f}, the largest fall of any head or MLP.")

    def __post_init__(self) -> None:
        for name in ("zero", "mean"):
            if getattr(self, name).shape != (len(self.names),):
                raise ValueError(f"Ablation.{name} must have one value per component")


@torch.no_grad()
def ablate(ckpt: Checkpoint) -> Ablation:
    """Zero- and mean-ablation of every head and MLP, measured on the held-out prompts (see Ablation)."""
    if not ckpt.held_out or not ckpt.world.animals:
        raise ValueError("ablation is measured on held-out (animal, food) prompts; this model has none")
    model, tok, world = ckpt.model, ckpt.tokenizer, ckpt.world
    sites = model_sites(model)
    # the plain forms ('a dog devours pizza in the'): every head and MLP is measured twice, so all 4,000+ forms of
    # a large world would make the Causes page wait a minute
    measure = lambda: float(np.mean(held_out_breakdown(model, tok, world, ckpt.held_out, plain=True).habitat_mass))  # noqa
    means: dict[tuple[str, int], torch.Tensor] = {}
    grab = lambda key: lambda x: means.__setitem__(key, x.reshape(-1, x.shape[-1]).mean(0))  # noqa: E731
    with hooked(sites, {(k, i): [grab((k, i))] for k in ("proj", "mlp") for i in range(sites.n_layer)}):
        baseline = measure()  # the means are over every position of every held-out prompt
    C, nh = model.config.n_embd, sites.n_head
    names, zero, mean = [], [], []
    for i in range(sites.n_layer):
        block = depths(sites.n_layer)[i + 1].label
        parts = [(f"{block} head {h + 1}", ("proj", i), slice(h * C // nh, (h + 1) * C // nh))
                 for h in range(nh)] + [(f"{block} MLP", ("mlp", i), slice(None))]
        for name, key, sl in parts:
            names.append(name)
            for out, fill in ((zero, torch.zeros(C)), (mean, means[key])):
                with hooked(sites, {key: [_fill_edit(sl, fill)]}):
                    out.append(measure())
    return Ablation(names=names, zero=np.array(zero), mean=np.array(mean), baseline=baseline,
                    n_prompts=len(held_out_breakdown(model, tok, world, ckpt.held_out, plain=True).prompts))


def _fill_edit(sl: slice, fill: torch.Tensor) -> Edit:
    def put(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[..., sl] = fill[sl].to(x.dtype)
        return x
    return put
