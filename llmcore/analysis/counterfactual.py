"""Counterfactuals over the world: the grid of every animal with every food (which place the model names, and
whether it is one of the animal's own), counterfactual prompts, and the held-out finding (which role's state carries
the answer for compositions never trained), measured with causal tracing (llmcore.analysis.interventions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from llmcore.analysis.interventions import causal_trace
from llmcore.analysis.trace import PromptError
from llmcore.model.checkpoint import Checkpoint
from llmcore.model.depths import depth_labels
from llmcore.world.types import World


# ---------------------------------------------------------------- counterfactual grid
@dataclass
class CounterfactualGrid:
    """'a <animal> <verb> <food> in the' for every animal (A) and food (F) of the world: where the place goes.

    top_place: (A, F) the most likely location word; place_prob its probability; follows: (A, F) 1 if it is one of
    the animal's habitats, 2 one of the food's own places, 3 both, 0 neither. comparable: (A, F) the food has
    places of its own and they share none with the animal's habitats, so the place can follow only one of them.
    own_place / own_prob: (A, F) the likeliest of the food's own places and its probability ('' and 0: none).
    change_animal / change_food / change_both: share of swaps (one prompt to another that differs in the animal,
    the food, or both) whose top place changes.
    """

    animals: list[str]
    foods: list[str]
    verb: str
    top_place: np.ndarray
    place_prob: np.ndarray
    follows: np.ndarray
    comparable: np.ndarray
    change_animal: float
    change_food: float
    change_both: float
    own_place: np.ndarray
    own_prob: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.animals), len(self.foods))
        for name in ("top_place", "place_prob", "follows", "comparable", "own_place", "own_prob"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"CounterfactualGrid.{name} has shape {getattr(self, name).shape}, expected {shape}")

    @property
    def animal_share(self) -> float:
        """Share of comparable prompts whose place is one of the animal's habitats."""
        return float(np.mean(self.follows[self.comparable] & 1 > 0)) if self.comparable.any() else float("nan")

    @property
    def food_share(self) -> float:
        return float(np.mean(self.follows[self.comparable] & 2 > 0)) if self.comparable.any() else float("nan")

    def lead(self) -> str:
        """The grid in one plain sentence: who decides the place."""
        n, a, f = int(self.comparable.sum()), self.animal_share, self.food_share
        if not n:
            return ("No food of this world has places of its own apart from the animals' habitats, so the grid "
                    "cannot tell whether the animal or the food decides the place.")
        verdict = ("the animal decides the place" if a >= 0.5 and a > f else "the food decides the place"
                   if f >= 0.5 and f > a else "neither the animal nor the food decides the place alone")
        return (f"Where an animal's places and a food's own places differ ({n} of the grid's {self.follows.size} "
                f"prompts: each of its {len(self.animals)} animals with each of its {len(self.foods)} foods, pairs "
                "the model was trained on and never-seen ones alike), "
                f"the model names the animal's place in {a:.0%} of them and the food's in {f:.0%}: {verdict}.")

    def cell(self, animal: str, food: str, world: World) -> str:
        """One prompt of the grid in a sentence: the place the model names, whose place it is, and how likely the
        food's own place is."""
        i, j = self.animals.index(animal), self.foods.index(food)
        top, habitats = self.top_place[i, j], world.animals[animal].habitats
        own = list(world.food_places.get(food, ("", []))[1])
        whose = {1: f"one of the {animal}'s places ({', '.join(habitats)})", 2: f"one of {food}'s own places",
                 3: f"both one of the {animal}'s places and {food}'s own", 0: f"neither the {animal}'s place nor "
                 f"{food}'s own"}[int(self.follows[i, j])]
        text = (f"'{article_of(animal)} {animal} {self.verb} {food} in the' → {top} ({prob_text(self.place_prob[i, j])}"
                f"): {whose}")
        if not own:
            return text + f"; {food} has no place of its own in this world."
        if self.follows[i, j] & 2:
            return text + "."
        places = f"own place, the {own[0]}," if len(own) == 1 else f"own places ({', '.join(own)}): the " \
            f"{self.own_place[i, j]}, the likeliest of them,"
        return text + f"; {food}'s {places} gets {prob_text(self.own_prob[i, j])}."

    def summary(self) -> str:
        return (f"the place follows the animal in {self.animal_share:.0%} of swaps, the food in {self.food_share:.0%} "
                f"(over the {int(self.comparable.sum())} animal-food prompts where the food has places of its own, "
                f"none of them the animal's habitat); swapping the animal changes the place in "
                f"{self.change_animal:.0%} of swaps, swapping the food in {self.change_food:.0%}, both in "
                f"{self.change_both:.0%}")


def _change_rate(top: np.ndarray) -> tuple[float, float, float]:
    """Share of animal swaps (same food), food swaps (same animal), and both, that change the top place."""
    A, F = top.shape
    _, codes = np.unique(top, return_inverse=True)
    codes = codes.reshape(A, F)
    onehot = np.eye(codes.max() + 1)[codes]  # (A, F, V)
    same_col = (onehot.sum(0) ** 2).sum() - A * F  # ordered pairs of animals with the same place, per food
    same_row = (onehot.sum(1) ** 2).sum() - A * F
    same_all = (onehot.sum((0, 1)) ** 2).sum() - A * F
    same_both = same_all - same_col - same_row  # both differ: all equal pairs minus those sharing a row or column
    pairs_col, pairs_row = F * A * (A - 1), A * F * (F - 1)
    pairs_both = A * F * (A - 1) * (F - 1)
    return (1 - same_col / max(pairs_col, 1), 1 - same_row / max(pairs_row, 1), 1 - same_both / max(pairs_both, 1))


@torch.no_grad()
def counterfactual_grid(ckpt: Checkpoint, *, verb: str | None = None) -> CounterfactualGrid:
    """Every animal with every food of the world, one batched forward pass (see CounterfactualGrid)."""
    world, tok = ckpt.world, ckpt.tokenizer
    if not world.animals:
        raise ValueError("the counterfactual grid needs a world with animals, foods and places")
    verb = verb or world.recipe.eat_verbs[0]
    if verb not in tok.stoi:
        raise PromptError(f"'{verb}' is not a word of this model")
    animals = [a for a in world.animals if a in tok.stoi]
    foods = [f for f in world.words_of("food") if f in tok.stoi]
    from llmcore.world.corpus import article

    ids = torch.tensor([tok.encode(f"{article(a)} {a} {verb} {f} in the").ids for a in animals for f in foods])
    probs = ckpt.model(ids)[0][:, -1].float().softmax(-1)
    places = [p for p in world.words_of("locations") if p in tok.stoi]
    pid = torch.tensor([tok.stoi[p] for p in places])
    best = probs[:, pid].max(-1)
    top = np.array([places[i] for i in best.indices.tolist()], object).reshape(len(animals), len(foods))
    hab = [set(world.animals[a].habitats) for a in animals]
    own = [set(world.food_places.get(f, ("", []))[1]) for f in foods]
    follows = np.array([[int(top[i, j] in hab[i]) + 2 * int(top[i, j] in own[j]) for j in range(len(foods))]
                        for i in range(len(animals))])
    comparable = np.array([[bool(own[j]) and not own[j] & hab[i] for j in range(len(foods))]
                           for i in range(len(animals))])
    ca, cf, cb = _change_rate(top)
    own_place, own_prob = _own_places(probs.view(len(animals), len(foods), -1), [
        [tok.stoi[p] for p in world.food_places.get(f, ("", []))[1] if p in tok.stoi] for f in foods], tok.vocab)
    return CounterfactualGrid(animals=animals, foods=foods, verb=verb, top_place=top,
                              place_prob=best.values.numpy().reshape(len(animals), len(foods)), follows=follows,
                              comparable=comparable, change_animal=ca, change_food=cf, change_both=cb,
                              own_place=own_place, own_prob=own_prob)


def _own_places(probs: torch.Tensor, own_ids: list[list[int]], vocab: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(A, F) the likeliest of each food's own places and its probability, from next-word probabilities (A, F, V);
    '' and 0 for a food without places."""
    A, F, _ = probs.shape
    name, prob = np.full((A, F), "", object), np.zeros((A, F))
    for j, ids in enumerate(own_ids):
        if ids:
            p = probs[:, j, ids]  # (A, places of this food)
            prob[:, j] = p.max(-1).values.numpy()
            name[:, j] = [vocab[ids[k]] for k in p.argmax(-1).tolist()]
    return name, prob


def article_of(word: str) -> str:
    from llmcore.world.corpus import article

    return article(word)


def prob_text(p: float) -> str:
    """A probability as a reader takes it in: two decimals, four when small, 'under 0.0001' below that."""
    return f"{p:.2f}" if p >= 0.01 else f"{p:.4f}" if p >= 0.0001 else "under 0.0001"


# ---------------------------------------------------------------- counterfactual prompts and the held-out finding
def counterfactual_prompt(ckpt: Checkpoint, prompt: str) -> str | None:
    """The prompt with its first animal swapped for the first animal of the world that shares none of its
    habitats (with its article), or None when the prompt names no animal."""
    animals = ckpt.world.animals
    words = prompt.split()
    i = next((k for k, w in enumerate(words) if w in animals), None)
    if i is None:
        return None
    other = next((a for a in animals if not set(animals[a].habitats) & set(animals[words[i]].habitats)), None)
    if other is None:
        return None
    from llmcore.world.corpus import article

    if i > 0 and words[i - 1] in ("a", "an"):
        words[i - 1] = article(other)
    words[i] = other
    return " ".join(words)


@dataclass
class RoleRestoration:
    """Residual-stream restored shares over the held-out prompts, by role: animal, food and last position.
    Each (n_prompts, D) over depths embed, block 1 ... block n."""

    prompts: list[str]
    depth_names: list[str]
    animal: np.ndarray
    food: np.ndarray
    last: np.ndarray

    def handover_depth(self) -> int:
        """The first depth at which the last position restores more than the animal's position (mean over
        prompts); -1 if none."""
        later = np.nonzero(self.last.mean(0) > self.animal.mean(0))[0]
        return int(later[0]) if len(later) else -1


def held_out_restoration(ckpt: Checkpoint) -> RoleRestoration:
    """Causal traces of every held-out prompt against a counterfactual animal from another habitat group."""
    from llmcore.analysis.evaluate import generalisation_prompts

    prompts, rows = [], {"animal": [], "food": [], "last": []}
    forms = {}  # "a <animal> <verb> <food> <preposition> the": one per pair, verb and preposition
    for p in generalisation_prompts(ckpt.world, ckpt.held_out):
        if not p.plural and not p.adjective and p.article:
            forms.setdefault(p.text, p)
    for p in forms.values():
        animal, food, prompt = p.animal, p.food, p.text
        other = counterfactual_prompt(ckpt, prompt)
        if other is None:
            continue
        ct = causal_trace(ckpt, prompt, corrupt=other)
        if not ct.measurable:  # the swap does not move the answer: its shares would be noise
            continue
        resid = ct.restored[0]
        rows["animal"].append(resid[:, ct.words.index(animal)])
        rows["food"].append(resid[:, ct.words.index(food)])
        rows["last"].append(resid[:, -1])
        prompts.append(prompt)
    names = depth_labels(ckpt.model.config.n_layer)[:-1]  # the residual depths a patch restores
    return RoleRestoration(prompts, names, *(np.array(rows[k]).reshape(len(prompts), len(names))
                                             for k in ("animal", "food", "last")))
