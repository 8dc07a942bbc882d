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


def text_box(cx: float, cy: float, text: str, font_px: float = 12) -> Box:
    """The box a one-line label of `text` takes when centred at (cx, cy); characters are ~0.6 em wide."""
    w, h = 0.6 * font_px * max(len(text), 1) + 4, font_px + 4
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def overlap(a: Box, b: Box) -> float:
    """Area shared by two boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def count_overlaps(boxes: list[Box]) -> int:
    """Pairs of boxes that overlap (the measure of a placement: 0 is readable)."""
    return sum(overlap(a, b) > 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])


def place_labels(points: np.ndarray, texts: list[str], obstacles: list[Box] = (), *, font_px: float = 12,
                 gap: float = 4, marker_px: float = 7, bounds: Box | None = None) -> list[tuple[float, float]]:
    """Pixel offsets (dx, dy) of each label's centre from its point, chosen greedily in order.

    Each label takes the first candidate position (8 directions at 1, 2 and 3 steps out) that overlaps no label
    placed before it, no obstacle, no other point's marker and stays inside `bounds`; if none is free, the one
    with the least overlap.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    markers = [(x - marker_px, y - marker_px, x + marker_px, y + marker_px) for x, y in pts]
    taken: list[Box] = list(obstacles)
    out = []
    for i, ((x, y), text) in enumerate(zip(pts, texts)):
        w, h = text_box(0, 0, text, font_px)[2] * 2, font_px + 4
        best, best_cost = (0.0, h / 2 + marker_px), float("inf")
        for ring in (1, 2, 3):
            for ux, uy in DIRECTIONS:
                dx = ux * (w / 2 + marker_px + gap * ring) if ux else 0.0
                dy = uy * (h / 2 + marker_px + gap * ring + (ring - 1) * h) if uy else 0.0
                box = text_box(x + dx, y + dy, text, font_px)
                cost = sum(overlap(box, b) for b in taken)
                cost += sum(overlap(box, m) for j, m in enumerate(markers) if j != i)
                if bounds is not None and not (box[0] >= bounds[0] and box[1] >= bounds[1]
                                               and box[2] <= bounds[2] and box[3] <= bounds[3]):
                    cost += 1e6
                if cost < best_cost:
                    best, best_cost = (dx, dy), cost
                if cost == 0:
                    break
            if best_cost == 0:
                break
        taken.append(text_box(x + best[0], y + best[1], text, font_px))
        out.append(best)
    return out
