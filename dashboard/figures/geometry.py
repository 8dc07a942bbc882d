"""Where labels, arrowheads and peak names go on a chart: label geometry in data and pixel space."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from dashboard.figures.theme import DECLUTTER, GRAMMAR_COLOUR, esc, halo, scatter

PointMap = Callable[[np.ndarray], np.ndarray]  # points (n, k) -> (n, m): a terrain's height, a camera's pixels


def _depth_labels(depths: pd.DataFrame) -> list[str]:
    """A layer path's labels: its depths, the two ends with the word ("'in' at embed", "'in' at final"), so that the
    path reads from where the word enters to where it leaves, whatever lies near its ends."""
    labels = [f"<i>{esc(d)}</i>" for d in depths.layer] if len(depths) else []
    if labels and "word" in depths:
        for i in (0, len(labels) - 1):
            labels[i] = f"<i>'{esc(depths.word.iloc[i])}' at {esc(depths.layer.iloc[i])}</i>"
    return labels


def labels_2d(ref: pd.DataFrame, path: pd.DataFrame, *, candidates: pd.DataFrame | None,
              region_labels: list[tuple[float, float, str]], colours: dict[str, str], ink: str, width_px: int,
              layer_path: pd.DataFrame | None = None, font_px: int = 12) -> tuple[list[dict], dict]:
    """The map's frame (around the reference states, the path, the stars and the depths of `layer_path`), an
    arrowhead per step, the regions' labels (`region_labels`: anchors from region_contours) placed on their regions
    clear of each other and of the path's markers, then the labels of steps, stars and depths placed greedily
    around them: the arrowheads' trace and the layout (annotations and axis ranges)."""
    from dashboard.labels import joined, merge_coincident, place_labels, plain, to_pixels

    depths = layer_path if layer_path is not None else path.iloc[:0]
    stars = candidates if candidates is not None else path.iloc[:0]
    # in float64 whatever the parts' types: the frame of one prompt is the same at every step (to the last bit) while
    # the stars stay inside it, so a step move does not redraw the reference states underneath (chart.js's base)
    pts = pd.concat([p[["x", "y"]].astype(np.float64) for p in (ref, path, stars, depths)])
    lo, hi = pts.min(), pts.max()
    pad = 0.06 * (hi - lo)
    xr, yr = (lo.x - pad.x, hi.x + pad.x), (lo.y - pad.y, hi.y + pad.y)
    w, h = width_px - 60, 700 - 230  # plot area without the legend below and the margins
    arrows = _arrowheads(path[["x", "y"]].to_numpy(np.float64), xr, yr, size=(w, h), ink=ink)
    kinds = [(path, [f"<b>{s}</b> {esc(w_)}" for s, w_ in zip(path.step, path.word)],
              dict(name="step", bgcolor=halo(ink), font=dict(size=font_px, color=ink))),
             (stars, [esc(f"★ '{w_}' {p:.2f}") for w_, p in zip(stars.word, stars.p)] if len(stars) else [],
              dict(name="star", bgcolor=halo(ink), font=dict(size=font_px, color=ink))),
             (depths, _depth_labels(depths),
              dict(name="depth", bgcolor=halo(ink), font=dict(size=font_px, color="#7F7F7F")))]
    xy, texts, styles, optional = np.zeros((0, 2)), [], [], []
    for k, (points, labels, style) in enumerate(kinds):  # labels of one kind at one spot joined into one
        where = points[["x", "y"]].to_numpy(np.float64)
        groups = merge_coincident(to_pixels(where, xr, yr, width=w, height=h))
        xy = np.concatenate([xy, where[[g[0] for g in groups]].reshape(-1, 2)])
        texts += [joined(labels, g, span=k == 2) for g in groups]
        styles += [style] * len(groups)
        # a star's or a depth's label may be left out where it would cover another, but not a layer path's ends
        optional += [k == 1 or (k == 2 and not {0, len(points) - 1} & set(g)) for g in groups]
    px = to_pixels(xy, xr, yr, width=w, height=h)
    notes, boxes = region_notes(region_labels, colours, ink=ink, frame=(xr, yr, w, h), markers=px)
    # the steps' labels first; a star's or a depth's (but a layer path's ends) left out where it would cover another
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


ARROW_PX = 16  # an arrowhead's centre sits this far before the step it points at (the step's marker is 11-18 px)


def _arrowheads(xy: np.ndarray, xr: tuple[float, float], yr: tuple[float, float], *, size: tuple[float, float],
                ink: str) -> list[dict]:
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


WORD_MAP_AREA = (400.0, 470.0)  # px: a 2D word map's plot area in the page's column at 800 px wide


def word_labels_2d(df: pd.DataFrame, highlight: list[str], *, x_range: tuple[float, float],
                   y_range: tuple[float, float]) -> dict:
    """Every word's label as one text trace, drawn after every point: Plotly prints a trace's text with its own
    points, under the points of later traces, so inside a cluster the labels were covered. Each label has a halo
    and takes the side of its point that covers the fewest points and labels placed before it
    (labels.pick_text_positions, on the plot area at 800 px), the selected words first (in `highlight`'s order),
    then the most isolated;
    the page hides those that still overlap (chart.js, meta DECLUTTER: larger first, then in this order), and
    names more as one zooms in."""
    from dashboard.labels import pick_text_positions, to_pixels

    xy = df[["x", "y"]].to_numpy(np.float64)
    px = to_pixels(xy, x_range, y_range, width=WORD_MAP_AREA[0], height=WORD_MAP_AREA[1])
    gaps = np.linalg.norm(px[:, None] - px[None], axis=-1) + np.diag(np.full(len(px), np.inf))
    rank = {w: i for i, w in reversed(list(enumerate(highlight)))}
    first = df.word.map(lambda w: rank.get(w, len(rank))).to_numpy()
    chosen = first < len(rank)
    order = np.lexsort((-gaps.min(1, initial=np.inf), first))  # the selected in their order, then the most isolated
    texts = [str(w) for w in df.word.to_numpy()[order]]
    sides = pick_text_positions(px[order], texts, font_px=10, bounds=(0.0, 0.0, *WORD_MAP_AREA))
    # unseen markers as large as the points' (the selected words': their ring), which Plotly keeps the text beside
    return dict(type="scatter", x=xy[order, 0], y=xy[order, 1], mode="markers+text", text=texts, textposition=sides,
                marker=dict(size=np.where(chosen[order], 16, 8).tolist(), color="rgba(0,0,0,0)"),
                textfont=dict(size=np.where(chosen[order], 13, 10).tolist(), shadow="auto",
                              color=np.where(chosen[order], "#000000", "#444444").tolist()),
                name="labels", showlegend=False, hoverinfo="skip", meta=DECLUTTER)


def scene_ranges(parts: list[pd.DataFrame | None], pad: float = 0.06) -> list[tuple[float, float]]:
    """x, y and z ranges of a 3D scene holding every point of `parts` (frames with x, y, z; None skipped), widened
    by `pad` of each span on both sides, so the path, the stars and the depths stay inside the box."""
    xyz = np.concatenate([p[["x", "y", "z"]].to_numpy(np.float64) for p in parts if p is not None and len(p)])
    lo, hi = xyz.min(0), xyz.max(0)
    margin = pad * np.maximum(hi - lo, 1e-9)
    return [(float(a), float(b)) for a, b in zip(lo - margin, hi + margin)]


MAP_SCENE_ASPECT = 1.15  # a 3D map's scene is kept this wide for its height (chart.js: meta scene_aspect)
# a 3D map's scene height in px as drawn: in its 800 px chart at 1400 px wide (legend in rows below), and in a 448 px
# wide plot area (800 px wide, sidebar open) where chart.js lowers the chart to keep the scene MAP_SCENE_ASPECT wide
MAP_VIEWS = (628.0, 448 / MAP_SCENE_ASPECT)


def labels_3d(path: pd.DataFrame, candidates: pd.DataFrame | None, ink: str, *, camera: tuple,
              layer_trace: dict | None = None) -> tuple[list[dict], list[dict]]:
    """3D: the steps' labels as the scene's annotations (on a halo, drawn over the WebGL scene, none hidden behind
    a point), each beside its point where, seen from the default camera (`camera`: the scene's ranges and camera) at
    both sizes the map is drawn (MAP_VIEWS), it covers no label before it, no other step and nothing outside the
    plot area; then the labels of stars and depths (`layer_trace`: the layer path's trace, its text positions set
    here) on a side clear of those, or left out (hovering names them); and a cone as arrowhead on each step.
    Returns the traces and the annotations."""
    from dashboard.labels import camera_pixels, joined, merge_coincident, plain

    ranges, cam = camera
    eye, centre = tuple(cam["eye"].values()), tuple(cam["center"].values())
    xyz = path[["x", "y", "z"]].to_numpy(np.float64)
    pxs = [camera_pixels(xyz, ranges, eye=eye, center=centre, height_px=h) for h in MAP_VIEWS]
    groups = merge_coincident(pxs[-1])
    names = [f"<b>{s}</b> {esc(w)}" for s, w in zip(path.step, path.word)]
    texts, firsts = [joined(names, g) for g in groups], [g[0] for g in groups]
    bounds = [(-MAP_SCENE_ASPECT * h / 2, -h / 2, MAP_SCENE_ASPECT * h / 2, h / 2) for h in MAP_VIEWS]
    places, boxes = shifts_in_views([p[firsts] for p in pxs], [plain(t) for t in texts], bounds=bounds)
    notes = [dict(x=float(xyz[i, 0]), y=float(xyz[i, 1]), z=float(xyz[i, 2]), text=text, showarrow=False, **where,
                  name="step", bgcolor=halo(ink), font=dict(color=ink, size=12))
             for i, text, where in zip(firsts, texts, places)]
    out = _optional_labels_3d(path, candidates, layer_trace, camera=(ranges, eye, centre), taken=boxes[-1],
                              steps=pxs[-1])
    if len(xyz) < 2:
        return out, notes
    d = np.diff(xyz, axis=0)
    span = max(hi - lo for lo, hi in ranges) or 1.0  # a cone 4 % of the box long ("raw": drawn at its length)
    unit = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12) * 0.04 * span
    tip = xyz[:-1] + 0.85 * d
    return out + [dict(type="cone", x=tip[:, 0], y=tip[:, 1], z=tip[:, 2], u=unit[:, 0], v=unit[:, 1],
                       w=unit[:, 2], anchor="tip", sizemode="raw", sizeref=1, showscale=False, hoverinfo="skip",
                       colorscale=[[0, ink], [1, ink]], name="direction", showlegend=False)], notes


def _optional_labels_3d(path: pd.DataFrame, candidates: pd.DataFrame | None, layer_trace: dict | None, *,
                        camera: tuple, taken: list, steps: np.ndarray) -> list[dict]:
    """The stars' text trace and the depths' text (set on `layer_trace`), each label on a side of its point that
    covers none placed before it, no step's label (`taken`) and no step (`steps`), seen at the smaller MAP_VIEWS;
    left out where no side is free."""
    from dashboard.labels import camera_pixels, joined, merge_coincident, pick_text_positions, plain

    ranges, eye, centre = camera
    stars = candidates if candidates is not None and len(candidates) else path.iloc[:0]
    kinds = [(stars[["x", "y", "z"]].to_numpy(np.float64),
              [esc(f"★ '{w}' {p:.2f}") for w, p in zip(stars.word, stars.p)] if len(stars) else []),
             (np.zeros((0, 3)) if layer_trace is None else np.stack([layer_trace[k] for k in "xyz"], 1),
              [] if layer_trace is None else [esc(t) for t in layer_trace["text"]])]
    texts, firsts, px = [], [], []
    for k, (xyz, labels) in enumerate(kinds):  # labels of one kind at one spot on screen joined into one
        at = camera_pixels(xyz, ranges, eye=eye, center=centre, height_px=MAP_VIEWS[-1])
        groups = merge_coincident(at)
        shown = [""] * len(labels)
        for g in groups:
            shown[g[0]] = joined(labels, g, span=k == 1)
        texts.append(shown)
        firsts.append([g[0] for g in groups])
        px.append(at[firsts[-1]].reshape(-1, 2))
    marks = [(x - 6, y - 6, x + 6, y + 6) for x, y in steps]
    pos = iter(pick_text_positions(np.concatenate(px), [plain(texts[k][i]) for k, f in enumerate(firsts) for i in f],
                                   list(taken) + marks, optional=[True] * sum(map(len, firsts))))
    sides = [["top center"] * len(shown) for shown in texts]
    for k, first in enumerate(firsts):
        for i in first:
            side = next(pos)
            sides[k][i] = side or "top center"
            texts[k][i] = texts[k][i] if side else ""
    out = []
    if len(stars):
        out.append(scatter(stars, True, mode="text", hoverinfo="skip", textposition=sides[0], text=texts[0],
                            showlegend=False))
    if layer_trace is not None:
        layer_trace["text"], layer_trace["textposition"] = texts[1], sides[1]
    return out


def thin_3d_words(points: np.ndarray, texts: list[str], *, first: np.ndarray, camera: tuple,
                  font_px: tuple[float, float] = (10, 13), marker_px: float = 4, height_px: float = 520) -> np.ndarray:
    """Which word labels of a 3D word map to print (bool (n,)): seen from the default camera (`camera`: the scene's
    ranges and camera), each label above its point is kept only if its box covers no label kept before it, the
    labels marked `first` (the selected words, in the larger of `font_px`) considered first. Plotly draws 3D text
    in WebGL, where the page cannot measure and hide it as chart.js does in 2D; hovering names every point."""
    from dashboard.labels import camera_pixels, overlap, text_box

    ranges, cam = camera
    px = camera_pixels(points, ranges, eye=tuple(cam["eye"].values()), center=tuple(cam["center"].values()),
                       height_px=height_px)
    keep = np.zeros(len(texts), bool)
    taken: list[tuple[float, float, float, float]] = []
    for i in sorted(range(len(texts)), key=lambda i: (not first[i], i)):
        size = font_px[bool(first[i])]
        h = text_box(0, 0, texts[i], size)[3] * 2
        box = text_box(px[i, 0], px[i, 1] + marker_px + h / 2, texts[i], size)
        if not any(overlap(box, b) > 0 for b in taken):
            taken.append(box)
            keep[i] = True
    return keep


def path_labels(path: pd.DataFrame) -> list[str]:
    """A trajectory's point labels: 'step: word' where the prompt gave the next word, else 'step: word → next'."""
    return [f"{step}: {esc(w)}" if p else f"{step}: {esc(w)} → {esc(nxt)}"
            for w, step, nxt, p in zip(path.word, path.step, path.next_word, path.in_prompt)]


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


TERRAIN_ASPECT = 1.3  # the terrain's scene is kept this wide for its height (chart.js: meta scene_aspect)
# the terrain scene's height in px as drawn: in its 680 px chart at 1400 px wide; in a 448 px wide plot area (800 px
# wide, sidebar open) where chart.js lowers the chart to keep the scene TERRAIN_ASPECT wide
TERRAIN_VIEWS = (575.0, 448 / TERRAIN_ASPECT)


def terrain_projection(scene: dict, height_px: float = TERRAIN_VIEWS[0]) -> PointMap:
    """Where points (n, 3) of the terrain's scene (`_terrain_scene`) appear from its default camera, in pixels
    (labels.camera_pixels; the scene's plot area `height_px` tall: Plotly's perspective spans the scene's height
    whatever its width, with a 45° field of view)."""
    from dashboard.labels import camera_pixels

    ranges = [scene[f"{a}axis"]["range"] for a in "xyz"]
    cam = scene["camera"]
    return lambda xyz: camera_pixels(xyz, ranges, eye=tuple(cam["eye"].values()), center=tuple(cam["center"].values()),
                                     height_px=height_px, aspect=tuple(scene["aspectratio"].values()))


def terrain_views(scene: dict) -> list[PointMap]:
    """The terrain's projections at the sizes it is drawn at (TERRAIN_VIEWS): a label is placed clear in all."""
    return [terrain_projection(scene, h) for h in TERRAIN_VIEWS]


TERRAIN_TOP = 1.75  # the highest a peak's label goes (the scene's z axis ends at 1.8)
PEAK_SIDES = {"middle center": 0, "middle right": 1, "middle left": -1}  # a peak label's side of its pole's top
PEAK_FONT_PX = 14  # bold, framed: text_box with REGION_PAD_PX


def peak_label_heights(points: np.ndarray, peaks: np.ndarray, texts: list[str], *, projects: list[PointMap],
                       step: float = 0.02, font_px: int = PEAK_FONT_PX,
                       obstacles: list[list] | None = None,
                       bounds: list | None = None) -> tuple[list[tuple[float, str] | None], list[list]]:
    """Height and side (PEAK_SIDES) of each peak's label (`texts`, at (x, y) `points`, over hills `peaks` high): the
    lowest, from just above its peak up to TERRAIN_TOP in `step`s, centred on its pole or beside it, where seen
    from the default camera at every size it is drawn (`projects`: terrain_views) its box covers no label placed
    before it, no box of `obstacles` (per projection: the path's labels, which have less room to move) and nothing
    outside `bounds` (per projection: its plot area as a box, from the scene's centre); None
    where there is none (the legend and the surface's hover name that sub-context). Returns them and, per
    projection, the placed labels' boxes on screen."""
    from dashboard.labels import overlap, text_box

    placed: list[list] = [list(o) for o in (obstacles or [[] for _ in projects])]
    start = [len(p) for p in placed]
    out = []
    for (x, y), top, text in zip(np.asarray(points, float), np.asarray(peaks, float), texts):
        heights = np.arange(float(top) + 0.1, max(TERRAIN_TOP, float(top) + 0.1) + 1e-9, step)
        at = np.column_stack([np.full(len(heights), x), np.full(len(heights), y), heights])
        half = text_box(0, 0, text, font_px, REGION_PAD_PX)[2] + 4
        views = [project(at) for project in projects]
        options = [(i, side, [text_box(px[i, 0] + u * half, px[i, 1], text, font_px, REGION_PAD_PX) for px in views])
                   for i in range(len(heights)) for side, u in PEAK_SIDES.items()]
        areas = bounds or [(-np.inf, -np.inf, np.inf, np.inf)] * len(projects)
        k = next((j for j, (_, _, boxes) in enumerate(options)
                  if not any(overlap(box, b) for box, taken in zip(boxes, placed) for b in taken)
                  and not any(_outside(box, area) for box, area in zip(boxes, areas))), None)
        if k is not None:
            for box, taken in zip(options[k][2], placed):
                taken.append(box)
        out.append(None if k is None else (round(float(heights[options[k][0]]), 4), options[k][1]))
    return out, [p[s:] for p, s in zip(placed, start)]


def repeated_labels(paths: pd.DataFrame, runs: list, extent: np.ndarray) -> dict:
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


LABEL_GAPS = (6.0, 20.0)  # px between a step and its label's box: the nearer first, the farther where it is taken


def shifts_in_views(views: list[np.ndarray], texts: list[str], *, bounds: list, font_px: float = 12,
                    marker_px: float = 6, pad: float = 2) -> tuple[list[dict], list[list]]:
    """Each point's label placed beside it (an annotation's xanchor, yanchor, xshift and yshift: the label's edge
    a gap from the point, so a label narrower than its estimated box stays near it), for points seen in several
    `views` (pixels (n, 2) each, y up, from the scene's centre; `bounds`: each view's plot area as a box; `pad`:
    an annotation's frame, Plotly's borderpad and border): in order, the first side (labels.TEXT_POSITIONS, at
    LABEL_GAPS) whose box covers, in every view, no label placed before it, no other point's marker and nothing
    outside the plot area, else the one covering least. Returns the placements and each view's boxes."""
    from dashboard.labels import TEXT_POSITIONS, overlap, text_box

    placed: list[list] = [[] for _ in views]
    marks = [[(x - marker_px, y - marker_px, x + marker_px, y + marker_px) for x, y in v] for v in views]
    out = []
    for i, text in enumerate(texts):
        w, h = (2 * v for v in text_box(0, 0, text, font_px, pad)[2:])
        best = None
        for gap, (ux, uy) in ((g, u) for g in LABEL_GAPS for u in TEXT_POSITIONS.values()):
            shift = (ux * (w / 2 + gap), uy * (h / 2 + gap))
            boxes = [text_box(v[i, 0] + shift[0], v[i, 1] + shift[1], text, font_px, pad) for v in views]
            where = dict(xanchor={1: "left", 0: "center", -1: "right"}[ux], xshift=ux * gap,
                         yanchor={1: "bottom", 0: "middle", -1: "top"}[uy], yshift=uy * gap)
            cost = sum(sum(overlap(b, o) for o in taken + [m for j, m in enumerate(ms) if j != i]) + _outside(b, area)
                       for b, taken, ms, area in zip(boxes, placed, marks, bounds))
            if best is None or cost < best[0]:
                best = (cost, where, boxes)
            if cost == 0:
                break
        out.append(best[1])
        for b, taken in zip(best[2], placed):
            taken.append(b)
    return out, placed


def _outside(box: tuple, area: tuple) -> float:
    """How much of `box` lies outside `area` (px², both (x0, y0, x1, y1))."""
    w, h = box[2] - box[0], box[3] - box[1]
    iw = max(0.0, min(box[2], area[2]) - max(box[0], area[0]))
    ih = max(0.0, min(box[3], area[3]) - max(box[1], area[1]))
    return w * h - iw * ih
