"""Greedy placement of text labels next to points of a 2D chart, so that labels cover neither each other nor
other boxes (region labels, the title). Pure geometry in pixels; usable by any figure."""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels, y up

# candidate directions, nearest first: above, right, below, left, then the diagonals
DIRECTIONS = [(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)]


def to_pixels(xy: np.ndarray, x_range: tuple[float, float], y_range: tuple[float, float], *, width: float,
              height: float) -> np.ndarray:
    """Data coordinates (n, 2) as pixels of a plot area width × height (origin at the bottom left)."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    sx = width / max(x_range[1] - x_range[0], 1e-12)
    sy = height / max(y_range[1] - y_range[0], 1e-12)
    return np.stack([(xy[:, 0] - x_range[0]) * sx, (xy[:, 1] - y_range[0]) * sy], 1)


def text_box(cx: float, cy: float, text: str, font_px: float = 12, pad: float = 0) -> Box:
    """The box a label of `text` (lines split by newlines) takes when centred at (cx, cy); characters are ~0.6 em
    wide; `pad` pixels more on every side (a frame)."""
    lines = text.split("\n")
    w, h = 0.6 * font_px * max(max(map(len, lines)), 1) + 4 + 2 * pad, (font_px + 4) * len(lines) + 2 * pad
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def plain(label: str) -> str:
    """A Plotly label's text as shown: tags dropped, <br> as a newline, entities read (for measuring its box)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", label.replace("<br>", "\n")))


def merge_coincident(points: np.ndarray, tol: float = 3.0) -> list[list[int]]:
    """Points (pixels (n, 2)) drawn within `tol` pixels of an earlier one, grouped with it (in order): their
    labels are best joined into one, as several labels at one spot cover each other whatever side each takes."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    groups: list[list[int]] = []
    for i, p in enumerate(pts):
        at = next((g for g in groups if np.abs(pts[g[0]] - p).max() <= tol), None)
        if at is None:
            groups.append([i])
        else:
            at.append(i)
    return groups


def joined(labels: list[str], group: list[int], *, span: bool = False) -> str:
    """The labels of a group of points at one spot, a line each (Plotly's <br>); with `span`, a run of consecutive
    ones (depths: block 1, block 2, … final) as 'first–last'."""
    if span and len(group) > 2 and group == list(range(group[0], group[-1] + 1)):
        return f"{labels[group[0]]}–{labels[group[-1]]}"
    return "<br>".join(labels[i] for i in group)


def overlap(a: Box, b: Box) -> float:
    """Area shared by two boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area each box of `a` shares with each of `b` ((k, 4) and (m, 4) as Box rows): (k, m)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 1, 4), np.asarray(b, np.float64).reshape(1, -1, 4)
    wide = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    tall = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    return np.clip(wide, 0.0, None) * np.clip(tall, 0.0, None)


def count_overlaps(boxes: list[Box]) -> int:
    """Pairs of boxes that overlap (the measure of a placement: 0 is readable)."""
    return sum(overlap(a, b) > 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])


def place_labels(points: np.ndarray, texts: list[str], obstacles: list[Box] = (), *, font_px: float = 12,
                 gap: float = 4, marker_px: float = 7, bounds: Box | None = None,
                 optional: list[bool] | None = None) -> list[tuple[float, float] | None]:
    """Pixel offsets (dx, dy) of each label's centre from its point, chosen greedily in order.

    Each label takes the first candidate position (8 directions at 1, 2 and 3 steps out) that overlaps no label
    placed before it, no obstacle, no other point's marker and stays inside `bounds`; if none is free, the one
    with the least overlap, or None for a label marked `optional` that would cover a label or an obstacle there
    (it is left out).
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    markers = [(x - marker_px, y - marker_px, x + marker_px, y + marker_px) for x, y in pts]
    taken: list[Box] = list(obstacles)
    out = []
    for i, ((x, y), text) in enumerate(zip(pts, texts)):
        w, h = (2 * v for v in text_box(0, 0, text, font_px)[2:])
        best, best_cost, covers = (0.0, h / 2 + marker_px), float("inf"), True
        for ring in (1, 2, 3):
            for ux, uy in DIRECTIONS:
                dx = ux * (w / 2 + marker_px + gap * ring) if ux else 0.0
                dy = uy * (h / 2 + marker_px + gap * ring + (ring - 1) * h) if uy else 0.0
                box = text_box(x + dx, y + dy, text, font_px)
                on_labels = sum(overlap(box, b) for b in taken)
                cost = on_labels + sum(overlap(box, m) for j, m in enumerate(markers) if j != i)
                if bounds is not None and not (box[0] >= bounds[0] and box[1] >= bounds[1]
                                               and box[2] <= bounds[2] and box[3] <= bounds[3]):
                    cost, on_labels = cost + 1e6, on_labels + 1e6
                if cost < best_cost:
                    best, best_cost, covers = (dx, dy), cost, on_labels > 0
                if cost == 0:
                    break
            if best_cost == 0:
                break
        if covers and optional is not None and optional[i]:
            out.append(None)
            continue
        taken.append(text_box(x + best[0], y + best[1], text, font_px))
        out.append(best)
    return out


def place_centred(points: np.ndarray, texts: list[str], obstacles: list[Box] = (), *, font_px: float = 14,
                  pad: float = 0, bounds: Box | None = None, markers: np.ndarray | None = None,
                  marker_px: float = 7) -> list[tuple[float, float]]:
    """Pixel offsets (dx, dy) of labels meant to sit on their points (a region's name on the region), chosen
    greedily in order: each takes the position nearest its point, on a grid of half a label's width across and
    one line up or down (at most 2 and 4 steps), whose box overlaps no label placed before, no obstacle and no
    marker of `markers` (pixels (m, 2)) and stays inside `bounds`; if none is free, the one with the least
    overlap. Boxes are `pad` pixels wider on every side than the text (text_box)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    near = [] if markers is None else [(x - marker_px, y - marker_px, x + marker_px, y + marker_px)
                                       for x, y in np.asarray(markers, np.float64).reshape(-1, 2)]
    taken: list[Box] = list(obstacles)
    out = []
    for (x, y), text in zip(pts, texts):
        w, h = (2 * v for v in text_box(0, 0, text, font_px, pad)[2:])
        steps = sorted(((i * w / 2, j * h) for i in range(-2, 3) for j in range(-4, 5)),
                       key=lambda d: (d[0] ** 2 + d[1] ** 2, -d[1]))  # nearest first, above before below
        best, best_cost = (0.0, 0.0), float("inf")
        for dx, dy in steps:
            box = text_box(x + dx, y + dy, text, font_px, pad)
            cost = sum(overlap(box, b) for b in taken) + sum(overlap(box, m) for m in near)
            if bounds is not None and not (box[0] >= bounds[0] and box[1] >= bounds[1] and box[2] <= bounds[2]
                                           and box[3] <= bounds[3]):
                cost += 1e6
            if cost < best_cost:
                best, best_cost = (dx, dy), cost
            if cost == 0:
                break
        taken.append(text_box(x + best[0], y + best[1], text, font_px, pad))
        out.append(best)
    return out


def camera_pixels(xyz: np.ndarray, ranges: list[tuple[float, float]], *, eye: tuple[float, float, float],
                  center: tuple[float, float, float] = (0, 0, 0), height_px: float = 360,
                  aspect: tuple[float, float, float] = (1, 1, 1)) -> np.ndarray:
    """Where points (n, 3) of a Plotly 3D scene (axis `ranges`, `aspect` its aspectratio: 1, 1, 1 for aspectmode
    "cube") appear on screen, in pixels (n, 2) from the scene's centre, y up: Plotly scales the box to [-a/2, a/2]
    on each axis and looks from `eye` at `center` (z up) through a 45° field of view spanning the scene's height
    (`height_px`)."""
    lo, hi = np.array([r[0] for r in ranges], np.float64), np.array([r[1] for r in ranges], np.float64)
    p = (np.asarray(xyz, np.float64).reshape(-1, 3) - (lo + hi) / 2) / np.maximum(hi - lo, 1e-12) * np.asarray(aspect)
    e, c = np.asarray(eye, np.float64), np.asarray(center, np.float64)
    f = (c - e) / np.linalg.norm(c - e)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= max(np.linalg.norm(r), 1e-12)
    u = np.cross(r, f)
    d = p - e
    focal = 1 / np.tan(np.pi / 8) * height_px / 2  # pixels per unit of (across / ahead)
    return np.stack([d @ r, d @ u], 1) / (d @ f)[:, None] * focal


TEXT_POSITIONS = {"top center": (0, 1), "bottom center": (0, -1), "middle right": (1, 0), "middle left": (-1, 0),
                  "top right": (1, 1), "top left": (-1, 1), "bottom right": (1, -1), "bottom left": (-1, -1)}


def pick_text_positions(points: np.ndarray, texts: list[str], obstacles: list[Box] = (), *, font_px: float = 12,
                        marker_px: float = 6, optional: list[bool] | None = None,
                        sides: tuple[str, ...] = tuple(TEXT_POSITIONS), bounds: Box | None = None
                        ) -> list[str | None]:
    """Plotly textposition of each point's label, chosen greedily in order: the first of `sides` whose box
    (on screen, points in pixels (n, 2)) overlaps no label placed before it, no obstacle and no other point's
    marker, else the one with the least overlap, or None for a label marked `optional` (it is left out; hovering
    names its point); a side whose box leaves `bounds` (the plot area: Plotly clips text there) counts as covering
    a label. For a 3D scene and a 2D word map, where Plotly offers only these positions."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    markers = np.concatenate([pts - marker_px, pts + marker_px], 1)
    placed = np.zeros((len(pts), 4))  # each point's label box once placed (an empty box before)
    walls = np.asarray(obstacles, np.float64).reshape(-1, 4)
    sizes = [tuple(2 * v for v in text_box(0, 0, t, font_px)[2:]) for t in texts]
    widest = max((w for w, _ in sizes), default=0.0), max((h for _, h in sizes), default=0.0)
    out: list[str | None] = []
    for i, ((x, y), text) in enumerate(zip(pts, texts)):
        w, h = sizes[i]
        # only points whose marker or label can reach this label's boxes count (the rest cannot overlap them)
        near = np.flatnonzero((np.abs(pts[:, 0] - x) < w + widest[0] + 2 * marker_px)
                              & (np.abs(pts[:, 1] - y) < h + widest[1] + 2 * marker_px))
        near = near[near != i]  # its own point's marker
        boxes = np.array([text_box(x + ux * (w / 2 + marker_px), y + uy * (h / 2 + marker_px), text, font_px)
                          for ux, uy in (TEXT_POSITIONS[name] for name in sides)])
        cost = (overlaps(boxes, walls).sum(1) + overlaps(boxes, placed[near]).sum(1)
                + overlaps(boxes, markers[near]).sum(1))
        if bounds is not None:
            cost += 1e6 * ((boxes[:, 0] < bounds[0]) | (boxes[:, 1] < bounds[1]) | (boxes[:, 2] > bounds[2])
                           | (boxes[:, 3] > bounds[3]))
        first = int(np.argmin(cost))  # the first side of least overlap
        best, best_box, best_cost = sides[first], tuple(boxes[first]), float(cost[first])
        if best_cost > 0 and optional is not None and optional[i]:
            out.append(None)
            continue
        placed[i] = best_box
        out.append(best)
    return out
