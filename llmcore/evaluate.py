"""Quality measures of a trained model: generalisation to held-out compositions, diets, embedding neighbourhoods."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from llmcore.model import GPT
from llmcore.tokenizer import Tokenizer
from llmcore.world import World, article


@dataclass
class QualityReport:
    """Figures the quality bars are stated in (see README)."""

    # habitat_*: None when the world holds no pair out (nothing to measure)
    habitat_mass: float | None  # mean probability on the animal's habitats after "a <animal> <verb> <food> in the"
    habitat_top1: float | None  # share of those prompts whose most likely location is a habitat of the animal
    diet_share: float  # after "a <animal> eats": share of food probability that falls on the animal's diet
    neighbour_purity: float  # share of 5 nearest neighbours (cosine) that share a content word's sub-context
    n_generalisation_prompts: int

    def to_dict(self) -> dict[str, float]:
        """The measures taken (those with nothing to measure are left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def generalisation_prompts(world: World, pairs: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(animal, food, prompt) for every held-out pair and eating verb, ending just before the place word."""
    return [(a, f, f"{article(a)} {a} {v} {f} in the") for a, f in pairs for v in world.recipe.eat_verbs]


@dataclass
class HeldOutBreakdown:
    """Where the model sends the place word after each held-out prompt 'a <animal> <verb> <food> in the'.

    One entry per prompt: top_place is the most likely location word and top_place_prob its probability;
    habitat_mass the probability on the animal's habitats; food_place_mass the probability on places the food has
    of its own in the world ('pizza is sold in a restaurant'; 0 where it has none); top_is_habitat whether the top
    location is one of the animal's habitats.
    """

    prompts: list[str]
    animals: list[str]
    foods: list[str]
    top_place: list[str]
    top_place_prob: np.ndarray
    habitat_mass: np.ndarray
    food_place_mass: np.ndarray
    top_is_habitat: np.ndarray


def held_out_breakdown(model: GPT, tokenizer: Tokenizer, world: World,
                       pairs: list[tuple[str, str]]) -> HeldOutBreakdown:
    """Each held-out prompt's place-word distribution, summarised (see HeldOutBreakdown)."""
    prompts = generalisation_prompts(world, pairs)
    probs = next_word_probs(model, tokenizer, [p for _, _, p in prompts])
    loc_ids = np.array([tokenizer.stoi[w] for w in world.words_of("locations") if w in tokenizer.stoi])
    ids = tokenizer.stoi
    top = loc_ids[np.argmax(probs[:, loc_ids], axis=1)] if len(prompts) else np.zeros(0, int)
    habitats = [[ids[h] for h in world.animals[a].habitats] for a, _, _ in prompts]
    own = [[ids[q] for q in world.food_places.get(f, ("", []))[1]] for _, f, _ in prompts]
    rows = np.arange(len(prompts))
    return HeldOutBreakdown(
        prompts=[p for _, _, p in prompts], animals=[a for a, _, _ in prompts], foods=[f for _, f, _ in prompts],
        top_place=[tokenizer.vocab[i] for i in top], top_place_prob=probs[rows, top],
        habitat_mass=np.array([probs[r, h].sum() for r, h in zip(rows, habitats)], np.float32),
        food_place_mass=np.array([probs[r, o].sum() for r, o in zip(rows, own)], np.float32),
        top_is_habitat=np.array([t in h for t, h in zip(top, habitats)], bool))


@torch.no_grad()
def next_word_probs(model: GPT, tokenizer: Tokenizer, prompts: list[str]) -> np.ndarray:
    """Next-word distributions (n_prompts, vocab) for prompts, batched by length."""
    out = np.zeros((len(prompts), len(tokenizer)), np.float32)
    encoded = [tokenizer.encode(p).ids for p in prompts]
    by_len: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_len.setdefault(len(ids), []).append(i)
    for idxs in by_len.values():
        x = torch.tensor([encoded[i] for i in idxs], device=model.lm_head.weight.device)
        logits, _ = model(x)
        out[idxs] = logits[:, -1].softmax(-1).cpu().numpy()
    return out


def measure_generalisation(model: GPT, tokenizer: Tokenizer, world: World,
                           pairs: list[tuple[str, str]]) -> tuple[float | None, float | None, int]:
    """Mean habitat probability and top-1 habitat rate over held-out prompts (None, None, 0 if there are none)."""
    if not pairs:
        return None, None, 0
    b = held_out_breakdown(model, tokenizer, world, pairs)
    return float(np.mean(b.habitat_mass)), float(np.mean(b.top_is_habitat)), len(b.prompts)


def measure_diet(model: GPT, tokenizer: Tokenizer, world: World) -> float:
    """Mean over animals of the share of food probability on the animal's diet after 'a <animal> eats'."""
    animals = list(world.animals.values())
    probs = next_word_probs(model, tokenizer, [f"{article(a.name)} {a.name} eats" for a in animals])
    food_ids = np.array([tokenizer.stoi[w] for w in world.words_of("food") if w in tokenizer.stoi])
    shares = []
    for a, p in zip(animals, probs):
        diet = [tokenizer.stoi[f] for f in a.diet]
        shares.append(p[diet].sum() / max(p[food_ids].sum(), 1e-12))
    return float(np.mean(shares))


def neighbour_purity(embeddings: np.ndarray, labels: list[str], k: int = 5) -> float:
    """Share of each point's k nearest cosine neighbours that carry the same label."""
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(1e-12)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1)[:, :k]
    lab = np.array(labels)
    return float((lab[nn] == lab[:, None]).mean())


def content_embeddings(model: GPT, tokenizer: Tokenizer, world: World) -> tuple[list[str], np.ndarray, list[str]]:
    """Words of the taxonomy, their input embeddings and top-level sub-contexts."""
    words = [w for c in world.contexts for w in world.words_of(c) if w in tokenizer.stoi]
    wte = model.transformer.wte.weight.detach().cpu().numpy()
    return words, wte[[tokenizer.stoi[w] for w in words]], [world.label(w)[0] for w in words]


def evaluate_quality(model: GPT, tokenizer: Tokenizer, world: World,
                     held_out: list[tuple[str, str]]) -> QualityReport:
    was_training = model.training
    model.eval()
    mass, top1, n = measure_generalisation(model, tokenizer, world, held_out)
    diet = measure_diet(model, tokenizer, world)
    _, emb, labels = content_embeddings(model, tokenizer, world)
    model.train(was_training)
    return QualityReport(mass, top1, diet, neighbour_purity(emb, labels), n)
