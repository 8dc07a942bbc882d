"""Warm-started training: a world that adds or changes a few entries of a world a model already knows is learned
from that model (new words' embeddings start at their subgroup's mean, the changed facts are replayed more often
than the old ones), and the run stops when the quality bars hold, for the new facts and the old ones alike."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from llmcore.analysis.evaluate import (
    content_embeddings,
    control_pairs,
    measure_diet,
    measure_generalisation,
    neighbour_purity,
    next_word_probs,
)
from llmcore.model.checkpoint import Checkpoint, CheckpointError
from llmcore.model.config import GPTConfig
from llmcore.model.gpt import GPT
from llmcore.model.tokenizer import Tokenizer
from llmcore.world.corpus import article
from llmcore.world.load import world_from_dict
from llmcore.world.types import World

# A warm run's own defaults (the CLI's flags and the page override them): a short, gentle run that stops itself.
WARM_DEFAULTS = {"steps": 400, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 10, "eval_every": 20,
                 "checkpoint_every": 200, "n_snapshots": 2, "weight_snapshots": 0, "landscape_grid": 0}
WARM_SENTENCES = 40_000  # a warm run's corpus: more than its steps read (400 × 64 windows), a fifth of a full one
FOCUS_SHARE = 0.3  # share of the corpus's sentences that mention a changed entry (the rest replays the old world)
MAX_CHANGED_SHARE = 0.15  # a warm start applies while at most this share of the world's words is new or changed
HELD_OUT_SAMPLE = 24  # held-out pairs measured at each evaluation of a warm run (all of them at the end)
FORGET_TOLERANCE = 0.05  # an old bar holds while it is at most this far below the base model's value
NEW_TOLERANCE = 0.1  # a changed animal's facts are learned once within this of the base's level on its own animals
NEW_TOP1_BAR = 0.9  # and a habitat of the changed animal is the likeliest place in this share of its prompts


@dataclass(frozen=True)
class WorldChange:
    """What a new world changes in the world a base model knows: entries added or changed (animals, foods' places,
    people, taxonomy words) and the animals whose facts that touches (their own entry, or a food they eat)."""

    words: tuple[str, ...]
    animals: tuple[str, ...]
    removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.words and not self.removed


def world_change(old: World, new: World) -> WorldChange:
    """The entries of `new` that `old` lacks or states otherwise, and the entries `new` removed."""
    changed = {a for a, v in new.animals.items() if old.animals.get(a) != v}
    changed |= {f for f, v in new.food_places.items() if old.food_places.get(f) != v}
    changed |= {p for p, v in new.people.items() if old.people.get(p) != v}
    old_words = {w for c in old.contexts for w in old.words_of(c)}
    new_words = {w for c in new.contexts for w in new.words_of(c)}
    changed |= {w for w in new_words - old_words}
    changed |= {w for w in new_words & old_words if old.label(w) != new.label(w)}
    animals = {a for a in new.animals if a in changed or any(f in changed for f in new.animals[a].diet)}
    return WorldChange(tuple(sorted(changed)), tuple(sorted(animals)), tuple(sorted(old_words - new_words)))


def warm_start_problem(base: Checkpoint, new: World) -> str | None:
    """Why a warm start from `base` does not apply to `new` (None if it does): another grammar, nothing changed,
    or too much changed for a few hundred steps to learn."""
    old = base.world
    if (old.grammar, old.recipe.eat_verbs, old.contexts) != (new.grammar, new.recipe.eat_verbs, new.contexts):
        return "the new world has another grammar, verbs or sub-contexts; train it from scratch"
    change = world_change(old, new)
    if change.empty:
        return f"the world is the one {base.name} was trained on; nothing to learn"
    n_words = sum(len(new.words_of(c)) for c in new.contexts)
    if len(change.words) > MAX_CHANGED_SHARE * n_words:
        return (f"{len(change.words)} of {n_words} words are new or changed (more than {MAX_CHANGED_SHARE:.0%}); "
                "train it from scratch")
    return None


def pin_held_out(world_data: dict[str, Any], base: Checkpoint, new: World) -> dict[str, Any]:
    """The new world's data with the base model's held-out pairs (those the new diets still allow) as its only
    held-out pairs, so what the base model never saw stays unseen and its generalisation bar stays comparable."""
    allowed = set(new.diet_pairs())
    data = copy.deepcopy(world_data)
    corpus = data.setdefault("corpus", {})
    corpus["held_out"] = [list(p) for p in base.held_out if tuple(p) in allowed]
    corpus["held_out_fraction"] = 0.0
    return data


def pinned_world(world_data: dict[str, Any], base: Checkpoint, new: World, source: str) -> tuple[World, dict]:
    data = pin_held_out(world_data, base, new)
    return world_from_dict(data, source), data


def focus_corpus(sentences: list[str], words: tuple[str, ...], world: World, *, share: float = FOCUS_SHARE,
                 seed: int = 0) -> list[str]:
    """The corpus with the sentences that mention a changed word (any form) repeated until they make `share` of
    it; the others stay as they are, so the old world is replayed. Seeded shuffle of the repeats."""
    forms = {f for w in words for f in world.forms(w)}
    if not forms:
        return sentences
    hits = [s for s in sentences if forms.intersection(s.split())]
    if not hits:
        return sentences
    rest = len(sentences) - len(hits)
    repeats = max(1, math.ceil(share * rest / ((1 - share) * len(hits))))
    extra = [s for _ in range(repeats - 1) for s in hits]
    rng = np.random.default_rng(seed)
    return sentences + [extra[i] for i in rng.permutation(len(extra))]


def warm_model(base: Checkpoint, tokenizer: Tokenizer, world: World, *, seed: int = 0) -> tuple[GPT, list[str]]:
    """A model of the base's shape for the new vocabulary: every weight copied, each known word's embedding row
    kept, each new word's row the mean of its subgroup's known words (its context's if none), plus 1 % noise so
    that two new words of one subgroup can part. Returns the model and the new words."""
    cfg = GPTConfig(**{**base.model_config.to_dict(), "vocab_size": len(tokenizer)})
    model = GPT(cfg)
    old = base.model.state_dict()
    state = model.state_dict()
    for k, v in old.items():
        if k in state and state[k].shape == v.shape and "wte" not in k and "lm_head" not in k:
            state[k] = v.clone()
    old_wte, old_stoi = old["transformer.wte.weight"], base.tokenizer.stoi
    wte, new_words = state["transformer.wte.weight"], []
    rng = torch.Generator().manual_seed(seed)
    for i, w in enumerate(tokenizer.vocab):
        if w in old_stoi:
            wte[i] = old_wte[old_stoi[w]]
            continue
        new_words.append(w)
        rows = _peer_rows(w, world, old_stoi)
        mean = old_wte[rows].mean(0) if rows else old_wte.mean(0)
        wte[i] = mean + 0.01 * mean.std() * torch.randn(mean.shape, generator=rng)
    model.load_state_dict(state)
    return model, new_words


def _peer_rows(word: str, world: World, stoi: dict[str, int]) -> list[int]:
    """Embedding rows of the known words in the word's subgroup (else its sub-context), in the same form (plural
    or singular) as the word."""
    context, group = world.label(word)
    inflected = world.lemma(word) != word
    same_form = lambda w: world.forms(w)[-1] if inflected else w  # noqa: E731
    for peers in (world.taxonomy.get(context, {}).get(group, []), world.words_of(context)
                  if context in world.taxonomy else []):
        rows = [stoi[same_form(p)] for p in peers if p != world.lemma(word) and same_form(p) in stoi]
        if rows:
            return rows
    return []


@dataclass
class WarmBars:
    """The bars a warm run stops on, measured on the base model first: the old world's (held-out habitat mass on a
    sample of the held-out pairs, diet share, neighbour purity) must stay within FORGET_TOLERANCE of the base's; the
    changed animals' facts must be learned as well as the base knows its own animals' (habitat mass on trained
    pairs and diet share within NEW_TOLERANCE of the base's, a habitat the likeliest place in NEW_TOP1_BAR of the
    prompts)."""

    change: WorldChange
    old: World  # the base model's world: forgetting is measured on it alone, whatever the new world adds
    sample: list[tuple[str, str]]
    base: dict[str, float] = field(default_factory=dict)

    trained: list[tuple[str, str]] = field(default_factory=list)  # a sample of the base's trained pairs
    level: float = float("nan")  # the base's habitat mass on them: how well it knows its own animals

    @classmethod
    def measure_base(cls, base: Checkpoint, held_out: list[tuple[str, str]], change: WorldChange) -> WarmBars:
        idx = np.random.default_rng(0).permutation(len(held_out))[:HELD_OUT_SAMPLE]
        sample = [held_out[i] for i in sorted(idx)]
        bars = cls(change, base.world, sample, trained=control_pairs(base.world, sample))
        bars.base = bars.old_world(base.model, base.tokenizer)
        with torch.no_grad():
            base.model.eval()
            bars.level = measure_generalisation(base.model, base.tokenizer, base.world, bars.trained)[0]
        return bars

    def old_world(self, model: GPT, tokenizer: Tokenizer) -> dict[str, float]:
        """The old world's bars: held-out habitat mass on the sample, diet share, neighbour purity."""
        was = model.training
        model.eval()
        with torch.no_grad():
            mass = (measure_generalisation(model, tokenizer, self.old, self.sample)[0] if self.sample
                    else float("nan"))
            words, emb, labels = content_embeddings(model, tokenizer, self.old)
            out = {"sample_habitat_mass": mass, "old_diet_share": measure_diet(model, tokenizer, self.old),
                   "old_neighbour_purity": neighbour_purity(emb, labels)}
        model.train(was)
        return out

    def new_facts(self, model: GPT, tokenizer: Tokenizer, world: World) -> dict[str, float]:
        """The changed animals: habitat first and habitat mass on their trained pairs, and their diet share."""
        pairs = [(a, f) for a in self.change.animals for f in world.animals[a].diet[:3]]
        if not pairs:
            return {}
        was = model.training
        model.eval()
        with torch.no_grad():
            mass, top1, _ = measure_generalisation(model, tokenizer, world, pairs)
            diet = _diet_share(model, tokenizer, world, self.change.animals)
        model.train(was)
        return {"new_habitat_mass": mass, "new_habitat_top1": top1, "new_diet_share": diet}

    def record(self, model: GPT, tokenizer: Tokenizer, world: World) -> dict[str, float]:
        return {**self.old_world(model, tokenizer), **self.new_facts(model, tokenizer, world)}

    def failing(self, record: dict[str, float]) -> list[str]:
        """The bars a record misses, named; empty when every bar holds."""
        out = [f"{k} {record[k]:.3f} < {self.base[k] - FORGET_TOLERANCE:.3f}" for k in self.base
               if self.base[k] == self.base[k] and not record.get(k, -1) >= self.base[k] - FORGET_TOLERANCE]
        if self.change.animals:
            for key, bar in self.new_bars().items():
                if not record.get(key, -1) >= bar:
                    out.append(f"{key} {record.get(key, float('nan')):.3f} < {bar:.3f}")
        return out

    def new_bars(self) -> dict[str, float]:
        """The changed animals' bars, from the base model's level on its own animals."""
        bars = {"new_habitat_top1": NEW_TOP1_BAR, "new_diet_share": self.base["old_diet_share"] - NEW_TOLERANCE}
        if self.level == self.level:
            bars["new_habitat_mass"] = self.level - NEW_TOLERANCE
        return bars


def _diet_share(model: GPT, tokenizer: Tokenizer, world: World, animals: tuple[str, ...]) -> float:
    """Mean over 'a <animal> eats' of the changed animals of the share of food probability on the animal's diet."""
    stoi = tokenizer.stoi
    prompts = [f"{article(a)} {a} eats" for a in animals]
    probs = next_word_probs(model, tokenizer, prompts)
    food = np.array([stoi[f] for w in world.words_of("food") for f in world.forms(w) if f in stoi])
    shares = [p[[stoi[f] for w in world.animals[a].diet for f in world.forms(w) if f in stoi]].sum()
              / max(p[food].sum(), 1e-12) for a, p in zip(animals, probs)]
    return float(np.mean(shares))


def is_warm_base(base: Any) -> bool:
    """Whether a warm start can begin from `base`: one of our GPT checkpoints, with a world (not a Hugging Face
    model, whose words carry no world)."""
    return isinstance(getattr(base, "world", None), World) and isinstance(base.model_config, GPTConfig)


def check_base(base: Checkpoint) -> Checkpoint:
    """The base of a warm start: one of our GPT checkpoints (its world, tokenizer and weights)."""
    if not is_warm_base(base):
        raise CheckpointError(f"{base.name}: a warm start needs a model trained by llmcore (with its world)")
    return base


@dataclass
class WarmStart:
    """One warm run's plan and record: the base model, the new world (held-out pairs pinned to the base's), what
    changed, the bars measured on the base, and every check of them during the run."""

    base: Checkpoint
    world: World
    world_data: dict[str, Any]
    change: WorldChange
    bars: WarmBars | None = None
    new_words: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def prepare(cls, base: Checkpoint, world: World, world_data: dict[str, Any], source: Any) -> WarmStart:
        """Checked before any work: the base is ours and the new world is a small change of its world."""
        problem = warm_start_problem(check_base(base), world)
        if problem:
            raise CheckpointError(f"cannot start from {base.name}: {problem}")
        pinned, data = pinned_world(world_data, base, world, str(source))
        return cls(base, pinned, data, world_change(base.world, pinned))

    def model(self, tokenizer: Tokenizer, *, seed: int) -> GPT:
        """The starting model (see `warm_model`); measures the base model's bars too."""
        model, self.new_words = warm_model(self.base, tokenizer, self.world, seed=seed)
        self.bars = WarmBars.measure_base(self.base, self.world.held_out_pairs(), self.change)
        return model

    def check(self, trainer: Any) -> bool:
        """Measure the bars on the trainer's model now; True when every one holds (the run may stop)."""
        record = {"step": trainer.step, "seconds": round(trainer.state.seconds, 2),
                  **self.bars.record(trainer.model, trainer.tokenizer, trainer.world)}
        record["failing"] = self.bars.failing(record)
        self.history.append(record)
        for cb in trainer.callbacks:
            cb.on_warm_check(trainer, record)
        return not record["failing"]

    def summary(self, *, converged: bool) -> dict[str, Any]:
        """What metrics["warm_start"] holds: the base, the change, the base's bars, whether they held, the checks."""
        return {"from": self.base.name, "from_hash": self.base.content_hash, "changed": list(self.change.words),
                "animals": list(self.change.animals), "removed": list(self.change.removed),
                "new_words": self.new_words, "base_bars": dict(self.bars.base) if self.bars else {},
                "new_bars": self.bars.new_bars() if self.bars and self.change.animals else {},
                "bars_held": converged, "checks": self.history}
