"""The model's residual states at every word of generated corpus sentences, with each sentence's roles (the animal,
its verb, its food, the preposition after them): what the trait probes and the sparse autoencoders learn from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmcore.model.checkpoint import Checkpoint
from llmcore.world.types import World

ROLES = ("animal", "verb", "food", "preposition")  # positions relative to the sentence's animal
STATES_SEED = 4242  # corpus seed of the sentences states are read from (not the training corpus's 0)
BATCH = 64  # sentences per forward pass: its activations stay a few MB whatever n_sentences is (and it is faster)


@dataclass
class CorpusStates:
    """N words of S sentences at L depths. states: (N, L, C) float32; sentence / position: (N,) int64, where each
    word sits; words: (N,) str; roles: (S, R) int64 index into the N words of each sentence's role (ROLES order),
    -1 where the sentence has none; subjects: (S,) str, the sentence's single animal ('' for none)."""

    sentences: list[str]
    states: np.ndarray
    sentence: np.ndarray
    position: np.ndarray
    words: np.ndarray
    roles: np.ndarray
    subjects: np.ndarray
    layer_names: list[str]

    def __post_init__(self) -> None:
        N, S = len(self.states), len(self.sentences)
        if self.states.ndim != 3 or self.states.shape[1] != len(self.layer_names):
            raise ValueError(f"states must be (N, L={len(self.layer_names)}, C), got {self.states.shape}")
        if not all(len(a) == N for a in (self.sentence, self.position, self.words)):
            raise ValueError(f"sentence, position and words must have one entry per state ({N})")
        if self.roles.shape != (S, len(ROLES)) or self.subjects.shape != (S,):
            raise ValueError(f"roles must be ({S}, {len(ROLES)}) and subjects ({S},)")

    def role_rows(self, role: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows into states, their sentences' animals) of the sentences that have this role."""
        r = self.roles[:, ROLES.index(role)]
        keep = r >= 0
        return r[keep], self.subjects[keep]


def sentence_roles(world: World, words: list[str]) -> tuple[str, list[int]]:
    """The single animal a sentence is about and the positions of ROLES in it (-1 where absent): the animal's word,
    the verb right after it, the food right after the verb, the first preposition after those. Sentences naming
    two animals, or none, give ('', [-1, ...])."""
    none = ("", [-1] * len(ROLES))
    animals = [i for i, w in enumerate(words) if world.lemma(w) in getattr(world, "animals", {})]
    if len(animals) != 1:
        return none
    a = animals[0]
    verb = a + 1 if a + 1 < len(words) and world.label(words[a + 1])[0] == "actions" else -1
    food = verb + 1 if verb >= 0 and verb + 1 < len(words) and world.label(words[verb + 1])[0] == "food" else -1
    after = max(a, verb, food) + 1
    preps = set(world.grammar.prepositions)
    prep = next((i for i in range(after, len(words)) if words[i] in preps), -1) if verb >= 0 else -1
    return world.lemma(words[a]), [a, verb, food, prep]


def corpus_states(ckpt: Checkpoint, *, n_sentences: int = 3000, seed: int = STATES_SEED) -> CorpusStates:
    """Residual states at every word of n_sentences corpus sentences of the checkpoint's world, each run from
    position 0 (sentences of one length batched together: no padding)."""
    import torch

    from llmcore.model.caches import ActivationCache

    model, tok, world = ckpt.model, ckpt.tokenizer, ckpt.world
    model.eval()
    block = model.config.block_size
    sentences = [s for s in world.reference_sentences(seed, n_sentences) if len(s.split()) <= block]
    ids = [tok.encode_corpus([s]) for s in sentences]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    lengths = np.array([len(x) for x in ids], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    states, labels = None, None  # (N, L, C), filled in place: no per-batch pieces to join at the end
    groups = [[i for i in order if len(ids[i]) == T] for T in sorted({len(x) for x in ids})]
    for batch in (g[s:s + BATCH] for g in groups for s in range(0, len(g), BATCH)):
        act = ActivationCache(attention=False)
        with torch.no_grad():
            model(torch.tensor([ids[i] for i in batch], device=model.device), capture=act)
        stack, labels = act.residual_stack()  # (L, B, T, C)
        if states is None:
            states = np.empty((int(lengths.sum()), stack.shape[0], stack.shape[-1]), np.float32)
        arr = stack.permute(1, 2, 0, 3).float().cpu().numpy()  # (B, T, L, C)
        for b, i in enumerate(batch):
            states[starts[i]:starts[i] + lengths[i]] = arr[b]
    return _assemble(world, sentences, states, lengths, labels)


def _assemble(world: World, sentences: list[str], states: np.ndarray, lengths: np.ndarray,
              labels: list[str]) -> CorpusStates:
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    roles, subjects = [], []
    for s, start in zip(sentences, starts):
        subject, pos = sentence_roles(world, s.split())
        subjects.append(subject)
        roles.append([start + p if p >= 0 else -1 for p in pos])
    return CorpusStates(sentences=sentences, states=states,
                        sentence=np.repeat(np.arange(len(sentences)), lengths),
                        position=np.concatenate([np.arange(n) for n in lengths]),
                        words=np.array([w for s in sentences for w in s.split()], object),
                        roles=np.array(roles, np.int64).reshape(len(sentences), len(ROLES)),
                        subjects=np.array(subjects, object), layer_names=list(labels))
