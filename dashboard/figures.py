"""Plotly figures from plain frames; every figure says what is plotted on its axes and in its legend."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import make_colorscale, sequential

from llmcore.tokenizer import UNK
from llmcore.world import FUNCTION_CONTEXT

# Okabe & Ito's colour-blind-safe palette, in an order that keeps the first three sub-contexts far apart.
PALETTE = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442"]
GRAMMAR_COLOUR = "#BBBBBB"

# The layout every figure shares, registered once as a Plotly template. `styled` writes it into each figure's own
# layout rather than naming it in layout.template: Streamlit's theme overrides a template's side margins and the
# default trace colours with its own, so a figure would look different in the page and in its standalone HTML.
TEMPLATE = "llm_landscape"
TEMPLATE_LAYOUT = dict(margin=dict(l=10, r=10, t=50, b=10))
pio.templates[TEMPLATE] = go.layout.Template(layout=TEMPLATE_LAYOUT)
# The legend under the chart, in rows: the map keeps the whole width, also on a narrow screen.
# Traces the same for every prompt on a map (its reference states): dashboard/chart.js draws them once, in a chart
# under the one a new prompt redraws.
BASE = "base"
# Traces whose text labels dashboard/chart.js thins out in the browser so that none prints over another (a word map's
# labels; zooming in names more words, hovering names every point).
DECLUTTER = "declutter"
LEGEND_BELOW = dict(legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0))

# The series of a multi-series line chart: each its own colour, dash and marker. Every colour keeps a WCAG contrast
# of at least 3:1 against the light theme's background and the dark one's (Streamlit's), so no line disappears on
# either; Okabe & Ito's and Paul Tol's hues, with their too-light members (orange, sky blue, yellow) left out.
BACKGROUNDS = {"light": "#FFFFFF", "dark": "#0E1117"}
SERIES_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#AA4499", "#B8860B", "#7F7F7F", "#CC6677"]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
SERIES_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star", "cross"]
MIN_CONTRAST = 3.0


def series_style(i: int) -> dict:
    """Line and marker of series i: colour and dash differ from the series before it, and the (colour, dash) pair
    from every other of the first 42."""
    colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
    return dict(line=dict(color=colour, width=2, dash=DASHES[i % len(DASHES)]),
                marker=dict(color=colour, size=7, symbol=SERIES_SYMBOLS[i % len(SERIES_SYMBOLS)]))


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two '#RRGGBB' colours, from 1 (the same) to 21 (black on white)."""
    def luminance(colour: str) -> float:
        c = _rgb(colour) / 255
        c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(c @ [0.2126, 0.7152, 0.0722])

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def readable(colour: str) -> bool:
    """Whether a line in this colour stands out on both themes' backgrounds (MIN_CONTRAST)."""
    return all(contrast(colour, bg) >= MIN_CONTRAST for bg in BACKGROUNDS.values())


def styled(fig: go.Figure, **layout) -> go.Figure:
    """The shared template's layout (margins), then this figure's own settings (height, title, axes, …)."""
    fig.update_layout(TEMPLATE_LAYOUT, **layout)
    return fig


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from Plotly.js JSON: traces and layout as plain nested dicts (no 'legend_title_text' shorthands),
    the shared template's layout under this one's, wrapped without validation. plotly.py checks each property
    it is handed; for the figures a new prompt redraws that took 0.1 s of the page's 0.18 s run (the map alone
    50 ms; 5 ms as plain dicts). tests/test_frames.py validates every figure built this way."""
    return go.Figure(dict(data=data, layout=merged(TEMPLATE_LAYOUT, layout)), _validate=False)


def merged(base: dict, extra: dict) -> dict:
    """`base` updated by `extra`, nested dicts merged key by key (as Plotly's update_layout merges them)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def play_controls(frame_names: list[str], *, prefix: str, y: float = -0.08, duration_ms: int = 400) -> dict:
    """Layout of an animated figure: ▶ play and ❚❚ pause buttons under the chart, and a slider with one stop per
    frame (starting at the last), labelled `prefix` + the frame's name."""
    still = dict(mode="immediate", frame=dict(duration=0, redraw=False))
    buttons = [dict(label="▶ play", method="animate",
                    args=[None, dict(frame=dict(duration=duration_ms, redraw=False), fromcurrent=True)]),
               dict(label="❚❚ pause", method="animate", args=[[None], dict(mode="immediate")])]
    return dict(updatemenus=[dict(type="buttons", direction="left", x=0, y=y, xanchor="left", showactive=False,
                                  buttons=buttons)],
                sliders=[dict(active=len(frame_names) - 1, currentvalue=dict(prefix=prefix, xanchor="right"),
                              pad=dict(t=40),
                              steps=[dict(label=n, method="animate", args=[[n], still]) for n in frame_names])])


def context_colours(names: list[str]) -> dict[str, str]:
    """A stable colour per sub-context; the function words' sub-context (FUNCTION_CONTEXT) is grey."""
    out, i = {}, 0
    for n in names:
        if n == FUNCTION_CONTEXT:
            out[n] = GRAMMAR_COLOUR
        else:
            out[n] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


READINGS = {"read": "sub-context of the word read", "next": "sub-context the next-word distribution favours"}
READING_LABELS = {"read": "context", "next": "next_context"}  # the reference label each reading colours by


@dataclass
class MapOptions:
    """What a trajectory map draws besides the reference states and the path.

    regions: llmcore.regions.RegionMap outlined under a 2D map; candidates: frames.candidates_frame of the
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
    data.append(_path(path, colours, options=o, three_d=three_d))
    if candidates is not None and len(candidates):
        data.append(_scatter(candidates, three_d, mode="markers", name="candidate next words (★)",
                             text=[f"{esc(w)} {p:.2f}" for w, p in zip(candidates.word, candidates.p)],
                             marker=dict(size=(8 + 30 * candidates.p.clip(0, 1)).tolist(), color="#FFFFFF",
                                         symbol="diamond" if three_d else "star",
                                         line=dict(width=1.5, color="#000000")),
                             hovertemplate="if the next word were %{text}, the state would land here"
                             "<extra></extra>"))
    layout = axes_layout(o.axis_label, three_d)
    if three_d:
        ranges = _scene_ranges([ref, path, candidates, o.layer_path])
        layout = merged(layout, dict(scene={f"{a}axis": dict(range=list(r)) for a, r in zip("xyz", ranges)}))
        data += _labels_3d(path, candidates, o.ink, camera=(ranges, layout["scene"]["camera"]),
                           layer_trace=layer)
    else:
        arrows, labels = _labels_2d(ref if o.keep_in_view is None else pd.concat([ref, o.keep_in_view]), path,
                                    candidates=candidates, region_labels=region_labels, colours=colours, ink=o.ink,
                                    width_px=o.width_px, layer_path=o.layer_path, font_px=o.font_px)
        data += arrows
        layout = merged(layout, labels)
    legend = dict(title=dict(text=f"{o.reading}: {READINGS[o.reading]}"), itemsizing="constant",
                  **LEGEND_BELOW["legend"])
    return figure(data, merged(layout, dict(title=dict(text=title, x=0, xanchor="left"), legend=legend,
                                            height=700, margin=dict(t=60))))


def reference_traces(ref: pd.DataFrame, colours: dict[str, str], *, reading: str = "read") -> list[dict]:
    """The reference states of a map, one trace per sub-context of the reading (marked BASE: drawn once, under the
    chart a new prompt redraws); 2D or 3D as `ref` has a z column."""
    three_d, label_col = "z" in ref, READING_LABELS[reading]
    total = ref.attrs.get("total", len(ref))
    group = f"reference states ({len(ref):,} of {total:,} drawn)" if total > len(ref) else "reference states"
    parts = [(ctx, ref[ref[label_col] == ctx] if label_col in ref else ref.iloc[:0]) for ctx in colours]
    return [_scatter(part, three_d, mode="markers", name=str(ctx), legendgroup="reference",
                     legendgrouptitle=dict(text=group), meta=BASE,
                     marker=dict(size=3 if three_d else 4, color=colours.get(ctx, GRAMMAR_COLOUR), opacity=0.5),
                     text=[f"{esc(w)} → {esc(n)}" for w, n in zip(part.word, part.next_word)],
                     hovertemplate="%{text}<extra>" + str(ctx) + "</extra>")  # one string a point: a new
            for ctx, part in parts if len(part)]  # prompt sends these 1,500 again (customdata pairs: 3x the time)


def _layer_path(layer_path: pd.DataFrame, three_d: bool) -> dict:
    """The selected step's state at every depth, joined by a dotted line and named by depth (in 2D by
    `_labels_2d`, which keeps the names clear of the other labels)."""
    return _scatter(layer_path, three_d, mode="lines+markers+text" if three_d else "lines+markers",
                    name="through the layers", text=layer_path.layer.tolist(), textposition="bottom center",
                    line=dict(color="#7F7F7F", width=2, dash="dot"),
                    marker=dict(size=7, color="#7F7F7F", symbol="square" if three_d else "diamond"),
                    customdata=layer_path[["layer", "top_word"]].to_numpy(),
                    hovertemplate="%{customdata[0]}: the lens reads '%{customdata[1]}'<extra></extra>")


def compare_map(ref: pd.DataFrame, drawn: list[tuple[str, str, pd.DataFrame]], colours: dict[str, str], title: str,
                *, axis_label: str) -> go.Figure:
    """The reference map with each run's path, (name, colour, path) in `drawn`, in its own colour (a series colour
    where the one given would vanish on a theme) and dash: the first drawn as on the Trajectory page, solid, the
    others' steps labelled (word → next word) in their colour where they cover no label placed before them; the
    axes hold every run."""
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
        for (x, y), text, shift in zip(path[["x", "y"]].to_numpy(), texts,
                                       place_labels(px, [plain(t) for t in texts], taken, bounds=(0, 0, w, h),
                                                    optional=[True] * len(texts))):
            if shift is not None:  # one that would cover another is left out: hovering names its point
                fig.add_annotation(x=float(x), y=float(y), xshift=shift[0], yshift=shift[1], text=text, name="step",
                                   showarrow=False, bgcolor=halo(o.ink), font=dict(size=o.font_px, color=colour))
                taken.append(text_box(*(to_pixels(np.array([[x, y]]), **frame)[0] + shift), plain(text),
                                      o.font_px))
    return fig


def run_styles(runs: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """(colour, dash) of each named run: its own colour where it is readable on both themes and not taken, else the
    first series colour no other run has; run i's dash is series i's (the first run solid)."""
    given = [c if readable(c) else None for _, c in runs]
    free = [c for c in SERIES_COLOURS if c not in given]
    out = {}
    for i, ((name, _), colour) in enumerate(zip(runs, given)):
        if colour is None or colour in given[:i]:
            colour = free.pop(0) if free else series_style(i)["line"]["color"]
        out[name] = (colour, series_style(i)["line"]["dash"])
    return out


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


def _path(path: pd.DataFrame, colours: dict[str, str], *, options: MapOptions, three_d: bool) -> dict:
    """The path: a line, one marker per word read coloured by its reading (open: the next word is the prompt's),
    the selected step ringed; line and markers in options.path_colour where one is given."""
    reading, ink = options.reading, options.ink
    cols = [colours.get(c, GRAMMAR_COLOUR) for c in path[reading]] if reading in path else ink
    if options.path_colour is not None:
        cols = options.path_colour
    sel = [s == options.selected_step for s in path.step]
    size = [18 if s else 11 for s in sel]
    kw = dict(mode="lines+markers", name=options.path_name,
              line=dict(color=options.path_colour or ink, width=3 if three_d else 2),
              marker=dict(size=[v * (0.6 if three_d else 1) for v in size], color=cols,
                          line=dict(width=2 if three_d else [4 if s else 1.5 for s in sel], color=ink),
                          symbol=["circle" if not p or s else "circle-open" for p, s in zip(path.in_prompt, sel)]))
    if "next" in path:
        kw.update(customdata=np.stack([path.step, path.word, path.read if "read" in path else path.word,
                                       path.next_word, path.next, path.next_mass.round(2)], 1),
                  hovertemplate="step %{customdata[0]}: after reading '%{customdata[1]}' (read: %{customdata[2]})"
                  "<br>next word '%{customdata[3]}' (next: %{customdata[4]} %{customdata[5]})<extra></extra>")
    return _scatter(path, three_d, **kw)


def _labels_2d(ref: pd.DataFrame, path: pd.DataFrame, *, candidates, region_labels, colours, ink: str,
               width_px: int, layer_path: pd.DataFrame | None = None,
               font_px: int = 12) -> tuple[list[dict], dict]:
    """The map's frame (around the reference states, the path, the stars and the depths of `layer_path`), an
    arrowhead per step, the regions' labels (`region_labels`: anchors from region_contours) placed on their regions
    clear of each other and of the path's markers, then the labels of steps, stars and depths placed greedily
    around them: the arrowheads' trace and the layout (annotations and axis ranges)."""
    from dashboard.labels import joined, merge_coincident, place_labels, plain, to_pixels

    depths = layer_path if layer_path is not None else path.iloc[:0]
    stars = candidates if candidates is not None else path.iloc[:0]
    pts = pd.concat([ref[["x", "y"]], path[["x", "y"]], stars[["x", "y"]], depths[["x", "y"]]])
    lo, hi = pts.min(), pts.max()
    pad = 0.06 * (hi - lo)
    xr, yr = (lo.x - pad.x, hi.x + pad.x), (lo.y - pad.y, hi.y + pad.y)
    w, h = width_px - 60, 700 - 230  # plot area without the legend below and the margins
    arrows = _arrowheads(path[["x", "y"]].to_numpy(np.float64), xr, yr, size=(w, h), ink=ink)
    kinds = [(path, [f"<b>{s}</b> {esc(w_)}" for s, w_ in zip(path.step, path.word)],
              dict(name="step", bgcolor=halo(ink), font=dict(size=font_px, color=ink))),
             (stars, [esc(f"★ {w_} {p:.2f}") for w_, p in zip(stars.word, stars.p)] if len(stars) else [],
              dict(name="star", bgcolor=halo(ink), font=dict(size=font_px, color=ink))),
             (depths, [f"<i>{esc(d)}</i>" for d in (depths.layer if len(depths) else [])],
              dict(name="depth", bgcolor=halo(ink), font=dict(size=font_px, color="#7F7F7F")))]
    xy, texts, styles, optional = np.zeros((0, 2)), [], [], []
    for k, (points, labels, style) in enumerate(kinds):  # labels of one kind at one spot joined into one
        where = points[["x", "y"]].to_numpy(np.float64)
        groups = merge_coincident(to_pixels(where, xr, yr, width=w, height=h))
        xy = np.concatenate([xy, where[[g[0] for g in groups]].reshape(-1, 2)])
        texts += [joined(labels, g, span=k == 2) for g in groups]
        styles += [style] * len(groups)
        optional += [k > 0] * len(groups)
    px = to_pixels(xy, xr, yr, width=w, height=h)
    notes, boxes = region_notes(region_labels, colours, ink=ink, frame=(xr, yr, w, h), markers=px)
    # the steps' labels first; a star's or a depth's left out where it would cover another (hovering names it)
    shifts = place_labels(px, [plain(t) for t in texts], boxes, bounds=(0, 0, w, h), font_px=font_px,
                          optional=optional)
    for (x, y), text, shift, style in zip(xy, texts, shifts, styles):
        if shift is None:
            continue
        dx, dy = shift
        notes.append(dict(x=float(x), y=float(y), xshift=float(dx), yshift=float(dy), showarrow=False, text=text,
                          **style))
    return arrows, dict(annotations=notes, xaxis=dict(range=[float(xr[0]), float(xr[1])]),
                        yaxis=dict(range=[float(yr[0]), float(yr[1])]))


def halo(ink: str, alpha: float = 0.6) -> str:
    """A label's background in the theme's own (translucent at `alpha`): light under dark ink, dark under light
    ink (a dark theme)."""
    r, g, b = (int(ink.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba(14,17,23,{alpha})" if 0.299 * r + 0.587 * g + 0.114 * b > 128 else f"rgba(255,255,255,{alpha})"


ARROW_PX = 16  # an arrowhead's centre sits this far before the step it points at (the step's marker is 11-18 px)


def _arrowheads(xy: np.ndarray, xr, yr, *, size: tuple[float, float], ink: str) -> list[dict]:
    """One arrowhead per step of the path, as a marker turned along the step's direction on screen (one trace:
    Chromium draws a marker far faster than an arrow annotation); halfway along a step too short for ARROW_PX."""
    from dashboard.labels import to_pixels

    if len(xy) < 2:
        return []
    px = to_pixels(xy, xr, yr, width=size[0], height=size[1])
    d = np.diff(px, axis=0)
    length = np.maximum(np.linalg.norm(d, axis=1), 1e-9)
    back = np.where(length > 2 * ARROW_PX, ARROW_PX / length, 0.5)[:, None]
    tip = xy[1:] - back * np.diff(xy, axis=0)
    angle = np.degrees(np.arctan2(d[:, 0], d[:, 1]))  # Plotly turns a marker clockwise from pointing up
    return [dict(type="scatter", x=tip[:, 0], y=tip[:, 1], mode="markers", name="direction", showlegend=False,
                 hoverinfo="skip", marker=dict(symbol="arrow", size=11, angle=angle.round(1), color=ink,
                                               line=dict(width=0)))]


def _scene_ranges(parts: list[pd.DataFrame | None], pad: float = 0.06) -> list[tuple[float, float]]:
    """x, y and z ranges of a 3D scene holding every point of `parts` (frames with x, y, z; None skipped), widened
    by `pad` of each span on both sides, so the path, the stars and the depths stay inside the box."""
    xyz = np.concatenate([p[["x", "y", "z"]].to_numpy(np.float64) for p in parts if p is not None and len(p)])
    lo, hi = xyz.min(0), xyz.max(0)
    margin = pad * np.maximum(hi - lo, 1e-9)
    return [(float(a), float(b)) for a, b in zip(lo - margin, hi + margin)]


def _labels_3d(path: pd.DataFrame, candidates, ink: str, *, camera: tuple, layer_trace: dict | None = None
               ) -> list[dict]:
    """3D: the labels of steps, stars and depths (`layer_trace`: the layer path's trace, its text positions set
    here) each on the side of its point where, seen from the default camera (`camera`: the scene's ranges and
    camera), it covers no label before it and no other point (labels.pick_text_positions), and a cone as
    arrowhead on each step."""
    from dashboard.labels import camera_pixels, joined, merge_coincident, pick_text_positions, plain

    stars = candidates if candidates is not None and len(candidates) else path.iloc[:0]
    kinds = [(path[["x", "y", "z"]].to_numpy(np.float64), [f"{s} {esc(w)}" for s, w in zip(path.step, path.word)]),
             (stars[["x", "y", "z"]].to_numpy(np.float64),
              [esc(f"★ {w} {p:.2f}") for w, p in zip(stars.word, stars.p)] if len(stars) else []),
             (np.zeros((0, 3)) if layer_trace is None else np.stack([layer_trace[k] for k in "xyz"], 1),
              [] if layer_trace is None else [esc(t) for t in layer_trace["text"]])]
    ranges, cam = camera
    eye, centre = tuple(cam["eye"].values()), tuple(cam["center"].values())
    texts, firsts, px, kind = [], [], [], []
    for k, (xyz, labels) in enumerate(kinds):  # labels of one kind at one spot on screen joined into one
        at = camera_pixels(xyz, ranges, eye=eye, center=centre)
        groups = merge_coincident(at)
        shown = [""] * len(labels)
        for g in groups:
            shown[g[0]] = joined(labels, g, span=k == 2)
        texts.append(shown)
        firsts.append([g[0] for g in groups])
        px.append(at[firsts[-1]].reshape(-1, 2))
        kind += [k] * len(groups)
    # the steps' labels first; a star's or a depth's left out where it would cover another (hovering names it)
    pos = iter(pick_text_positions(np.concatenate(px), [plain(texts[k][i]) for k, f in enumerate(firsts) for i in f],
                                   optional=[k > 0 for k in kind]))
    sides = [["top center"] * len(shown) for shown in texts]
    for k, first in enumerate(firsts):
        for i in first:
            side = next(pos)
            sides[k][i] = side or "top center"
            texts[k][i] = texts[k][i] if side else ""
    out = [_scatter(path, True, mode="text", text=texts[0], textposition=sides[0],
                    textfont=dict(color=ink, size=12), hoverinfo="skip", showlegend=False)]
    if len(stars):
        out.append(_scatter(stars, True, mode="text", hoverinfo="skip", textposition=sides[1], text=texts[1],
                            showlegend=False))
    if layer_trace is not None:
        layer_trace["text"], layer_trace["textposition"] = texts[2], sides[2]
    xyz = path[["x", "y", "z"]].to_numpy(np.float64)
    if len(xyz) < 2:
        return out
    d = np.diff(xyz, axis=0)
    span = max(hi - lo for lo, hi in ranges) or 1.0  # a cone 4 % of the box long ("raw": drawn at its length)
    unit = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12) * 0.04 * span
    tip = xyz[:-1] + 0.85 * d
    return out + [dict(type="cone", x=tip[:, 0], y=tip[:, 1], z=tip[:, 2], u=unit[:, 0], v=unit[:, 1],
                       w=unit[:, 2], anchor="tip", sizemode="raw", sizeref=1, showscale=False, hoverinfo="skip",
                       colorscale=[[0, ink], [1, ink]], name="direction", showlegend=False)]


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
        data.append(dict(type="scatter", x=labels, y=[1.06] * len(labels), mode="markers",
                         name="read (square above)", customdata=list(reads),
                         marker=dict(symbol="square", size=12, color=[colours.get(c, GRAMMAR_COLOUR) for c in reads]),
                         hovertemplate="%{x}<br>read: %{customdata}<extra></extra>"))
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



# Paul Tol's muted and light qualitative schemes: colour-blind safe, 18 colours for subgroups and other long lists.
MANY = ["#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499",
        "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#44BB99", "#BBCC33", "#AAAA00", "#DDDDDD"]
SYMBOLS = ["circle", "square", "diamond", "cross", "x"]  # the symbols 3D scatter plots can draw too


def subgroup_colours(pairs: list[tuple[str, str]], context_colours: dict[str, str],
                     step: float = 0.1) -> dict[tuple[str, str], str]:
    """A colour per (sub-context, subgroup): the sub-context's hue, each subgroup a shade of it, from darker to
    lighter around the sub-context's own colour (HLS lightness `step` apart, at most ± 0.22, kept within
    0.2-0.85), so a family reads as one and no two subgroups share a colour; the sub-context colours themselves
    stay the colour-blind-safe palette."""
    import colorsys

    out: dict[tuple[str, str], str] = {}
    for ctx in dict.fromkeys(c for c, _ in pairs):
        groups = list(dict.fromkeys(g for c, g in pairs if c == ctx))
        h, lum, sat = colorsys.rgb_to_hls(*(_rgb(context_colours.get(ctx, GRAMMAR_COLOUR)) / 255))
        spread = min(0.22, step * (len(groups) - 1) / 2)
        centre = float(np.clip(lum, 0.2 + spread, 0.85 - spread))  # the whole family inside the readable band
        offsets = np.linspace(-spread, spread, len(groups)) if len(groups) > 1 else [0.0]
        for g, off in zip(groups, offsets):
            r, gg, b = colorsys.hls_to_rgb(h, centre + off, sat)
            out[(ctx, g)] = "#{:02X}{:02X}{:02X}".format(*(round(v * 255) for v in (r, gg, b)))
    return out


# a subgroup's marker within its sub-context: the shade tells the family, the symbol the member (2D has more
# filled symbols; 3D scatter draws five filled ones, its open ones vanish in pale shades)
SUBGROUP_SYMBOLS = {False: ["circle", "square", "diamond", "triangle-up", "star", "cross", "x", "hexagon",
                            "pentagon", "triangle-down"],
                    True: SYMBOLS}


def subgroup_styles(pairs: list[tuple[str, str]], context_colours: dict[str, str], *,
                    three_d: bool = False) -> dict[tuple[str, str], tuple[str, str]]:
    """(colour, marker symbol) per (sub-context, subgroup): subgroup_colours' shade, and the i-th symbol for the
    family's i-th subgroup, so that members of one family differ in symbol as well as in shade."""
    shades, symbols = subgroup_colours(pairs, context_colours), SUBGROUP_SYMBOLS[three_d]
    rank = {k: i for ctx in dict.fromkeys(c for c, _ in shades)
            for i, k in enumerate(k for k in shades if k[0] == ctx)}
    return {k: (c, symbols[rank[k] % len(symbols)]) for k, c in shades.items()}


def category_styles(names: list[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker symbol) per category; past 18 categories the symbol changes, so none look alike."""
    return {n: (MANY[i % len(MANY)], SYMBOLS[(i // len(MANY)) % len(SYMBOLS)]) for i, n in enumerate(names)}


def _scatter(df: pd.DataFrame, three_d: bool, **kw) -> dict:
    """A scatter trace of df's x, y (and z) as Plotly.js JSON (nested keys, no shorthands). SVG in 2D: the maps
    draw at most frames.MAP_POINTS points, which SVG draws several times faster than WebGL sets itself up (where
    WebGL runs in software, as in many classroom machines and our CI browser)."""
    if three_d:
        return dict(type="scatter3d", x=df.x.to_numpy(), y=df.y.to_numpy(), z=df.z.to_numpy(), **kw)
    return dict(type="scatter", x=df.x.to_numpy(), y=df.y.to_numpy(), **kw)


def word_map(df: pd.DataFrame, colour_by: str, title: str, axis_label: str, *, highlight: list[str] | None = None,
             context_colours: dict[str, str] | None = None, axis_titles: tuple[str, str] | None = None,
             legend_title: str | None = None, subgroup_order: list[str] | None = None) -> go.Figure:
    """The word map: one labelled point per word, coloured by sub-context or subgroup (a family's members in
    `subgroup_order`, else as they come, each a shade and a symbol); highlighted words ringed. Axes are titled
    `axis_label` 1, 2 (3) unless `axis_titles` names them (custom axes, 2D)."""
    three_d = "z" in df
    family = {}
    if colour_by == "subgroup" and context_colours and "context" in df:  # shades of the sub-context's hue
        order = {c: i for i, c in enumerate(context_colours)}  # families in taxonomy order
        rank = {g: i for i, g in enumerate(subgroup_order or [])}
        df = df.assign(_key=list(zip(df["context"], df["subgroup"])), _order=df["context"].map(order).fillna(99),
                       _rank=df["subgroup"].map(rank).fillna(len(rank)))
        df = df.sort_values(["_order", "_rank"], kind="stable")
        styles = subgroup_styles(list(dict.fromkeys(df._key)), context_colours, three_d=three_d)
        family = {k: k[0] for k in styles}
        cats, col = list(styles), "_key"
    else:
        cats, col = list(dict.fromkeys(df[colour_by])), colour_by
        styles = ({c: (context_colours.get(c, GRAMMAR_COLOUR), "circle") for c in cats}
                  if colour_by == "context" and context_colours else category_styles(cats))
    fig = go.Figure()
    for cat in cats:
        part = df[df[col].apply(lambda v, c=cat: v == c)]
        colour, symbol = styles[cat]
        name = cat[1] if family else str(cat)
        sel = part.word.isin(highlight or [])
        fig.add_trace(_scatter(part, three_d, mode="markers+text", name=name, text=part.word,
                               textposition="top center",
                               textfont=dict(size=[13 if s else 10 for s in sel], color=["#000000" if s else "#444444"
                                                                                       for s in sel]),
                               marker=dict(size=6 if three_d else 8, color=colour, symbol=symbol,
                                           line=dict(width=0.5, color="#444")),
                               legendgroup=family.get(cat), legendgrouptitle=dict(text=family.get(cat)),
                               meta=DECLUTTER, hovertemplate="%{text}<extra>" + name + "</extra>"))
    if highlight:  # a ring below each selected word's point; its label above stays clear (bold, larger)
        part = df[df.word.isin(highlight)]
        fig.add_trace(_scatter(part, three_d, mode="markers", name="selected", hoverinfo="skip",
                               marker=dict(size=10 if three_d else 12, color="rgba(0,0,0,0)",
                                           line=dict(width=2, color="#000000"))))
    fig.update_layout(axes_layout(axis_label, three_d))
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


def axes_layout(label: str, three_d: bool) -> dict:
    """Axis titles `label` 1, 2 (3) as layout; in 3D the camera closer than Plotly's default: the cube fills the
    chart, axis titles still inside."""
    titles = {f"{a}axis": dict(title=dict(text=f"{label} {i + 1}")) for i, a in enumerate("xyz" if three_d else "xy")}
    if not three_d:
        return titles
    return dict(scene=dict(**titles, camera=dict(eye=dict(x=1.35, y=1.35, z=0.95), center=dict(x=0, y=0, z=-0.1)),
                           aspectmode="cube", domain=dict(x=[0, 1], y=[0, 1])))


def legend_swatches(fig: go.Figure, names: list[str], colours: dict[str, str], *, three_d: bool = False,
                    title: str = "sub-context") -> go.Figure:
    """Legend entries (no data) naming the colour of each sub-context, for figures whose colours are a surface."""
    for n in names:
        kw = dict(mode="markers", name=n, marker=dict(size=10, color=colours.get(n, GRAMMAR_COLOUR), symbol="square"),
                  hoverinfo="skip", showlegend=True)
        fig.add_trace(go.Scatter3d(x=[None], y=[None], z=[None], **kw) if three_d
                      else go.Scatter(x=[None], y=[None], **kw))
    fig.update_layout(legend_title_text=title, showlegend=True)
    return fig


def region_contours(regions, colours: dict[str, str], *, states: np.ndarray | None = None,
                    of: list[str] | None = None) -> tuple[list[dict], list[tuple[float, float, str]]]:
    """Outline each sub-context's region (its density at half its local peak, as polylines computed on the
    server) and say where its labels go: on its densest point, and on every other island of the region that holds
    one of `states` (xy (n, 2)) whose sub-context (`of`, one name per state) it is, so that a state's own region is
    named where the state lies. region_notes makes the labels, with the figure's other annotations.

    Returns the outlines' traces and the labels' anchors (x, y, text)."""
    shown = [g for g, ctx in enumerate(regions.contexts) if regions.counts[g] and ctx != FUNCTION_CONTEXT]
    anchors, outlines = [], []
    for g in shown:
        ctx, c = regions.contexts[g], colours.get(regions.contexts[g], GRAMMAR_COLOUR)
        xs, ys = regions.outline(g)
        outlines.append(dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color=c, width=2),
                             hoverinfo="skip", name=f"{ctx} region", showlegend=False))
        anchors.append((float(regions.centres[g, 0]), float(regions.centres[g, 1]), ctx))
        named = regions.island(g, regions.centres[g])
        for xy in [] if states is None or of is None else [p for p, name in zip(states, of) if name == ctx]:
            part = regions.island(g, xy)
            if part.any() and not (part & named).any():  # an island of its own: named at its densest cell
                row, col = np.unravel_index(np.where(part, regions.density[g], -1).argmax(), part.shape)
                anchors.append((float(regions.x[col]), float(regions.y[row]), ctx))
                named |= part
    return outlines, anchors


REGION_FONT_PX = 14  # bold
REGION_PAD_PX = 4  # the frame: border 2 px and padding 2 px on every side


def region_notes(anchors: list[tuple[float, float, str]], colours: dict[str, str], *, ink: str,
                 frame: tuple, markers: np.ndarray | None = None) -> tuple[list[dict], list]:
    """The region labels of region_contours' anchors as annotations (named "region": dashboard/chart.js moves one
    that the browser finds over another label), each on a halo of the theme's background with its region's
    colour as border, so no point or line shows through its text; placed on its anchor where free of the labels
    placed before it and of `markers` (pixels), in a plot area `frame` = (x range, y range, width, height px).
    Returns the annotations and their pixel boxes."""
    from dashboard.labels import place_centred, text_box, to_pixels

    xr, yr, w, h = frame
    xy = np.array([(x, y) for x, y, _ in anchors], np.float64).reshape(-1, 2)
    px = to_pixels(xy, xr, yr, width=w, height=h)
    texts = [ctx for _, _, ctx in anchors]
    shifts = place_centred(px, texts, font_px=REGION_FONT_PX + 1, pad=REGION_PAD_PX, bounds=(0, 0, w, h),
                           markers=markers)
    notes = [dict(x=x, y=y, xshift=round(dx, 1), yshift=round(dy, 1), text=f"<b>{esc(ctx)}</b>", showarrow=False,
                  name="region", bgcolor=halo(ink, 0.9), bordercolor=colours.get(ctx, GRAMMAR_COLOUR), borderwidth=2,
                  borderpad=2, font=dict(color=ink, size=REGION_FONT_PX))
             for (x, y, ctx), (dx, dy) in zip(anchors, shifts)]
    boxes = [text_box(px_ + dx, py + dy, ctx, REGION_FONT_PX + 1, REGION_PAD_PX) for (px_, py), ctx, (dx, dy) in
             zip(px, texts, shifts)]
    return notes, boxes


def lens_heatmap(words: list[list[str]], contexts: list[list[str]], probs: list[list[float]], *,
                 layer_names: list[str], step_labels: list[str], colours: dict[str, str]) -> go.Figure:
    """Logit lens: for each depth (rows) and step (columns) the top word, coloured by its sub-context."""
    names = list(colours)
    z = [[names.index(c) for c in row] for row in contexts]
    scale = discrete_scale(names, colours)
    text = [[f"{w}<br>{p:.2f}" for w, p in zip(rw, rp)] for rw, rp in zip(words, probs)]
    heat = dict(type="heatmap", z=z, x=list(step_labels), y=list(layer_names), text=text, texttemplate="%{text}",
                colorscale=scale, zmin=-0.5, zmax=len(names) - 0.5, showscale=False,
                hovertemplate="%{y}, %{x}: %{text}<extra></extra>")
    title = wrap_title("Logit lens: the top next word read out at each layer (colour: its sub-context)")
    return figure([heat], dict(title=dict(text=title), xaxis=dict(title=dict(text="step: word read")),
                               yaxis=dict(title=dict(text="layer")), height=100 + 48 * len(layer_names),
                               margin=dict(t=70)))


BLUES = make_colorscale(sequential.Blues)  # plotly.py's 'Blues' (Plotly.js has its own scale of that name)


def attention_heatmaps(att, key_words: list[str], title: str) -> go.Figure:
    """Attention of the newest word over the words it can see: one row per (layer, head)."""
    L, H, W = att.shape
    z = att.reshape(L * H, W)
    rows = [f"layer {i + 1} head {h + 1}" for i in range(L) for h in range(H)]
    heat = dict(type="heatmap", z=z, x=[f"{j + 1}: {w}" for j, w in enumerate(key_words)], y=rows,
                colorscale=BLUES, zmin=0, zmax=1, colorbar=dict(title=dict(text="weight")),
                hovertemplate="%{y} → %{x}: %{z:.2f}<extra></extra>")
    return figure([heat], dict(title=dict(text=wrap_title(title)), xaxis=dict(title=dict(text="word attended to")),
                               yaxis=dict(title=dict(text="layer and head"), autorange="reversed"),
                               height=140 + 22 * L * H, margin=dict(t=70)))


def terrain_figure(regions, colours: dict[str, str], path: pd.DataFrame | None = None, *, ink: str = "#111111",
                   axis_label: str = "PC") -> go.Figure:
    """Where states gather as hills and plains (the log-compressed density of all states), coloured by the
    sub-context holding most states there, with the prompt's path on the surface (labelled as on Trajectory,
    arrows pointing along it) and the peaks' labels lifted or moved aside where they would cover the path's labels
    or each other (left out where no place is free)."""
    names = regions.contexts
    dom = regions.dominant.astype(float)
    none = dom < 0
    dom[none] = names.index(FUNCTION_CONTEXT) if FUNCTION_CONTEXT in names else 0
    where = np.where(none, "no states", np.asarray(names, object)[dom.astype(int)])
    fig = go.Figure(go.Surface(x=regions.x, y=regions.y, z=regions.height, surfacecolor=dom,
                               colorscale=discrete_scale(names, colours), cmin=-0.5, cmax=len(names) - 0.5,
                               showscale=False, opacity=0.95, customdata=where, name="terrain",
                               hovertemplate="%{customdata}: height %{z:.2f}<extra></extra>"))
    shown = [g for g in range(len(names)) if regions.counts[g]]
    peaks = regions.centres[shown]
    scene = _terrain_scene(regions, path, axis_label)
    project = terrain_projection(scene)
    steps = _terrain_labels(path, regions.lift, project) if path is not None and len(path) else None
    placed, _ = peak_label_heights(peaks, regions.lift(peaks), [names[g] for g in shown], project=project,
                                   obstacles=steps[2] if steps else [])
    for g, (zg, side) in ((g, p) for g, p in zip(shown, placed) if p is not None):
        fig.add_trace(go.Scatter3d(x=[regions.centres[g, 0]] * 2, y=[regions.centres[g, 1]] * 2,
                                   z=[float(regions.lift(regions.centres[g:g + 1])[0]), zg], mode="lines+text",
                                   text=["", f"<b>{names[g]}</b>"], textposition=side,
                                   line=dict(color=colours.get(names[g]), width=2),
                                   textfont=dict(color=colours.get(names[g]), size=14), showlegend=False,
                                   hoverinfo="skip"))
    if steps:
        _terrain_path(fig, path, ink, regions.lift, labels=steps[:2])
    legend_swatches(fig, [names[g] for g in shown], colours, three_d=True, title="sub-context with most states here")
    styled(fig, title="Terrain: hills where the model's states gather, plains where few do", scene=scene, height=680,
                legend=dict(orientation="h", y=0, yanchor="top"))
    return fig


TERRAIN_EYE = (0.9, -1.5, 1.25)  # the terrain's default camera
TERRAIN_TOP = 1.75  # the highest a peak's label goes (the scene's z axis ends at 1.8)


def terrain_projection(scene: dict, height_px: float = 560):
    """Where points (n, 3) of the terrain's scene (`_terrain_scene`) appear from its default camera, in pixels
    (labels.camera_pixels; the scene about `height_px` tall in a 680 px chart with its legend below)."""
    from dashboard.labels import camera_pixels

    ranges = [scene[f"{a}axis"]["range"] for a in "xyz"]
    cam = scene["camera"]
    return lambda xyz: camera_pixels(xyz, ranges, eye=tuple(cam["eye"].values()), center=tuple(cam["center"].values()),
                                     height_px=height_px, aspect=tuple(scene["aspectratio"].values()))


PEAK_SIDES = {"middle center": 0, "middle right": 1, "middle left": -1}  # a peak label's side of its pole's top


def peak_label_heights(points: np.ndarray, peaks: np.ndarray, texts: list[str], *, project, step: float = 0.02,
                       font_px: int = 14, obstacles: list = ()) -> tuple[list[tuple[float, str] | None], list]:
    """Height and side (PEAK_SIDES) of each peak's label (`texts`, at (x, y) `points`, over hills `peaks` high): the
    lowest, from just above its peak up to TERRAIN_TOP in `step`s, centred on its pole or beside it, where seen
    from the default camera (`project`: terrain_projection) its box covers no label placed before it and no box of
    `obstacles` (the path's labels, which have less room to move), labels one behind the other from the camera
    included; None where there is none (the legend and the surface's hover name that sub-context). Returns them
    and the placed labels' boxes on screen."""
    from dashboard.labels import overlap, text_box

    placed: list = list(obstacles)
    out = []
    for (x, y), top, text in zip(np.asarray(points, float), np.asarray(peaks, float), texts):
        heights = np.arange(float(top) + 0.1, max(TERRAIN_TOP, float(top) + 0.1) + 1e-9, step)
        pixels = project(np.column_stack([np.full(len(heights), x), np.full(len(heights), y), heights]))
        half = text_box(0, 0, text, font_px)[2] + 4
        options = [(z, side, text_box(px + u * half, py, text, font_px))
                   for z, (px, py) in zip(heights, pixels) for side, u in PEAK_SIDES.items()]
        k = next((i for i, (_, _, box) in enumerate(options) if not any(overlap(box, b) for b in placed)), None)
        if k is not None:
            placed.append(options[k][2])
        out.append(None if k is None else (round(float(options[k][0]), 4), options[k][1]))
    return out, placed[len(obstacles):]


def _terrain_labels(path: pd.DataFrame, lift, project) -> tuple[list[str], list[str], list]:
    """The path's labels on the terrain (as on Trajectory; labels of steps at one spot joined): each on the side
    above its point (in WebGL the ground nearer the camera, drawn below a point, would hide a label there) that
    covers no label before it from the default camera (`project`: terrain_projection). Returns each point's text
    and textposition, and the labels' boxes on screen."""
    from dashboard.labels import TEXT_POSITIONS, joined, merge_coincident, pick_text_positions, plain, text_box

    xy = path[["x", "y"]].to_numpy(np.float64)
    px = project(np.column_stack([xy, lift(xy) + 0.02]))
    labels, groups = path_labels(path), merge_coincident(px)
    texts, sides, boxes = [""] * len(xy), ["top center"] * len(xy), []
    picked = pick_text_positions(px[[g[0] for g in groups]], [plain(joined(labels, g)) for g in groups],
                                 sides=("top center", "top right", "top left"))
    for g, side in zip(groups, picked):
        texts[g[0]], sides[g[0]], text = joined(labels, g), side, plain(joined(labels, g))
        (x, y), (ux, uy) = px[g[0]], TEXT_POSITIONS[side]
        w, h = (2 * v for v in text_box(0, 0, text)[2:])
        boxes.append(text_box(x + ux * (w / 2 + 6), y + uy * (h / 2 + 6), text))
    return texts, sides, boxes


def _terrain_path(fig: go.Figure, path: pd.DataFrame, ink: str, lift, *, labels: tuple[list[str], list[str]]) -> None:
    """The path along the surface (each segment follows the ground between its two states), its points labelled
    (`labels`: texts and textpositions from _terrain_labels), and a cone in the middle of each segment pointing the
    way it goes."""
    xy = path[["x", "y"]].to_numpy(np.float64)
    t = np.linspace(0, 1, 16)[:-1, None]
    ground = np.concatenate([xy[i] + t * (xy[i + 1] - xy[i]) for i in range(len(xy) - 1)] + [xy[-1:]])
    gz = lift(ground) + 0.02
    fig.add_trace(go.Scatter3d(x=ground[:, 0], y=ground[:, 1], z=gz, mode="lines", line=dict(color=ink, width=6),
                               hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter3d(x=xy[:, 0], y=xy[:, 1], z=lift(xy) + 0.02, mode="markers+text", text=labels[0],
                               textposition=labels[1], marker=dict(size=5, color=ink),
                               textfont=dict(color=ink, size=12), name="this prompt",
                               customdata=np.stack([np.arange(1, len(path) + 1), path.word, path.next_word], 1),
                               hovertemplate="%{customdata[0]}. after '%{customdata[1]}' comes "
                               "'%{customdata[2]}'<extra></extra>"))
    if len(xy) > 1:
        mid = ground[7::15][: len(xy) - 1]  # the middle sample of each segment
        d = ground[8::15][: len(xy) - 1] - ground[6::15][: len(xy) - 1]
        d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        fig.add_trace(go.Cone(x=mid[:, 0], y=mid[:, 1], z=lift(mid) + 0.02, u=d[:, 0], v=d[:, 1],
                              w=np.zeros(len(d)), sizemode="absolute", sizeref=0.03 * float(np.ptp(xy[:, 0]) or 1),
                              anchor="center", showscale=False, colorscale=[[0, ink], [1, ink]], hoverinfo="skip",
                              name="direction"))


def _terrain_scene(regions, path: pd.DataFrame | None, axis_label: str) -> dict:
    """Axes that hold the whole surface and the whole path, seen from high enough that hills hide no step."""
    xs, ys = [regions.x.min(), regions.x.max()], [regions.y.min(), regions.y.max()]
    if path is not None and len(path):
        xs += [path.x.min(), path.x.max()]
        ys += [path.y.min(), path.y.max()]
    return dict(xaxis=dict(title=f"{axis_label} 1", range=[min(xs), max(xs)]),
                yaxis=dict(title=f"{axis_label} 2", range=[min(ys), max(ys)]),
                zaxis=dict(title="height: log of how many states", range=[0, TERRAIN_TOP + 0.05]),
                aspectmode="manual", aspectratio=dict(x=1.3, y=1.3, z=0.55),
                camera=dict(eye=dict(zip("xyz", TERRAIN_EYE)), center=dict(x=0, y=0, z=-0.15)))


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], np.float64)


def decision_figure(d, vocab: list[str], colours: dict[str, str], path: pd.DataFrame | None = None, *,
                    ink: str = "#111111", function_context: str = FUNCTION_CONTEXT,
                    axis_label: str = "PC") -> go.Figure:
    """Decision landscape: at each point of the plane the content sub-context the model gives most next-word
    probability, its colour pale where that sub-context's probability is small and full where it is large; a
    dashed line encloses where function words (`function_context`) hold more than half of the probability."""
    names = d.context_names
    content = [g for g, n in enumerate(names) if n != function_context]
    probs = d.context_probs[..., content]
    best, mass = probs.argmax(-1), probs.max(-1)
    rgb = np.stack([_rgb(colours.get(names[g], GRAMMAR_COLOUR)) for g in content])[best]
    shade = (255 - (255 - rgb) * np.clip(mass, 0, 1)[..., None]).astype(np.uint8)
    text = [[f"{names[content[b]]} {m:.2f}; top word {vocab[i]} {p:.2f}" for b, m, i, p in zip(rb, rm, ri, rp)]
            for rb, rm, ri, rp in zip(best, mass, d.top_ids, d.top_probs)]
    dx, dy = float(d.x[1] - d.x[0]), float(d.y[1] - d.y[0])
    fig = go.Figure(go.Image(z=shade, x0=float(d.x[0]), dx=dx, y0=float(d.y[0]), dy=dy, hovertext=text,
                             hovertemplate="%{hovertext}<extra></extra>", name="decision"))
    if function_context in names:
        g = names.index(function_context)
        fig.add_trace(go.Contour(x=d.x, y=d.y, z=d.context_probs[..., g], showscale=False, hoverinfo="skip",
                                 contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                 line=dict(color="#555555", width=2, dash="dash"), showlegend=True,
                                 name=f"inside: {function_context} above 0.5"))
    if path is not None and len(path):
        fig.add_trace(go.Scatter(x=path.x, y=path.y, mode="lines+markers+text", text=path_labels(path),
                                 textposition="top center", line=dict(color=ink, width=2),
                                 textfont=dict(color=ink, size=13), marker=dict(color=ink, size=9),
                                 name="this prompt"))
    legend_swatches(fig, [names[content[g]] for g in sorted(set(best.ravel().tolist()))], colours,
                    title="content sub-context of the next word (pale: little probability)")
    title = wrap_title(f"Decision landscape at '{d.layer}': which content the model would predict next (a slice "
                       f"showing {d.explained_variance:.0%} of the variance)", 60)  # 470 px wide at 800 px
    styled(fig, title=title, margin=dict(t=36 + 22 * (title.count("<br>") + 1)),
                xaxis=dict(title=f"{axis_label} 1", range=[float(d.x[0]) - dx / 2, float(d.x[-1]) + dx / 2]),
                yaxis=dict(title=f"{axis_label} 2", range=[float(d.y[0]) - dy / 2, float(d.y[-1]) + dy / 2],
                           autorange=False),
                height=560, legend=dict(orientation="h", y=-0.15))
    return fig


def next_regions_figure(r, path: pd.DataFrame, colours: dict[str, str], *, title: str, ink: str = "#222222",
                        font_px: int = 12, width_px: int = 1000, height: int = 620) -> go.Figure:
    """What real states predict next (llmcore.landscape.NextWordRegions): each cell in the colour of the
    sub-context most of its nearest reference states predict (fainter where fewer of them agree, blank where no
    state is near), each region named, and the prompt's path (`frames.trajectory_frame` placed with r.place), each
    step filled with the colour of its own prediction: where fill and ground differ, the picture would be wrong."""
    from dashboard.labels import place_labels, text_box, to_pixels

    names, shown = r.contexts, r.label >= 0
    rgba = np.zeros(r.label.shape + (4,))
    rgba[shown, :3] = np.stack([_rgb(colours.get(n, GRAMMAR_COLOUR)) for n in names])[r.label[shown]]
    rgba[..., 3] = np.where(shown, 0.2 + 0.55 * r.share, 0.0).round(2)
    dx, dy = float(r.x[1] - r.x[0]), float(r.y[1] - r.y[0])
    xr, yr = (float(r.x[0]) - dx / 2, float(r.x[-1]) + dx / 2), (float(r.y[0]) - dy / 2, float(r.y[-1]) + dy / 2)
    data = [dict(type="image", z=rgba.tolist(), colormodel="rgba", x0=float(r.x[0]), dx=dx, y0=float(r.y[0]),
                 dy=dy, hoverinfo="skip", name="what real states predict")]
    w, h = width_px - 80, height - 150  # the plot area without margins and the legend below
    present = [g for g in range(len(names)) if (r.label == g).any()]
    spots = [_region_spot(r, g) for g in present]
    boxes = [text_box(px_, py_, names[g], font_px + 2) for g, (px_, py_) in
             zip(present, to_pixels(np.array(spots).reshape(-1, 2), xr, yr, width=w, height=h))]
    notes = [dict(x=x, y=y, text=f"<b>{esc(names[g])}</b>", showarrow=False, bgcolor=halo(ink), borderwidth=2,
                  bordercolor=colours.get(names[g], GRAMMAR_COLOUR), font=dict(size=font_px + 2, color=ink))
             for g, (x, y) in zip(present, spots)]
    if len(path):
        xy = path[["x", "y"]].to_numpy(np.float64)
        texts = [f"{s} {w_}" for s, w_ in zip(path.step, path.word)]
        shifts = place_labels(to_pixels(xy, xr, yr, width=w, height=h), texts, boxes, bounds=(0, 0, w, h),
                              font_px=font_px)
        notes += [dict(x=float(x), y=float(y), xshift=float(sx), yshift=float(sy), showarrow=False, bgcolor=halo(ink),
                       text=f"<b>{s}</b> {esc(w_)}", font=dict(size=font_px, color=ink))
                  for (x, y), (sx, sy), s, w_ in zip(xy, shifts, path.step, path.word)]
        data.append(dict(type="scatter", x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name="this prompt (fill: "
                         "what the state itself predicts)", line=dict(color=ink, width=2),
                         marker=dict(size=15, color=[colours.get(c, GRAMMAR_COLOUR) for c in path.next],
                                     line=dict(width=2, color=ink)),
                         customdata=np.stack([path.step, path.word, path.next, path.next_mass.round(2)], 1),
                         hovertemplate="step %{customdata[0]}: after '%{customdata[1]}' the model predicts "
                         "%{customdata[2]} next (%{customdata[3]})<extra></extra>"))
    data += [dict(type="scatter", x=[None], y=[None], mode="markers", name=names[g], hoverinfo="skip",
                  marker=dict(size=12, symbol="square", color=colours.get(names[g], GRAMMAR_COLOUR)))
             for g in present]
    axis = "discriminant axis {} (separates what the states predict)"
    return figure(data, dict(
        title=dict(text=wrap_title(title, 60)), height=height, annotations=notes, margin=dict(t=60),
        xaxis=dict(title=dict(text=axis.format(1)), range=list(xr), showgrid=False, zeroline=False),
        yaxis=dict(title=dict(text=axis.format(2)), range=list(yr), showgrid=False, zeroline=False),
        legend=dict(title=dict(text="colour: the sub-context real states there predict next (fainter: fewer agree)"),
                    **LEGEND_BELOW["legend"])))


def _region_spot(r, g: int) -> tuple[float, float]:
    """Where region g is named: its cell nearest the middle (median) of all its cells, so the name sits on it."""
    rows, cols = np.nonzero(r.label == g)
    xs, ys = r.x[cols], r.y[rows]
    i = int(np.argmin((xs - np.median(xs)) ** 2 + (ys - np.median(ys)) ** 2))
    return float(xs[i]), float(ys[i])


def presenter_figure(fig: go.Figure, px: int = 16) -> go.Figure:
    """The figure for a projector: every text (ticks, axis titles, legend, labels, annotations) at least `px`
    pixels, and no title (the scene's heading and takeaway stand above the chart)."""
    d = fig.to_plotly_json()
    layout = d["layout"]
    layout["font"] = _bigger(layout.get("font"), px)
    layout["title"] = dict(text="")
    layout["margin"] = {**layout.get("margin", {}), "t": 16}
    for key, axis in list(layout.items()):
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            layout[key] = _bigger_axis(axis, px)
    if isinstance(layout.get("scene"), dict):
        for k in ("xaxis", "yaxis", "zaxis"):
            layout["scene"][k] = _bigger_axis(layout["scene"].get(k) or {}, px)
    legend = {**(layout.get("legend") or {}), "orientation": "v", "x": 1.02, "xanchor": "left", "y": 1,
              "yanchor": "top"}  # at the right: a wide screen has room there, and the chart keeps its height
    legend["font"] = _bigger(legend.get("font"), px)
    legend["title"] = {**_titled(legend.get("title")), "font": _bigger(_titled(legend.get("title")).get("font"), px)}
    layout["legend"] = legend
    layout["hoverlabel"] = {**(layout.get("hoverlabel") or {}), "font": _bigger(None, px)}
    layout["annotations"] = [{**a, "font": _bigger(a.get("font"), px)} for a in layout.get("annotations") or []]
    for t in d["data"]:
        t["textfont"] = _bigger(t.get("textfont"), px)
        if "legendgrouptitle" in t:
            t["legendgrouptitle"] = {**_titled(t["legendgrouptitle"]),
                                     "font": _bigger(_titled(t["legendgrouptitle"]).get("font"), px)}
    return go.Figure(d, _validate=False)


def _titled(title) -> dict:
    """A title as Plotly's nested form ({'text': …}), from a string or a dict."""
    return dict(title) if isinstance(title, dict) else ({"text": title} if title else {})


def _bigger(font: dict | None, px: int) -> dict:
    """A font dict whose size (one number or one per point) is at least px."""
    font = dict(font or {})
    size = font.get("size")
    if isinstance(size, (list, tuple, np.ndarray)):
        font["size"] = [max(px, float(s)) for s in size]
    else:
        font["size"] = max(px, float(size or 0))
    return font


def _bigger_axis(axis: dict, px: int) -> dict:
    title = _titled(axis.get("title"))
    return {**axis, "tickfont": _bigger(axis.get("tickfont"), px), "title": {**title, "font": _bigger(title.get(
        "font"), px)}}


def loss_levels(loss: np.ndarray) -> tuple[np.ndarray, float, list[float]]:
    """Loss mapped to log(loss − min + δ), δ 1 % of the range, so contour levels crowd near the minimum where the
    training path descends; returns the mapped grid, δ, and round loss values to mark on the colour bar."""
    lo, hi = float(np.min(loss)), float(np.max(loss))
    delta = max(0.01 * (hi - lo), 1e-6)
    ticks = sorted({round(float(v), 2) for v in lo + (hi - lo) * np.array([0, 0.005, 0.02, 0.05, 0.15, 0.4, 1])})
    return np.log(np.asarray(loss, np.float64) - lo + delta), delta, ticks


def loss_figure(land, three_d: bool = False, every: int = 0) -> go.Figure:
    """Loss landscape as contours (or a 3D surface) with log-spaced levels, and the training path where there is
    one: start and end marked, every `every`-th snapshot labelled with its step (0: about five labels)."""
    z, delta, ticks = loss_levels(land.loss)
    lo = float(np.min(land.loss))
    tickvals = [float(np.log(t - lo + delta)) for t in ticks]
    bar = dict(title="loss", tickvals=tickvals, ticktext=[f"{t:.2f}" for t in ticks])
    custom = np.asarray(land.loss, np.float64)
    hover = "x %{x:.2f}, y %{y:.2f}: loss %{customdata:.3f}<extra></extra>"
    if three_d:
        fig = go.Figure(go.Surface(x=land.alphas, y=land.betas, z=z, colorscale="Viridis", colorbar=bar,
                                   customdata=custom, hovertemplate=hover, cmin=min(tickvals), cmax=max(tickvals),
                                   contours=dict(z=dict(show=True, usecolormap=True, project=dict(z=True)))))
    else:
        fig = go.Figure(go.Contour(x=land.alphas, y=land.betas, z=z, colorscale="Viridis", colorbar=bar, ncontours=24,
                                   customdata=custom, hovertemplate=hover))
    if len(land.path):
        _loss_path(fig, land, lo, delta, three_d=three_d, every=every)
    kind = ("random directions" if land.kind == "random" else
            f"the training path's plane ({land.explained[0]:.0%} + {land.explained[1]:.0%})")
    axes = (("direction 1 (×weights)", "direction 2 (×weights)") if land.kind == "random" else
            ("path direction 1 (weight units)", "path direction 2 (weight units)"))
    title = wrap_title(f"Loss on {kind}", 30)  # two charts side by side: 230 px wide each at 800 px
    styled(fig, title=title, height=560, margin=dict(t=36 + 22 * (title.count("<br>") + 1)),
           legend=dict(orientation="h", y=-0.15))
    if three_d:
        fig.update_layout(scene=dict(xaxis_title=axes[0], yaxis_title=axes[1], zaxis=dict(
            title="loss", tickvals=tickvals, ticktext=[f"{t:.2f}" for t in ticks])))
    else:
        fig.update_layout(xaxis_title=axes[0], yaxis_title=axes[1])
    return fig


def _loss_path(fig: go.Figure, land, lo: float, delta: float, *, three_d: bool, every: int) -> None:
    """The snapshots on the plane: a white line, a start and an end marker, every N-th labelled by its step."""
    n = len(land.path)
    every = every or max(1, round(n / 5))
    label = [f"step {s}" if i % every == 0 and 0 < i < n - every / 2 else "" for i, s in enumerate(land.path_steps)]
    text = [f"step {s}: loss {v:.3f}" for s, v in zip(land.path_steps, land.path_loss)]
    zp = np.log(np.asarray(land.path_loss, np.float64) - lo + delta) + (0.05 if three_d else 0)

    def pts(idx, **kw):
        x, y = land.path[idx, 0], land.path[idx, 1]
        return go.Scatter3d(x=x, y=y, z=zp[idx], **kw) if three_d else go.Scatter(x=x, y=y, **kw)

    every_idx = np.arange(n)
    fig.add_trace(pts(every_idx, mode="lines+markers+text", text=label, textposition="top right",
                      textfont=dict(color="#FFFFFF" if not three_d else "#222222"),
                      marker=dict(color="#FFFFFF", size=5, line=dict(color="#000000", width=1)),
                      line=dict(color="#FFFFFF", width=3), name="training path", customdata=text,
                      hovertemplate="%{customdata}<extra></extra>"))
    fig.add_trace(pts([0], mode="markers", name=f"start (step {land.path_steps[0]}, loss {land.path_loss[0]:.2f})",
                      marker=dict(color="#E69F00", size=14 if not three_d else 7, symbol="diamond",
                                  line=dict(color="#000000", width=1))))
    fig.add_trace(pts([n - 1], mode="markers", name=f"end: the trained model (loss {land.path_loss[-1]:.2f})",
                      marker=dict(color="#D55E00", size=16 if not three_d else 8,
                                  symbol="x" if three_d else "star", line=dict(color="#000000", width=1))))


# ---------------------------------------------------------------- Causes page
def causal_heatmaps(ct, selected: tuple[int, int, int] | None = None) -> go.Figure:
    """Depth × position restored share, one panel per kind (residual stream, attention output, MLP output), as in
    Meng et al. 2022, figure 1; the selected (kind, depth, position) cell outlined."""
    from plotly.subplots import make_subplots

    from llmcore.interventions import KIND_NAMES, KINDS

    fig = make_subplots(rows=1, cols=3, subplot_titles=[KIND_NAMES[k].split()[0] for k in KINDS], shared_yaxes=True,
                        horizontal_spacing=0.04)
    xs = [f"{i + 1}: {w}" for i, w in enumerate(ct.words)]
    for k in range(len(KINDS)):
        z = ct.restored[k]
        fig.add_trace(go.Heatmap(z=z, x=xs, y=ct.depth_names, zmin=0, zmax=1, colorscale="Purples",
                                 showscale=k == 2, colorbar=dict(title="restored", tickformat=".0%"),
                                 customdata=ct.restored_prob[k], name=KINDS[k],
                                 hovertemplate="%{y}, %{x}: restores %{z:.0%} (p = %{customdata:.3f})"
                                 "<extra>" + KIND_NAMES[KINDS[k]] + "</extra>"), row=1, col=k + 1)
        # transparent markers over the cells: Streamlit reports clicks on points, not on heatmap cells
        rows = np.arange(0 if k == 0 else 1, len(ct.depth_names))
        dd, tt = np.meshgrid(rows, np.arange(len(xs)), indexing="ij")
        fig.add_trace(go.Scatter(x=[xs[t] for t in tt.ravel()], y=[ct.depth_names[d] for d in dd.ravel()],
                                 mode="markers", showlegend=False, hovertemplate="%{text}<extra></extra>",
                                 text=[f"{ct.depth_names[d]}, {xs[t]}: restores {z[d, t]:.0%} "
                                       f"(p = {ct.restored_prob[k, d, t]:.3f}); click to draw it"
                                       for d, t in zip(dd.ravel(), tt.ravel())],
                                 customdata=np.stack([np.full(dd.size, k), dd.ravel(), tt.ravel()], 1),
                                 marker=dict(size=30, symbol="square", color="rgba(0,0,0,0)")), row=1, col=k + 1)
    if selected is not None:
        k, d, t = selected
        fig.add_shape(type="rect", x0=t - 0.5, x1=t + 0.5, y0=d - 0.5, y1=d + 0.5, line=dict(color="#D55E00", width=3),
                      row=1, col=k + 1)
    fig.update_yaxes(autorange="reversed", title_text="depth", row=1, col=1)
    fig.update_xaxes(title_text="position", tickangle=-60, tickmode="array", tickvals=xs, ticktext=xs,
                     tickfont=dict(size=10))  # every word: Plotly skips some where the panels are narrow
    title = "Share brought back by one clean state" + ("" if ct.measurable else ": meaningless here")
    styled(fig, height=340, margin=dict(t=40), title=dict(text=title, y=0.99))
    return fig


def region_fill(fig: go.Figure, regions, colours: dict[str, str],
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


def _repeated_labels(paths: pd.DataFrame, runs: list, extent: np.ndarray) -> dict:
    """Per run after the first, which of its labels repeat the first run's (the same word at the same step, within
    1 % of the map): only the words where a run has gone elsewhere are written twice."""
    first = paths[paths.run == runs[0]][["word", "x", "y"]].to_numpy()
    out = {}
    for run in runs[1:]:
        part = paths[paths.run == run][["word", "x", "y"]].to_numpy()
        out[run] = [i < len(first) and part[i, 0] == first[i, 0] and
                    bool((np.abs(part[i, 1:].astype(float) - first[i, 1:].astype(float)) <= 0.01 * extent).all())
                    for i in range(len(part))]
    return out


def causes_map(regions, paths: pd.DataFrame, colours: dict[str, str], title: str, *, axis_label: str,
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
    repeated = _repeated_labels(paths, runs, np.array([r[1] - r[0] for r in ranges]))
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


def place_probs_chart(names: list[str], probs: np.ndarray, colours: dict[str, str], title: str) -> go.Figure:
    """Next-word probability per sub-context at one generation step, one bar each, on a fixed 0-1 axis."""
    fig = go.Figure(go.Bar(x=list(names), y=probs.astype(float), marker_color=[colours.get(n) for n in names],
                           text=[f"{p:.2f}" for p in probs], textposition="outside",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    styled(fig, title=title, xaxis_title="sub-context of the next word", yaxis_title="probability",
                yaxis_range=[0, 1.1], height=380)
    return fig


def snapshot_curves(df: pd.DataFrame, step: int, generalised_at: int | None) -> go.Figure:
    """The snapshot measures over training, with a marker line at the slider's step and one where
    generalisation appears."""
    fig = go.Figure()
    for i, (name, part) in enumerate(df.groupby("measure", sort=False)):
        sep = "separability" in name
        short = name.split(", ", 1)[-1] if sep else wrap_title(name, 26)  # the depth: the group names the measure
        fig.add_trace(go.Scatter(x=part.step, y=part.value, name=short, mode="lines+markers",
                                 legendgroup="separability" if sep else "measures",
                                 legendgrouptitle_text=name.split(", ", 1)[0] if sep else None, **series_style(i),
                                 hovertemplate="step %{x}: %{y:.3f}<extra>" + name + "</extra>"))
    fig.add_vline(x=step, line=dict(color="#7F7F7F", width=2), annotation_text=f"step {step}",  # both themes
                  annotation_position="top left")
    if generalised_at is not None:
        fig.add_vline(x=generalised_at, line=dict(color="#009E73", width=1, dash="dash"),
                      annotation_text=f"generalises at {generalised_at}", annotation_position="bottom right")
    styled(fig, title="Measures at every snapshot", xaxis_title="training step", yaxis_title="share",
                yaxis_range=[0, 1.05], legend=dict(orientation="h", y=-0.25), height=600)
    return fig


def component_bars(frame: pd.DataFrame, target: str) -> go.Figure:
    """Direct logit attribution of the largest components, as horizontal bars."""
    colours = ["#0072B2" if v >= 0 else "#D55E00" for v in frame["logit"]]
    fig = go.Figure(go.Bar(x=frame["logit"], y=frame["component"], orientation="h", marker_color=colours,
                           hovertemplate="%{y}: %{x:+.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    styled(fig, title=f"Direct logit attribution to {target}", height=380,
                xaxis_title="logit contribution (through the final norm, linearised)")
    return fig


def counterfactual_heatmap(grid, found: tuple[str, str] | None = None) -> go.Figure:
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


def _found_cell(fig: go.Figure, grid, animal: str, food: str) -> None:
    """The found cell's row and column outlined, the cell itself thicker, and its place written beside it."""
    i, j = grid.animals.index(animal), grid.foods.index(food)
    A, F = len(grid.animals), len(grid.foods)
    for x0, x1, y0, y1, width in ((-0.5, A - 0.5, j - 0.5, j + 0.5, 1), (i - 0.5, i + 0.5, -0.5, F - 0.5, 1),
                                  (i - 0.5, i + 0.5, j - 0.5, j + 0.5, 3)):
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color="#000000", width=width))
    fig.add_annotation(x=i, y=j, text=f"<b>{esc(animal)} × {esc(food)} → {esc(grid.top_place[i, j])}</b>",
                       showarrow=True, arrowhead=2, ax=70 if i < A / 2 else -70, ay=-30 if j > 2 else 30,
                       bgcolor="#FFFFFF", bordercolor="#000000", font=dict(color="#000000", size=12))


def loss_figure_at(land, xy: tuple[float, float], step: int) -> go.Figure:
    """The loss landscape with its training path and a marker where the path is at `step`."""
    fig = loss_figure(land)
    fig.add_trace(go.Scatter(x=[xy[0]], y=[xy[1]], mode="markers+text", name=f"step {step}",
                             text=[f"step {step}"], textposition="top center", textfont=dict(color="#fff"),
                             marker=dict(symbol="star", size=18, color="#D55E00", line=dict(color="#fff", width=1))))
    fig.update_layout(legend=dict(orientation="h", y=-0.18))  # clear of the colour bar
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
                  colours: dict[str, str], axis_label: str = "PC") -> go.Figure:
    """Embedding replay: coords (T, V, 2) of every word at each of the T snapshots taken at `steps`, one frame per
    snapshot, a slider and play/pause; the axes hold every frame."""
    keep = [i for i, w in enumerate(words) if w != UNK]

    def traces(t: int) -> list[go.Scatter]:
        out = []
        for ctx in colours:
            idx = [i for i in keep if contexts[i] == ctx]
            out.append(go.Scatter(x=coords[t, idx, 0], y=coords[t, idx, 1], mode="markers+text", name=ctx,
                                  text=[words[i] for i in idx], textposition="top center", textfont=dict(size=9),
                                  marker=dict(color=colours[ctx], size=7), meta=DECLUTTER))
        return out

    fig = go.Figure(data=traces(len(steps) - 1), frames=[go.Frame(data=traces(t), name=str(s))
                                                          for t, s in enumerate(steps)])
    lo, hi = coords[:, keep].min((0, 1)), coords[:, keep].max((0, 1))
    return styled(fig, title=wrap_title("Embeddings during training (Procrustes-aligned, so words move and the axes "
                                        "stay)", 50),
                  xaxis=dict(title=f"{axis_label} 1", range=[lo[0] * 1.05, hi[0] * 1.05]),
                  yaxis=dict(title=f"{axis_label} 2", range=[lo[1] * 1.05, hi[1] * 1.05]), height=620,
                  margin=dict(t=70),
                  **play_controls([str(s) for s in steps], prefix="training step "))
