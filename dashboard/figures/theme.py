"""The look every figure shares: palettes, the Plotly template, series styles, contrast, presenter sizes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import make_colorscale, sequential

from llmcore.world.types import FUNCTION_CONTEXT

# Okabe & Ito's colour-blind-safe palette, in an order that keeps the first three sub-contexts far apart.
PALETTE = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442"]


GRAMMAR_COLOUR = "#BBBBBB"
INK = {"light": "#222222", "dark": "#EEEEEE"}  # paths and labels drawn over maps, by the page's theme


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
# The meta of a trace of the prompt's path: chart_labels.js keeps a region's name off its markers.
PATH = "path"


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


def hex_rgb(colour: str) -> np.ndarray:
    """(3,) the red, green and blue of a '#rrggbb' colour, 0-255."""
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], np.float64)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two '#RRGGBB' colours, from 1 (the same) to 21 (black on white)."""
    def luminance(colour: str) -> float:
        c = hex_rgb(colour) / 255
        c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(c @ [0.2126, 0.7152, 0.0722])

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def readable(colour: str) -> bool:
    """Whether a line in this colour stands out on both themes' backgrounds (MIN_CONTRAST)."""
    return all(contrast(colour, bg) >= MIN_CONTRAST for bg in BACKGROUNDS.values())


def styled(fig: go.Figure, **layout: Any) -> go.Figure:
    """The shared template's layout (margins), then this figure's own settings (height, title, axes, …)."""
    fig.update_layout(TEMPLATE_LAYOUT, **layout)
    return fig


def figure(data: list[dict], layout: dict, frames: list[dict] | None = None) -> go.Figure:
    """A figure from Plotly.js JSON: traces and layout as plain nested dicts (no 'legend_title_text' shorthands),
    the shared template's layout under this one's, wrapped without validation. plotly.py checks each property
    it is handed; for the figures a new prompt redraws that took 0.1 s of the page's 0.18 s run (the map alone
    50 ms; 5 ms as plain dicts). tests/test_frames.py validates every figure built this way."""
    return go.Figure(dict(data=data, layout=merged(TEMPLATE_LAYOUT, layout), **({"frames": frames} if frames else {})),
                     _validate=False)


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


def halo(ink: str, alpha: float = 0.6) -> str:
    """A label's background in the theme's own (translucent at `alpha`): light under dark ink, dark under light
    ink (a dark theme)."""
    r, g, b = (int(ink.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba(14,17,23,{alpha})" if 0.299 * r + 0.587 * g + 0.114 * b > 128 else f"rgba(255,255,255,{alpha})"


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
        h, lum, sat = colorsys.rgb_to_hls(*(hex_rgb(context_colours.get(ctx, GRAMMAR_COLOUR)) / 255))
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


def discrete_scale(names: list[str], colours: dict[str, str]) -> list:
    """A Plotly colour scale of one flat band per category, for heatmaps and surfaces of category indices."""
    scale = []
    for i, n in enumerate(names):
        c = colours.get(n, GRAMMAR_COLOUR)
        scale += [[i / len(names), c], [(i + 1) / len(names), c]]
    return scale


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


BLUES = make_colorscale(sequential.Blues)  # plotly.py's 'Blues' (Plotly.js has its own scale of that name)


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


def _titled(title: str | dict | None) -> dict:
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


def scatter(df: pd.DataFrame, three_d: bool, **kw: Any) -> dict:
    """A scatter trace of df's x, y (and z) as Plotly.js JSON (nested keys, no shorthands). SVG in 2D: the maps
    draw at most frames.MAP_POINTS points, which SVG draws several times faster than WebGL sets itself up (where
    WebGL runs in software, as in many classroom machines and our CI browser)."""
    if three_d:
        return dict(type="scatter3d", x=df.x.to_numpy(), y=df.y.to_numpy(), z=df.z.to_numpy(), **kw)
    return dict(type="scatter", x=df.x.to_numpy(), y=df.y.to_numpy(), **kw)
