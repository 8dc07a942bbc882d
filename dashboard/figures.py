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


READINGS = {"read": "sub-context of the word read", "next": "sub-context the next-word distribution favours"}
READING_LABELS = {"read": "context", "next": "next_context"}  # the reference label each reading colours by


def trajectory_map(ref: pd.DataFrame, path: pd.DataFrame, colours: dict[str, str], title: str,
                   axis_label: str = "PC", regions=None, candidates: pd.DataFrame | None = None,
                   layer_path: pd.DataFrame | None = None, selected_step: int | None = None,
                   reading: str = "read", ink: str = "#222222", width_px: int = 640) -> go.Figure:
    """Reference states coloured by one reading ('read' or 'next'), the prompt's path over them (numbered steps,
    arrowheads, labels placed so they do not cover each other or the region labels) and, at the selected step, its
    candidate next words and its path through the layers."""
    three_d, label_col = "z" in ref, READING_LABELS[reading]
    fig = go.Figure()
    region_boxes = region_contours(fig, regions, colours) if regions is not None and not three_d else []
    for ctx in colours:
        part = ref[ref[label_col] == ctx] if label_col in ref else ref.iloc[:0]
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
    _add_path(fig, path, colours, reading, selected_step, three_d, ink)
    if candidates is not None and len(candidates):
        fig.add_trace(_scatter(candidates, three_d, mode="markers", name="candidate next words (★)",
                               text=[f"{esc(w)} {p:.2f}" for w, p in zip(candidates.word, candidates.p)],
                               marker=dict(size=(8 + 30 * candidates.p.clip(0, 1)).tolist(), color="#FFFFFF",
                                           symbol="diamond" if three_d else "star",
                                           line=dict(width=1.5, color="#000000")),
                               hovertemplate="if the next word were %{text}, the state would land here"
                               "<extra></extra>"))
    _axes(fig, axis_label, three_d)
    if three_d:
        _label_3d(fig, path, candidates, ink)
    else:
        _label_2d(fig, ref, path, candidates, region_boxes, ink, width_px)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), legend_title_text=f"{reading}: "
                      f"{READINGS[reading]}", legend_itemsizing="constant", height=700,
                      margin=dict(l=10, r=10, t=60, b=10), **LEGEND_BELOW)
    return fig


# The legend under the chart, in rows: the map keeps the whole width, also on a narrow screen.
LEGEND_BELOW = dict(legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0))


def wrap_title(text: str, width: int = 60) -> str:
    """A title broken into lines of at most `width` characters (Plotly does not wrap titles by itself)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "<br>".join(lines + [line])


def esc(text: str) -> str:
    """Text shown literally by Plotly (which reads a few HTML tags): <unk> stays <unk>."""
    import html

    return html.escape(str(text), quote=False)


def _add_path(fig: go.Figure, path: pd.DataFrame, colours: dict[str, str], reading: str,
              selected_step: int | None, three_d: bool, ink: str) -> None:
    """The path: a line, one marker per word read coloured by its reading (open: the next word is the prompt's),
    the selected step ringed."""
    cols = [colours.get(c, GRAMMAR_COLOUR) for c in path[reading]] if reading in path else ink
    sel = [s == selected_step for s in path.step]
    size = [18 if s else 11 for s in sel]
    custom = np.stack([path.step, path.word, path.read if "read" in path else path.word, path.next_word,
                       path.next, path.next_mass.round(2)], 1) if "next" in path else None
    kw = dict(mode="lines+markers", name="this prompt (● generated next, ○ prompt next)",
              line=dict(color=ink, width=3 if three_d else 2),
              marker=dict(size=[v * (0.6 if three_d else 1) for v in size], color=cols,
                          line=dict(width=2 if three_d else [4 if s else 1.5 for s in sel], color=ink),
                          symbol=["circle" if not p or s else "circle-open" for p, s in zip(path.in_prompt, sel)]))
    if custom is not None:
        kw.update(customdata=custom, hovertemplate="step %{customdata[0]}: after reading '%{customdata[1]}' "
                  "(read: %{customdata[2]})<br>next word '%{customdata[3]}' (next: %{customdata[4]} "
                  "%{customdata[5]})<extra></extra>")
    fig.add_trace(go.Scatter3d(x=path.x, y=path.y, z=path.z, **kw) if three_d
                  else go.Scatter(x=path.x, y=path.y, **kw))


def _label_2d(fig: go.Figure, ref: pd.DataFrame, path: pd.DataFrame, candidates, region_boxes, ink: str,
              width_px: int) -> None:
    """Frame the map, add an arrowhead per step and place the labels of steps and stars greedily."""
    from dashboard.labels import place_labels, to_pixels

    pts = pd.concat([ref[["x", "y"]], path[["x", "y"]]])
    lo, hi = pts.min(), pts.max()
    pad = 0.06 * (hi - lo)
    xr, yr = (lo.x - pad.x, hi.x + pad.x), (lo.y - pad.y, hi.y + pad.y)
    fig.update_xaxes(range=list(xr))
    fig.update_yaxes(range=list(yr))
    w, h = width_px - 60, 700 - 230  # plot area without the legend below and the margins
    notes = [dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="", showarrow=True,
                  arrowhead=2, arrowsize=1.3, arrowwidth=1.5, arrowcolor=ink, standoff=8, startstandoff=6)
             for (x0, y0), (x1, y1) in zip(path[["x", "y"]].to_numpy()[:-1], path[["x", "y"]].to_numpy()[1:])]
    xy = path[["x", "y"]].to_numpy()
    texts = [f"{s} {w_}" for s, w_ in zip(path.step, path.word)]
    if candidates is not None and len(candidates):
        xy = np.concatenate([xy, candidates[["x", "y"]].to_numpy()])
        texts += [f"★ {w_} {p:.2f}" for w_, p in zip(candidates.word, candidates.p)]
    px = to_pixels(xy, xr, yr, w, h)
    boxes = [_data_box_to_px(b, xr, yr, w, h) for b in region_boxes]
    shifts = place_labels(px, texts, boxes, bounds=(0, 0, w, h))
    for (x, y), text, (dx, dy), i in zip(xy, texts, shifts, range(len(texts))):
        star = i >= len(path)
        notes.append(dict(x=x, y=y, xshift=dx, yshift=dy, showarrow=False, text=esc(text) if star else
                          f"<b>{text.split(' ', 1)[0]}</b> {esc(text.split(' ', 1)[1])}",
                          font=dict(size=12, color=ink), bgcolor="rgba(255,255,255,0.6)" if not star else None))
    fig.update_layout(annotations=list(fig.layout.annotations) + notes)  # at once: add_annotation is quadratic


def _data_box_to_px(box, xr, yr, w, h):
    """A region label's box, given as (x, y, yshift px, text) in data units, as a pixel box."""
    from dashboard.labels import text_box, to_pixels

    x, y, yshift, text = box
    (px, py), = to_pixels(np.array([[x, y]]), xr, yr, w, h)
    return text_box(px, py + yshift, text, 14)


def _label_3d(fig: go.Figure, path: pd.DataFrame, candidates, ink: str) -> None:
    """3D: step labels alternating above and below the markers, and a cone as arrowhead on each step."""
    pos = ["top center" if i % 2 == 0 else "bottom center" for i in range(len(path))]
    fig.add_trace(go.Scatter3d(x=path.x, y=path.y, z=path.z, mode="text", text=[f"{s} {esc(w)}" for s, w in
                                                                               zip(path.step, path.word)],
                               textposition=pos, textfont=dict(color=ink, size=12), hoverinfo="skip",
                               showlegend=False))
    if candidates is not None and len(candidates):
        fig.add_trace(go.Scatter3d(x=candidates.x, y=candidates.y, z=candidates.z, mode="text", hoverinfo="skip",
                                   text=[f"★ {esc(w)} {p:.2f}" for w, p in zip(candidates.word, candidates.p)],
                                   textposition="bottom center", showlegend=False))
    xyz = path[["x", "y", "z"]].to_numpy(np.float64)
    if len(xyz) < 2:
        return
    d = np.diff(xyz, axis=0)
    span = float(np.ptp(xyz, axis=0).max()) or 1.0
    unit = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12) * 0.05 * span
    tip = xyz[:-1] + 0.85 * d
    fig.add_trace(go.Cone(x=tip[:, 0], y=tip[:, 1], z=tip[:, 2], u=unit[:, 0], v=unit[:, 1], w=unit[:, 2],
                          anchor="tip", sizemode="absolute", sizeref=1, showscale=False, hoverinfo="skip",
                          colorscale=[[0, ink], [1, ink]], name="direction", showlegend=False))


def context_probs_chart(frame: pd.DataFrame, colours: dict[str, str], reads: list[str] | None = None,
                        selected_step: int | None = None) -> go.Figure:
    """Stacked bars, one per word read: the `next` reading, how the next-word probability splits across
    sub-contexts; above each bar a square in the colour of the `read` reading (the word's own sub-context)."""
    fig = go.Figure()
    for ctx in colours:
        part = frame[frame.context == ctx]
        fig.add_trace(go.Bar(x=part.label, y=part.probability, name=str(ctx), marker_color=colours.get(ctx),
                             hovertemplate="%{x}<br>next: " + str(ctx) + " %{y:.3f}<extra></extra>"))
    labels = list(dict.fromkeys(frame.label))
    if reads is not None:
        fig.add_trace(go.Scatter(x=labels, y=[1.06] * len(labels), mode="markers", name="read (square above)",
                                 marker=dict(symbol="square", size=12, color=[colours.get(c, GRAMMAR_COLOUR)
                                                                              for c in reads]),
                                 customdata=reads, hovertemplate="%{x}<br>read: %{customdata}<extra></extra>"))
    if selected_step is not None and 1 <= selected_step <= len(labels):
        fig.add_vrect(x0=selected_step - 1.5, x1=selected_step - 0.5, line_width=2, line_color="#555555",
                      fillcolor="rgba(0,0,0,0)")
    fig.update_layout(title=dict(text=wrap_title("next: next-word probability by sub-context, per word read "
                                                 "(squares above: read, the word's own sub-context)"), x=0),
                      barmode="stack", bargap=0.15, legend_traceorder="normal",
                      xaxis_title="step: word read", yaxis_title="probability", yaxis_range=[0, 1.12],
                      legend_title_text="sub-context", height=460, margin=dict(l=10, r=10, t=70, b=10),
                      **LEGEND_BELOW)
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
    """A trajectory's point labels: 'step: word' where the prompt gave the next word, else 'step: word → next'."""
    return [f"{step}: {esc(w)}" if p else f"{step}: {esc(w)} → {esc(nxt)}"
            for w, step, nxt, p in zip(path.word, path.step, path.next_word, path.in_prompt)]


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


def region_contours(fig: go.Figure, regions, colours: dict[str, str],
                    stride: int = 2) -> list[tuple[float, float, int, str]]:
    """Outline each sub-context's region (its density at half its peak) and label it at its centre. The outline
    is drawn from every `stride`-th grid point (the densities are smooth over several points; a quarter of the
    grid makes the page a quarter as heavy).

    Returns where each label went, (x, y, yshift in pixels, text), so other labels can keep clear of them."""
    shown = [g for g, ctx in enumerate(regions.contexts) if regions.counts[g] and ctx != "grammar"]
    shifts = label_shifts(regions.centres[shown], (float(np.ptp(regions.x)), float(np.ptp(regions.y))))
    placed = []
    for g, shift in zip(shown, shifts):
        ctx, c = regions.contexts[g], colours.get(regions.contexts[g], GRAMMAR_COLOUR)
        fig.add_trace(go.Contour(x=regions.x[::stride], y=regions.y[::stride],
                                 z=regions.density[g, ::stride, ::stride], showscale=False,
                                 contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                 line=dict(color=c, width=2), hoverinfo="skip", name=f"{ctx} region",
                                 showlegend=False))
        fig.add_annotation(x=float(regions.centres[g, 0]), y=float(regions.centres[g, 1]), text=f"<b>{ctx}</b>",
                           showarrow=False, font=dict(color=c, size=14), bgcolor="rgba(128,128,128,0.18)",
                           yshift=shift)
        placed.append((float(regions.centres[g, 0]), float(regions.centres[g, 1]), shift, ctx))
    return placed


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
    fig.update_layout(title=wrap_title("Logit lens: the top next word read out at each layer (colour: its "
                                       "sub-context)"),
                      xaxis_title="step: word read", yaxis_title="layer", height=100 + 48 * len(layer_names),
                      margin=dict(l=10, r=10, t=70, b=10))
    return fig


def attention_heatmaps(att, key_words: list[str], title: str) -> go.Figure:
    """Attention of the newest word over the words it can see: one row per (layer, head)."""
    L, H, W = att.shape
    z = att.reshape(L * H, W)
    rows = [f"layer {i + 1} head {h + 1}" for i in range(L) for h in range(H)]
    fig = go.Figure(go.Heatmap(z=z, x=[f"{j + 1}: {w}" for j, w in enumerate(key_words)], y=rows,
                               colorscale="Blues", zmin=0, zmax=1, colorbar=dict(title="weight"),
                               hovertemplate="%{y} → %{x}: %{z:.2f}<extra></extra>"))
    fig.update_layout(title=wrap_title(title), xaxis_title="word attended to", yaxis_title="layer and head",
                      height=140 + 22 * L * H, margin=dict(l=10, r=10, t=70, b=10), yaxis_autorange="reversed")
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
