"""Watch training's charts of one weight snapshot (the word map, the prompt's path, its place probabilities, the
measure curves, the loss landscape's training path), built from the checkpoint's TrainingFrames and one
PromptOverTraining. No Streamlit: the Training page and the notebook widget draw the same charts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboard import frames
from dashboard.figures import causes as causes_figures
from dashboard.figures import landscapes as landscape_figures
from dashboard.figures import maps as map_figures
from dashboard.figures import theme
from dashboard.figures import training as training_figures
from llmcore.maps.watch import metric_table
from llmcore.model.tokenizer import UNK
from llmcore.training.snapshots import generalisation_step
from llmcore.world.corpus import article

if TYPE_CHECKING:
    from llmcore.maps.watch import PromptOverTraining, TrainingFrames
    from llmcore.model.checkpoint import Checkpoint
    from llmcore.training.snapshots import SnapshotMetrics

CHARTS = ("words", "path", "probs", "curves", "landscape")  # the keys snapshot_charts returns figures under


def default_prompt(ckpt: Checkpoint) -> str:
    """A held-out pair stopped before the place word ('a dog devours pizza in'), from the model's own world."""
    if ckpt.held_out:
        a, f = ckpt.held_out[0]
        return f"{article(a)} {a} {ckpt.world.recipe.eat_verbs[0]} {f} in"
    a = next(iter(ckpt.world.animals))
    return f"{article(a)} {a} eats"


def has_landscape(ckpt: Checkpoint) -> bool:
    """Whether the checkpoint holds a loss landscape of its training path to mark the snapshot on."""
    land = ckpt.loss_landscapes().get("pca")
    return land is not None and len(land.path) >= 2


def snapshot_charts(ckpt: Checkpoint, tf: TrainingFrames, watch: PromptOverTraining,
                    metrics: list[SnapshotMetrics], *, t: int, ink: str) -> dict:
    """Snapshot t's figures by name (CHARTS; 'landscape' only where the checkpoint has a loss landscape of its
    training path, with the landscape itself under 'landscape_data'), paths and rings drawn in `ink`."""
    step, words = tf.steps[t], ckpt.tokenizer.vocab
    colours = theme.context_colours(ckpt.context_matrix()[0])
    keep = [i for i, w in enumerate(words) if w != UNK]
    wc = tf.word_coords[:, keep]
    extent = (wc.reshape(-1, 2).min(0), wc.reshape(-1, 2).max(0))
    trace = watch.traces[t]
    named = set(trace.prompt_words + trace.generated_words)
    out = {"words": training_figures.watch_word_map(wc[t], [words[i] for i in keep], [ckpt.world.label(words[i])[0]
                                                    for i in keep], colours, extent=extent, step=step,
                                                    labelled=named, ink=ink)}
    path = frames.trajectory_frame(trace, tf.placers[t], trace.layer_names.index(tf.layer))
    out["path"] = map_figures.trajectory_map(frames.watch_reference_frame(tf, t), path, colours,
                                             f"Prompt's path, step {step}", options=map_figures.MapOptions(ink=ink))
    s = min(watch.place_step, trace.n_steps - 1)
    read = (trace.prompt_words + trace.generated_words)[len(trace.prompt_words) - 1 + s]
    out["probs"] = causes_figures.place_probs_chart(watch.context_names, watch.place_probs[t], colours,
                                                    f"Next word after '{read}', step {step}")
    out["curves"] = training_figures.snapshot_curves(frames.metrics_frame(metric_table(ckpt)), step,
                                                     generalisation_step(metrics))
    if has_landscape(ckpt):
        land = ckpt.loss_landscapes()["pca"]
        out["landscape"] = landscape_figures.loss_figure_at(land, frames.path_point_at(land, step), step)
        out["landscape_data"] = land
    return out
