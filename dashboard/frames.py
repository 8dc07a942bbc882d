"""Data shaping for the dashboard: plain pandas frames from traces and maps (no streamlit, no plotting)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmcore.maps import FittedMap
from llmcore.trace import GenerationTrace


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
