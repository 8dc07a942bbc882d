"""Plotly figures from plain frames; every figure says what is plotted on its axes and in its legend."""

from __future__ import annotations

import numpy as np
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
                   axis_label: str = "PC", regions=None, candidates: pd.DataFrame | None = None,
                   layer_path: pd.DataFrame | None = None, selected_step: int | None = None,
                   colour_by: str = "context", ink: str = "#222222") -> go.Figure:
    """Reference states coloured by sub-context, the prompt's path over them (numbered by step, with play/pause),
    and at the selected step its candidate next words and its path through the layers."""
    three_d = "z" in ref
    fig = go.Figure()
    if regions is not None and not three_d:
        region_contours(fig, regions, colours)
    for ctx in colours:
        part = ref[ref[colour_by] == ctx]
        if len(part):
            fig.add_trace(_scatter(part, three_d, mode="markers", name=str(ctx), legendgroup="reference",
                                   marker=dict(size=3 if three_d else 4, color=colours.get(ctx, GRAMMAR_COLOUR),
                                               opacity=0.5),
                                   customdata=part[["word", "next_word"]],
                                   hovertemplate="%{customdata[0]} → %{customdata[1]}<extra>" + str(ctx) + "</extra>"))
    if layer_path is not None:
        fig.add_trace(_scatter(layer_path, three_d, mode="lines+markers+text", name="through the layers",
                               text=layer_path.layer, textposition="bottom center",
                               line=dict(color="#7F7F7F", width=2, dash="dot"),
                               marker=dict(size=7, color="#7F7F7F", symbol="square" if three_d else "diamond"),
                               customdata=layer_path[["layer", "top_word"]],
                               hovertemplate="%{customdata[0]}: the lens reads '%{customdata[1]}'<extra></extra>"))
    if candidates is not None and len(candidates):
        fig.add_trace(_scatter(candidates, three_d, mode="markers+text", name="candidate next words",
                               text=[f"{w} {p:.2f}" for w, p in zip(candidates.word, candidates.p)],
                               textposition="bottom center",
                               marker=dict(size=(8 + 30 * candidates.p.clip(0, 1)).tolist(), color="#FFFFFF",
                                           symbol="diamond" if three_d else "star",
                                           line=dict(width=1.5, color="#000000")),
                               hovertemplate="if the next word were %{text}, the state would land here"
                               "<extra></extra>"))
    labels = path_labels(path)
    sizes = [16 if selected_step is not None and st_ == selected_step else 9 if p else 12
             for st_, p in zip(path.step, path.in_prompt)]
    path_kw = dict(mode="lines+markers+text", name="this prompt", text=labels, textposition="top center",
                   line=dict(color=ink, width=3 if three_d else 2),
                   marker=dict(size=[s * (0.6 if three_d else 1) for s in sizes], color=ink, line=dict(width=2),
                               symbol=["circle-open" if p else "circle" for p in path.in_prompt]),
                   customdata=path[["word", "next_word", "step"]],
                   hovertemplate="after reading '%{customdata[0]}' the next word is '%{customdata[1]}'"
                   "<extra>step %{customdata[2]}</extra>")
    fig.add_trace(go.Scatter3d(x=path.x, y=path.y, z=path.z, **path_kw) if three_d
                  else go.Scatter(x=path.x, y=path.y, **path_kw))
    _add_play(fig, path, three_d, path_kw)
    _axes(fig, axis_label, three_d)
    if not three_d:  # frame the reference map and the prompt's path; far-off layer states may fall outside
        pts = pd.concat([ref[["x", "y"]], path[["x", "y"]]])
        lo, hi = pts.min(), pts.max()
        pad = 0.06 * (hi - lo)
        fig.update_xaxes(range=[lo.x - pad.x, hi.x + pad.x])
        fig.update_yaxes(range=[lo.y - pad.y, hi.y + pad.y])
    fig.update_layout(title=title, legend_title_text="sub-context of the word read", legend_itemsizing="constant",
                      height=640, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def _add_play(fig: go.Figure, path: pd.DataFrame, three_d: bool, kw: dict) -> None:
    """Play/pause buttons that grow the path one position at a time."""
    idx = len(fig.data) - 1
    frames = []
    for k in range(1, len(path) + 1):
        part = path.iloc[:k]
        trace_kw = {**kw, "text": kw["text"][:k], "customdata": part[["word", "next_word", "step"]],
                    "marker": {**kw["marker"], "size": kw["marker"]["size"][:k], "symbol": kw["marker"]["symbol"][:k]}}
        t = (go.Scatter3d(x=part.x, y=part.y, z=part.z, **trace_kw) if three_d
             else go.Scatter(x=part.x, y=part.y, **trace_kw))
        frames.append(go.Frame(data=[t], traces=[idx], name=str(k)))
    fig.frames = frames
    fig.update_layout(updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.02, xanchor="left",
                                        yanchor="top", showactive=False, buttons=[
        dict(label="▶ play", method="animate", args=[None, dict(frame=dict(duration=700, redraw=three_d),
                                                                fromcurrent=False, transition=dict(duration=0))]),
        dict(label="❚❚ pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0))]),
    ])])


def context_probs_chart(frame: pd.DataFrame, colours: dict[str, str]) -> go.Figure:
    """Stacked bars, one per step: how the next-word probability splits across sub-contexts."""
    fig = go.Figure()
    for ctx in colours:
        part = frame[frame.context == ctx]
        fig.add_trace(go.Bar(x=part.label, y=part.probability, name=str(ctx), marker_color=colours.get(ctx),
                             hovertemplate="%{x}<br>" + str(ctx) + ": %{y:.3f}<extra></extra>"))
    fig.update_layout(title="Next-word probability by sub-context, per step", barmode="stack", bargap=0.15,
                      legend_traceorder="normal",
                      xaxis_title="step: word chosen", yaxis_title="probability", yaxis_range=[0, 1],
                      legend_title_text="sub-context", height=380, margin=dict(l=10, r=10, t=50, b=10))
    return fig


# Paul Tol's muted and light qualitative schemes: colour-blind safe, 18 colours for subgroups and other long lists.
MANY = ["#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
        "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#44BB99", "#BBCC33", "#AAAA00", "#DDDDDD"]
SYMBOLS = ["circle", "square", "diamond", "cross", "x"]  # the symbols 3D scatter plots can draw too


def category_styles(names: list[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker symbol) per category; past 18 categories the symbol changes, so none look alike."""
    return {n: (MANY[i % len(MANY)], SYMBOLS[(i // len(MANY)) % len(SYMBOLS)]) for i, n in enumerate(names)}


def _scatter(df: pd.DataFrame, three_d: bool, **kw):
    if three_d:
        return go.Scatter3d(x=df.x, y=df.y, z=df.z, **kw)
    return go.Scattergl(x=df.x, y=df.y, **kw)


def word_map(df: pd.DataFrame, colour_by: str, title: str, axis_label: str, highlight: list[str] | None = None,
             context_colours: dict[str, str] | None = None) -> go.Figure:
    """The word map: one labelled point per word, coloured by sub-context or subgroup; highlighted words ringed."""
    three_d = "z" in df
    cats = list(dict.fromkeys(df[colour_by]))
    styles = ({c: (context_colours.get(c, GRAMMAR_COLOUR), "circle") for c in cats}
              if colour_by == "context" and context_colours else category_styles(cats))
    fig = go.Figure()
    for cat in cats:
        part = df[df[colour_by] == cat]
        colour, symbol = styles[cat]
        fig.add_trace(_scatter(part, three_d, mode="markers+text", name=str(cat), text=part.word,
                               textposition="top center", textfont=dict(size=10),
                               marker=dict(size=6 if three_d else 8, color=colour, symbol=symbol,
                                           line=dict(width=0.5, color="#444")),
                               hovertemplate="%{text}<extra>" + str(cat) + "</extra>"))
    if highlight:
        part = df[df.word.isin(highlight)]
        fig.add_trace(_scatter(part, three_d, mode="markers", name="selected", hoverinfo="skip",
                               marker=dict(size=14 if three_d else 18, color="rgba(0,0,0,0)",
                                           line=dict(width=2.5, color="#000000"))))
    _axes(fig, axis_label, three_d)
    fig.update_layout(title=title, legend_title_text={"context": "sub-context"}.get(colour_by, colour_by), height=640,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def discrete_scale(names: list[str], colours: dict[str, str]) -> list:
    """A Plotly colour scale of one flat band per category, for heatmaps and surfaces of category indices."""
    scale = []
    for i, n in enumerate(names):
        c = colours.get(n, GRAMMAR_COLOUR)
        scale += [[i / len(names), c], [(i + 1) / len(names), c]]
    return scale


def path_labels(path: pd.DataFrame) -> list[str]:
    """A trajectory's point labels: prompt words as they are, generation steps as 'word → next word'."""
    return [w if step == 0 else f"{w} → {nxt}" for w, step, nxt in zip(path.word, path.step, path.next_word)]


def _axes(fig: go.Figure, label: str, three_d: bool) -> None:
    if three_d:  # the camera a little further out than Plotly's default, so axis titles are not cut off
        fig.update_layout(scene=dict(xaxis_title=f"{label} 1", yaxis_title=f"{label} 2", zaxis_title=f"{label} 3",
                                     camera=dict(eye=dict(x=1.6, y=1.6, z=1.2))))
    else:
        fig.update_layout(xaxis_title=f"{label} 1", yaxis_title=f"{label} 2")


def legend_swatches(fig: go.Figure, names: list[str], colours: dict[str, str], three_d: bool = False,
                    title: str = "sub-context") -> go.Figure:
    """Legend entries (no data) naming the colour of each sub-context, for figures whose colours are a surface."""
    for n in names:
        kw = dict(mode="markers", name=n, marker=dict(size=10, color=colours.get(n, GRAMMAR_COLOUR), symbol="square"),
                  hoverinfo="skip", showlegend=True)
        fig.add_trace(go.Scatter3d(x=[None], y=[None], z=[None], **kw) if three_d
                      else go.Scatter(x=[None], y=[None], **kw))
    fig.update_layout(legend_title_text=title, showlegend=True)
    return fig


def region_contours(fig: go.Figure, regions, colours: dict[str, str]) -> go.Figure:
    """Outline each sub-context's region (its density at half its peak) and label it at its centre."""
    shown = [g for g, ctx in enumerate(regions.contexts) if regions.counts[g] and ctx != "grammar"]
    shifts = label_shifts(regions.centres[shown], (float(np.ptp(regions.x)), float(np.ptp(regions.y))))
    for g, shift in zip(shown, shifts):
        ctx, c = regions.contexts[g], colours.get(regions.contexts[g], GRAMMAR_COLOUR)
        fig.add_trace(go.Contour(x=regions.x, y=regions.y, z=regions.density[g], showscale=False,
                                 contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                 line=dict(color=c, width=2), hoverinfo="skip", name=f"{ctx} region",
                                 showlegend=False))
        fig.add_annotation(x=float(regions.centres[g, 0]), y=float(regions.centres[g, 1]), text=f"<b>{ctx}</b>",
                           showarrow=False, font=dict(color=c, size=14), bgcolor="rgba(128,128,128,0.18)",
                           yshift=shift)
    return fig


def label_shifts(points, extent: tuple[float, float], step: int = 20, height_px: int = 560) -> list[int]:
    """Vertical pixel offsets (Plotly's yshift, up is positive) that keep region labels from covering each other.

    Each label takes the smallest offset, alternating down and up, at which it is at least one line (`step` pixels)
    from every label placed before it that is within 12 % of the width; the map is taken as `height_px` tall.
    """
    placed: list[tuple[float, float]] = []  # (x in data units, final y in pixels)
    shifts = []
    for x, y in points:
        y_px = float(y) / max(extent[1], 1e-12) * height_px
        near = [py for px, py in placed if abs(px - float(x)) < 0.12 * extent[0]]
        shift = next(sh for sh in (k * sgn * step for k in range(len(placed) + 1) for sgn in (-1, 1))
                     if all(abs(y_px + sh - py) >= step for py in near))
        placed.append((float(x), y_px + shift))
        shifts.append(shift)
    return shifts


def lens_heatmap(words: list[list[str]], contexts: list[list[str]], probs: list[list[float]],
                 layer_names: list[str], step_labels: list[str], colours: dict[str, str]) -> go.Figure:
    """Logit lens: for each depth (rows) and step (columns) the top word, coloured by its sub-context."""
    names = list(colours)
    z = [[names.index(c) for c in row] for row in contexts]
    scale = discrete_scale(names, colours)
    text = [[f"{w}<br>{p:.2f}" for w, p in zip(rw, rp)] for rw, rp in zip(words, probs)]
    fig = go.Figure(go.Heatmap(z=z, x=step_labels, y=layer_names, text=text, texttemplate="%{text}",
                               colorscale=scale, zmin=-0.5, zmax=len(names) - 0.5, showscale=False,
                               hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_layout(title="Logit lens: the top next word read out at each layer (colour: its sub-context)",
                      xaxis_title="step: word chosen", yaxis_title="layer", height=80 + 48 * len(layer_names),
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def attention_heatmaps(att, key_words: list[str], title: str) -> go.Figure:
    """Attention of the newest word over the words it can see: one row per (layer, head)."""
    L, H, W = att.shape
    z = att.reshape(L * H, W)
    rows = [f"layer {i + 1} head {h + 1}" for i in range(L) for h in range(H)]
    fig = go.Figure(go.Heatmap(z=z, x=[f"{j + 1}: {w}" for j, w in enumerate(key_words)], y=rows,
                               colorscale="Blues", zmin=0, zmax=1, colorbar=dict(title="weight"),
                               hovertemplate="%{y} → %{x}: %{z:.2f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="word attended to", yaxis_title="layer and head",
                      height=120 + 22 * L * H, margin=dict(l=10, r=10, t=50, b=10), yaxis_autorange="reversed")
    return fig


def terrain_figure(regions, colours: dict[str, str], path: pd.DataFrame | None = None,
                   ink: str = "#111111") -> go.Figure:
    """Sub-context densities as hills, coloured by the dominant sub-context, with a trajectory on the surface."""
    names = regions.contexts
    scale = discrete_scale(names, colours)
    dom = regions.dominant.astype(float)
    dom[dom < 0] = names.index("grammar") if "grammar" in names else 0
    fig = go.Figure(go.Surface(x=regions.x, y=regions.y, z=regions.height, surfacecolor=dom, colorscale=scale,
                               cmin=-0.5, cmax=len(names) - 0.5, showscale=False, opacity=0.9,
                               hovertemplate="height %{z:.2f}<extra></extra>", name="terrain"))
    for g, ctx in enumerate(names):
        if regions.counts[g]:
            fig.add_trace(go.Scatter3d(x=[regions.centres[g, 0]], y=[regions.centres[g, 1]], z=[1.08],
                                       mode="text", text=[ctx], textfont=dict(color=colours.get(ctx), size=13),
                                       showlegend=False, hoverinfo="skip"))
    if path is not None and len(path):
        fig.add_trace(go.Scatter3d(x=path.x, y=path.y, z=path.z + 0.03, mode="lines+markers+text",
                                   text=path.label, line=dict(color=ink, width=6), marker=dict(size=4, color=ink),
                                   textfont=dict(color=ink), name="this prompt"))
    legend_swatches(fig, [n for g, n in enumerate(names) if regions.counts[g]], colours, three_d=True)
    fig.update_layout(title="Sub-context terrain: hills are regions where states of one sub-context gather",
                      scene=dict(xaxis_title="PC 1", yaxis_title="PC 2", zaxis_title="density (peak = 1)"),
                      height=640, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def decision_figure(d, vocab: list[str], colours: dict[str, str], path: pd.DataFrame | None = None,
                    ink: str = "#111111") -> go.Figure:
    """Decision landscape: which sub-context the model would predict next from each point of the plane."""
    names = d.context_names
    dominant = d.context_probs.argmax(-1)
    scale = discrete_scale(names, colours)
    text = [[f"{vocab[i]} {p:.2f}" for i, p in zip(ri, rp)] for ri, rp in zip(d.top_ids, d.top_probs)]
    fig = go.Figure(go.Heatmap(x=d.x, y=d.y, z=dominant, text=text, colorscale=scale, zmin=-0.5,
                               zmax=len(names) - 0.5, showscale=False, opacity=0.85,
                               hovertemplate="next word: %{text}<extra></extra>"))
    if path is not None and len(path):
        fig.add_trace(go.Scatter(x=path.x, y=path.y, mode="lines+markers+text", text=path.label,
                                 textposition="top center", line=dict(color=ink, width=2),
                                 textfont=dict(color=ink, size=13), marker=dict(color=ink, size=9),
                                 name="this prompt"))
    legend_swatches(fig, [names[g] for g in sorted(set(dominant.ravel().tolist()))], colours,
                    title="sub-context of the predicted next word")
    fig.update_layout(title=f"Decision landscape at '{d.layer}': sub-context of the predicted next word "
                      f"(a slice showing {d.explained_variance:.0%} of the variance)",
                      xaxis_title="PC 1", yaxis_title="PC 2", height=560, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def loss_figure(land) -> go.Figure:
    """Loss landscape as filled contours, with the training path where there is one."""
    fig = go.Figure(go.Contour(x=land.alphas, y=land.betas, z=land.loss, colorscale="Viridis",
                               colorbar=dict(title="loss"), contours=dict(showlabels=True),
                               hovertemplate="α %{x:.2f}, β %{y:.2f}: loss %{z:.3f}<extra></extra>"))
    if len(land.path):
        fig.add_trace(go.Scatter(x=land.path[:, 0], y=land.path[:, 1], mode="lines+markers",
                                 marker=dict(color="#fff", size=7, line=dict(color="#000", width=1)),
                                 line=dict(color="#fff", width=2), name="training path",
                                 text=[f"step {s}: loss {v:.3f}" for s, v in zip(land.path_steps, land.path_loss)],
                                 hovertemplate="%{text}<extra></extra>"))
    title = ("Loss along 2 filter-normalised random directions" if land.kind == "random" else
             f"Loss on the training path's plane (PCA, {land.explained.sum():.0%} of its variance)")
    fig.update_layout(title=title, xaxis_title="α (direction 1)",
                      yaxis_title="β (direction 2)", height=520, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def watch_word_map(coords: np.ndarray, words: list[str], contexts: list[str], colours: dict[str, str],
                   extent: tuple[np.ndarray, np.ndarray], step: int) -> go.Figure:
    """The word map of one snapshot (Procrustes-aligned), on axes fixed over all snapshots."""
    fig = go.Figure()
    for ctx in colours:
        idx = [i for i, c in enumerate(contexts) if c == ctx]
        if idx:
            fig.add_trace(go.Scatter(x=coords[idx, 0], y=coords[idx, 1], mode="markers+text", name=str(ctx),
                                     text=[words[i] for i in idx], textposition="top center", textfont=dict(size=9),
                                     marker=dict(color=colours[ctx], size=7)))
    lo, hi = extent
    pad = 0.05 * (hi - lo)
    fig.update_layout(title=f"Word map, step {step}", legend_title_text="sub-context",
                      xaxis=dict(title="PC 1", range=[lo[0] - pad[0], hi[0] + pad[0]]),
                      yaxis=dict(title="PC 2", range=[lo[1] - pad[1], hi[1] + pad[1]]),
                      height=520, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def place_probs_chart(names: list[str], probs: np.ndarray, colours: dict[str, str], title: str) -> go.Figure:
    """Next-word probability per sub-context at one generation step, one bar each, on a fixed 0-1 axis."""
    fig = go.Figure(go.Bar(x=list(names), y=probs.astype(float), marker_color=[colours.get(n) for n in names],
                           text=[f"{p:.2f}" for p in probs], textposition="outside",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="sub-context of the next word", yaxis_title="probability",
                      yaxis_range=[0, 1.1], height=380, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def snapshot_curves(df: pd.DataFrame, step: int, generalised_at: int | None) -> go.Figure:
    """The snapshot measures over training, with a marker line at the slider's step and one where
    generalisation appears."""
    fig = go.Figure()
    for i, (name, part) in enumerate(df.groupby("measure", sort=False)):
        sep = "separability" in name
        fig.add_trace(go.Scatter(x=part.step, y=part.value, name=name, mode="lines+markers",
                                 line=dict(color=(MANY if sep else PALETTE)[i % len(MANY if sep else PALETTE)],
                                           dash="dot" if sep else "solid"),
                                 hovertemplate="step %{x}: %{y:.3f}<extra>" + name + "</extra>"))
    fig.add_vline(x=step, line=dict(color="#000000", width=2), annotation_text=f"step {step}",
                  annotation_position="top left")
    if generalised_at is not None:
        fig.add_vline(x=generalised_at, line=dict(color="#009E73", width=1, dash="dash"),
                      annotation_text=f"generalises at {generalised_at}", annotation_position="bottom right")
    fig.update_layout(title="Measures at every snapshot", xaxis_title="training step", yaxis_title="share",
                      yaxis_range=[0, 1.05], legend=dict(orientation="h", y=-0.25), height=460,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def loss_figure_at(land, xy: tuple[float, float], step: int) -> go.Figure:
    """The loss landscape with its training path and a marker where the path is at `step`."""
    fig = loss_figure(land)
    fig.add_trace(go.Scatter(x=[xy[0]], y=[xy[1]], mode="markers+text", name=f"step {step}",
                             text=[f"step {step}"], textposition="top center", textfont=dict(color="#fff"),
                             marker=dict(symbol="star", size=18, color="#D55E00", line=dict(color="#fff", width=1))))
    fig.update_layout(legend=dict(orientation="h", y=-0.18))  # clear of the colour bar
    return fig
