"""Sub-context regions on a 2D map (densities on a grid, labels, terrain) and sub-context membership of states.

Densities are kernel density estimates on a grid (binned Gaussian KDE). "Which sub-context is this state in" is
answered in the original space by k nearest reference states, never from 2D distances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from llmcore.inputs import Shaped

OUTLINE_LEVEL = 0.5  # a region is where its sub-context's density is at least half its local peak
SMALL_ISLAND = 0.05  # an island of a region holding less than this share of its sub-context's points is a small one


@dataclass
class RegionMap(Shaped):
    """Densities of each sub-context over a grid of the map."""

    contexts: list[str]
    x: np.ndarray
    """(nx,) grid coordinates across."""
    y: np.ndarray
    """(ny,) grid coordinates up."""
    density: np.ndarray
    """(G, ny, nx) each sub-context's KDE scaled by its local peak (`local_peak_density`: every cluster of its
    states, not only the biggest, peaks at 1; its region is outlined at half of it)."""
    dominant: np.ndarray
    """(ny, nx) index of the sub-context holding most states there (-1 where there are none)."""
    height: np.ndarray
    """(ny, nx) the terrain: the density of all states together, log-compressed to peak 1 (`terrain_height`)."""
    centres: np.ndarray
    """(G, 2) label position of each sub-context (its densest grid point)."""
    counts: np.ndarray
    """(G,) points per sub-context."""
    share: np.ndarray | None = None
    """(G, ny, nx) the share of sub-context g's points that lie in the island of its region (density at least
    OUTLINE_LEVEL) holding the cell; 0 outside the region. None: every island counts as a main one."""
    SHAPES: ClassVar = {"contexts": ("G",), "x": ("nx",), "y": ("ny",), "density": ("G", "ny", "nx"),
                        "dominant": ("ny", "nx"), "centres": ("G", 2)}

    def outline(self, g: int, level: float = OUTLINE_LEVEL, *, islands: str = "all") -> tuple[np.ndarray, np.ndarray]:
        """Sub-context g's region border (its density at `level` of its peak), found by marching squares over the
        grid and joined into polylines: x and y arrays with one NaN between lines, ready to draw as one trace (a
        closed line ends on its first point). Computed here, the browser draws a few long lines instead of tracing
        a contour itself, or hundreds of loose segments (both cost Chromium far more). islands: "all"; "main", the
        islands holding at least SMALL_ISLAND of g's points; "small", the others (at OUTLINE_LEVEL only)."""
        memo = self.__dict__.setdefault("_outlines", {})  # computed once per region and level (maps are redrawn often)
        if (g, level, islands) not in memo:
            memo[g, level, islands] = self._outline(g, level, islands)
        return memo[g, level, islands]

    def _outline(self, g: int, level: float, islands: str) -> tuple[np.ndarray, np.ndarray]:
        z = self.density[g]
        if islands != "all" and self.share is not None and level == OUTLINE_LEVEL:
            small = (z >= level) & (self.share[g] < SMALL_ISLAND)
            other = small if islands == "main" else (z >= level) & ~small
            z = np.where(other, np.minimum(z, np.nextafter(np.float32(level), np.float32(0))), z)  # not crossed
        sx, sy, ex_, ey_ = self._segments(z, level)
        lines = chain_segments(np.stack([sx, sy], 1), np.stack([ex_, ey_], 1))
        if not lines:
            return np.empty(0), np.empty(0)
        gap = np.full((1, 2), np.nan)
        joined = np.concatenate([part for line in lines for part in (line, gap)][:-1]).T.copy()
        joined.setflags(write=False)  # shared by every later call
        return joined[0], joined[1]

    def _segments(self, z: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Marching squares over densities z (ny, nx): the start and end (x, y) of every border segment, one or two
        per crossed cell."""
        above = z >= level
        # crossing points on each cell's four edges: bottom, right, top, left (NaN where the edge is not crossed)
        edges = [self._crossing(z, above, level=level, p=p, q=q) for p, q in (((0, 0), (0, 1)), ((0, 1), (1, 1)),
                                                                   ((1, 0), (1, 1)), ((0, 0), (1, 0)))]
        ex, ey = np.stack([e[0] for e in edges], -1), np.stack([e[1] for e in edges], -1)  # (ny-1, nx-1, 4)
        crossed = ~np.isnan(ex)
        count = crossed.sum(-1)
        pairs = []
        two = np.argwhere(count == 2)
        if len(two):
            k = np.argsort(~crossed[two[:, 0], two[:, 1]], axis=1, kind="stable")[:, :2]  # the two crossed edges
            pairs.append((two, k[:, 0], k[:, 1]))
        four = np.argwhere(count == 4)  # a saddle: join the edges around the corners on the centre's side
        if len(four):
            centre = z[four[:, 0], four[:, 1]] + z[four[:, 0] + 1, four[:, 1] + 1] + z[four[:, 0], four[:, 1] + 1] \
                + z[four[:, 0] + 1, four[:, 1]]
            joined = (centre / 4 >= level) == above[four[:, 0], four[:, 1]]
            pairs += [(four, np.where(joined, 0, 0), np.where(joined, 1, 3)),
                      (four, np.where(joined, 2, 1), np.where(joined, 3, 2))]
        out = [np.empty(0)] * 4
        for cells, a, b in pairs:
            r, c = cells[:, 0], cells[:, 1]
            out = [np.concatenate([o, v]) for o, v in zip(out, (ex[r, c, a], ey[r, c, a], ex[r, c, b], ey[r, c, b]))]
        return tuple(out)

    def _crossing(self, z: np.ndarray, above: np.ndarray, *, level: float, p: tuple[int, int],
                  q: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Where the level crosses the edge from corner p to corner q ((row, col) offsets) of every cell."""
        ny, nx = z.shape
        zp, zq = z[p[0]:ny - 1 + p[0], p[1]:nx - 1 + p[1]], z[q[0]:ny - 1 + q[0], q[1]:nx - 1 + q[1]]
        ap, aq = above[p[0]:ny - 1 + p[0], p[1]:nx - 1 + p[1]], above[q[0]:ny - 1 + q[0], q[1]:nx - 1 + q[1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(ap != aq, (level - zp) / (zq - zp), np.nan)
        cols, rows = np.arange(nx - 1)[None, :], np.arange(ny - 1)[:, None]
        x = np.interp(cols + p[1] + t * (q[1] - p[1]), np.arange(nx), self.x)
        y = np.interp(rows + p[0] + t * (q[0] - p[0]), np.arange(ny), self.y)
        return np.where(np.isnan(t), np.nan, x), np.where(np.isnan(t), np.nan, y)

    def inside(self, xy: np.ndarray, contexts: list[str], level: float = OUTLINE_LEVEL) -> np.ndarray:
        """(n,) whether each point (n, 2) lies inside the outline (`level`) of its own sub-context's region, read
        at the grid point nearest it; False for a sub-context the map has no region of."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        col = np.abs(xy[:, :1] - self.x[None].astype(np.float64)).argmin(1)
        row = np.abs(xy[:, 1:2] - self.y[None].astype(np.float64)).argmin(1)
        g = np.array([self.contexts.index(c) if c in self.contexts else -1 for c in contexts], np.int64)
        ok = g >= 0
        out = np.zeros(len(xy), bool)
        out[ok] = self.density[g[ok], row[ok], col[ok]] >= level
        return out

    def island(self, g: int, xy: Sequence[float] | np.ndarray, level: float = OUTLINE_LEVEL) -> np.ndarray:
        """(ny, nx) the part of sub-context g's region (its density at least `level`) that holds the point xy: the
        grid cells joined to the cell nearest it through cells of the region (4-neighbours, island_labels); all
        False when the point is outside the region."""
        memo = self.__dict__.setdefault("_islands", {})  # labelled once per region and level
        if (g, level) not in memo:
            memo[g, level] = island_labels(self.density[g] >= level)
        labels = memo[g, level]
        row, col = int(np.abs(self.y - xy[1]).argmin()), int(np.abs(self.x - xy[0]).argmin())
        return labels == labels[row, col] if labels[row, col] < labels.size else np.zeros(labels.shape, bool)

    def lift(self, xy: np.ndarray) -> np.ndarray:
        """Terrain height under points (n, 2), bilinear, so a trajectory can be drawn on the surface."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        col = (xy[:, 0] - self.x[0]) / (self.x[1] - self.x[0])
        row = (xy[:, 1] - self.y[0]) / (self.y[1] - self.y[0])
        from scipy.ndimage import map_coordinates  # the terrain's pages only: scipy.ndimage takes 0.24 s to import

        return map_coordinates(self.height, [row, col], order=1, mode="nearest").astype(np.float32)


def chain_segments(starts: np.ndarray, ends: np.ndarray) -> list[np.ndarray]:
    """Segments (starts[i] to ends[i], each (n, 2)) joined end to end into polylines, each an (m, 2) array.

    Marching squares computes a crossing on an edge two cells share with the same arithmetic from both cells, so
    joined ends are equal exactly; every point is shared by at most two segments (a border never branches)."""
    n = len(starts)
    points, index = np.unique(np.concatenate([starts, ends]), axis=0, return_inverse=True)
    index = index.reshape(-1)
    a, b = index[:n], index[n:]
    touching: list[list[int]] = [[] for _ in range(len(points))]
    for i in range(n):
        touching[a[i]].append(i)
        touching[b[i]].append(i)
    used = np.zeros(n, bool)
    order = sorted(range(n), key=lambda i: min(len(touching[a[i]]), len(touching[b[i]])))  # open ends first
    lines = []
    for first in order:
        if used[first]:
            continue
        used[first] = True
        line = [a[first], b[first]]
        for backwards in (False, True):  # grow from the last point, then from the first
            if backwards:
                line.reverse()
            while True:
                nxt = next((j for j in touching[line[-1]] if not used[j]), None)
                if nxt is None:
                    break
                used[nxt] = True
                line.append(b[nxt] if a[nxt] == line[-1] else a[nxt])
        lines.append(points[line])
    return lines


PLAIN_STATES = 8  # this many states together still make a plain; a crowd of them makes a hill


def terrain_height(total: np.ndarray, sigma: float) -> np.ndarray:
    """Total density (a smoothed count of states per cell) compressed to [0, 1] by log(1 + d / d1), where d1 is
    the peak that PLAIN_STATES states' kernels make together: a few states rise to a low plain, a crowd to a hill,
    and the height grows with the log of how many states gather, so thin spikes become hills with plains between
    them (measured on the bundled model's six depths: docs/design.md)."""
    plain = PLAIN_STATES / (2 * np.pi * sigma**2)
    return np.log1p(total / plain) / np.log1p(max(float(total.max()), 1e-12) / plain)


def gaussian_smooth(a: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage.gaussian_filter(a, sigma) of a 2D array (its 'reflect' edges, kernel and radius) in NumPy: a
    correlation along each axis in turn. The first page outlines regions, and scipy.ndimage takes 0.24 s to
    import on the dashboard's cold start."""
    r = int(truncate * float(sigma) + 0.5)
    x = np.arange(-r, r + 1)
    w = np.exp(-0.5 / (sigma * sigma) * x * x, dtype=np.double)
    w /= w.sum()
    out = np.asarray(a, np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        padded = np.pad(out, [(r, r) if i == axis else (0, 0) for i in (0, 1)], mode="symmetric")
        out = sum(w[k] * (padded[k:k + n] if axis == 0 else padded[:, k:k + n]) for k in range(2 * r + 1))
    return out


def island_labels(inside: np.ndarray) -> np.ndarray:
    """(ny, nx) one label per island of a region (`inside`, bool: the cells joined through the region,
    4-neighbours), ny * nx outside it. NumPy only: each cell takes the smallest label among its neighbours until
    none changes (a few dozen rounds on a 120-cell grid)."""
    ny, nx = inside.shape
    big = ny * nx
    label = np.where(inside, np.arange(big).reshape(ny, nx), big)
    while True:
        low = label.copy()
        low[1:] = np.minimum(low[1:], label[:-1])
        low[:-1] = np.minimum(low[:-1], label[1:])
        low[:, 1:] = np.minimum(low[:, 1:], label[:, :-1])
        low[:, :-1] = np.minimum(low[:, :-1], label[:, 1:])
        low = np.where(inside, low, big)
        if (low == label).all():
            return label
        label = low


def island_shares(inside: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(ny, nx) for each cell of a region (`inside`, bool) the share of the points (`counts` per cell) that lie in
    its island (island_labels); 0 outside."""
    label = island_labels(inside)
    total = max(float(counts.sum()), 1e-12)
    per_island = np.bincount(label.ravel(), weights=counts.ravel(), minlength=label.size + 1)
    return np.where(inside, per_island[label] / total, 0.0)


CLUSTER_STATES = 8  # a cluster of a sub-context's states is its region's own island once this many gather


def local_peak_density(d: np.ndarray, sigma: float) -> np.ndarray:
    """A smoothed count of one sub-context's states per cell (ny, nx) divided by its highest value within 3 kernel
    widths (`sigma` cells), or by the peak CLUSTER_STATES states make together where that is higher: every cluster of
    the sub-context peaks at 1, so half of it outlines a small cluster as well as the biggest (a state among a
    dozen of its kind is in its region), while a few stray states stay below half. Where the sub-context has fewer
    states than that in any one place, its densest point counts as the cluster (its region is not left out)."""
    r = max(int(round(3 * sigma)), 1)
    padded = np.pad(d, r, mode="constant")
    near = sliding_window_view(padded, 2 * r + 1, axis=0).max(-1)  # max over a square: rows, then columns
    near = sliding_window_view(near, 2 * r + 1, axis=1).max(-1)
    floor = min(CLUSTER_STATES / (2 * np.pi * sigma**2), float(d.max()))
    return d / np.maximum(near, max(floor, 1e-12))


def region_map(coords: np.ndarray, labels: np.ndarray, contexts: list[str], *, grid: int = 120,
               bandwidth: float = 0.03, margin: float = 0.05, terrain_bandwidth: float = 0.06) -> RegionMap:
    """KDE of each sub-context's points on a grid; bandwidths are fractions of the map's extent (the terrain is
    smoothed more than the region outlines: it shows where states gather, not the regions' edges)."""
    coords = np.asarray(coords, np.float64)[:, :2]
    lo, hi = coords.min(0), coords.max(0)
    span = np.maximum(hi - lo, 1e-9)
    lo, hi = lo - margin * span, hi + margin * span
    x, y = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    sigma, t_sigma = (bw * grid / (1 + 2 * margin) for bw in (bandwidth, terrain_bandwidth))
    dens = np.zeros((len(contexts), grid, grid))
    raw = np.zeros((len(contexts), grid, grid))  # counts smoothed like the terrain, for the dominant sub-context
    counts, peak = np.zeros(len(contexts), np.int64), np.zeros(len(contexts), np.int64)
    share = np.zeros((len(contexts), grid, grid))
    for g, ctx in enumerate(contexts):
        pts = coords[np.asarray(labels) == ctx]
        counts[g] = len(pts)
        if len(pts):
            h, _, _ = np.histogram2d(pts[:, 1], pts[:, 0], bins=grid, range=[[lo[1], hi[1]], [lo[0], hi[0]]])
            d = gaussian_smooth(h, sigma)
            dens[g] = local_peak_density(d, sigma)
            share[g] = island_shares(dens[g].astype(np.float32) >= OUTLINE_LEVEL, h)  # as stored
            peak[g] = d.argmax()  # the label goes to the sub-context's densest point, its biggest cluster
            raw[g] = gaussian_smooth(h, t_sigma)
    total = raw.sum(0)
    height = terrain_height(total, t_sigma)
    dominant = np.where(total > 1e-3 / (2 * np.pi * t_sigma**2), raw.argmax(0), -1)
    centres = np.stack([x[peak % grid], y[peak // grid]], 1)
    return RegionMap(list(contexts), x.astype(np.float32), y.astype(np.float32), dens.astype(np.float32),
                     dominant, height.astype(np.float32), centres.astype(np.float32), counts,
                     share.astype(np.float32))
