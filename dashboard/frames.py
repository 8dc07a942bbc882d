"""Data shaping for the dashboard: plain pandas frames from traces and maps (no streamlit, no plotting)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from llmcore.maps import FittedMap
from llmcore.trace import GenerationTrace

if TYPE_CHECKING:
    from llmcore.watch import PromptOverTraining, TrainingFrames


def path_states(trace: GenerationTrace, depth: int) -> tuple[np.ndarray, list[str]]:
    """States along the text at one depth: every prompt position, then each generated word that was read.

    Returns (n, C) states and the word at each position; the last one is the state of the final step.
    """
    prompt = trace.prompt_hidden[:, depth]
    later = trace.hidden[1:, depth]  # hidden[0] is the last prompt position, already in `prompt`
    words = trace.prompt_words + trace.generated_words[:-1]
    return np.concatenate([prompt, later]), words


def trajectory_frame(trace: GenerationTrace, cmap: FittedMap, depth: int) -> pd.DataFrame:
    """One row per position on the path: where it lands on the map and what the model predicted there."""
    states, words = path_states(trace, depth)
    xy = cmap.place(states)
    P = len(trace.prompt_words)
    rows = []
    for i, w in enumerate(words):
        step = i - P + 2  # the step that chooses its next word from this state (0: inside the prompt)
        row = {"position": i + 1, "word": w, "step": max(step, 0), "in_prompt": i < P - 1,
               "x": float(xy[i, 0]), "y": float(xy[i, 1])}
        if xy.shape[1] > 2:
            row["z"] = float(xy[i, 2])
        row["label"] = w if step < 1 else f"{step}: {w}"
        if step >= 1:
            s = step - 1
            row.update(next_word=trace.generated_words[s], p_next=float(trace.chosen_probs[s]),
                       context=trace.dominant_context(s))
        else:
            row.update(next_word=(trace.prompt_words + trace.generated_words)[i + 1], p_next=np.nan, context="")
        rows.append(row)
    return pd.DataFrame(rows)


def context_probs_frame(trace: GenerationTrace) -> pd.DataFrame:
    """Long frame: step, the word chosen, sub-context, probability mass."""
    rows = [{"step": s + 1, "label": f"{s + 1}: {w}", "word": w, "context": c,
             "probability": float(trace.context_probs[s, j])}
            for s, w in enumerate(trace.generated_words) for j, c in enumerate(trace.context_names)]
    return pd.DataFrame(rows)


def steps_table(trace: GenerationTrace, n_candidates: int = 5) -> pd.DataFrame:
    """One row per step: the chosen word, its probability, the dominant sub-context and the top candidates."""
    return pd.DataFrame([{
        "step": s + 1, "word": trace.generated_words[s], "p": round(float(trace.chosen_probs[s]), 3),
        "sub-context": trace.dominant_context(s),
        "top candidates": ", ".join(f"{w} {p:.2f}" for w, p in trace.candidates(s)[:n_candidates]),
    } for s in range(trace.n_steps)])


def reference_frame(cmap: FittedMap, max_points: int = 6000, seed: int = 0) -> pd.DataFrame:
    """The map's reference points (subsampled to max_points, deterministically) with their labels."""
    n = len(cmap.coords)
    idx = np.arange(n) if n <= max_points else np.sort(np.random.default_rng(seed).choice(n, max_points, False))
    df = pd.DataFrame({k: cmap.coords[idx, i] for i, k in enumerate("xyz"[: cmap.coords.shape[1]])})
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
    """The state of one step at every depth (embed → blocks → final), placed on a map of the shared residual space."""
    xy = cmap.place(trace.hidden[step])
    df = pd.DataFrame({"layer": trace.layer_names, "x": xy[:, 0], "y": xy[:, 1],
                       "top_word": [trace.vocab[i] for i in trace.lens_top_ids[step, :, 0]]})
    if xy.shape[1] > 2:
        df["z"] = xy[:, 2]
    return df


def step_captions(trace: GenerationTrace, regions: list[str], region_probs: np.ndarray) -> list[str]:
    """One plain-language sentence per step: where the state is, where it came from, the top next words.

    regions / region_probs: (S,) the sub-context region each step's state is in and its probability, decided in
    the original space.
    """
    out, words = [], trace.prompt_words + trace.generated_words
    for s in range(trace.n_steps):
        read = words[len(trace.prompt_words) - 1 + s]
        moved = ("" if s == 0 else f"; it stayed in {regions[s]}" if regions[s] == regions[s - 1]
                 else f"; it moved from {regions[s - 1]} to {regions[s]}")
        tops = ", ".join(f"{w} {p:.2f}" for w, p in trace.candidates(s)[:4])
        out.append(f"Step {s + 1}: after reading '{read}' the state is in the {regions[s]} region "
                   f"({region_probs[s]:.2f}){moved}. Top next words: {tops}. Chosen: '{trace.generated_words[s]}'.")
    return out


def lens_grid(trace: GenerationTrace, context_of: dict[str, str]) -> tuple[list[list[str]], list[list[str]],
                                                                          list[list[float]]]:
    """Logit lens as (depth × step) grids of the top word, its sub-context and its probability."""
    top = trace.lens_top_ids[:, :, 0].T  # (L, S)
    words = [[trace.vocab[i] for i in row] for row in top]
    contexts = [[context_of.get(w, "grammar") for w in row] for row in words]
    return words, contexts, trace.lens_top_probs[:, :, 0].T.astype(float).tolist()


def attention_keys(trace: GenerationTrace, step: int) -> list[str]:
    """The words the newest query of a step could attend to, in order."""
    words = trace.prompt_words + trace.generated_words
    return words[int(trace.attention_start[step]) : len(trace.prompt_words) + step]  # up to the newest position


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


def path_point_at(land, step: int) -> tuple[float, float]:
    """Where the loss landscape's training path is at a step, linear between its saved points."""
    steps = np.asarray(land.path_steps, float)
    return float(np.interp(step, steps, land.path[:, 0])), float(np.interp(step, steps, land.path[:, 1]))
