"""Quality measures of a trained model: generalisation to held-out compositions, diets, embedding neighbourhoods."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from llmcore.model.gpt import GPT
from llmcore.model.tokenizer import Tokenizer
from llmcore.world.corpus import article
from llmcore.world.types import EVENT_PREPOSITIONS, FUNCTION_CONTEXT, World


@dataclass
class QualityReport:
    """Figures the quality bars are stated in (see docs/performance.md)."""

    habitat_mass: float  # mean probability of the animal's habitats as the place of a held-out event (every form)
    habitat_top1: float  # share of those prompts whose most likely place is a habitat of the animal
    diet_share: float  # after "a <animal> eats" / "<animals> eat": share of food probability on the animal's diet
    neighbour_purity: float  # share of 5 nearest neighbours (cosine) that share a content word's sub-context
    n_generalisation_prompts: int
    control_habitat_mass: float = float("nan")  # the same on as many trained (animal, food) pairs
    control_habitat_top1: float = float("nan")
    inflection_neighbours: float = float("nan")  # share of (cat, cats) pairs that are in each other's 5 neighbours

    def to_dict(self) -> dict[str, float]:
        """The figures that were measured (a skipped one is NaN and left out, so logs stay plain JSON)."""
        return {k: v for k, v in asdict(self).items() if v == v}


@dataclass(frozen=True)
class PlacePrompt:
    """One form of an event prompt that ends just before its place: 'hungry cats eat sausage at' or '... in the'."""

    animal: str
    food: str
    text: str
    plural: bool
    adjective: str  # '' for none
    preposition: str
    article: str  # 'the', or '' when the prompt ends at the preposition (the place may still take an article)


def _prompt_forms(world: World, animal: str) -> list[tuple[str, str]]:
    """(preposition, article) endings the world uses for this animal's habitats, among in/at/on."""
    g, out = world.grammar, []
    phrases = {p for h in world.animals[animal].habitats for p in g.place_phrases(h)}
    for prep in EVENT_PREPOSITIONS:
        if any(p.split()[0] == prep for p in phrases):
            out += [(prep, "the")] * (f"{prep} the" in phrases) + [(prep, "")]
    return out


def generalisation_prompts(world: World, pairs: list[tuple[str, str]]) -> list[PlacePrompt]:
    """Every pair x eating verb x subject number x with/without adjective x preposition x with/without article."""
    g, out = world.grammar, []
    for i, (a, f) in enumerate(pairs):
        numbers = [False, True] if a in world.plurals and g.plural_determiners else [False]
        adjectives = ["", g.adjectives[i % len(g.adjectives)]] if g.adjectives else [""]
        for v in world.recipe.eat_verbs:
            for plural in numbers:
                for adj in adjectives:
                    noun = world.plurals[a] if plural else a
                    subject = " ".join(w for w in (adj, noun) if w)
                    subject = subject if plural else f"{article(subject)} {subject}"
                    verb = world.verb_forms.get(v, v) if plural else v
                    for prep, art in _prompt_forms(world, a):
                        text = " ".join(w for w in (subject, verb, f, prep, art) if w)
                        out.append(PlacePrompt(animal=a, food=f, text=text, plural=plural, adjective=adj,
                                               preposition=prep, article=art))
    return out


def place_probs(model: GPT, tokenizer: Tokenizer, prompts: list[PlacePrompt]) -> np.ndarray:
    """(n_prompts, vocab) probability of each word as the place that ends each prompt's phrase.

    A prompt that ends at its preposition ('... at') may name the place at once ('at home') or after an article
    ('at the park'), so its place probability sums both: p(place) + sum over a/an/the of p(article) p(place | article).
    """
    probs = next_word_probs(model, tokenizer, [p.text for p in prompts])
    out = probs.copy()
    arts = [w for w in ("the", "a", "an") if w in tokenizer.stoi]
    bare = [i for i, p in enumerate(prompts) if not p.article]
    if bare and arts:
        follow = next_word_probs(model, tokenizer, [f"{prompts[i].text} {a}" for i in bare for a in arts])
        follow = follow.reshape(len(bare), len(arts), -1)
        first = probs[bare][:, [tokenizer.stoi[a] for a in arts]]  # (n_bare, n_arts)
        out[bare] = probs[bare] + np.einsum("na,nav->nv", first, follow)
    return out


@dataclass
class HeldOutBreakdown:
    """Where the model sends the place after each held-out prompt (every form, see generalisation_prompts).

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


def held_out_breakdown(model: GPT, tokenizer: Tokenizer, world: World, pairs: list[tuple[str, str]], *,
                       plain: bool = False) -> HeldOutBreakdown:
    """Each held-out prompt's place distribution, summarised (see HeldOutBreakdown). plain: only the singular forms
    without an adjective that end in an article ('a dog devours pizza in the'), a tenth of all forms."""
    prompts = [p for p in generalisation_prompts(world, pairs) if _known(tokenizer, p.text)
               and (not plain or (not p.plural and not p.adjective and p.article))]
    probs = place_probs(model, tokenizer, prompts)
    loc_ids = np.array([tokenizer.stoi[w] for w in world.words_of("locations") if w in tokenizer.stoi])
    ids = tokenizer.stoi
    top = loc_ids[np.argmax(probs[:, loc_ids], axis=1)] if len(prompts) else np.zeros(0, int)
    habitats = [[ids[h] for h in world.animals[p.animal].habitats if h in ids] for p in prompts]
    own = [[ids[q] for q in world.food_places.get(p.food, ("", []))[1] if q in ids] for p in prompts]
    rows = np.arange(len(prompts))
    return HeldOutBreakdown(
        prompts=[p.text for p in prompts], animals=[p.animal for p in prompts], foods=[p.food for p in prompts],
        top_place=[tokenizer.vocab[i] for i in top], top_place_prob=probs[rows, top],
        habitat_mass=np.array([probs[r, h].sum() for r, h in zip(rows, habitats)], np.float32),
        food_place_mass=np.array([probs[r, o].sum() for r, o in zip(rows, own)], np.float32),
        top_is_habitat=np.array([t in h for t, h in zip(top, habitats)], bool))


def _known(tokenizer: Tokenizer, text: str) -> bool:
    return all(w in tokenizer.stoi for w in text.split())


@torch.no_grad()
def next_word_probs(model: GPT, tokenizer: Tokenizer, prompts: list[str], batch: int = 512) -> np.ndarray:
    """Next-word distributions (n_prompts, vocab) for prompts, batched by length."""
    out = np.zeros((len(prompts), len(tokenizer)), np.float32)
    encoded = [tokenizer.encode(p).ids for p in prompts]
    by_len: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        by_len.setdefault(len(ids), []).append(i)
    for group in by_len.values():
        for s in range(0, len(group), batch):
            idxs = group[s:s + batch]
            x = torch.tensor([encoded[i] for i in idxs], device=model.lm_head.weight.device)
            logits, _ = model(x)
            out[idxs] = logits[:, -1].softmax(-1).cpu().numpy()
    return out


def measure_generalisation(model: GPT, tokenizer: Tokenizer, world: World,
                           pairs: list[tuple[str, str]]) -> tuple[float, float, int]:
    """Mean habitat probability and top-1 habitat rate over every form of the pairs' prompts."""
    b = held_out_breakdown(model, tokenizer, world, pairs)
    if not b.prompts:
        return float("nan"), float("nan"), 0
    return float(np.mean(b.habitat_mass)), float(np.mean(b.top_is_habitat)), len(b.prompts)


def control_pairs(world: World, held_out: list[tuple[str, str]], seed: int = 0) -> list[tuple[str, str]]:
    """As many trained (animal, food) pairs as there are held-out ones, seeded: the bars must hold for them too."""
    trained = [p for p in world.diet_pairs() if p not in set(held_out)]
    idx = np.random.default_rng(seed).permutation(len(trained))[:len(held_out)]
    return [trained[i] for i in sorted(idx)]


def diet_prompts(world: World) -> list[tuple[str, str]]:
    """(animal, prompt) for 'a <animal> eats' and, where the world has plurals, '<animals> eat'."""
    out = [(a, f"{article(a)} {a} eats") for a in world.animals]
    eat = world.verb_forms.get("eats")
    if eat and world.grammar.plural_determiners:
        out += [(a, f"{world.plurals[a]} {eat}") for a in world.animals if a in world.plurals]
    return out


def measure_diet(model: GPT, tokenizer: Tokenizer, world: World) -> float:
    """Mean over diet prompts of the share of food probability (any form of a food) on the animal's diet."""
    prompts = [(a, p) for a, p in diet_prompts(world) if _known(tokenizer, p)]
    probs = next_word_probs(model, tokenizer, [p for _, p in prompts])
    stoi = tokenizer.stoi
    food_ids = np.array([stoi[f] for w in world.words_of("food") for f in world.forms(w) if f in stoi])
    shares = []
    for (a, _), p in zip(prompts, probs):
        diet = [stoi[f] for w in world.animals[a].diet for f in world.forms(w) if f in stoi]
        shares.append(p[diet].sum() / max(p[food_ids].sum(), 1e-12))
    return float(np.mean(shares))


def neighbours(embeddings: np.ndarray, k: int = 5) -> np.ndarray:
    """(N, k) indices of each point's k nearest cosine neighbours (itself excluded)."""
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(1e-12)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1)[:, :k]


def neighbour_purity(embeddings: np.ndarray, labels: list[str], k: int = 5) -> float:
    """Share of each point's k nearest cosine neighbours that carry the same label."""
    lab = np.array(labels)
    return float((lab[neighbours(embeddings, k)] == lab[:, None]).mean())


def inflection_neighbours(world: World, words: list[str], embeddings: np.ndarray, k: int = 5) -> float:
    """Share of (base, inflected) pairs, both in `words`, where each is among the other's k nearest neighbours."""
    index = {w: i for i, w in enumerate(words)}
    pairs = [(index[a], index[b]) for a, b in world.inflection_pairs() if a in index and b in index]
    if not pairs:
        return float("nan")
    nn = neighbours(embeddings, k)
    return float(np.mean([j in nn[i] and i in nn[j] for i, j in pairs]))


def content_embeddings(model: GPT, tokenizer: Tokenizer, world: World) -> tuple[list[str], np.ndarray, list[str]]:
    """Content words of the vocabulary (taxonomy words and their forms), input embeddings, top-level sub-contexts."""
    words = [w for w in tokenizer.vocab if world.label(w)[0] != FUNCTION_CONTEXT]
    wte = model.transformer.wte.weight.detach().cpu().numpy()
    return words, wte[[tokenizer.stoi[w] for w in words]], [world.label(w)[0] for w in words]


def evaluate_quality(model: GPT, tokenizer: Tokenizer, world: World, held_out: list[tuple[str, str]], *,
                     controls: bool = True) -> QualityReport:
    """Every quality figure; `controls=False` skips the control pairs (cheaper, for evaluations during training)."""
    was_training = model.training
    model.eval()
    mass, top1, n = measure_generalisation(model, tokenizer, world, held_out)
    c_mass, c_top1, _ = (measure_generalisation(model, tokenizer, world, control_pairs(world, held_out))
                         if controls else (float("nan"), float("nan"), 0))
    diet = measure_diet(model, tokenizer, world)
    words, emb, labels = content_embeddings(model, tokenizer, world)
    model.train(was_training)
    return QualityReport(habitat_mass=mass, habitat_top1=top1, diet_share=diet,
                         neighbour_purity=neighbour_purity(emb, labels), n_generalisation_prompts=n,
                         control_habitat_mass=c_mass, control_habitat_top1=c_top1,
                         inflection_neighbours=inflection_neighbours(world, words, emb))
