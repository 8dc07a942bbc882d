"""Training figures: loss curves, weight-snapshot curves, the Watch word map, the replay, and what training
generalised to (the never-seen pairs' bars)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.theme import (
    DECLUTTER,
    LEGEND_BELOW,
    esc,
    figure,
    play_controls,
    series_style,
    styled,
    wrap_title,
)
from llmcore.model.tokenizer import UNK


def watch_word_map(coords: np.ndarray, words: list[str], contexts: list[str], colours: dict[str, str], *,
                   extent: tuple[np.ndarray, np.ndarray], step: int, labelled: set[str] | None = None,
                   ink: str = "#222222", axis_label: str = "PC") -> go.Figure:
    """The word map of one snapshot (Procrustes-aligned), on axes fixed over all snapshots. labelled: the words
    written on the map (default all; every word is named on hover), ringed in `ink`."""
    fig = go.Figure()
    for ctx in colours:
        idx = [i for i, c in enumerate(contexts) if c == ctx]
        if idx:
            fig.add_trace(go.Scatter(x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=str(ctx),
                                     hovertext=[words[i] for i in idx], marker=dict(color=colours[ctx], size=7),
                                     hovertemplate="%{hovertext}<extra>" + esc(str(ctx)) + "</extra>"))
    named = [i for i, w in enumerate(words) if labelled is None or w in labelled]
    if named:  # one text trace: words without a label add no text nodes to redraw
        fig.add_trace(go.Scatter(x=coords[named, 0], y=coords[named, 1], mode="markers+text", showlegend=False,
                                 marker=dict(size=11, color="rgba(0,0,0,0)", line=dict(width=2, color=ink)),
                                 text=[f"<b>{esc(words[i])}</b>" for i in named], textposition="top center",
                                 textfont=dict(size=13, color=ink, shadow="auto"), hoverinfo="skip"))
    lo, hi = extent
    pad = 0.05 * (hi - lo)
    styled(fig, title=f"Word map, step {step}", legend_title_text="sub-context", **LEGEND_BELOW,
           xaxis=dict(title=f"{axis_label} 1", range=[lo[0] - pad[0], hi[0] + pad[0]]),
           yaxis=dict(title=f"{axis_label} 2", range=[lo[1] - pad[1], hi[1] + pad[1]]),
           height=640, margin=dict(l=10, r=10, t=50, b=10))
    return fig


# The separability lines' colours, one per depth: none is one of the first five measures' (theme.SERIES_COLOURS), each
# keeps 3:1 against both themes' backgrounds.
DEPTH_COLOURS = ["#9C755F", "#6B8E23", "#708090", "#5F9EA0", "#8E6C8A", "#A0522D"]
SEPARABILITY_TITLE = "states told apart by their neighbours'<br>sub-context, at depth (click one to show it):"


def snapshot_curves(df: pd.DataFrame, step: int, generalised_at: int | None) -> go.Figure:
    """The snapshot measures over training, with a marker line at the slider's step and one where
    generalisation appears. Of the separability lines (one per depth) only the output depth's is drawn; the legend
    shows the others on a click."""
    fig = go.Figure()
    measures = depths = 0
    seps: list[int] = []
    for name, part in df.groupby("measure", sort=False):
        sep = "separability" in name
        short = name.split(", ", 1)[-1] if sep else wrap_title(name, 26)  # the depth: the group names the measure
        if sep:  # one family: dotted lines without markers, a colour per depth none of the measures has
            style, mode = dict(line=dict(color=DEPTH_COLOURS[depths % len(DEPTH_COLOURS)], width=2,
                                         dash=["dot", "dash"][depths // len(DEPTH_COLOURS) % 2])), "lines"
            depths += 1
        else:
            style, mode = series_style(measures), "lines+markers"
            measures += 1
        fig.add_trace(go.Scatter(x=part.step, y=part.value, name=short, mode=mode,
                                 legendgroup="separability" if sep else "measures",
                                 legendgrouptitle_text=SEPARABILITY_TITLE if sep else None, **style,
                                 hovertemplate="step %{x}: %{y:.3f}<extra>" + name + "</extra>"))
        if sep:
            seps.append(len(fig.data) - 1)
    for i in seps[:-1]:  # the output depth's line drawn; the others one click on the legend away
        fig.data[i].visible = "legendonly"
    fig.add_vline(x=step, line=dict(color="#7F7F7F", width=2))  # grey: both themes
    late = step > (df.step.min() + df.step.max()) / 2 if len(df) else False
    fig.add_annotation(x=step, y=1, yref="paper", yanchor="bottom", xanchor="right" if late else "left",
                       text=f"step {step}", showarrow=False)  # above the plot: never over the lines near 1
    if generalised_at is not None:
        fig.add_vline(x=generalised_at, line=dict(color="#009E73", width=1, dash="dash"),
                      annotation_text=f"generalises at {generalised_at}", annotation_position="bottom right")
    styled(fig, title="Measures at every snapshot", xaxis_title="training step", yaxis_title="share",
                yaxis_range=[0, 1.05], legend=dict(orientation="h", y=-0.25), height=600)
    return fig


# ---------------------------------------------------------------- Training page
def training_curves(log: list[dict]) -> go.Figure:
    """Loss (left) and the generalisation measures (right) at each evaluation during training."""
    from plotly.subplots import make_subplots

    df = pd.DataFrame(log)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Generalisation measures"))
    series = [("val_loss", "validation loss", 1), ("heldout_loss", "loss on held-out sentences", 1),
              ("habitat_mass", "held-out prompts: probability on habitats", 2),
              ("diet_share", "diet share after 'eats'", 2),
              ("neighbour_purity", "embedding neighbours in sub-context", 2)]
    groups = {1: "left: loss", 2: "right: generalisation"}
    for i, (col, name, panel) in enumerate(series):
        if col in df:
            fig.add_trace(go.Scatter(x=df.step, y=df[col], name=name, mode="lines+markers", legendgroup=groups[panel],
                                     legendgrouptitle_text=groups[panel], **series_style(i)), row=1, col=panel)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="loss (nats per word)", row=1, col=1)
    fig.update_yaxes(title_text="share", range=[0, 1.1], row=1, col=2)  # lines at 1 clear of the panel title
    return styled(fig, height=440, legend=dict(orientation="h", y=-0.3))


def replay_figure(coords: np.ndarray, words: list[str], contexts: list[str], steps: list[int], *,
                  colours: dict[str, str], axis_label: str = "PC", aligned: bool = True) -> go.Figure:
    """Embedding replay: coords (T, V, 2) of every word at each of the T snapshots taken at `steps`, one frame per
    snapshot, a slider and play/pause; the axes hold every frame. `aligned`: whether the snapshots were turned onto
    the final one (the title says which)."""
    keep = [i for i, w in enumerate(words) if w != UNK]

    groups = [(ctx, [i for i in keep if contexts[i] == ctx]) for ctx in colours]

    def traces(t: int) -> list[dict]:  # plain Plotly.js JSON: 48 frames of traces validated by plotly.py took ~2 s
        return [dict(type="scatter", x=coords[t, idx, 0], y=coords[t, idx, 1], mode="markers+text", name=ctx,
                     text=[words[i] for i in idx], textposition="top center", textfont=dict(size=9),
                     marker=dict(color=colours[ctx], size=7), meta=DECLUTTER) for ctx, idx in groups]

    lo, hi = coords[:, keep].min((0, 1)), coords[:, keep].max((0, 1))
    title = wrap_title("Embeddings during training (turned to line up with the final snapshot: the words move, the "
                       "axes stay)" if aligned else "Embeddings during training (each snapshot's own PCA: the axes "
                       "may flip and spin between frames)", 50)
    layout = dict(title=dict(text=title), height=620, margin=dict(t=70),
                  xaxis=dict(title=dict(text=f"{axis_label} 1"), range=[lo[0] * 1.05, hi[0] * 1.05]),
                  yaxis=dict(title=dict(text=f"{axis_label} 2"), range=[lo[1] * 1.05, hi[1] * 1.05]),
                  **play_controls([str(s) for s in steps], prefix="training step "))
    return figure(traces(len(steps) - 1), layout, frames=[dict(data=traces(t), name=str(s))
                                                          for t, s in enumerate(steps)])


def held_out_bars(groups: pd.DataFrame, *, title: str) -> go.Figure:
    """Where the place word goes (frames.held_out_groups): for each group of prompts, the probability on the
    animal's homes and on the food's own places, side by side, each bar labelled with its value."""
    homes, food = series_style(0)["line"]["color"], series_style(1)["line"]["color"]
    data = [dict(type="bar", x=groups.group, y=groups.homes, name="on the animal's homes", marker=dict(color=homes),
                 text=groups.homes_text, textposition="outside", cliponaxis=False, constraintext="none",
                 hovertemplate="%{x}: %{y:.4f} on the animal's homes<extra></extra>"),
            dict(type="bar", x=groups.group, y=groups.food_places.fillna(0), name="on the food's own places",
                 marker=dict(color=food, pattern=dict(shape="/")), text=groups.food_places_text,
                 textposition="outside", cliponaxis=False, constraintext="none",  # never shrunk below the page's size
                 hovertemplate="%{x}: %{y:.4f} on the food's own places<extra></extra>")]
    layout = dict(title=dict(text=wrap_title(title, 60)), barmode="group", height=460, margin=dict(t=80),
                  yaxis=dict(title=dict(text="probability of the next place word"), range=[0, 1.12]),
                  xaxis=dict(title=dict(text="prompts of each group (mean)")), **LEGEND_BELOW)
    return figure(data, layout)
