"""Landscapes: the terrain, the decision landscape, next-word regions and the loss landscapes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.geometry import (
    PEAK_FONT_PX,
    PEAK_SIDES,
    REGION_PAD_PX,
    TERRAIN_ASPECT,
    TERRAIN_TOP,
    TERRAIN_VIEWS,
    path_labels,
    peak_label_heights,
    shifts_in_views,
    terrain_views,
)
from dashboard.figures.theme import (
    GRAMMAR_COLOUR,
    LEGEND_BELOW,
    PATH,
    discrete_scale,
    esc,
    figure,
    halo,
    hex_rgb,
    legend_swatches,
    styled,
    wrap_title,
)
from dashboard.labels import text_box
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    from dashboard.figures.geometry import PointMap
    from llmcore.maps.landscape import DecisionLandscape, NextWordRegions
    from llmcore.maps.regions import RegionMap
    from llmcore.model.checkpoint import LossLandscape


def terrain_figure(regions: RegionMap, colours: dict[str, str], path: pd.DataFrame | None = None, *,
                   ink: str = "#111111", axis_label: str = "PC") -> go.Figure:
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
    views = terrain_views(scene)
    bounds = [(-TERRAIN_ASPECT * h / 2, -h / 2, TERRAIN_ASPECT * h / 2, h / 2) for h in TERRAIN_VIEWS]
    steps = _terrain_labels(path, regions.lift, views, bounds=bounds, ink=ink) if path is not None and len(path) \
        else ([], [[] for _ in views])
    placed, _ = peak_label_heights(peaks, regions.lift(peaks), [names[g] for g in shown], projects=views,
                                   obstacles=steps[1], bounds=bounds)
    notes = []
    for g, (zg, side) in ((g, p) for g, p in zip(shown, placed) if p is not None):
        (cx, cy), colour = regions.centres[g], colours.get(names[g], GRAMMAR_COLOUR)
        fig.add_trace(go.Scatter3d(x=[cx] * 2, y=[cy] * 2, z=[float(regions.lift(regions.centres[g:g + 1])[0]), zg],
                                   mode="lines", line=dict(color=colour, width=2), showlegend=False, hoverinfo="skip"))
        half = text_box(0, 0, names[g], PEAK_FONT_PX, REGION_PAD_PX)[2] + 4
        notes.append(dict(x=float(cx), y=float(cy), z=zg, text=f"<b>{esc(names[g])}</b>", showarrow=False,
                          xshift=PEAK_SIDES[side] * half, name="region", bgcolor=halo(ink, 0.9), bordercolor=colour,
                          borderwidth=2, borderpad=2, font=dict(color=ink, size=PEAK_FONT_PX)))
    if path is not None and len(path):
        _terrain_path(fig, path, ink, regions.lift)
    legend_swatches(fig, [names[g] for g in shown], colours, three_d=True, title="sub-context with most states here")
    # SVG annotations, drawn over the WebGL scene: the ground nearer the camera never hides a label, and the browser
    # can measure them; chart.js lowers the chart where it is too narrow for the scene (meta scene_aspect)
    scene["annotations"] = steps[0] + notes
    styled(fig, title="Terrain: hills where the model's states gather, plains where few do", scene=scene, height=680,
           legend=dict(orientation="h", y=0, yanchor="top"), meta=dict(scene_aspect=TERRAIN_ASPECT))
    return fig


TERRAIN_EYE = (0.83, -1.54, 1.15)  # the terrain's default camera, looking at TERRAIN_CENTRE
TERRAIN_CENTRE = (-0.07, -0.04, -0.25)  # the box's corners centred in the chart (labels.camera_pixels)


def _terrain_labels(path: pd.DataFrame, lift: PointMap, views: list[PointMap], *, bounds: list,
                    ink: str) -> tuple[list[dict], list[list]]:
    """The path's labels on the terrain (as on Trajectory; labels of steps at one spot joined) as the scene's
    annotations, each on the side of its point that covers no label before it, no other step and nothing outside
    the plot area at every size the terrain is drawn (`views`: terrain_views, `bounds` their plot areas). Returns
    the annotations and, per view, the labels' and the steps' boxes on screen (what a peak's name must not cover)."""
    from dashboard.labels import joined, merge_coincident, plain

    xyz = np.column_stack([path[["x", "y"]].to_numpy(np.float64), lift(path[["x", "y"]].to_numpy(np.float64)) + 0.02])
    pxs = [project(xyz) for project in views]
    labels, groups = path_labels(path), merge_coincident(pxs[-1])
    texts = [joined(labels, g) for g in groups]
    firsts = [g[0] for g in groups]
    shifts, boxes = shifts_in_views([p[firsts] for p in pxs], [plain(t) for t in texts], bounds=bounds)
    notes = [dict(x=float(xyz[i, 0]), y=float(xyz[i, 1]), z=float(xyz[i, 2]), text=text, showarrow=False, **where,
                  name="step", bgcolor=halo(ink), font=dict(color=ink, size=12))
             for i, text, where in zip(firsts, texts, shifts)]
    marks = [[(x - 6, y - 6, x + 6, y + 6) for x, y in p] for p in pxs]
    return notes, [b + m for b, m in zip(boxes, marks)]


def _terrain_path(fig: go.Figure, path: pd.DataFrame, ink: str, lift: PointMap) -> None:
    """The path along the surface (each segment follows the ground between its two states), its points (labelled by
    the scene's annotations: _terrain_labels), and a cone in the middle of each segment pointing the way it goes."""
    xy = path[["x", "y"]].to_numpy(np.float64)
    t = np.linspace(0, 1, 16)[:-1, None]
    ground = np.concatenate([xy[i] + t * (xy[i + 1] - xy[i]) for i in range(len(xy) - 1)] + [xy[-1:]])
    gz = lift(ground) + 0.02
    fig.add_trace(go.Scatter3d(x=ground[:, 0], y=ground[:, 1], z=gz, mode="lines", line=dict(color=ink, width=6),
                               hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter3d(x=xy[:, 0], y=xy[:, 1], z=lift(xy) + 0.02, mode="markers",
                               marker=dict(size=5, color=ink), name="this prompt",
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


def _terrain_scene(regions: RegionMap, path: pd.DataFrame | None, axis_label: str) -> dict:
    """Axes that hold the whole surface and the whole path, seen from high enough that hills hide no step; the
    height's axis titled in one short word (a longer title ran past the chart's left edge in a narrow column; the
    caption says what the height is)."""
    xs, ys = [regions.x.min(), regions.x.max()], [regions.y.min(), regions.y.max()]
    if path is not None and len(path):
        xs += [path.x.min(), path.x.max()]
        ys += [path.y.min(), path.y.max()]
    return dict(xaxis=dict(title=f"{axis_label} 1", range=[min(xs), max(xs)]),
                yaxis=dict(title=f"{axis_label} 2", range=[min(ys), max(ys)]),
                zaxis=dict(title=dict(text="density"), range=[0, TERRAIN_TOP + 0.05]),
                aspectmode="manual", aspectratio=dict(x=1.3, y=1.3, z=0.55),
                camera=dict(eye=dict(zip("xyz", TERRAIN_EYE)), center=dict(zip("xyz", TERRAIN_CENTRE))))


def decision_figure(d: DecisionLandscape, vocab: list[str], colours: dict[str, str], path: pd.DataFrame | None = None,
                    *, ink: str = "#111111", function_context: str = FUNCTION_CONTEXT,
                    axis_label: str = "PC") -> go.Figure:
    """Decision landscape: at each point of the plane the content sub-context the model gives most next-word
    probability, its colour pale where that sub-context's probability is small and full where it is large; a
    dashed line encloses where function words (`function_context`) hold more than half of the probability."""
    names = d.context_names
    content = [g for g, n in enumerate(names) if n != function_context]
    probs = d.context_probs[..., content]
    best, mass = probs.argmax(-1), probs.max(-1)
    rgb = np.stack([hex_rgb(colours.get(names[g], GRAMMAR_COLOUR)) for g in content])[best]
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


def next_regions_figure(r: NextWordRegions, path: pd.DataFrame, colours: dict[str, str], *, title: str,
                        ink: str = "#222222", font_px: int = 12, width_px: int = 1000, height: int = 620) -> go.Figure:
    """What real states predict next (llmcore.maps.landscape.NextWordRegions): each cell in the colour of the
    sub-context most of its nearest reference states predict (fainter where fewer of them agree, blank where no
    state is near), each region named, and the prompt's path (`frames.trajectory_frame` placed with r.place), each
    step filled with the colour of its own prediction: where fill and ground differ, the picture would be wrong."""
    from dashboard.labels import place_labels, to_pixels

    names, shown = r.contexts, r.label >= 0
    rgba = np.zeros(r.label.shape + (4,))
    rgba[shown, :3] = np.stack([hex_rgb(colours.get(n, GRAMMAR_COLOUR)) for n in names])[r.label[shown]]
    rgba[..., 3] = np.where(shown, 0.2 + 0.55 * r.share, 0.0).round(2)
    dx, dy = float(r.x[1] - r.x[0]), float(r.y[1] - r.y[0])
    xr, yr = (float(r.x[0]) - dx / 2, float(r.x[-1]) + dx / 2), (float(r.y[0]) - dy / 2, float(r.y[-1]) + dy / 2)
    data = [dict(type="image", z=rgba.tolist(), colormodel="rgba", x0=float(r.x[0]), dx=dx, y0=float(r.y[0]),
                 dy=dy, hoverinfo="skip", name="what real states predict")]
    # the plot area without margins and the legend below, as drawn: the cells stretch to fill it (the plane's two
    # discriminant axes have no common unit), so the map takes the chart's whole width
    w, h = width_px - 80, height - 150
    present = [g for g in range(len(names)) if (r.label == g).any()]
    markers = to_pixels(path[["x", "y"]].to_numpy(np.float64), xr, yr, width=w, height=h) if len(path) else None
    spots, boxes = [], []
    for g in present:  # each name on its own region, clear of the path's markers and of the names before it
        spot, box = _region_spot(r, g, to_px=lambda a: to_pixels(a, xr, yr, width=w, height=h), markers=markers,
                                 taken=boxes, text=names[g], font_px=font_px + 2)
        spots.append(spot)
        boxes.append(box)
    notes = [dict(x=x, y=y, text=f"<b>{esc(names[g])}</b>", showarrow=False, bgcolor=halo(ink), borderwidth=2,
                  name="region",
                  bordercolor=colours.get(names[g], GRAMMAR_COLOUR), font=dict(size=font_px + 2, color=ink))
             for g, (x, y) in zip(present, spots)]
    if len(path):
        xy = path[["x", "y"]].to_numpy(np.float64)
        texts = [f"{s} {w_}" for s, w_ in zip(path.step, path.word)]
        shifts = place_labels(to_pixels(xy, xr, yr, width=w, height=h), texts, boxes, bounds=(0, 0, w, h),
                              font_px=font_px)
        notes += [dict(x=float(x), y=float(y), xshift=float(sx), yshift=float(sy), showarrow=False, bgcolor=halo(ink),
                       text=f"<b>{s}</b> {esc(w_)}", font=dict(size=font_px, color=ink), name="step")
                  for (x, y), (sx, sy), s, w_ in zip(xy, shifts, path.step, path.word)]
        data.append(dict(type="scatter", x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name="this prompt (fill: "
                         "what the state itself predicts)", meta=PATH, line=dict(color=ink, width=2),
                         marker=dict(size=15, color=[colours.get(c, GRAMMAR_COLOUR) for c in path.next],
                                     line=dict(width=2, color=ink)),
                         customdata=np.stack([path.step, path.word, path.next, path.next_mass.round(2)], 1),
                         hovertemplate="step %{customdata[0]}: after '%{customdata[1]}' the model predicts "
                         "%{customdata[2]} next (%{customdata[3]})<extra></extra>"))
    data += [dict(type="scatter", x=[None], y=[None], mode="markers", name=names[g], hoverinfo="skip",
                  marker=dict(size=12, symbol="square", color=colours.get(names[g], GRAMMAR_COLOUR)))
             for g in present]
    axis = "direction {} (separates predictions)"  # a discriminant axis; the scene's text says so
    return figure(data, dict(
        title=dict(text=wrap_title(title, 60)), height=height, annotations=notes, margin=dict(t=60),
        xaxis=dict(title=dict(text=axis.format(1)), range=list(xr), showgrid=False, zeroline=False),
        yaxis=dict(title=dict(text=axis.format(2)), range=list(yr), showgrid=False, zeroline=False,
                   scaleanchor=False),  # an image's square cells would leave the map half the chart's width
        legend=dict(title=dict(text="colour: the sub-context real states there predict next (fainter: fewer agree)"),
                    **LEGEND_BELOW["legend"])))


MARKER_CLEAR_PX = 12  # a region's name keeps this far from the centre of every marker of the path (15 px wide)


def _region_spot(r: NextWordRegions, g: int, *, to_px: Callable[[np.ndarray], np.ndarray],
                 markers: np.ndarray | None, taken: list, text: str, font_px: float
                 ) -> tuple[tuple[float, float], tuple]:
    """Where region g is named, and its name's box in pixels: the cell nearest the middle (median) of all its cells
    whose name covers no marker of the path and no name placed before it; the middle cell if none is clear."""
    from dashboard.labels import overlaps, text_box

    rows, cols = np.nonzero(r.label == g)
    xs, ys = r.x[cols], r.y[rows]
    order = np.argsort((xs - np.median(xs)) ** 2 + (ys - np.median(ys)) ** 2)
    xs, ys = xs[order], ys[order]
    px = to_px(np.stack([xs, ys], 1))
    x0, y0, x1, y1 = text_box(0, 0, text, font_px, pad=2)
    boxes = np.concatenate([px + [x0, y0], px + [x1, y1]], 1)  # (cells, 4)
    clear = np.ones(len(boxes), bool)
    if markers is not None and len(markers):
        dx = np.clip(markers[None, :, 0], boxes[:, None, 0], boxes[:, None, 2]) - markers[None, :, 0]
        dy = np.clip(markers[None, :, 1], boxes[:, None, 1], boxes[:, None, 3]) - markers[None, :, 1]
        clear &= ((dx**2 + dy**2) >= MARKER_CLEAR_PX**2).all(1)
    if taken:
        clear &= (overlaps(boxes, np.array(taken)) <= 0).all(1)
    i = int(np.argmax(clear)) if clear.any() else 0
    return (float(xs[i]), float(ys[i])), tuple(float(v) for v in boxes[i])


def loss_levels(loss: np.ndarray) -> tuple[np.ndarray, float, list[float]]:
    """Loss mapped to log(loss − min + δ), δ 1 % of the range, so contour levels crowd near the minimum where the
    training path descends; returns the mapped grid, δ, and round loss values to mark on the colour bar."""
    lo, hi = float(np.min(loss)), float(np.max(loss))
    delta = max(0.01 * (hi - lo), 1e-6)
    ticks = sorted({round(float(v), 2) for v in lo + (hi - lo) * np.array([0, 0.005, 0.02, 0.05, 0.15, 0.4, 1])})
    return np.log(np.asarray(loss, np.float64) - lo + delta), delta, ticks


def loss_figure(land: LossLandscape, three_d: bool = False, every: int = 0) -> go.Figure:
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
    if three_d:  # four ticks on the height (the lowest, two above the crowd near it, the highest): the colour bar's
        # log-spaced ones print over each other on a short axis; seen from further than Plotly's default, so that the
        # floor's axis titles stay inside the chart
        few = sorted({0, max(len(ticks) - 4, 0), max(len(ticks) - 2, 0), len(ticks) - 1})
        fig.update_layout(scene=dict(xaxis_title=axes[0], yaxis_title=axes[1], zaxis=dict(
            title="loss", tickvals=[tickvals[i] for i in few], ticktext=[f"{ticks[i]:.2f}" for i in few]),
            aspectmode="manual", aspectratio=dict(x=1, y=1, z=0.8), camera=dict(eye=dict(x=1.75, y=1.75, z=1.2))))
    else:
        fig.update_layout(xaxis_title=axes[0], yaxis_title=axes[1])
    return fig


def _loss_path(fig: go.Figure, land: LossLandscape, lo: float, delta: float, *, three_d: bool, every: int) -> None:
    """The snapshots on the plane: a white line, a start and an end marker, every N-th labelled by its step."""
    n = len(land.path)
    every = every or max(1, round(n / 5))
    label = [f"step {s}" if i % every == 0 and 0 < i < n - every / 2 else "" for i, s in enumerate(land.path_steps)]
    text = [f"step {s}: loss {v:.3f}" for s, v in zip(land.path_steps, land.path_loss)]
    zp = np.log(np.asarray(land.path_loss, np.float64) - lo + delta) + (0.05 if three_d else 0)

    def pts(idx: Sequence[int] | np.ndarray, **kw: Any) -> go.Scatter | go.Scatter3d:
        x, y = land.path[idx, 0], land.path[idx, 1]
        return go.Scatter3d(x=x, y=y, z=zp[idx], **kw) if three_d else go.Scatter(x=x, y=y, **kw)

    every_idx = np.arange(n)
    fig.add_trace(pts(every_idx, mode="lines+markers+text", text=label, textposition="top right",
                      textfont=dict(color="#FFFFFF" if not three_d else "#222222"),
                      marker=dict(color="#FFFFFF", size=5, line=dict(color="#000000", width=1)),
                      line=dict(color="#FFFFFF", width=3), name="training path", customdata=text,
                      hovertemplate="%{customdata}<extra></extra>"))
    fig.add_trace(pts([0], mode="markers", name=f"start: step {land.path_steps[0]}, projected (loss "
                      f"{land.path_loss[0]:.2f})",
                      marker=dict(color="#E69F00", size=14 if not three_d else 7, symbol="diamond",
                                  line=dict(color="#000000", width=1))))
    fig.add_trace(pts([n - 1], mode="markers", name=f"end: the trained model (loss {land.path_loss[-1]:.2f})",
                      marker=dict(color="#D55E00", size=16 if not three_d else 8,
                                  symbol="x" if three_d else "star", line=dict(color="#000000", width=1))))


NEAR_STAR = 0.12  # loss_figure_at: path labels this near the step's marker (of the plane's extent) are left out


def loss_figure_at(land: LossLandscape, xy: tuple[float, float], step: int) -> go.Figure:
    """The loss landscape with its training path and a marker where the path is at `step`; the path's step labels
    near the marker (within NEAR_STAR of the plane's extent) left out, so that they do not print over its own."""
    fig = loss_figure(land)
    path = next(t for t in fig.data if t.name == "training path")
    span = np.maximum(np.ptp(np.stack([land.alphas, land.betas]), axis=1), 1e-12)
    near = np.hypot(*((land.path - np.asarray(xy)) / span).T) < NEAR_STAR
    path.text = ["" if n else t for t, n in zip(path.text, near)]
    fig.add_trace(go.Scatter(x=[xy[0]], y=[xy[1]], mode="markers+text", name=f"step {step}",
                             text=[f"step {step}"], textposition="top center", textfont=dict(color="#fff"),
                             marker=dict(symbol="star", size=18, color="#D55E00", line=dict(color="#fff", width=1))))
    fig.update_layout(legend=dict(orientation="h", y=-0.18))  # clear of the colour bar
    return fig
