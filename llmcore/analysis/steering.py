"""Steering vectors: push the residual stream from one sub-context's centroid towards another's, then generate as
usual, so the steered run is a normal GenerationTrace every view can draw."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from llmcore.analysis.interventions import finite, word_ids
from llmcore.analysis.reference import ReferenceStates, reference_states
from llmcore.analysis.trace import GenerationTrace, PromptError, SamplingConfig, trace_generation
from llmcore.model.checkpoint import Checkpoint
from llmcore.model.hooks import Edit, hooked, model_sites
from llmcore.model.protocols import Labeller
from llmcore.world.types import FUNCTION_CONTEXT, World


def group_names(ckpt: Checkpoint, reference: ReferenceStates | None = None) -> list[str]:
    """Sub-contexts and subgroups a steering vector can start or end at; given reference states, only those with
    at least one state (a foreign tokenizer may split every word of a group into pieces)."""
    tax = ckpt.world.taxonomy
    names = list(tax) + [g for groups in tax.values() for g in groups if g not in tax]
    if reference is None:
        return names
    present = {x for w in set(map(str, reference.words)) for x in ckpt.world.label(w)}
    return [n for n in names if n in present]


def group_label(world: Labeller, name: str) -> str:
    """A steering group as the screen names it: a sub-context by itself, a subgroup with its sub-context ('water
    (animals)', not 'water', which reads as the drink)."""
    tax = world.taxonomy
    if name in tax:
        return name
    parent = next((c for c, groups in tax.items() if name in groups), None)
    return f"{name} ({parent})" if parent else name


def steering_vector(ckpt: Checkpoint, *, source: str, target: str, depth: int,
                    reference: ReferenceStates | None = None) -> np.ndarray:
    """centroid(target) - centroid(source) (C,) of the reference states at a depth whose word belongs to each group
    (a sub-context or a subgroup)."""
    n = ckpt.model.config.n_layer
    if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= n:
        raise PromptError(f"steering depth must be a whole number from 0 (embed) to {n} (block {n}), got {depth!r}")
    start, end = centres(ckpt, (source, target), depth=depth, reference=reference)
    return (end - start).astype(np.float32)


def centres(ckpt: Checkpoint, names: Sequence[str], *, depth: int,
            reference: ReferenceStates | None = None) -> list[np.ndarray]:
    """The centroid (C,) of the reference states at a depth whose word belongs to each group."""
    ref = reference if reference is not None else reference_states(ckpt, n_positions=2000)
    labels = [ckpt.world.label(str(w)) for w in ref.words]
    out = []
    for name in names:
        rows = [i for i, (c, g) in enumerate(labels) if name in (c, g)]
        if name not in group_names(ckpt) or not rows:
            raise PromptError(f"'{name}' is not a sub-context or subgroup with words in the reference states; "
                              f"choose one of {', '.join(group_names(ckpt))}")
        out.append(ref.states[rows, depth].mean(0))
    return out


def _steer_edit(vec: torch.Tensor, positions: Sequence[int] | None) -> Edit:
    """Adds vec at absolute positions (None: at every position), following the generation loop's positions: the
    first call reads the prompt (or one word), each later call one new word, a slid window its last T words."""
    seen = [0]

    def add(x: torch.Tensor) -> torch.Tensor | None:
        T = x.shape[1]
        total = seen[0] + (T if seen[0] == 0 else 1)
        seen[0] = total
        if positions is None:
            return x + vec.to(x.dtype)
        cols = [p - (total - T) for p in positions if total - T <= p < total]
        if not cols:
            return None
        x = x.clone()
        x[:, cols] += vec.to(x.dtype)
        return x
    return add


def steer(ckpt: Checkpoint, prompt: str, *, vector: np.ndarray, depth: int, alpha: float,
          positions: Sequence[int] | None = None, sampling: SamplingConfig | None = None) -> GenerationTrace:
    """Generate with alpha * vector added to the residual stream at a depth (0 = embed ... n = block n) and
    positions (None: every position, the generated ones too); a normal GenerationTrace of the steered run."""
    n = ckpt.model.config.n_layer
    if not finite(alpha):
        raise PromptError(f"alpha must be a finite number, got {alpha!r}")
    if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= n:
        raise PromptError(f"steering depth must be a whole number from 0 (embed) to {n} (block {n}), got {depth!r}")
    vec = torch.as_tensor(np.asarray(vector, np.float32))
    if vec.shape != (ckpt.model.config.n_embd,) or not torch.isfinite(vec).all():
        raise PromptError(f"the steering vector must be {ckpt.model.config.n_embd} finite numbers")
    if positions is not None:
        P = len(word_ids(ckpt, prompt))
        bad = [p for p in positions if not isinstance(p, int) or not 0 <= p < P]
        if bad:
            raise PromptError(f"steering positions {bad} are outside the prompt's {P} words (0..{P - 1})")
    with hooked(model_sites(ckpt.model), {("resid", depth): [_steer_edit(alpha * vec, positions)]}):
        return trace_generation(ckpt, prompt, sampling)


# ---------------------------------------------------------------- how far to push: measured, not guessed
SWEEP_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0)
GRAMMAR_BAR = 0.9  # the range's end: the largest alpha up to which at least this share of completions keeps grammar
MOVE_BAR = 0.5  # the default: the smallest alpha at which at least this share of completions changes
SWEEP_WORDS = 12  # words generated per completion (a sentence of the world ends well within them)
# sentences whose word-class pairs are the grammar: for the bundled world 20,000 find all 160 pairs that 100,000 do
# (with subgroups as classes, 20,000 found 550 and 120,000 554: a rare sentence of the world failed the check)
GRAMMAR_SENTENCES = 20_000


def word_class(world: Labeller, word: str) -> str:
    """A word's class for the grammar check: its sub-context (animals, locations, actions, ...), a function word
    itself (the, in, .)."""
    context = world.label(word)[0]
    return word if context == FUNCTION_CONTEXT else context


def grammar_pairs(world: World, n_sentences: int = GRAMMAR_SENTENCES, seed: int = 0
                  ) -> frozenset[tuple[str, str]]:
    """Every pair of neighbouring word classes in n sentences of the world's corpus: the grammar a completion is
    held to."""
    from llmcore.world.corpus import CorpusGenerator

    pairs = set()
    for sentence in CorpusGenerator(world, seed=seed).sentences(n_sentences):
        classes = [word_class(world, w) for w in sentence.split()]
        pairs.update(zip(classes, classes[1:]))
    return frozenset(pairs)


def keeps_grammar(world: Labeller, words: Sequence[str], pairs: frozenset[tuple[str, str]]) -> bool:
    """Whether a completion (the prompt's last word first) ends its sentence with a period and every neighbouring
    pair of word classes in it occurs in the world's sentences ('the sea .' does, 'the sea sea sea' does not)."""
    if "." not in words[1:]:
        return False
    classes = [word_class(world, w) for w in words[: list(words).index(".", 1) + 1]]
    return all(p in pairs for p in zip(classes, classes[1:]))


def sweep_prompts(ckpt: Checkpoint, source: str) -> list[str]:
    """'a <animal> <eat verb> <first food of its diet> in' for each animal of the world in group `source` (every
    animal when fewer than three are): the animal is word 2 of each."""
    from llmcore.world.corpus import article

    world, stoi = ckpt.world, ckpt.tokenizer.stoi
    animals = getattr(world, "animals", {})
    chosen = [a for a in animals if source in world.label(a)]
    verb = world.recipe.eat_verbs[0] if animals else ""
    return [f"{article(a)} {a} {verb} {food} in" for a in (chosen if len(chosen) >= 3 else animals)
            for food in [next((f for f in animals[a].diet if f in stoi), None)] if food and a in stoi]


def group_places(world: Labeller, name: str) -> set[str]:
    """The places a group stands for: a location group's words, the habitats of an animal group's animals, the
    own places of a food group's foods; empty for any other group."""
    animals, foods = getattr(world, "animals", {}), getattr(world, "food_places", {})
    members = [w for c, groups in world.taxonomy.items() for g, ws in groups.items() if name in (c, g) for w in ws]
    places = {w for w in members if world.label(w)[0] == "locations"}
    places |= {h for w in members if w in animals for h in animals[w].habitats}
    return places | {p for w in members if w in foods for p in foods[w][1]}


@dataclass
class SteeringSweep:
    """N world prompts steered at A alphas, generated greedily. completions: [A][N] texts; grammatical: (A,) share
    that keeps the world's grammar (keeps_grammar); changed: (A,) share that differs from alpha 0's; lands: (A,)
    share that names one of the target group's places (group_places; all zero when it has none)."""

    alphas: np.ndarray
    prompts: list[str]
    completions: list[list[str]]
    grammatical: np.ndarray
    changed: np.ndarray
    lands: np.ndarray

    def __post_init__(self) -> None:
        A = len(self.alphas)
        shares = (self.grammatical, self.changed, self.lands)
        if any(x.shape != (A,) for x in shares) or len(self.completions) != A:
            raise ValueError(f"SteeringSweep needs one share and one list of completions per alpha ({A})")

    @property
    def maximum(self) -> float:
        """The largest alpha up to which (all smaller alphas too) at least GRAMMAR_BAR of completions keep the
        grammar; the first positive alpha when even that breaks it."""
        ok = np.cumprod(self.grammatical >= GRAMMAR_BAR).astype(bool)
        positive = self.alphas > 0
        return float(self.alphas[ok & positive].max()) if (ok & positive).any() else float(self.alphas[positive][0])

    def summary(self, target: str) -> str:
        """What the sweep measured, and why the slider starts and stops where it does."""
        k, top = list(self.alphas).index(self.default), list(self.alphas).index(self.maximum)
        shown = ", ".join(f"'{p}'" for p in self.prompts[:2]) + (", …" if len(self.prompts) > 2 else "")
        text = (f"Measured on {len(self.prompts)} prompts of the world ({shown}) at {len(self.alphas)} values of "
                f"alpha from {self.alphas.min():g} to {self.alphas.max():g}: up to alpha {self.maximum:g}, "
                f"{share_text(self.grammatical[:top + 1].min())} the grammar of the world's sentences "
                "(each pair of neighbouring word kinds occurs in them, and the sentence ends)")
        if top + 1 < len(self.alphas):
            text += f"; at {self.alphas[top + 1]:g} only {self.grammatical[top + 1]:.0%} do, so the slider stops there"
        if self.lands[k] >= MOVE_BAR:
            return text + f". From alpha {self.default:g}, {self.lands[k]:.0%} name a place of '{target}': the " \
                          "slider starts there."
        if self.changed[k] >= MOVE_BAR:
            return text + f". From alpha {self.default:g}, {self.changed[k]:.0%} change: the slider starts there."
        return text + (f". No alpha up to {self.maximum:g} changes more than {self.changed.max():.0%} of them: "
                       "this push barely moves the model here.")

    @property
    def default(self) -> float:
        """The smallest alpha within the range at which at least MOVE_BAR of completions name one of the target's
        places; else that changes at least MOVE_BAR of them; else the one within the range that changes most."""
        inside = (self.alphas > 0) & (self.alphas <= self.maximum)
        for share in (self.lands, self.changed):
            moving = inside & (share >= MOVE_BAR)
            if moving.any():
                return float(self.alphas[moving].min())
        return float(self.alphas[inside][np.argmax(self.changed[inside])])


def share_text(share: float) -> str:
    """'every completion keeps' for 1, else 'at least 88% of the completions keep'."""
    return "every completion keeps" if share >= 1 else f"at least {share:.0%} of the completions keep"


def _greedy(ckpt: Checkpoint, ids: torch.Tensor, edit: Edit, depth: int, n_words: int) -> torch.Tensor:
    """(B, n_words) greedy continuations of (B, P) prompts (KV-cached: the prompt, then one word a pass) with
    `edit` on the residual stream at `depth`."""
    model = ckpt.model
    if model.training:
        model.eval()
    out, cache = [], model.new_cache()
    with torch.inference_mode(), hooked(model_sites(model), {("resid", depth): [edit]}):
        logits, _ = model(ids.to(model.device), cache=cache)
        for _ in range(n_words):
            out.append(logits[:, -1].argmax(-1, keepdim=True))
            logits, _ = model(out[-1], cache=cache)
    return torch.cat(out, 1).cpu()


def steering_sweep(ckpt: Checkpoint, *, vector: np.ndarray, depth: int, prompts: Sequence[str], target: str,
                   on_word: int | None = 1, alphas: Sequence[float] = SWEEP_ALPHAS,
                   pairs: frozenset[tuple[str, str]] | None = None) -> SteeringSweep:
    """Every prompt steered at every alpha (at word position `on_word`, 0-based, or at every position when None)
    in one batch; what share keeps the world's grammar (pairs: grammar_pairs, computed when not given), changes,
    and names a place of group `target`. Completions run to SWEEP_WORDS words or the model's context."""
    world, vocab = ckpt.world, ckpt.tokenizer.vocab
    if not prompts:
        raise PromptError("the steering sweep needs at least one prompt")
    encoded = [word_ids(ckpt, p) for p in prompts]
    n_words = min(SWEEP_WORDS, ckpt.model.config.block_size - len(encoded[0]))
    if len({len(e) for e in encoded}) != 1 or n_words < 3:
        raise PromptError(f"the sweep's prompts must have one length, at most "
                          f"{ckpt.model.config.block_size - 3} words")
    a = torch.tensor([float(x) for x in alphas]).repeat_interleave(len(prompts))  # (A * N,)
    push = a[:, None] * torch.as_tensor(np.asarray(vector, np.float32))[None]  # (A * N, C)

    def add(x: torch.Tensor) -> torch.Tensor | None:
        if on_word is None:  # every position: the prompt's, then each new word's
            return x + push[:, None].to(x.dtype)
        if x.shape[1] == 1:  # a new word's pass: the prompt's word was pushed in the first pass
            return None
        x = x.clone()
        x[:, on_word] += push.to(x.dtype)
        return x
    out = _greedy(ckpt, torch.tensor(encoded).repeat(len(alphas), 1), add, depth, n_words)
    pairs = grammar_pairs(world) if pairs is None else pairs
    words = [[vocab[i] for i in row] for row in out.tolist()]
    texts = [" ".join(w[: w.index(".") + 1] if "." in w else w) for w in words]
    N = len(prompts)
    last = [vocab[e[-1]] for e in encoded]
    grammatical = [keeps_grammar(world, [last[i % N]] + w, pairs) for i, w in enumerate(words)]
    completions = [texts[k * N:(k + 1) * N] for k in range(len(alphas))]
    places = group_places(world, target)
    per_alpha = lambda flags: np.array(flags, float).reshape(len(alphas), N).mean(1)  # noqa: E731
    return SteeringSweep(alphas=np.array(alphas, float), prompts=list(prompts), completions=completions,
                         grammatical=per_alpha(grammatical), lands=per_alpha([bool(places & set(t.split()))
                                                                              for t in texts]),
                         changed=np.array([np.mean([c != c0 for c, c0 in zip(row, completions[0])])
                                           for row in completions]))


def nearer_centre(ckpt: Checkpoint, state: np.ndarray, names: tuple[str, str], *, depth: int,
                  reference: ReferenceStates | None = None) -> str:
    """Which of two groups has its centre (centres) nearer a state at a depth."""
    a, b = centres(ckpt, names, depth=depth, reference=reference)
    return names[0] if np.linalg.norm(state - a) <= np.linalg.norm(state - b) else names[1]


def steer_lead(*, word: str | None, source: str, target: str, alpha: float, depth_name: str, plain: str,
               steered: str, nearer: str | None = None) -> str:
    """The steered run in one plain sentence: what was pushed, how far, which of the two centres it is nearer now
    (nearer_centre) and what the model says now (word None: every word was pushed)."""
    how_far = f"{alpha:g} of the way" if alpha <= 1 else f"{alpha:g} times the distance"
    text = (f"Push {f'the state of {word!r}' if word else 'every state'} {how_far} from the centre of '{source}' "
            f"towards the centre of '{target}' (at {depth_name})")
    if nearer:
        text += (f": in the model's own space it now lies nearer the centre of '{nearer}' than of "
                 f"'{target if nearer == source else source}' (a map's plane shows only part of the move)")
    if steered == plain:
        return text + f", and the model still says '{plain}'."
    return text + f", and the model says '{steered}' instead of '{plain}'."


def default_direction(world: Labeller, animal: str | None, groups: Sequence[str]) -> tuple[str, str]:
    """Where a lesson's push starts and ends: from the animal's subgroup to the subgroup of the same sub-context
    whose places share least with it (pets -> water: kennel and sea have nothing in common); without an animal,
    the first and last group."""
    source = world.label(animal)[1] if animal else None
    if source not in groups:
        return groups[0], groups[-1]
    context, own = world.label(animal)[0], group_places(world, source)
    others = [g for g in world.taxonomy.get(context, {}) if g != source and g in groups]
    if not others:
        return source, next(g for g in groups if g != source)
    overlap = lambda g: len(own & group_places(world, g)) / max(len(own | group_places(world, g)), 1)  # noqa: E731
    return source, min(others, key=overlap)
