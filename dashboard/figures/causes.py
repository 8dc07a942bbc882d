"""The Causes page's figures: causal heatmaps, the patched paths' map, components, counterfactual grid."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.geometry import region_notes, repeated_labels
from dashboard.figures.theme import SERIES_COLOURS, axes_layout, discrete_scale, esc, run_styles, styled
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    from llmcore.analysis.counterfactual import CounterfactualGrid
    from llmcore.analysis.interventions import CausalTrace
    from llmcore.maps.regions import RegionMap


# ---------------------------------------------------------------- Causes page
# What each kind of state the causal trace restores is, in plain words, with its usual name
PLAIN_KINDS = {"resid": "the word's whole state (residual stream)", "attn": "what attention added (attention output)",
               "mlp": "what the MLP added (MLP output)"}


def causal_heatmaps(ct: CausalTrace, selected: tuple[int, int, int] | None = None) -> go.Figure:
    """Depth × position restored share, one panel per kind (residual stream, attention output, MLP output), as in
    Meng et al. 2022, figure 1; the selected (kind, depth, position) cell outlined."""
    from plotly.subplots import make_subplots

    from llmcore.analysis.interventions import KINDS

    # the panels one above the other, sharing the words' axis: side by side, six words in a third of an 800 px
    # column printed over each other
    fig = make_subplots(rows=3, cols=1, subplot_titles=[PLAIN_KINDS[k] for k in KINDS], shared_xaxes=True,
                        vertical_spacing=0.09)
    xs = [f"{i + 1}: {w}" for i, w in enumerate(ct.words)]
    for k in range(len(KINDS)):
        z = ct.restored[k]
        fig.add_trace(go.Heatmap(z=z, x=xs, y=ct.depth_names, zmin=0, zmax=1, colorscale="Purples",
                                 showscale=k == 2, colorbar=dict(title="restored", tickformat=".0%"),
                                 customdata=ct.restored_prob[k], name=KINDS[k],
                                 hovertemplate="%{y}, %{x}: restores %{z:.0%} (p = %{customdata:.3f})"
                                 "<extra>" + PLAIN_KINDS[KINDS[k]] + "</extra>"), row=k + 1, col=1)
        # transparent markers over the cells: Streamlit reports clicks on points, not on heatmap cells
        rows = np.arange(0 if k == 0 else 1, len(ct.depth_names))
        dd, tt = np.meshgrid(rows, np.arange(len(xs)), indexing="ij")
        fig.add_trace(go.Scatter(x=[xs[t] for t in tt.ravel()], y=[ct.depth_names[d] for d in dd.ravel()],
                                 mode="markers", showlegend=False, hovertemplate="%{text}<extra></extra>",
                                 text=[f"{ct.depth_names[d]}, {xs[t]}: restores {z[d, t]:.0%} "
                                       f"(p = {ct.restored_prob[k, d, t]:.3f}); click to draw it"
                                       for d, t in zip(dd.ravel(), tt.ravel())],
                                 customdata=np.stack([np.full(dd.size, k), dd.ravel(), tt.ravel()], 1),
                                 marker=dict(size=30, symbol="square", color="rgba(0,0,0,0)")), row=k + 1, col=1)
    if selected is not None:
        k, d, t = selected
        fig.add_shape(type="rect", x0=t - 0.5, x1=t + 0.5, y0=d - 0.5, y1=d + 0.5, line=dict(color="#D55E00", width=3),
                      row=k + 1, col=1)
    fig.update_yaxes(autorange="reversed", title_text="depth", tickfont=dict(size=12))
    fig.update_xaxes(tickmode="array", tickvals=xs, ticktext=xs, showticklabels=True,
                     tickfont=dict(size=12))  # every word under every panel: Plotly would skip some
    fig.update_xaxes(title_text="position (word read)", row=3, col=1)
    fig.update_traces(colorbar=dict(title="restored", tickformat=".0%", len=0.9), selector=dict(type="heatmap"))
    title = "Share brought back by one clean state" + ("" if ct.measurable else ": meaningless here")
    styled(fig, height=620, margin=dict(t=60), title=dict(text=title, y=0.99))
    return fig


def region_fill(fig: go.Figure, regions: RegionMap, colours: dict[str, str],
                stride: int = 2) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, str]]]:
    """Each sub-context's region (where its density is at least half its peak, inside the outline the Trajectory
    page draws; the denser one where two overlap) as a flat tint: one heatmap, light to draw and to redraw.
    Function words (grammar) are everywhere and left out. Returns the x and y of the tinted cells (the heatmap's
    empty grid would otherwise widen the axes) and each named region's centre (x, y, name) for its label."""
    names = regions.contexts
    dens = regions.density[:, ::stride, ::stride].copy()
    dens[[g for g, ctx in enumerate(names) if ctx == FUNCTION_CONTEXT]] = 0
    z = np.where(dens.max(0) >= 0.5, dens.argmax(0), np.nan).astype(np.float32)
    fig.add_trace(go.Heatmap(x=regions.x[::stride], y=regions.y[::stride], z=z, zmin=-0.5, zmax=len(names) - 0.5,
                             colorscale=discrete_scale(names, colours), showscale=False, opacity=0.35,
                             hoverinfo="skip", name="regions"))
    shown = [g for g, ctx in enumerate(names) if regions.counts[g] and ctx != FUNCTION_CONTEXT]
    rows, cols = np.nonzero(~np.isnan(z))
    anchors = [(float(regions.centres[g, 0]), float(regions.centres[g, 1]), names[g]) for g in shown]
    return regions.x[::stride][cols], regions.y[::stride][rows], anchors


CAUSES_MAP_PX = (1000, 440)  # the causes map's plot area at full width (the browser moves labels that meet there)


def causes_map(regions: RegionMap, paths: pd.DataFrame, colours: dict[str, str], title: str, *, axis_label: str,
               run_colours: dict[str, str], ink: str = "#222222") -> go.Figure:
    """The runs' paths (clean, corrupted, patched; unsteered, steered) over the sub-context regions of the reference
    states at their depth, the regions named on labels placed clear of the paths' (chart.js moves any that still
    meet one); the first run's words above its points, the others' below theirs. Light on purpose (four or five
    SVG traces, no point cloud): a slider that moves a path redraws it in a fraction of a second."""
    from dashboard.labels import to_pixels

    fig = go.Figure()
    xs, ys, anchors = region_fill(fig, regions, colours)
    runs = list(dict.fromkeys(paths.run))
    styles = run_styles([(str(r), run_colours.get(r, SERIES_COLOURS[0])) for r in runs])
    ranges = []
    for v in (np.r_[xs, paths.x], np.r_[ys, paths.y]):
        lo, hi = float(v.min()), float(v.max())
        ranges.append((lo - 0.06 * (hi - lo), hi + 0.06 * (hi - lo)))
    repeated = repeated_labels(paths, runs, np.array([r[1] - r[0] for r in ranges]))
    for run, part in paths.groupby("run", sort=False):
        c, dash = styles[str(run)]
        same = repeated.get(run, [False] * len(part))
        fig.add_trace(go.Scatter(x=part.x, y=part.y, mode="lines+markers+text", name=str(run),
                                 text=["" if rep else esc(w) for w, rep in zip(part.word, same)],
                                 hovertext=[esc(w) for w in part.word],
                                 textposition="top center" if run == runs[0] else "bottom center",
                                 line=dict(color=c, width=2, dash=dash), marker=dict(size=9, color=c),
                                 textfont=dict(color=c),
                                 hovertemplate="%{hovertext}<extra>" + esc(str(run)) + "</extra>"))
    fig.update_layout(axes_layout(axis_label, False))
    fig.update_layout(xaxis=dict(range=list(ranges[0])), yaxis=dict(range=list(ranges[1])))
    markers = to_pixels(paths[["x", "y"]].to_numpy(float), ranges[0], ranges[1], width=CAUSES_MAP_PX[0],
                        height=CAUSES_MAP_PX[1])
    notes, _ = region_notes(anchors, colours, ink=ink, frame=(*ranges, *CAUSES_MAP_PX), markers=markers)
    styled(fig, title=title, height=520, margin=dict(l=10, r=10, t=70, b=10),  # legend over the map, full width
           legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1), annotations=notes)
    return fig


def place_probs_chart(names: list[str], probs: np.ndarray, colours: dict[str, str], title: str) -> go.Figure:
    """Next-word probability per sub-context at one generation step, one bar each, on a fixed 0-1 axis."""
    fig = go.Figure(go.Bar(x=list(names), y=probs.astype(float), marker_color=[colours.get(n) for n in names],
                           text=[f"{p:.2f}" for p in probs], textposition="outside",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    styled(fig, title=title, xaxis_title="sub-context of the next word", yaxis_title="probability",
                yaxis_range=[0, 1.1], height=380)
    return fig


def component_bars(frame: pd.DataFrame, target: str) -> go.Figure:
    """Direct logit attribution of the largest components, as horizontal bars."""
    colours = ["#0072B2" if v >= 0 else "#D55E00" for v in frame["logit"]]
    fig = go.Figure(go.Bar(x=frame["logit"], y=frame["component"], orientation="h", marker_color=colours,
                           hovertemplate="%{y}: %{x:+.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    styled(fig, title=f"How much each part adds to the score of {target} (direct logit attribution)", height=380,
                xaxis_title="added to the score (logit), through the final norm")
    return fig


def counterfactual_heatmap(grid: CounterfactualGrid, found: tuple[str, str] | None = None) -> go.Figure:
    """Foods (rows) × animals (columns): whose places the top place word belongs to (animal, food, both, neither).
    Every row and column is labelled (the animals alternately below and above, so that their labels stay apart on
    a narrow screen); the found (animal, food) cell is outlined with its row and column, and named."""
    names = ["neither", "the animal's habitat", "the food's own place", "both"]
    colours = ["#DDDDDD", "#0072B2", "#E69F00", "#009E73"]
    scale = discrete_scale(names, dict(zip(names, colours)))
    A, F = len(grid.animals), len(grid.foods)
    fig = go.Figure(go.Heatmap(z=grid.follows.T, x=list(range(A)), y=list(range(F)), zmin=-0.5, zmax=3.5,
                               colorscale=scale, customdata=np.array(grid.top_place.T), showscale=False,
                               text=[[f"a {a} {grid.verb} {f} in the" for a in grid.animals] for f in grid.foods],
                               hovertemplate="%{text} → %{customdata}<extra></extra>"))
    for n, c in zip(names, colours):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=n, marker=dict(color=c, symbol="square",
                                                                                        size=12)))
    fig.add_trace(go.Scatter(x=[0, A - 1], y=[0, 0], xaxis="x2", mode="markers", marker=dict(opacity=0),
                             hoverinfo="skip", showlegend=False))  # Plotly draws the top axis only for a trace on it
    animal, food = found or (None, None)
    bold = lambda words, w: [f"<b>{esc(x)}</b>" if x == w else esc(x) for x in words]  # noqa: E731
    columns = bold(grid.animals, animal)
    axis = dict(tickmode="array", tickfont=dict(size=10), showgrid=False, zeroline=False, tickangle=-90,
                range=[-0.5, A - 0.5])  # every word, none skipped
    styled(fig, title=dict(text=f"a <animal> {grid.verb} <food> in the → whose place?", y=0.995, yanchor="top"),
                height=13 * F + 310, margin=dict(t=170, b=90),
                xaxis=dict(tickvals=list(range(0, A, 2)), ticktext=columns[0::2], **axis),
                xaxis2=dict(tickvals=list(range(1, A, 2)), ticktext=columns[1::2], overlaying="x", side="top",
                            **axis),
                yaxis=dict(tickmode="array", tickvals=list(range(F)), ticktext=bold(grid.foods, food),
                           tickfont=dict(size=10), range=[F - 0.5, -0.5], showgrid=False, zeroline=False),
                legend=dict(orientation="h", yref="container", y=1 - 40 / (13 * F + 310), yanchor="top", x=0),
                plot_bgcolor="rgba(0,0,0,0)")  # the legend under the title, above the top labels
    if animal in grid.animals and food in grid.foods:
        _found_cell(fig, grid, animal, food)
    return fig


def _found_cell(fig: go.Figure, grid: CounterfactualGrid, animal: str, food: str) -> None:
    """The found cell's row and column outlined, the cell itself thicker, and its place written beside it."""
    i, j = grid.animals.index(animal), grid.foods.index(food)
    A, F = len(grid.animals), len(grid.foods)
    for x0, x1, y0, y1, width in ((-0.5, A - 0.5, j - 0.5, j + 0.5, 1), (i - 0.5, i + 0.5, -0.5, F - 0.5, 1),
                                  (i - 0.5, i + 0.5, j - 0.5, j + 0.5, 3)):
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color="#000000", width=width))
    fig.add_annotation(x=i, y=j, text=f"<b>{esc(animal)} × {esc(food)} → {esc(grid.top_place[i, j])}</b>",
                       showarrow=True, arrowhead=2, ax=70 if i < A / 2 else -70, ay=-30 if j > 2 else 30,
                       bgcolor="#FFFFFF", bordercolor="#000000", font=dict(color="#000000", size=12))
