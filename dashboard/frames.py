"""Data shaping for the dashboard: plain pandas frames from traces and maps (no streamlit, no plotting)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dashboard.text import count, prob
from llmcore.world.types import FUNCTION_CONTEXT, Animal, World

if TYPE_CHECKING:
    from llmcore.analysis.attribution import Ablation, Attribution
    from llmcore.analysis.evaluate import HeldOutBreakdown
    from llmcore.analysis.interventions import CausalTrace
    from llmcore.analysis.lens import LensReadings
    from llmcore.analysis.trace import GenerationTrace
    from llmcore.maps.alignment import AlignedMap
    from llmcore.maps.store import FittedMap
    from llmcore.maps.watch import PromptOverTraining, TrainingFrames
    from llmcore.model.checkpoint import LossLandscape


def path_states(trace: GenerationTrace, depth: int) -> tuple[np.ndarray, list[str]]:
    """States along the text at one depth, one per word read (prompt and completion): (n, C) and the words."""
    return trace.hidden[:, depth], trace.words


def trajectory_frame(trace: GenerationTrace, cmap: FittedMap | AlignedMap, depth: int,
                     context_of: dict[str, str] | None = None, readings: LensReadings | None = None) -> pd.DataFrame:
    """One row per word read (step 1 = after the first word): where its state lands on the map, the word that came
    next and the two readings of the state, `read` (sub-context of the word read, from `context_of`) and `next`
    (the sub-context holding most next-word probability). in_prompt: the next word was given by the prompt.
    With a lens's `readings`: settled (the prediction depth's index), settled_at (its name) and settled_share
    (its index over the last depth's: 0 settled from the embedding on, 1 only at the final depth)."""
    xy = cmap.place(trace.hidden[:, depth])
    nxt = [trace.next_context(i) for i in range(len(trace))]
    df = pd.DataFrame({"step": np.arange(1, len(trace) + 1), "word": trace.words, "next_word": trace.next_words,
                       "p_next": trace.next_probs.astype(float), "in_prompt": np.arange(len(trace)) < trace.boundary,
                       "read": [(context_of or {}).get(w, "") for w in trace.words], "next": nxt,
                       "next_mass": trace.context_probs.max(1).astype(float), "x": xy[:, 0], "y": xy[:, 1]})
    if xy.shape[1] > 2:
        df["z"] = xy[:, 2]
    df["label"] = [f"{s}: {w}" for s, w in zip(df.step, df.word)]
    df["context"] = nxt  # the older name of the `next` reading
    if readings is not None:
        df["settled"] = readings.settled
        df["settled_at"] = [readings.settled_label(i) for i in range(len(df))]
        df["settled_share"] = readings.settled / max(len(readings.layer_names) - 1, 1)
    return df


def context_probs_frame(trace: GenerationTrace) -> pd.DataFrame:
    """Long frame, one row per (word step, sub-context): the next-word probability mass on that sub-context."""
    return pd.DataFrame([{"step": i + 1, "label": f"{i + 1}: {w}", "word": w, "context": c,
                          "probability": float(trace.context_probs[i, j])}
                         for i, w in enumerate(trace.words) for j, c in enumerate(trace.context_names)])


def steps_table(trace: GenerationTrace, context_of: dict[str, str], n_candidates: int = 5) -> pd.DataFrame:
    """One row per word read: both readings, the word that came next (from the prompt or generated), top candidates."""
    return pd.DataFrame([{
        "step": i + 1, "read word": trace.words[i], "read": context_of.get(trace.words[i], ""),
        "next": trace.next_context(i), "next mass": round(float(trace.context_probs[i].max()), 3),
        "next word": trace.next_words[i], "from": "generated" if trace.generated(i) else "prompt",
        "p": round(float(trace.next_probs[i]), 3),
        "top candidates": ", ".join(f"{w} {p:.2f}" for w, p in trace.candidates(i)[:n_candidates]),
    } for i in range(len(trace))])


# Reference states drawn on a map: a deterministic sample, enough to show each sub-context's cloud; the regions
# and every measure use all of them. Drawing fewer is most of what makes a map redraw fast (bench_dashboard.py).
MAP_POINTS = 1500


def compare_steps_frame(traces: dict[str, GenerationTrace | None]) -> pd.DataFrame:
    """Two runs side by side, one row per word read (prompt and completion alike): per run the word read, the word
    that followed (✎ where the model generated it) and, in brackets, the sub-context its next-word distribution
    favoured (the 'next' reading: "expects food next"). A run that failed (None) keeps its column, empty."""
    steps = traces
    table = pd.DataFrame({"step": range(1, max(len(w) for w in steps.values() if w is not None) + 1)})
    for name, w in steps.items():
        cells = [] if w is None else [f"{w.words[i]} → {w.next_words[i]}{' ✎' if w.generated(i) else ''} "
                                      f"(expects {w.next_context(i)} next)" for i in range(len(w))]
        table[name] = pd.Series(cells, dtype=object)
    return table.fillna("")


FEW_KEPT = 5  # reference_frame: a sub-context the subsample missed keeps this many of its states


def reference_frame(cmap: FittedMap, max_points: int = MAP_POINTS, seed: int = 0) -> pd.DataFrame:
    """The map's reference points (subsampled to max_points, deterministically, plus up to FEW_KEPT states of each
    sub-context, read or next, that the subsample missed: every region the map outlines has its colour in the
    legend) with their labels; attrs["total"] is how many the map has."""
    n = len(cmap.coords)
    idx = np.arange(n) if n <= max_points else np.sort(np.random.default_rng(seed).choice(n, max_points, False))
    if n > max_points:
        extra = [np.flatnonzero(v == c)[:FEW_KEPT] for k, v in cmap.reference.labels.items()
                 if k in ("context", "next_context") for c in set(v) - set(v[idx])]
        idx = np.unique(np.concatenate([idx, *extra])) if extra else idx
    df = pd.DataFrame({k: cmap.coords[idx, i] for i, k in enumerate("xyz"[: cmap.coords.shape[1]])})
    df.attrs["total"] = n
    for k, v in cmap.reference.labels.items():
        df[k] = v[idx]
    if "next_word" not in df:
        df["next_word"] = ""
    return df


def candidates_frame(words: list[str], probs: np.ndarray, coords: np.ndarray) -> pd.DataFrame:
    """Candidate next words with their probability and where each would take the state on the map."""
    df = pd.DataFrame({"word": words, "p": probs.astype(float), "x": coords[:, 0], "y": coords[:, 1]})
    if coords.shape[1] > 2:
        df["z"] = coords[:, 2]
    return df


def layer_path_frame(trace: GenerationTrace, step: int, cmap: FittedMap) -> pd.DataFrame:
    """The state of one word step at every depth (embed → blocks → final), on a map of the shared residual space, with
    the step's word."""
    xy = cmap.place(trace.hidden[step])
    df = pd.DataFrame({"layer": trace.layer_names, "x": xy[:, 0], "y": xy[:, 1],
                       "top_word": [trace.vocab[i] for i in trace.lens_top_ids[step, :, 0]],
                       "word": trace.words[step]})
    if xy.shape[1] > 2:
        df["z"] = xy[:, 2]
    return df


def step_captions(trace: GenerationTrace, context_of: dict[str, str], n_candidates: int = 3,
                  readings: LensReadings | None = None) -> list[str]:
    """One sentence per word read, computed from the numbers: the `read` reading (the sub-context of the word just
    read), the `next` reading (the sub-context holding most next-word probability, as in the bars) with that
    sub-context's own likeliest words, the likeliest single word where it lies in another sub-context, and the word
    that came next; with a lens's `readings`, the depth from which the likeliest word is settled."""
    from llmcore.model.tokenizer import UNK

    out = []
    ctx = lambda w: "an unknown word" if w == UNK else context_of.get(w, FUNCTION_CONTEXT)  # noqa: E731
    for i in range(len(trace)):
        nxt = trace.next_context(i)
        own = ", ".join(f"'{w}' {prob(p)}" for w, p in trace.context_top(i, nxt)[:n_candidates])
        top, p_top = trace.candidates(i)[0]
        single = (f" The likeliest single word, '{top}' ({prob(p_top)}), is one of the {ctx(top)}."
                  if ctx(top) != nxt else "")
        source = "generated" if trace.generated(i) else "given by the prompt"
        out.append(f"Step {i + 1}: after reading '{trace.words[i]}' (read: {ctx(trace.words[i])}), the model expects "
                   f"{nxt} next (next: {prob(float(trace.context_probs[i].max()))} of the probability, led by {own})."
                   f"{single} The next word, {source}, is '{trace.next_words[i]}' "
                   f"({ctx(trace.next_words[i])}, {prob(float(trace.next_probs[i]))}).")
        if readings is not None:
            out[-1] += " " + settled_sentence(trace, readings, i)
    return out


def settled_sentence(trace: GenerationTrace, readings: LensReadings, i: int) -> str:
    """Where step i's likeliest word is decided: read depth by depth by the lens, its top word is the final one
    from which depth on."""
    top = trace.vocab[int(readings.top_ids[i, -1, 0])]
    d = int(readings.settled[i])
    how = f"Reading the state after each layer as if it were the last ({readings.lens} lens)"
    if d == len(readings.layer_names) - 1:
        return f"{how}, '{top}' comes out on top only at the final depth."
    return (f"{how}, '{top}' is already the top word at {readings.layer_names[d]} and stays so to the end: the "
            "model has settled on it there.")


def features_link(trace: GenerationTrace, step: int, readings: LensReadings, *, prompt: str,
                  depths: Sequence[str], page_words: int) -> dict[str, str] | None:
    """The Features page's settings that show word step `step` (1-based) of the trace: the prompt, the step and the
    depth where the step's next word is settled (when the page has features there). None where that page, which
    reads the greedy completion of at most `page_words` words, reads another word at that step: a sampled step
    after the prompt, or one past its word limit."""
    greedy = trace.sampling.get("temperature", 0) == 0
    if not 1 <= step <= min(len(trace), trace.n_prompt + page_words - 1) or (not greedy and step > trace.n_prompt):
        return None
    settled = readings.layer_names[int(readings.settled[step - 1])]
    return {"f_prompt": prompt, "f_step": str(step)} | ({"f_depth": settled} if settled in depths else {})


def why_this_word(trace: GenerationTrace, world: World, i: int, held_out: Sequence[Sequence[str]] = ()) -> str | None:
    """Why the model named a place or a food at word step i (0-based), from the world: whether it is one of the
    places or foods of the last animal read, with the probability the step gives each of them, and the places of
    the last food read. None where the step's next word was the prompt's, or is neither, or no animal was read."""
    animals = getattr(world, "animals", {})
    if not trace.generated(i) or not animals:
        return None
    read = [world.lemma(w) for w in trace.words[: i + 1]]
    named = [w for w in read if w in animals]
    if not named:
        return None
    animal, word = animals[named[-1]], world.lemma(trace.next_words[i])
    food_places = getattr(world, "food_places", {})
    food_kind = {world.label(f)[0] for f in (*animal.diet, *food_places)}
    foods = [w for w in read if w in food_places or world.label(w)[0] in food_kind]
    food = foods[-1] if foods else None  # the last food read
    places = set(animal.habitats) | {p for _, ps in food_places.values() for p in ps}
    if word in places or world.label(word)[0] in {world.label(h)[0] for h in animal.habitats}:
        return _why_place(trace, i, world, animal, word, food, held_out)
    drinking = any(w in world.recipe.drink_verbs for w in read)
    menu = animal.drinks if drinking else animal.diet
    if word in menu or world.label(word)[0] in {world.label(f)[0] for f in menu}:
        name = f"the {animal.name}'s {'drinks' if drinking else 'foods'}"
        return f"{_member(trace, i, word, menu, name)}{_held_out_note(animal.name, word, held_out)}."
    return None


def prompt_pairs(words: Sequence[str], world: World, most: int = 3) -> list[tuple[str, str]]:
    """The (animal, food or drink) pairs the words name together in one sentence (sentences end at '.'), in any
    form, as lemmas: the last sentence's first (the one the model completes), at most `most`."""
    animals, foods = getattr(world, "animals", {}), set(world.words_of("food")) if hasattr(world, "words_of") else set()
    if not animals:
        return []
    sentences, current = [], []
    for w in words:
        if w == ".":
            sentences.append(current)
            current = []
        else:
            current.append(world.lemma(w))
    out: list[tuple[str, str]] = []
    for lemmas in reversed([*sentences, current]):
        lemmas = list(dict.fromkeys(lemmas))
        out += [(a, f) for a in lemmas if a in animals for f in lemmas if f in foods and (a, f) not in out]
    return out[:most]


def read_together(check: dict, pair: tuple[str, str]) -> int:
    """In how many training sentences the pair's animal and food appear together (corpus_check's 'pairs')."""
    return int(check.get("pairs", {}).get(pair[0], {}).get(pair[1], 0))


def pair_sentences(pairs: Sequence[tuple[str, str]], check: dict, held_out: Sequence[Sequence[str]] = ()
                   ) -> list[str]:
    """For each pair, how many of the training corpus's sentences name it (`check`:
    llmcore.maps.results.corpus_check): a never-seen pair says that what the model does with it is generalisation,
    a held-out one that it was kept apart on purpose."""
    total, held = f"{check['sentences']:,}", {tuple(p) for p in held_out}
    out = []
    for a, f in pairs:
        n = read_together(check, (a, f))
        if n:
            out.append(f"{a} + {f}: yes, {n:,} of the {total} training sentences name them together.")
        elif (a, f) in held:
            out.append(f"{a} + {f}: no. It is a held-out pair, kept out of all {total} training sentences to test "
                       "the model, so what the model says of the pair is generalisation.")
        else:
            out.append(f"{a} + {f}: no. None of the {total} training sentences names them together, so what the "
                       "model says of the pair is generalisation.")
    return out


def _listed(s: GenerationTrace, i: int, words: Sequence[str]) -> str:
    """Words with the probability step i gives each, likeliest first."""
    shown = sorted(dict.fromkeys(words), key=lambda w: -(s.word_prob(i, w) or 0.0))
    return ", ".join(f"{w} {prob(s.word_prob(i, w) or 0.0)}" for w in shown)


def _member(s: GenerationTrace, i: int, word: str, group: Sequence[str], name: str) -> str:
    """'kennel is one of the dog's places (kennel 0.41, yard 0.20, …; together 0.70)' or 'is not'."""
    together = sum(s.word_prob(i, w) or 0.0 for w in dict.fromkeys(group))
    verb = "is one of" if word in group else "is not one of"
    return f"{word} {verb} {name} ({_listed(s, i, group)}; together {prob(together)})"


def _held_out_note(animal: str, food: str | None, held_out: Sequence[Sequence[str]]) -> str:
    return (f"; the model never saw a {animal} with {food} in one training sentence"
            if food is not None and (animal, food) in {tuple(p) for p in held_out} else "")


def _why_place(s: GenerationTrace, i: int, world: World, animal: Animal, word: str, food: str | None,
               held_out: Sequence[Sequence[str]]) -> str:
    """The sentence for a place: the animal's places, then the food's own places."""
    out = _member(s, i, word, animal.habitats, f"the {animal.name}'s places")
    if food in world.food_places:
        phrase, own = world.food_places[food]
        if word in own:
            out += f"; {food} {phrase} {word} ({_listed(s, i, own)})"
        else:
            each = [f"the {p} {prob(s.word_prob(i, p) or 0.0)}" for p in own]
            said = each[0] if len(each) == 1 else ", ".join(each[:-1]) + " and " + each[-1]
            out += f"; {food}'s own {'place gets' if len(own) == 1 else 'places get'} little: {said}"
    return out + _held_out_note(animal.name, food, held_out) + "."


def lens_grid(trace: GenerationTrace, context_of: dict[str, str], readings: LensReadings | None = None
              ) -> tuple[list[list[str]], list[list[str]], list[list[float]]]:
    """A lens as (depth × word step) grids of the top word, its sub-context and its probability: the logit lens the
    trace recorded, or the lens of `readings`."""
    ids, probs = (trace.lens_top_ids, trace.lens_top_probs) if readings is None else (readings.top_ids,
                                                                                      readings.top_probs)
    words = [[trace.vocab[i] for i in row] for row in ids[:, :, 0].T]  # (L, N)
    contexts = [[context_of.get(w, FUNCTION_CONTEXT) for w in row] for row in words]
    return words, contexts, probs[:, :, 0].T.astype(float).tolist()


def attention_keys(trace: GenerationTrace, step: int) -> list[str]:
    """The words the query of a word step could attend to, in order (up to the word it just read)."""
    words = trace.prompt_words + trace.generated_words
    return words[int(trace.attention_start[step]) : step + 1]


def run_path_frame(words: list[str], states: np.ndarray, cmap: FittedMap, run: str) -> pd.DataFrame:
    """A run's states (T, C) at one depth placed on a map, one row per position, named by the run."""
    xy = cmap.place(states)
    df = pd.DataFrame({"run": run, "position": np.arange(1, len(words) + 1), "word": words,
                       "x": xy[:, 0], "y": xy[:, 1]})
    if xy.shape[1] > 2:
        df["z"] = xy[:, 2]
    return df


def run_paths(runs: list[tuple[str, list[str], np.ndarray]], cmap: FittedMap) -> pd.DataFrame:
    """Several runs (name, words, states (T, C)) placed on one map, one frame."""
    return pd.concat([run_path_frame(words, states, cmap, name) for name, words, states in runs], ignore_index=True)


def causal_captions(ct: CausalTrace, *, advice: bool = True) -> list[str]:
    """Plain sentences from a CausalTrace: the residual state that brings back most at each word, and the depth from
    which the last position alone carries the answer; where the corruption barely moves the target, what to trace
    instead (unless `advice` is False: a page whose lead sentence says it)."""
    from llmcore.analysis.interventions import MIN_EFFECT, UNASKED

    target = "/".join(ct.target)
    resid = ct.restored[0]
    out = [f"The clean prompt gives {target} a probability of {ct.clean_prob:.2f}; the corrupted one "
           f"('{ct.corruption}') {ct.corrupt_prob:.2f}."]
    if ct.clean_prob == ct.corrupt_prob:
        return out + ["Both runs give the target the same probability: there is nothing to restore."]
    if not ct.measurable:
        tip = (f"This prompt does not lead to {target} (it gets {ct.clean_prob:.2f} before any corruption): trace "
               f"a prompt that ends where {target} comes next." if ct.clean_prob < UNASKED else
               "Choose a corruption that changes the answer.")
        return out + [f"The corruption moves that probability by only {abs(ct.clean_prob - ct.corrupt_prob):.4f}, "
                      f"less than {MIN_EFFECT}: the shares below divide tiny differences by that one and mean "
                      f"nothing.{' ' + tip if advice else ''}"]
    changed = [t for t, (a, b) in enumerate(zip(ct.words, ct.corrupt_words)) if a != b] or list(ct.noise_positions)
    parts = []
    for t in dict.fromkeys(changed + [len(ct.words) - 1]):
        d = int(np.nonzero(resid[:, t] >= resid[:, t].max() - 0.02)[0][0])  # the first depth that does (nearly) best
        parts.append(f"restoring the state of '{ct.words[t]}' at {ct.depth_names[d]} brings back "
                     f"{resid[d, t]:.0%} of the {target} probability")
    others = [t for t in range(len(ct.words) - 1) if t not in changed]
    if others:
        best = max(others, key=lambda t: resid[:, t].max())
        parts.append(f"no other word's state brings back more than {resid[:, best].max():.0%} "
                     f"('{ct.words[best]}')")
    out.append("In the residual stream, " + "; ".join(parts) + ".")
    last = np.nonzero(resid[:, -1] >= 0.5)[0]
    if len(last):
        out.append(f"From {ct.depth_names[int(last[0])]} on, the last position ('{ct.words[-1]}') alone brings back at "
                   f"least half: by then the information has moved there.")
    return out


def clicked_cell(point: dict) -> tuple[str, int, int] | None:
    """(kind, depth, 1-based position) of a clicked causal-trace cell, from the click point's customdata
    [kind index, depth, 0-based position] (see dashboard.figures.causes.causal_heatmaps); None for anything else."""
    from llmcore.analysis.interventions import KINDS

    try:
        data = point["customdata"]
        if isinstance(data, dict):  # Streamlit hands an array over as {"0": ..., "1": ..., "2": ...}
            data = [data[key] for key in sorted(data, key=int)]
        k, d, t = (int(v) for v in data)
        return KINDS[k], d, t + 1
    except (KeyError, ValueError, IndexError, TypeError):
        return None


def attribution_frame(attr: Attribution, n: int = 12) -> pd.DataFrame:
    """The n components with the largest direct logit attribution, largest first."""
    return pd.DataFrame([{"component": name, "logit": v} for name, v in attr.top(n)])


def ablation_frame(ab: Ablation) -> pd.DataFrame:
    """Per component: the held-out habitat probability left after zero- and mean-ablation."""
    return pd.DataFrame({"component": ab.names, "zero-ablated": ab.zero, "mean-ablated": ab.mean,
                         "drop (zero)": ab.baseline - ab.zero, "drop (mean)": ab.baseline - ab.mean})


def watch_reference_frame(tf: TrainingFrames, t: int) -> pd.DataFrame:
    """Snapshot t's reference states on its context map (aligned to the final one), with their labels."""
    xy = tf.context_coords[t]
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "context": tf.contexts, "word": tf.words,
                         "next_word": tf.next_words})


def completions_table(watch: PromptOverTraining, steps: list[int], current: int) -> pd.DataFrame:
    """One row per snapshot: its training step and the prompt's completion; the current one marked ▶."""
    return pd.DataFrame({"now": ["▶" if s == current else "" for s in steps], "training step": steps,
                         "completion": [f"{watch.prompt} → {c}" for c in watch.completions]})


MEASURE_NAMES = {"habitat_mass": "held-out: probability on habitats", "habitat_top1": "held-out: top-1 is a habitat",
                 "food_place_mass": "held-out: probability on the food's places",
                 "diet_share": "diet share after 'eats'", "neighbour_purity": "embedding neighbours in sub-context"}


def metrics_frame(table: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long frame of the snapshot measures: step, measure (a readable name), value."""
    name = lambda k: MEASURE_NAMES.get(k, k.replace("separability ", "k-NN separability, "))  # noqa: E731
    return pd.DataFrame([{"step": int(s), "measure": name(k), "value": float(v[i])}
                         for k, v in table.items() if k != "step" for i, s in enumerate(table["step"])])


def held_out_pair_means(b: HeldOutBreakdown) -> pd.DataFrame:
    """One row per held-out (animal, food) pair: the mean over its prompts of the probability on the animal's homes
    and on the food's own places, and its number of prompts."""
    df = pd.DataFrame({"animal": b.animals, "food": b.foods, "homes": b.habitat_mass,
                       "food_places": b.food_place_mass})
    return df.groupby(["animal", "food"], sort=False).agg(homes=("homes", "mean"), food_places=("food_places", "mean"),
                                                          prompts=("homes", "size")).reset_index()


def homes_beat_food_places(b: HeldOutBreakdown) -> np.ndarray:
    """(pairs,) whether each held-out pair sends more probability to the animal's homes than to the food's places."""
    means = held_out_pair_means(b)
    return (means.homes > means.food_places).to_numpy()


def held_out_groups(b: HeldOutBreakdown, pair: tuple[str, str] | None, metrics: dict, *, n_pairs: int
                    ) -> pd.DataFrame:
    """Scene 4's bars: group, homes, food_places (NaN where not measured) and the two values as the screen says
    them, for the story's own pair (if it names one), every never-seen pair, and as many pairs the model was trained
    on (the stored control measure: the animal's homes only)."""
    rows = []
    if pair is not None:
        means = held_out_pair_means(b)
        mine = means[(means.animal == pair[0]) & (means.food == pair[1])].iloc[0]
        k = int(np.sum((np.asarray(b.animals) == pair[0]) & (np.asarray(b.foods) == pair[1])))
        rows.append((f"{pair[0]} + {pair[1]} (mean of its {count(k, 'prompt')})", float(mine.homes),
                     float(mine.food_places)))
    rows.append((f"all {n_pairs} never-seen pairs", float(np.mean(b.habitat_mass)), float(np.mean(b.food_place_mass))))
    control = metrics.get("control_habitat_mass")
    if control is not None and np.isfinite(control):
        rows.append((f"{n_pairs} pairs it was trained on", float(control), float("nan")))
    df = pd.DataFrame(rows, columns=["group", "homes", "food_places"])
    for col in ("homes", "food_places"):
        df[f"{col}_text"] = [prob(v) if np.isfinite(v) else "not measured" for v in df[col]]
    return df


GENERALISED = 0.9  # the held-out habitat probability from which the Training page says the model generalises


def training_sentences(log: list[dict], held_out: Sequence[Sequence[str]]) -> list[str]:
    """What the Training page's curves show, in numbers read from the training log: how each loss moved, and from
    which evaluation the held-out prompts' habitat probability reaches GENERALISED."""
    if not log:
        return []
    first, last = log[0], log[-1]
    out = [f"Validation loss {_moved(first, last, 'val_loss')}."] if "val_loss" in first and "val_loss" in last else []
    if "heldout_loss" in first and "heldout_loss" in last:
        pair = f" ({held_out[0][0]} + {held_out[0][1]}, for one)" if held_out else ""
        out.append(f"The loss on held-out sentences {_moved(first, last, 'heldout_loss')}: it counts every word of "
                   f"sentences that pair an animal with a food training never showed it with{pair}, the food "
                   "included" + (", so it rises as the model learns which foods it saw each animal eat."
                                 if last["heldout_loss"] > first["heldout_loss"] else "."))
    mass = [(r["step"], r["habitat_mass"]) for r in log if "habitat_mass" in r]
    if mass:
        at = next((step for step, m in mass if m >= GENERALISED), None)
        when = (f"reaches {GENERALISED} at step {at}" if at is not None else f"stays under {GENERALISED}")
        out.append(f"On the held-out prompts, the probability on the animal's habitats {when} "
                   f"({mass[0][1]:.2f} at step {mass[0][0]}, {mass[-1][1]:.2f} at step {mass[-1][0]}).")
    return out


def _moved(first: dict, last: dict, key: str) -> str:
    """'falls from 2.05 at step 250 to 1.75 at step 1500'."""
    way = "falls" if last[key] < first[key] else "rises" if last[key] > first[key] else "stays"
    return f"{way} from {first[key]:.2f} at step {first['step']} to {last[key]:.2f} at step {last['step']}"


def path_point_at(land: LossLandscape, step: int) -> tuple[float, float]:
    """Where the loss landscape's training path is at a step, linear between its saved points."""
    steps = np.asarray(land.path_steps, float)
    return float(np.interp(step, steps, land.path[:, 0])), float(np.interp(step, steps, land.path[:, 1]))


def path_point_sentence(land: LossLandscape, step: int) -> str:
    """Where path_point_at puts a step, in words: on a saved point, or on the straight line between the two saved
    points around it."""
    steps = [int(s) for s in land.path_steps]
    if step in steps:
        return f"the star is on the path's saved point of step {step}"
    if step < steps[0] or step > steps[-1]:
        end = steps[0] if step < steps[0] else steps[-1]
        return f"step {step} lies outside the saved steps, so the star is on the nearest one, step {end}"
    after = next(s for s in steps if s > step)
    before = max(s for s in steps if s < step)
    return f"the star lies on the straight line between the saved points of steps {before} and {after}"


def held_out_table(b: HeldOutBreakdown) -> pd.DataFrame:
    """One row per held-out prompt (llmcore.analysis.evaluate.HeldOutBreakdown): where the model sends the place
    word."""
    return pd.DataFrame({"prompt": b.prompts, "most likely place": b.top_place,
                         "its probability": b.top_place_prob.round(3),
                         "a habitat of the animal?": ["yes" if h else "no" for h in b.top_is_habitat],
                         "probability on the animal's habitats": b.habitat_mass.round(3),
                         "on the food's own places": b.food_place_mass.round(3)})
