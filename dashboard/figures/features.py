"""The Features page's figures: where a trait is known (probe accuracy by depth and position), and a feature's
direction as a map axis."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.theme import LEGEND_BELOW, esc, figure, halo

LABEL_STEP_PX = 20  # between the furthest words' names, one above the other


def probe_heatmap(accuracy: np.ndarray, roles: list[str], layer_names: list[str], trait: str) -> go.Figure:
    """Held-back balanced accuracy (R, L) of one trait's probes: depth down, position across."""
    z = accuracy.T  # (L, R)
    fig = go.Figure(go.Heatmap(z=z, x=[f"the {r}'s word" for r in roles], y=layer_names, zmin=0.5, zmax=1,
                               colorscale="Purples", colorbar=dict(title="accuracy", tickformat=".0%"),
                               text=np.vectorize(lambda v: f"{v:.0%}")(z), texttemplate="%{text}",
                               hovertemplate="%{y}, %{x}: %{z:.0%} on held-back animals<extra></extra>"))
    fig.update_layout(title=esc(f"Where is '{trait}' known?"), height=360, margin=dict(l=10, r=10, t=50, b=10),
                      yaxis=dict(autorange="reversed"))
    return fig


def feature_axis_map(coords: np.ndarray, fires: np.ndarray, words: np.ndarray, contexts: np.ndarray, *,
                     colours: dict[str, str], feature: str, furthest: list[str], ink: str) -> go.Figure:
    """N states (coords (N, 2): along a feature's direction, along the main direction of the rest) coloured by
    the sub-context of their word, a ring on each the feature fires on (fires (N,)), the furthest words named on a
    halo, each a step further up the higher its state: names stand one above the other, at least LABEL_STEP_PX
    apart, in the order of their states."""
    data = []
    for context, colour in colours.items():
        m = contexts == context  # the states it fires on too: their ring goes round their colour
        if m.any():
            data.append(dict(type="scatter", mode="markers", x=coords[m, 0], y=coords[m, 1], name=esc(context),
                             text=words[m], marker=dict(size=4, color=colour, opacity=0.45),
                             hovertemplate="'%{text}'<extra>" + esc(context) + "</extra>"))
    data.append(dict(type="scatter", mode="markers", x=coords[fires, 0], y=coords[fires, 1], text=words[fires],
                     name=esc(f"{feature} fires ({int(fires.sum())})"), hovertemplate="'%{text}': fires<extra></extra>",
                     marker=dict(size=8, color="rgba(0,0,0,0)", line=dict(width=1.5, color=ink))))
    x = coords[:, 0]
    at = [int(np.flatnonzero(words == w)[np.argmax(x[words == w])]) for w in furthest]  # each word's furthest state
    at.sort(key=lambda i: -coords[i, 1])  # the highest first: its name goes furthest up
    notes = [dict(x=float(coords[i, 0]), y=float(coords[i, 1]), text=esc(str(words[i])), showarrow=True, arrowhead=0,
                  arrowcolor=ink, arrowwidth=1, ax=-36, ay=-(24 + LABEL_STEP_PX * (len(at) - 1 - r)), bgcolor=halo(ink),
                  font=dict(color=ink, size=13)) for r, i in enumerate(at)]
    return figure(data, dict(
        title=dict(text=esc(f"{feature}'s direction as the x axis")), height=460, hovermode="closest",
        annotations=notes,
        xaxis=dict(title=dict(text=esc(f"along {feature}'s direction →")), zeroline=False),
        yaxis=dict(title=dict(text="the main direction of the rest"), zeroline=False),
        legend=dict(**LEGEND_BELOW["legend"])))
