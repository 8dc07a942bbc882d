"""A checkpoint's features: the sparse autoencoders of every depth with their scores, each feature's graded label
and top examples, and the trait probes, fitted together (`fit_features`), stored beside the model as
features.safetensors (`save_features`, `load_features`) and read for a prompt (`prompt_features`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from llmcore.analysis.corpus_states import CorpusStates, corpus_states
from llmcore.analysis.grading import FeatureGrades, grade_features, world_categories
from llmcore.analysis.probes import ProbeResult, Trait, fit_probes, world_traits
from llmcore.analysis.sae import SAEConfig, SAEScores, SAEStack, score_stack, timed_fit
from llmcore.files import write_into
from llmcore.inputs import InputError, Shaped, file_kind, parse_json, read_safetensors, safetensors_header
from llmcore.model.checkpoint import FEATURES, FITTED_FILES, Checkpoint, tensor_problem

if TYPE_CHECKING:
    from llmcore.analysis.trace import GenerationTrace, SamplingConfig

FEATURES_FILE = FEATURES
FORMAT = 1
META_KEY = FITTED_FILES[FEATURES]
N_EXAMPLES = 8
TRAIN_SENTENCES, GRADE_SENTENCES, GRADE_SEED = 6000, 1500, 777
MAX_WIDTH = 64  # features per residual dimension a file may declare


class FeaturesError(ValueError):
    """A features file that cannot be used for this model; the message names the file and what to do."""


@dataclass
class Examples:
    """The top N_EXAMPLES activations of each of W features at L depths on the grading sentences. where: (L, W, E, 2)
    (sentence, word position), -1 where a feature fired less often; value: (L, W, E)."""

    sentences: list[str]
    where: np.ndarray
    value: np.ndarray

    def of(self, depth: int, feature: int) -> list[tuple[str, int, float]]:
        """(sentence, word position, activation) of a feature's top examples, strongest first."""
        return [(self.sentences[s], int(p), float(v)) for (s, p), v in zip(self.where[depth, feature],
                                                                           self.value[depth, feature]) if s >= 0]


@dataclass
class Features:
    """Everything `llmcore features --fit` computes for one checkpoint (content hash `checkpoint`)."""

    sae: SAEStack
    scores: SAEScores
    grades: FeatureGrades
    examples: Examples
    probes: ProbeResult
    checkpoint: str
    seconds: float


def fit_features(ckpt: Checkpoint, *, config: SAEConfig | None = None, say: Callable[[str], None] = print,
                 n_train: int = TRAIN_SENTENCES, n_grade: int = GRADE_SENTENCES,
                 traits: list[Trait] | None = None) -> Features:
    """Fit and grade the autoencoders and the trait probes (every world trait unless `traits`) on corpus sentences
    of the checkpoint's world: n_train to fit on, n_grade held back to score and grade on."""
    t0 = time.perf_counter()
    config = config or SAEConfig()
    train = corpus_states(ckpt, n_sentences=n_train)
    held = corpus_states(ckpt, n_sentences=n_grade, seed=GRADE_SEED)
    say(f"states: {len(train.states):,} words to train on, {len(held.states):,} held back")
    probes = fit_probes(train, ckpt.world, traits=traits)
    say(f"probes: {len(probes.traits)} traits in {probes.fit_seconds:.1f} s, {len(probes.readable())} readable")
    sae, seconds = timed_fit(train.states, train.layer_names, config)
    scores = score_stack(ckpt, sae, held.states, held.sentences, seconds)
    say(f"autoencoders: {seconds:.0f} s, variance explained {scores.fve.min():.3f} at worst")
    acts = [sae.encode(d, held.states[:, d]) for d in range(len(sae.layer_names))]
    grades = grade_features([a > 0 for a in acts], world_categories(held, ckpt.world, probes.traits))
    return Features(sae=sae, scores=scores, grades=grades, examples=_examples(held, acts), probes=probes,
                    checkpoint=ckpt.content_hash, seconds=time.perf_counter() - t0)


def _examples(cs: CorpusStates, acts: list[np.ndarray]) -> Examples:
    L, W = len(acts), acts[0].shape[1]
    where, value = np.full((L, W, N_EXAMPLES, 2), -1, np.int32), np.zeros((L, W, N_EXAMPLES), np.float32)
    for d, a in enumerate(acts):
        top = np.argsort(-a, axis=0)[:N_EXAMPLES].T  # (W, E) rows of the strongest activations
        v = np.take_along_axis(a.T, top, 1)
        fired = v > 0
        where[d, ..., 0] = np.where(fired, cs.sentence[top], -1)
        where[d, ..., 1] = np.where(fired, cs.position[top], -1)
        value[d] = np.where(fired, v, 0)
    return Examples(sentences=list(cs.sentences), where=where, value=value)


# ---------------------------------------------------------------- the file
def _tensors(f: Features) -> dict[str, np.ndarray]:
    s, g, p = f.sae, f.scores, f.probes
    out = {"sae.enc": s.enc.astype(np.float16), "sae.dec": s.dec.astype(np.float16), "sae.b_enc": s.b_enc,
           "sae.b_dec": s.b_dec, "sae.scale": s.scale, "scores.fve": g.fve, "scores.l0": g.l0,
           "scores.dead": g.dead.astype(np.int64), "scores.frequency": g.frequency,
           "scores.spliced_loss": g.spliced_loss, "grades.category": f.grades.category,
           "grades.precision": f.grades.precision, "grades.recall": f.grades.recall, "grades.f1": f.grades.f1,
           "examples.where": f.examples.where, "examples.value": f.examples.value}
    for name in ("accuracy", "control", "majority", "n_sentences", "weights", "bias", "mean", "scale"):
        out[f"probes.{name}"] = getattr(p, name)
    return {k: np.ascontiguousarray(v.astype(v.dtype if v.dtype in (np.float16, np.int64, np.int32) else
                                              np.float32)) for k, v in out.items()}


def features_bytes(f: Features) -> bytes:
    """The features as one safetensors file; what they were fitted to in one metadata key."""
    from safetensors.numpy import save

    meta = {"format": FORMAT, "checkpoint": f.checkpoint, "layer_names": f.sae.layer_names, "k": f.sae.k,
            "width": f.sae.width, "clean_loss": f.scores.clean_loss, "sae_seconds": f.scores.fit_seconds,
            "probe_seconds": f.probes.fit_seconds, "seconds": f.seconds, "n_animals": f.probes.n_animals,
            "categories": f.grades.names, "families": f.grades.families, "sentences": f.examples.sentences,
            "traits": [[t.family, t.value, sorted(t.animals)] for t in f.probes.traits], "roles": f.probes.roles}
    return save(_tensors(f), metadata={META_KEY: json.dumps(meta)})


def save_features(f: Features, folder: Path) -> Path:
    """Write features.safetensors into `folder` atomically (a link, FIFO or folder of that name is never replaced)."""
    return write_into(folder, FEATURES_FILE, features_bytes(f), FeaturesError)


def _metadata(header: dict) -> dict:
    raw = header.get("__metadata__", {}).get(META_KEY) if isinstance(header.get("__metadata__"), dict) else None
    if not isinstance(raw, str):
        raise InputError(f"is not a features file (no {META_KEY!r} metadata); `llmcore features --fit` writes one")
    meta = parse_json(raw)
    kinds = {"format": int, "checkpoint": str, "layer_names": list, "k": int, "width": int, "clean_loss": float,
             "sae_seconds": float, "probe_seconds": float, "seconds": float, "n_animals": int, "categories": list,
             "families": list, "sentences": list, "traits": list, "roles": list}
    if not isinstance(meta, dict) or any(not isinstance(meta.get(k), t) for k, t in kinds.items()):
        raise InputError(f"{META_KEY} metadata must hold {', '.join(kinds)} with their types")
    if meta["format"] != FORMAT:
        raise InputError(f"features format {meta['format']} is not supported (this llmcore reads {FORMAT})")
    return meta


def _expected(meta: dict, L: int, C: int) -> dict[str, tuple[tuple[int, ...], str]]:
    W, K, M, R = meta["width"], len(meta["traits"]), len(meta["categories"]), len(meta["roles"])
    S, E = len(meta["sentences"]), N_EXAMPLES
    if not (1 <= meta["k"] <= W <= MAX_WIDTH * C and K <= 10_000 and M <= 100_000 and R <= 16 and S <= 10**6):
        raise InputError(f"declares width {W}, k {meta['k']}, {K} traits, {M} categories: out of range "
                         f"(1 <= k <= width <= {MAX_WIDTH * C})")
    f32 = "F32"
    return {"sae.enc": ((L, W, C), "F16"), "sae.dec": ((L, C, W), "F16"), "sae.b_enc": ((L, W), f32),
            "sae.b_dec": ((L, C), f32), "sae.scale": ((L,), f32), "scores.fve": ((L,), f32),
            "scores.l0": ((L,), f32), "scores.dead": ((L,), "I64"), "scores.frequency": ((L, W), f32),
            "scores.spliced_loss": ((L,), f32), "grades.category": ((L, W), "I64"),
            "grades.precision": ((L, W), f32), "grades.recall": ((L, W), f32), "grades.f1": ((L, W), f32),
            "examples.where": ((L, W, E, 2), "I32"), "examples.value": ((L, W, E), f32),
            "probes.accuracy": ((K, R, L), f32), "probes.control": ((K,), f32), "probes.majority": ((K, R), f32),
            "probes.n_sentences": ((R,), "I64"), "probes.weights": ((K, R, L, C), f32),
            "probes.bias": ((K, R, L), f32), "probes.mean": ((R, L, C), f32), "probes.scale": ((R, L, C), f32)}


def read_features(path: Path, ckpt: Checkpoint) -> Features:
    """A features file checked before anything is allocated: a regular file (no link, FIFO or device), its size and
    header, the checkpoint it was fitted to, then every tensor's name, shape and dtype against the model and the
    metadata; any problem raises FeaturesError naming the file and the rule."""
    path = Path(path)
    kind = file_kind(path, follow=False)
    if kind != "a regular file":
        raise FeaturesError(f"{path}: is {kind or 'missing'}; a features file must be a regular file")
    c = ckpt.model_config
    L = c.n_layer + 2
    try:
        header = safetensors_header(path)
        meta = _metadata(header)
        if meta["checkpoint"] != ckpt.content_hash:
            raise InputError(f"was fitted to the weights {meta['checkpoint']!r}, not these ({ckpt.content_hash}); "
                             f"it is stale: refit it with `llmcore features --fit {ckpt.path or 'FOLDER'}`")
        if len(meta["layer_names"]) != L:
            raise InputError(f"names {len(meta['layer_names'])} depths; this model has {L}")
        expected = _expected(meta, L, c.n_embd)
    except InputError as e:
        raise FeaturesError(f"{path}: {e}") from None
    declared = {k for k in header if k != "__metadata__"}
    if declared != set(expected):
        raise FeaturesError(f"{path}: holds tensors {sorted(declared ^ set(expected))[:4]} it should not, or "
                            "lacks them")
    for name, (shape, dtype) in expected.items():
        if (problem := tensor_problem(header[name], list(shape), (dtype,))) is not None:
            raise FeaturesError(f"{path}: tensor {name} {problem}")
    try:
        t, _ = read_safetensors(path)
    except (InputError, OSError, ValueError) as e:
        raise FeaturesError(f"{path}: cannot be read ({e})") from None
    return _assemble(t, meta)


def _assemble(t: dict[str, np.ndarray], meta: dict) -> Features:
    names = meta["layer_names"]
    sae = SAEStack(enc=t["sae.enc"].astype(np.float32), b_enc=t["sae.b_enc"], dec=t["sae.dec"].astype(np.float32),
                   b_dec=t["sae.b_dec"], scale=t["sae.scale"], k=meta["k"], layer_names=names)
    scores = SAEScores(fve=t["scores.fve"], l0=t["scores.l0"], dead=t["scores.dead"],
                       frequency=t["scores.frequency"], clean_loss=meta["clean_loss"],
                       spliced_loss=t["scores.spliced_loss"], fit_seconds=meta["sae_seconds"])
    grades = FeatureGrades(names=meta["categories"], families=meta["families"], category=t["grades.category"],
                           precision=t["grades.precision"], recall=t["grades.recall"], f1=t["grades.f1"])
    traits = [Trait(str(f), str(v), frozenset(map(str, a))) for f, v, a in meta["traits"]]
    probes = ProbeResult(traits=traits, roles=meta["roles"], layer_names=names,
                         **{k.split(".")[1]: t[k] for k in t if k.startswith("probes.")},
                         n_animals=meta["n_animals"], fit_seconds=meta["probe_seconds"])
    return Features(sae=sae, scores=scores, grades=grades, probes=probes, checkpoint=meta["checkpoint"],
                    examples=Examples(meta["sentences"], t["examples.where"], t["examples.value"]),
                    seconds=meta["seconds"])


def features_path(ckpt: Checkpoint) -> Path | None:
    """features.safetensors beside the model, or None for a checkpoint without a folder."""
    return None if ckpt.path is None else ckpt.path / FEATURES_FILE


def load_features(ckpt: Checkpoint) -> Features | None:
    """The checkpoint's features, None where it has none; a stale, foreign or bad file raises FeaturesError."""
    path = features_path(ckpt)
    if path is None or file_kind(path, follow=False) is None:
        return None
    return read_features(path, ckpt)


__all__ = ["Features", "FeaturesError", "fit_features", "load_features", "save_features", "read_features",
           "steer_with_feature", "world_traits"]


# ---------------------------------------------------------------- a prompt's features
@dataclass
class PromptFeatures(Shaped):
    """The active features of N word steps at L depths, strongest first. ids / values: (N, L, k) feature index and
    activation (value 0 where fewer fired); words / next_words: (N,) the word read and the one after it."""

    words: list[str]
    next_words: list[str]
    layer_names: list[str]
    ids: np.ndarray
    values: np.ndarray
    hidden: np.ndarray
    SHAPES: ClassVar = {"words": ("N",), "next_words": ("N",), "layer_names": ("L",), "ids": ("N", "L", "k"),
                        "values": ("N", "L", "k"), "hidden": ("N", "L", ...)}

    def active(self, step: int, depth: int) -> list[tuple[int, float]]:
        """(feature, activation) of the features that fired at a step and depth, strongest first."""
        return [(int(j), float(v)) for j, v in zip(self.ids[step, depth], self.values[step, depth]) if v > 0]

    def to_dict(self, f: Features) -> dict:
        """JSON-ready: per step and depth, each active feature with its label, quality and F1."""
        g = f.grades
        return {"layer_names": self.layer_names, "steps": [
            {"step": i + 1, "read": w, "next": n, "depths": {name: [
                {"feature": j, "activation": round(v, 4), "label": g.label(d, j), "quality": g.quality(d, j),
                 "f1": round(float(g.f1[d, j]), 4)} for j, v in self.active(i, d)]
                for d, name in enumerate(self.layer_names)}}
            for i, (w, n) in enumerate(zip(self.words, self.next_words))]}


def trace_word_states(trace: GenerationTrace) -> tuple[list[str], list[str], np.ndarray]:
    """(words read, next words, (N, L, C) states) of a trace's word steps: the one place a trace is read here."""
    return list(trace.words), list(trace.next_words), trace.hidden


def prompt_features(ckpt: Checkpoint, f: Features, prompt: str, *, max_words: int = 12) -> PromptFeatures:
    """The features active at every word step of the prompt's greedy completion."""
    from llmcore.analysis.trace import SamplingConfig, trace_generation

    trace = trace_generation(ckpt, prompt, SamplingConfig(max_new_words=max_words))
    return features_of_states(f, *trace_word_states(trace))


def features_of_states(f: Features, words: list[str], next_words: list[str], hidden: np.ndarray) -> PromptFeatures:
    """PromptFeatures of (N, L, C) states."""
    N, L = hidden.shape[:2]
    k = f.sae.k
    ids, values = np.zeros((N, L, k), np.int64), np.zeros((N, L, k), np.float32)
    for d in range(L):
        a = f.sae.encode(d, hidden[:, d])
        top = np.argsort(-a, axis=1)[:, :k]
        ids[:, d], values[:, d] = top, np.take_along_axis(a, top, 1)
    return PromptFeatures(words=words, next_words=next_words, layer_names=f.sae.layer_names, ids=ids, values=values,
                          hidden=hidden)


def steer_with_feature(ckpt: Checkpoint, f: Features, prompt: str, *, depth: int, feature: int, alpha: float,
                       sampling: SamplingConfig | None = None) -> GenerationTrace:
    """Generate with alpha times a feature's decoder direction added to the residual stream at its depth (embed or
    a block: the final depth is read after the last block, where nothing can be added) at every position, through
    the steering path (llmcore.analysis.steering.steer)."""
    from llmcore.analysis.steering import steer
    from llmcore.analysis.trace import PromptError

    names = f.sae.layer_names
    if not isinstance(depth, int) or not 0 <= depth < len(names) - 1:
        raise PromptError(f"a feature steers at one of {', '.join(names[:-1])} (depth 0 to {len(names) - 2}), "
                          f"got {depth!r}")
    if not isinstance(feature, int) or not 0 <= feature < f.sae.width:
        raise PromptError(f"feature must be a whole number from 0 to {f.sae.width - 1}, got {feature!r}")
    return steer(ckpt, prompt, vector=f.sae.direction(depth, feature), depth=depth, alpha=alpha, sampling=sampling)


def logit_effect(ckpt: Checkpoint, f: Features, depth: int, feature: int, k: int = 5) -> tuple[list, list]:
    """The words a feature's decoder direction pushes up and down most, read through the final norm's gain and the
    head (its direct effect on the logits): ([(word, logit)] up, [(word, logit)] down)."""
    import torch

    model = ckpt.model
    with torch.no_grad():
        d = torch.as_tensor(f.sae.direction(depth, feature))
        gain = model.transformer.ln_f.weight if depth < len(f.sae.layer_names) - 1 else torch.ones_like(d)
        logits = (model.lm_head.weight @ (d * gain)).numpy()
    vocab = ckpt.tokenizer.vocab
    order = np.argsort(-logits)
    return ([(vocab[i], float(logits[i])) for i in order[:k]], [(vocab[i], float(logits[i])) for i in order[::-1][:k]])
