"""Plotly figures from plain frames; every figure says what is plotted on its axes and in its legend."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

# Okabe & Ito's colour-blind-safe palette, in an order that keeps the first three sub-contexts far apart.
PALETTE = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442"]
GRAMMAR_COLOUR = "#BBBBBB"


def context_colours(names: list[str]) -> dict[str, str]:
    """A stable colour per sub-context; 'grammar' (function words) is grey."""
    out, i = {}, 0
    for n in names:
        if n == "grammar":
            out[n] = GRAMMAR_COLOUR
        else:
            out[n] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def trajectory_map(ref: pd.DataFrame, path: pd.DataFrame, colours: dict[str, str], title: str,
                   axis_label: str = "PC") -> go.Figure:
    """Reference states coloured by sub-context, with the prompt's path drawn over them, numbered by step."""
    fig = go.Figure()
    for ctx in colours:
        part = ref[ref.context == ctx]
        fig.add_trace(go.Scattergl(
            x=part.x, y=part.y, mode="markers", name=str(ctx), legendgroup="reference",
            marker=dict(size=4, color=colours.get(ctx, GRAMMAR_COLOUR), opacity=0.55),
            customdata=part[["word", "next_word"]], hovertemplate="%{customdata[0]} → %{customdata[1]}<extra>"
            + str(ctx) + "</extra>"))
    labels = [w if step == 0 else f"{w} → {nxt}" for w, step, nxt in zip(path.word, path.step, path.next_word)]
    fig.add_trace(go.Scatter(
        x=path.x, y=path.y, mode="lines+markers+text", name="this prompt", text=labels,
        textposition="top center", line=dict(color="#222222", width=2),
        marker=dict(size=[9 if p else 13 for p in path.in_prompt], color="#222222",
                    symbol=["circle-open" if p else "circle" for p in path.in_prompt], line=dict(width=2)),
        customdata=path[["word", "next_word", "step"]],
        hovertemplate="after reading '%{customdata[0]}' the next word is '%{customdata[1]}'"
        "<extra>step %{customdata[2]}</extra>"))
    fig.update_layout(title=title, xaxis_title=f"{axis_label} 1", yaxis_title=f"{axis_label} 2",
                      legend_title_text="sub-context of the word read", legend_itemsizing="constant", height=600,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def context_probs_chart(frame: pd.DataFrame, colours: dict[str, str]) -> go.Figure:
    """Stacked bars: at each step, how the next-word probability splits across sub-contexts."""
    fig = go.Figure()
    for ctx in colours:
        part = frame[frame.context == ctx]
        fig.add_trace(go.Bar(x=part.label, y=part.probability, name=str(ctx), marker_color=colours.get(ctx),
                             hovertemplate="%{x}<br>" + str(ctx) + ": %{y:.3f}<extra></extra>"))
    fig.update_layout(barmode="stack", title="Next-word probability by sub-context, per step",
                      xaxis_title="step: word chosen", yaxis_title="probability", yaxis_range=[0, 1],
                      legend_title_text="sub-context", height=380, margin=dict(l=10, r=10, t=50, b=10))
    return fig
