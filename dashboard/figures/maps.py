"""Maps of states and words: the trajectory map, compare map, word map, regions, lens and attention heatmaps.
About 400 lines on purpose: every chart drawn over a map of states shares its label placement and styles here."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.geometry import (
    MAP_SCENE_ASPECT,
    labels_2d,
    labels_3d,
    path_labels,
    scene_ranges,
    thin_3d_words,
    word_labels_2d,
)
from dashboard.figures.theme import (
    BASE,
    BLUES,
    DECLUTTER,
    GRAMMAR_COLOUR,
    LEGEND_BELOW,
    PATH,
    axes_layout,
    category_styles,
    discrete_scale,
    esc,
    figure,
    halo,
    merged,
    run_styles,
    scatter,
    styled,
    subgroup_styles,
    wrap_title,
)
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    from llmcore.maps.regions import RegionMap

READINGS = {"read": "sub-context of the word read",
            "next": "sub-context the model's output favours next (the same at every depth shown)"}


READING_LABELS = {"read": "context", "next": "next_context"}  # the reference label each reading colours by


@dataclass
class MapOptions:
    """What a trajectory map draws besides the reference states and the path.

    regions: llmcore.maps.regions.RegionMap outlined under a 2D map; candidates: frames.candidates_frame of the
    selected step; layer_path: frames.layer_path_frame of the selected step; reading: 'read' or 'next' (what the
    colours show); width_px: the chart's width, for placing labels; path_name / path_colour: the path's legend
    entry and one colour for its line and markers (None: the ink, markers coloured by the reading); base: the
    reference states' traces already built by `reference_traces` (the same for every prompt on a map: the page
    keeps them, state.get_map_base), else built here."""

    axis_label: str = "PC"
    regions: Any = None
    candidates: pd.DataFrame | None = None
    layer_path: pd.DataFrame | None = None
    selected_step: int | None = None
    reading: str = "read"
    ink: str = "#222222"
    width_px: int = 640
    path_name: str = "this prompt (● generated next, ○ prompt next)"
    path_colour: str | None = None
    base: tuple | None = None
    keep_in_view: pd.DataFrame | None = None  # more points (x, y) the axes hold: a compare map's other runs
    font_px: int = 12


def trajectory_map(ref: pd.DataFrame, path: pd.DataFrame, colours: dict[str, str], title: str, *,
                   options: MapOptions | None = None) -> go.Figure:
    """Reference states coloured by one reading ('read' or 'next'), the prompt's path over them (numbered steps,
    arrowheads, labels placed so they do not cover each other or the region labels) and, at the selected step, its
    candidate next words and its path through the layers. Built as plain Plotly.js JSON (`figure`): a new prompt
    redraws it."""
    o = options or MapOptions()
    three_d, candidates = "z" in ref, o.candidates
    data, region_labels = [], []
    if o.regions is not None and not three_d:
        states = path[["x", "y"]].to_numpy(np.float64)
        outlines, region_labels = region_contours(o.regions, colours, states=states,
                                                  of=list(path[o.reading]) if o.reading in path else None)
        data += outlines
    data += list(o.base) if o.base is not None else reference_traces(ref, colours, reading=o.reading)
    layer = _layer_path(o.layer_path, three_d) if o.layer_path is not None else None
    if layer is not None:  # its depths are labelled with the steps, none over another
        data.append(layer)
    if "settled" in path:  # behind the markers: a ring around each, darker where the word is settled earlier
        data.append(_settled_rings(path, ink=o.ink, three_d=three_d))
    if not three_d and "in_prompt" in path and path.in_prompt.any():
        data.append(_prompt_rings(path, o.ink))
    data.append(_path(path, colours, options=o, three_d=three_d))
    if candidates is not None:
        stars = scatter(candidates, three_d, mode="markers", name="candidate next words (★)",
                        text=[f"{esc(w)} {p:.2f}" for w, p in zip(candidates.word, candidates.p)],
                        marker=dict(size=(8 + 30 * candidates.p.clip(0, 1)).tolist(), color="#FFFFFF",
                                    symbol="diamond" if three_d else "star", line=dict(width=1.5, color="#000000")),
                        hovertemplate="if the next word were %{text}, the state would land here<extra></extra>")
        if not len(candidates):  # one point Plotly does not draw: an empty trace would lose its legend entry, and a
            stars.update({a: [None] for a in ("xyz" if three_d else "xy")})  # step move would resize the plot area;
            stars["visible"] = "legendonly"  # the entry greyed out: it promises no star at this step
        data.append(stars)
    layout = axes_layout(o.axis_label, three_d)
    if three_d:
        ranges = scene_ranges([ref, path, candidates, o.layer_path])
        layout = merged(layout, dict(scene={f"{a}axis": dict(range=list(r)) for a, r in zip("xyz", ranges)}))
        # the camera lowered with what it looks at: the cube centred, so its lowest ticks stay inside a small chart
        layout = merged(layout, dict(scene=dict(camera=dict(eye=dict(z=0.9), center=dict(z=-0.15)))))
        traces, notes = labels_3d(path, candidates, o.ink, camera=(ranges, layout["scene"]["camera"]),
                                  layer_trace=layer)
        data += traces
        layout = merged(layout, dict(scene=dict(annotations=notes)))
    else:
        arrows, labels = labels_2d(ref if o.keep_in_view is None else pd.concat([ref, o.keep_in_view]), path,
                                    candidates=candidates, region_labels=region_labels, colours=colours, ink=o.ink,
                                    width_px=o.width_px, layer_path=o.layer_path, font_px=o.font_px)
        data += arrows
        layout = merged(layout, labels)
    legend = dict(title=dict(text=f"{o.reading}: {READINGS[o.reading]}"), itemsizing="constant",
                  **LEGEND_BELOW["legend"])
    if three_d:  # the scene's perspective spans the plot area's height: the legend in rows, not a column per group
        group = next((t["legendgrouptitle"]["text"] for t in data if t.get("legendgrouptitle")), "")
        data = [{k: v for k, v in t.items() if k != "legendgrouptitle"} for t in data]
        legend = merged(legend, dict(traceorder="normal", y=0, title=dict(text=f"{legend['title']['text']}; dots: "
                                                                          f"{group}")))
        layout = merged(layout, dict(meta=dict(scene_aspect=MAP_SCENE_ASPECT)))
    return figure(data, merged(layout, dict(title=dict(text=title, x=0, xanchor="left"), legend=legend,
                                            height=800 if three_d else 700, margin=dict(t=60))))


def reference_traces(ref: pd.DataFrame, colours: dict[str, str], *, reading: str = "read") -> list[dict]:
    """The reference states of a map, one trace per sub-context of the reading (marked BASE: drawn once, under the
    chart a new prompt redraws); 2D or 3D as `ref` has a z column."""
    three_d, label_col = "z" in ref, READING_LABELS[reading]
    total = ref.attrs.get("total", len(ref))
    group = f"reference states ({len(ref):,} of {total:,} drawn)" if total > len(ref) else "reference states"
    parts = [(ctx, ref[ref[label_col] == ctx] if label_col in ref else ref.iloc[:0]) for ctx in colours]
    return [scatter(part, three_d, mode="markers", name=str(ctx), legendgroup="reference",
                     legendgrouptitle=dict(text=group), meta=BASE,
                     marker=dict(size=3 if three_d else 4, color=colours.get(ctx, GRAMMAR_COLOUR), opacity=0.5),
                     text=[f"{esc(w)} → {esc(n)}" for w, n in zip(part.word, part.next_word)],
                     hovertemplate="%{text}<extra>" + str(ctx) + "</extra>")  # one string a point: a new
            for ctx, part in parts if len(part)]  # prompt sends these 1,500 again (customdata pairs: 3x the time)


def _layer_path(layer_path: pd.DataFrame, three_d: bool) -> dict:
    """The selected step's state at every depth, joined by a dotted line and named by depth (in 2D by
    `labels_2d`, which keeps the names clear of the other labels)."""
    return scatter(layer_path, three_d, mode="lines+markers+text" if three_d else "lines+markers",
                    name="through the layers", text=layer_path.layer.tolist(), textposition="bottom center",
                    line=dict(color="#7F7F7F", width=2, dash="dot"),
                    marker=dict(size=7, color="#7F7F7F", symbol="square" if three_d else "diamond"),
                    customdata=layer_path[["layer", "top_word"]].to_numpy(),
                    hovertemplate="%{customdata[0]}: the lens reads '%{customdata[1]}'<extra></extra>")


def compare_map(ref: pd.DataFrame, drawn: list[tuple[str, str, pd.DataFrame]], colours: dict[str, str], title: str,
                *, axis_label: str) -> go.Figure:
    """The reference map with each run's path, (name, colour, path) in `drawn`, in its own colour (a series colour
    where the one given would vanish on a theme) and dash: the first drawn as on the Trajectory page, solid, the
    others' steps labelled as the first's (step and word; hovering adds the next word) in their colour where they
    cover no label placed before them; the axes hold every run."""
    from dashboard.labels import place_labels, plain, text_box, to_pixels

    styles = run_styles([(name, colour) for name, colour, _ in drawn])
    (name, _, first), rest = drawn[0], drawn[1:]
    others = pd.concat([p[["x", "y"]] for _, _, p in rest]) if rest else None
    o = MapOptions(axis_label=axis_label, path_name=name, path_colour=styles[name][0], keep_in_view=others)
    fig = trajectory_map(ref, first, colours, title, options=o)
    xr, yr, (w, h) = fig.layout.xaxis.range, fig.layout.yaxis.range, (o.width_px - 60, 700 - 230)
    frame = dict(x_range=xr, y_range=yr, width=w, height=h)
    taken = [text_box(*(to_pixels(np.array([[a.x, a.y]]), **frame)[0] + [a.xshift or 0, a.yshift or 0]),
                      plain(a.text), a.font.size) for a in fig.layout.annotations]
    for name, _, path in rest:
        colour, dash = styles[name]
        px, texts = to_pixels(path[["x", "y"]].to_numpy(np.float64), **frame), path_labels(path)
        fig.add_trace(go.Scatter(x=path.x, y=path.y, mode="lines+markers", name=name, text=texts,
                                 hovertemplate="%{text}<extra>" + esc(name) + "</extra>",
                                 line=dict(color=colour, width=2, dash=dash), marker=dict(color=colour, size=10)))
        texts = [f"<b>{s}</b> {esc(w)}" for s, w in zip(path.step, path.word)]  # as the first run's labels
        for (x, y), text, shift in zip(path[["x", "y"]].to_numpy(), texts,
                                       place_labels(px, [plain(t) for t in texts], taken, bounds=(0, 0, w, h),
                                                    optional=[True] * len(texts))):
            if shift is not None:  # one that would cover another is left out: hovering names its point
                fig.add_annotation(x=float(x), y=float(y), xshift=shift[0], yshift=shift[1], text=text, name="step",
                                   showarrow=False, bgcolor=halo(o.ink), font=dict(size=o.font_px, color=colour))
                taken.append(text_box(*(to_pixels(np.array([[x, y]]), **frame)[0] + shift), plain(text),
                                      o.font_px))
    return fig


def _prompt_rings(path: pd.DataFrame, ink: str) -> dict:
    """An ink ring just outside each prompt step's open circle (drawn in its reading's colour, which a region outline
    of that colour would swallow), under the path's own markers."""
    at = path[path.in_prompt.to_numpy(bool)]
    return dict(type="scatter", x=at.x, y=at.y, mode="markers", showlegend=False, hoverinfo="skip",
                name="prompt steps' rings", marker=dict(symbol="circle-open", size=20, color=ink, line=dict(width=1.5)))


def _path(path: pd.DataFrame, colours: dict[str, str], *, options: MapOptions, three_d: bool) -> dict:
    """The path: a line, one marker per word read coloured by its reading (open: the next word is the prompt's),
    the selected step ringed; line and markers in options.path_colour where one is given."""
    reading, ink = options.reading, options.ink
    cols = [colours.get(c, GRAMMAR_COLOUR) for c in path[reading]] if reading in path else ink
    if options.path_colour is not None:
        cols = options.path_colour
    sel = [s == options.selected_step for s in path.step]
    # a prompt step's open circle is drawn in its reading's colour: larger and thicker, so that it still shows on a
    # region outline of that colour
    size = [18 if s else 11 if not p else 14 for s, p in zip(sel, path.in_prompt)]
    kw = dict(mode="lines+markers", name=options.path_name, meta=PATH,
              line=dict(color=options.path_colour or ink, width=3 if three_d else 2),
              marker=dict(size=[v * (0.6 if three_d else 1) for v in size], color=cols,
                          line=dict(width=2 if three_d else [4 if s else 3 if p else 1.5 for s, p in
                                                             zip(sel, path.in_prompt)], color=ink),
                          symbol=["circle" if not p or s else "circle-open" for p, s in zip(path.in_prompt, sel)]))
    if "next" in path:
        kw.update(customdata=np.stack([path.step, path.word, path.read if "read" in path else path.word,
                                       path.next_word, path.next, path.next_mass.round(2)], 1),
                  hovertemplate="step %{customdata[0]}: after reading '%{customdata[1]}' (read: %{customdata[2]})"
                  "<br>next word '%{customdata[3]}' (next: %{customdata[4]} %{customdata[5]})<extra></extra>")
    return scatter(path, three_d, **kw)


def _settled_rings(path: pd.DataFrame, *, ink: str, three_d: bool) -> dict:
    """A ring around each step's marker in the ink, solid where the step's top word is settled from the embedding
    on and fading to faint where it is settled only at the final depth (path.settled_share, 0 to 1)."""
    r, g, b = (int(ink.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    shades = [f"rgba({r},{g},{b},{1 - 0.85 * float(v):.2f})" for v in path.settled_share]
    return scatter(path, three_d, mode="markers",
                   name="ring: how early the model settles on its next word (darker: earlier)",
                   marker=dict(size=15 if three_d else 24, color=shades, symbol="circle-open",  # open: drawn in color
                               line=dict(width=3)),
                   customdata=np.stack([path.step, path.word, path.settled_at], 1),
                   hovertemplate="step %{customdata[0]} ('%{customdata[1]}'): the next word is settled at "
                   "%{customdata[2]}<extra></extra>")


def prediction_depth_chart(step_labels: list[str], settled: np.ndarray, layer_names: list[str], *, lens: str,
                           top_words: list[str]) -> go.Figure:
    """The depth from which each word step's top word is settled (prediction depth), one point per step."""
    hover = [f"{esc(s)}: '{esc(w)}' settled at {layer_names[int(d)]}" for s, w, d in zip(step_labels, top_words,
                                                                                          settled)]
    dots = dict(type="scatter", x=list(step_labels), y=[int(d) for d in settled], mode="lines+markers+text",
                text=[esc(w) for w in top_words], textposition="top center", hovertext=hover, hoverinfo="text",
                marker=dict(size=10, color="#332288"), line=dict(color="#88CCEE", width=1.5), name="settled at")
    title = wrap_title(f"Where each next word is decided ({lens} lens): the first depth from which the top word is "
                       "the final one and stays so")
    yaxis = dict(title=dict(text="settled at depth"), tickmode="array", tickvals=list(range(len(layer_names))),
                 ticktext=list(layer_names), range=[-0.5, len(layer_names) - 0.3])
    return figure([dots], dict(title=dict(text=title), xaxis=dict(title=dict(text="step: word read")), yaxis=yaxis,
                               height=140 + 40 * len(layer_names), margin=dict(t=70), showlegend=False))


def context_probs_chart(frame: pd.DataFrame, colours: dict[str, str], reads: list[str] | None = None,
                        selected_step: int | None = None) -> go.Figure:
    """Stacked bars, one per word read: the `next` reading, how the next-word probability splits across
    sub-contexts; above each bar a square in the colour of the `read` reading (the word's own sub-context)."""
    data, context, label, prob = [], frame.context.to_numpy(), frame.label.to_numpy(), frame.probability.to_numpy()
    for ctx in colours:
        part = context == ctx  # NumPy, not pandas: a new prompt redraws this chart
        data.append(dict(type="bar", x=label[part].tolist(), y=prob[part], name=str(ctx),
                         marker=dict(color=colours.get(ctx)),
                         hovertemplate="%{x}<br>next: " + str(ctx) + " %{y:.3f}<extra></extra>"))
    labels = list(dict.fromkeys(frame.label))
    if reads is not None:
        data.append(dict(type="scatter", x=labels, y=[1.06] * len(labels), mode="markers", showlegend=False,
                         name="read (square above)", customdata=list(reads),
                         marker=dict(symbol="square", size=12, color=[colours.get(c, GRAMMAR_COLOUR) for c in reads]),
                         hovertemplate="%{x}<br>read: %{customdata}<extra></extra>"))
        # its legend entry an open square: a filled one would take the first word's colour and pass for a sub-context
        data.append(dict(type="scatter", x=[None], y=[None], mode="markers", hoverinfo="skip",
                         name="read (square above: its colour)",
                         marker=dict(symbol="square-open", size=12, color="#7F7F7F", line=dict(width=2))))
    shapes = [dict(type="rect", xref="x", yref="paper", x0=selected_step - 1.5, x1=selected_step - 0.5, y0=0, y1=1,
                   line=dict(width=2, color="#555555"), fillcolor="rgba(0,0,0,0)")
              ] if selected_step is not None and 1 <= selected_step <= len(labels) else []
    title = wrap_title("next: next-word probability by sub-context, per word read (squares above: read, the word's "
                       "own sub-context)")
    return figure(data, dict(title=dict(text=title, x=0), barmode="stack", bargap=0.15,
                             xaxis=dict(title=dict(text="step: word read")),
                             yaxis=dict(title=dict(text="probability"), range=[0, 1.12]),
                             legend=dict(traceorder="normal", title=dict(text="sub-context"),
                                         **LEGEND_BELOW["legend"]),
                             height=460, margin=dict(t=70), shapes=shapes))


def _word_styles(df: pd.DataFrame, colour_by: str, context_colours: dict[str, str] | None,
                 subgroup_order: list[str] | None, *, three_d: bool) -> tuple[pd.DataFrame, str, dict, dict]:
    """The word map's categories: (the frame, sorted where subgroups are shown; the column they are read from;
    category -> (colour, symbol); category -> its family, for subgroups shaded in their sub-context's hue)."""
    if colour_by == "subgroup" and context_colours and "context" in df:  # shades of the sub-context's hue
        order = {c: i for i, c in enumerate(context_colours)}  # families in taxonomy order
        rank = {g: i for i, g in enumerate(subgroup_order or [])}
        df = df.assign(_key=list(zip(df["context"], df["subgroup"])), _order=df["context"].map(order).fillna(99),
                       _rank=df["subgroup"].map(rank).fillna(len(rank)))
        df = df.sort_values(["_order", "_rank"], kind="stable")
        styles = subgroup_styles(list(dict.fromkeys(df._key)), context_colours, three_d=three_d)
        return df, "_key", styles, {k: k[0] for k in styles}
    cats = list(dict.fromkeys(df[colour_by]))
    styles = ({c: (context_colours.get(c, GRAMMAR_COLOUR), "circle") for c in cats}
              if colour_by == "context" and context_colours else category_styles(cats))
    return df, colour_by, styles, {}


def word_map(df: pd.DataFrame, colour_by: str, title: str, axis_label: str, *, highlight: list[str] | None = None,
             context_colours: dict[str, str] | None = None, axis_titles: tuple[str, str] | None = None,
             legend_title: str | None = None, subgroup_order: list[str] | None = None,
             highlight_name: str = "selected") -> go.Figure:
    """The word map: one labelled point per word, coloured by sub-context or subgroup (a family's members in
    `subgroup_order`, else as they come, each a shade and a symbol); highlighted words ringed (in the legend as
    `highlight_name`). Axes are titled
    `axis_label` 1, 2 (3) unless `axis_titles` names them (custom axes, 2D)."""
    three_d = "z" in df
    df, col, styles, family = _word_styles(df, colour_by, context_colours, subgroup_order, three_d=three_d)
    cats = list(styles)
    fig = go.Figure()
    layout = axes_layout(axis_label, three_d)
    if three_d:  # WebGL text cannot be thinned in the page: only labels that cover none before them are printed
        ranges = scene_ranges([df])
        for k, r in zip(("xaxis", "yaxis", "zaxis"), ranges):
            layout["scene"][k] = {**layout["scene"].get(k, {}), "range": list(r)}
        shown = thin_3d_words(df[["x", "y", "z"]].to_numpy(np.float64), [str(w) for w in df.word],
                              first=df.word.isin(highlight or []).to_numpy(),
                              camera=(ranges, layout["scene"]["camera"]))
        df = df.assign(_label=np.where(shown, df.word, ""))
    for cat in cats:
        part = df[df[col].apply(lambda v, c=cat: v == c)]
        colour, symbol = styles[cat]
        name = cat[1] if family else str(cat)
        sel = part.word.isin(highlight or [])
        # 2D: the labels are one trace drawn after every point (word_labels_2d)
        text = dict(mode="markers+text", text=part["_label"], textposition="top center", meta=DECLUTTER,
                    textfont=dict(size=[13 if s else 10 for s in sel],
                                  color=["#000000" if s else "#444444" for s in sel])) if three_d else \
            dict(mode="markers")
        fig.add_trace(scatter(part, three_d, name=name, hovertext=part.word, **text,
                               marker=dict(size=6 if three_d else 8, color=colour, symbol=symbol,
                                           line=dict(width=0.5, color="#444")),
                               legendgroup=family.get(cat), legendgrouptitle=dict(text=family.get(cat)),
                               hovertemplate="%{hovertext}<extra>" + name + "</extra>"))
    if highlight:  # a ring below each selected word's point; its label above stays clear (bold, larger)
        part = df[df.word.isin(highlight)]
        fig.add_trace(scatter(part, three_d, mode="markers", name=esc(highlight_name), hoverinfo="skip",
                               marker=dict(size=10 if three_d else 12, color="rgba(0,0,0,0)",
                                           line=dict(width=2, color="#000000"))))
    if not three_d:
        ranges = scene_ranges([df.assign(z=0.0)], pad=0.1)[:2]  # room for the labels of the outermost words
        layout = merged(layout, dict(xaxis=dict(range=list(ranges[0])), yaxis=dict(range=list(ranges[1]))))
        fig.add_trace(word_labels_2d(df, highlight or [], x_range=ranges[0], y_range=ranges[1]))
    fig.update_layout(layout)
    if axis_titles is not None:
        fig.update_layout(xaxis_title=axis_titles[0], yaxis_title=axis_titles[1])
    if legend_title is None:
        legend_title = {"context": "sub-context"}.get(colour_by, colour_by)
    lines = wrap_title(title, 60)  # the page's column is about 470 px wide at 800 px, and Plotly does not wrap
    legend = {} if three_d else LEGEND_BELOW  # below a 2D map, which keeps the column's width (on a narrow screen)
    # the legend's height comes out of the chart's: subgroups stand in columns under their sub-context's name
    rows = 2 + max(collections.Counter(family.values()).values()) if family else 3
    return styled(fig, title=lines, legend_title_text=legend_title, height=640 + (20 * rows if legend else 0),
                  margin=dict(t=30 + 20 * (lines.count("<br>") + 1)), **legend)


NOTE_ROOM = 0.12  # pinned_note: how far the axes widen on the note's sides, of the points' extent


def pinned_note(fig: go.Figure, points: np.ndarray, at: np.ndarray, text: str, *, ink: str = "#222222",
                plot_px: tuple[int, int] = (860, 450)) -> None:
    """A note in the emptiest corner of a 2D map, with an arrow to the point `at`: the corner whose box of the note's
    own size (estimated from its lines at 13 px on a plot area of about `plot_px`) holds the fewest of `points`
    (n, 2); the one nearest `at` among equals. The axes widen on that corner's sides by NOTE_ROOM of the points'
    extent, and the note sits at their edge, so that it covers fewer points. `text` is Plotly's HTML, escaped by
    the caller."""
    from dashboard.labels import plain

    lines = text.split("<br>")
    lo, hi = points.min(0), points.max(0)
    span = np.maximum(hi - lo, 1e-9)
    size = np.array([(max(len(plain(t)) for t in lines) * 7.2 + 12) / plot_px[0], (len(lines) * 19 + 12) / plot_px[1]])
    size = np.minimum(size * 1.1, 0.6)  # the axes' padding beyond the points, and a little room
    corners = []
    for right in (False, True):
        for top in (False, True):
            corner = np.array([hi[0] if right else lo[0], hi[1] if top else lo[1]])
            inside = np.all(np.abs(points - corner) <= span * size, axis=1)
            corners.append((int(inside.sum()), float(np.linalg.norm((corner - at) / span)), right, top, corner))
    _, _, right, top, corner = min(corners, key=lambda c: c[:2])
    pad = 0.05 * span
    low, high = lo - pad - NOTE_ROOM * span * [not right, not top], hi + pad + NOTE_ROOM * span * [right, top]
    fig.update_layout(xaxis_range=[float(low[0]), float(high[0])], yaxis_range=[float(low[1]), float(high[1])])
    corner = np.where([right, top], high - pad / 5, low + pad / 5)
    fig.add_annotation(x=float(at[0]), y=float(at[1]), xref="x", yref="y", ax=float(corner[0]), ay=float(corner[1]),
                       axref="x", ayref="y", xanchor="right" if right else "left", yanchor="top" if top else "bottom",
                       text=text, align="left", showarrow=True, arrowhead=2, arrowwidth=1, arrowcolor=ink,
                       bgcolor=halo(ink, 0.85), bordercolor=ink, borderwidth=1, borderpad=4,
                       font=dict(color=ink), name="note")


def region_contours(regions: RegionMap, colours: dict[str, str], *, states: np.ndarray | None = None,
                    of: list[str] | None = None) -> tuple[list[dict], list[tuple[float, float, str]]]:
    """Outline each sub-context's region (its density at half its local peak, as polylines computed on the
    server; an island holding under 5 % of its states, regions.SMALL_ISLAND, faint and dotted) and say where its
    labels go: on its densest point, and on every other island of the region that holds one of `states` (xy (n, 2))
    whose sub-context (`of`, one name per state) it is, so that a state's own region is named where the state lies.
    region_notes makes the labels, with the figure's other annotations.

    Returns the outlines' traces and the labels' anchors (x, y, text)."""
    shown = [g for g, ctx in enumerate(regions.contexts) if regions.counts[g] and ctx != FUNCTION_CONTEXT]
    anchors, outlines = [], []
    for g in shown:
        ctx, c = regions.contexts[g], colours.get(regions.contexts[g], GRAMMAR_COLOUR)
        xs, ys = regions.outline(g, islands="main")
        outlines.append(dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color=c, width=2),
                             hoverinfo="skip", name=f"{ctx} region", showlegend=False))
        xs, ys = regions.outline(g, islands="small")
        if len(xs):  # a few stray states of the sub-context: a faint dotted ring, not a region's border
            outlines.append(dict(type="scatter", x=xs, y=ys, mode="lines", opacity=0.45,
                                 line=dict(color=c, width=1, dash="dot"), hoverinfo="skip",
                                 name=f"{ctx} region (small islands)", showlegend=False))
        anchors.append((float(regions.centres[g, 0]), float(regions.centres[g, 1]), ctx))
        named = regions.island(g, regions.centres[g])
        for xy in [] if states is None or of is None else [p for p, name in zip(states, of) if name == ctx]:
            part = regions.island(g, xy)
            if part.any() and not (part & named).any():  # an island of its own: named at its densest cell
                row, col = np.unravel_index(np.where(part, regions.density[g], -1).argmax(), part.shape)
                anchors.append((float(regions.x[col]), float(regions.y[row]), ctx))
                named |= part
    return outlines, anchors


def lens_heatmap(words: list[list[str]], contexts: list[list[str]], probs: list[list[float]], *,
                 layer_names: list[str], step_labels: list[str], colours: dict[str, str], lens: str = "logit",
                 settled: np.ndarray | None = None) -> go.Figure:
    """A lens (logit or tuned): for each depth (rows) and step (columns) the top word, coloured by its sub-context;
    with `settled` (each step's prediction depth), that depth's cell framed."""
    names = list(colours)
    z = [[names.index(c) for c in row] for row in contexts]
    scale = discrete_scale(names, colours)
    text = [[f"{w}<br>{p:.2f}" for w, p in zip(rw, rp)] for rw, rp in zip(words, probs)]
    heat = dict(type="heatmap", z=z, x=list(step_labels), y=list(layer_names), text=text, texttemplate="%{text}",
                colorscale=scale, zmin=-0.5, zmax=len(names) - 0.5, showscale=False,
                hovertemplate="%{y}, %{x}: %{text}<extra></extra>")
    what = ("Logit lens: the top next word read out at each layer" if lens == "logit" else
            "Tuned lens: the top next word read out at each layer through its translator")
    title = wrap_title(what + " (colour: its sub-context" + ("; framed: where it is settled)" if settled is not None
                                                             else ")"))
    # the frame is the settled cell's own edge (inset a little so neighbours' frames stay apart), never over its text
    frames = [dict(type="rect", xref="x", yref="y", x0=i - 0.46, x1=i + 0.46, y0=int(d) - 0.44, y1=int(d) + 0.44,
                   line=dict(color="#000000", width=3), fillcolor="rgba(0,0,0,0)", layer="above")
              for i, d in enumerate(settled if settled is not None else [])]
    return figure([heat], dict(title=dict(text=title), xaxis=dict(title=dict(text="step: word read")),
                               yaxis=dict(title=dict(text="layer")), height=100 + 48 * len(layer_names),
                               margin=dict(t=70), **(dict(shapes=frames) if frames else {})))


def attention_heatmaps(att: np.ndarray, key_words: list[str], title: str) -> go.Figure:
    """Attention of the newest word over the words it can see: one row per (block, head), named as every other
    chart names the depths ('block 1')."""
    L, H, W = att.shape
    z = att.reshape(L * H, W)
    rows = [f"block {i + 1} head {h + 1}" for i in range(L) for h in range(H)]
    heat = dict(type="heatmap", z=z, x=[f"{j + 1}: {w}" for j, w in enumerate(key_words)], y=rows,
                colorscale=BLUES, zmin=0, zmax=1, colorbar=dict(title=dict(text="weight")),
                hovertemplate="%{y} → %{x}: %{z:.2f}<extra></extra>")
    return figure([heat], dict(title=dict(text=wrap_title(title)), xaxis=dict(title=dict(text="word attended to")),
                               yaxis=dict(title=dict(text="block and head"), autorange="reversed"),
                               height=140 + 22 * L * H, margin=dict(t=70)))
