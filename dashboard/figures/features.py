"""The Features page's figures: where a trait is known (probe accuracy by depth and position)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.theme import esc


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
