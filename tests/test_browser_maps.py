"""The Trajectory map as the browser draws it: no label prints over another and no point shows through a region's
label, on the default view and on the UMAP and t-SNE maps, at a wide and a narrow window; the Story's landscape keeps
its labels apart and off the path's markers."""

from __future__ import annotations

import io

import numpy as np
import pytest

from .conftest import no_errors, open_in_browser, wait_charts, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Every label of the page's first map as drawn: annotations (regions, steps, stars, depths) and text points, with
# their kind, whether they are shown and their box on screen.
MAP_LABELS = """() => { const gd = document.querySelector('.llm-chart');
  if (!gd || !gd._fullLayout || !gd.dataset.movedLabels) return null;
  const L = gd._fullLayout, out = [];
  const shown = (el) => { for (let e = el; e && e !== gd; e = e.parentElement) {
    if (getComputedStyle(e).display === 'none') return false; } return true; };
  const add = (el, text, kind) => { const r = el.getBoundingClientRect();
    if (r.width && shown(el)) out.push({ text, kind, box: [r.left, r.top, r.right, r.bottom] }); };
  for (const n of gd.querySelectorAll('.infolayer .annotation')) {
    add(n.querySelector('.cursor-pointer') || n, n.textContent,
        (L.annotations[+n.getAttribute('data-index')] || {}).name || ''); }
  for (const t of gd.querySelectorAll('.scatterlayer .textpoint text')) add(t, t.textContent, 'text');
  return { title: (L.title || {}).text || '', labels: out }; }"""
OVERLAPS = """(labels) => { const out = [];
  labels.forEach((a, i) => labels.slice(i + 1).forEach((b) => { const p = a.box, q = b.box;
    if (p[0] < q[2] && q[0] < p[2] && p[1] < q[3] && q[1] < p[3]) out.push([a.text, b.text]); }));
  return out; }"""


# The centres of the path's markers as drawn (the trace marked meta 'path').
PATH_MARKERS = """() => { const gd = document.querySelector('.llm-chart');
  const g = [...gd.querySelectorAll('.scatterlayer .trace')].find(t => t.__data__[0].trace.meta === 'path');
  return g ? [...g.querySelectorAll('.point')].map(p => { const r = p.getBoundingClientRect();
    return [(r.left + r.right) / 2, (r.top + r.bottom) / 2]; }) : []; }"""


# Each shown step, star or depth label whose box lies more than 14 px from its point (a marker's radius, 8 px, and a
# gap of 6) without a leader line from the marker's edge to the box, or closer with one: [text, distance] of each.
LEADERS_MISSING = """() => { const gd = document.querySelector('.llm-chart'), L = gd._fullLayout;
  const s = gd.querySelector('.main-svg').getBoundingClientRect(), bad = [];
  const lines = [...gd.querySelectorAll('g.llm-leaders line')];
  for (const n of gd.querySelectorAll('.infolayer .annotation')) {
    const a = L.annotations[+n.getAttribute('data-index')];
    if (!a || !['step', 'star', 'depth'].includes(a.name) || n.style.display === 'none') continue;
    const r = (n.querySelector('.cursor-pointer') || n).getBoundingClientRect();
    if (!r.width) continue;
    const px = s.left + L.xaxis._offset + L.xaxis.l2p(a.x), py = s.top + L.yaxis._offset + L.yaxis.l2p(a.y);
    const ex = Math.min(Math.max(px, r.left), r.right), ey = Math.min(Math.max(py, r.top), r.bottom);
    const d = Math.hypot(ex - px, ey - py);
    const line = lines.find(l => l.getAttribute('data-index') === n.getAttribute('data-index'));
    const at = (x, y) => line && Math.hypot(s.left + +line.getAttribute(x) - (x === 'x1' ? px : ex),
                                               s.top + +line.getAttribute(y) - (y === 'y1' ? py : ey));
    const ok = d > 14 ? line && at('x1', 'y1') <= 9 && at('x2', 'y2') <= 1 : !line;
    if (!ok) bad.push([n.textContent, d]); }
  return bad; }"""


def _overlaps(labels: list[dict]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1:]
            if a["box"][0] < b["box"][2] and b["box"][0] < a["box"][2] and a["box"][1] < b["box"][3]
            and b["box"][1] < a["box"][3]]


def _regions_over_markers(labels: list[dict], markers: list) -> list:
    """(region name, marker centre) for every region label drawn over the centre of a marker of the path."""
    return [(r["text"], m) for r in labels if r["kind"] == "region" for m in markers
            if r["box"][0] <= m[0] <= r["box"][2] and r["box"][1] <= m[1] <= r["box"][3]]


def _points_through(page, box: list[float]) -> int:
    """Pixels inside a label's box (its border left out) in a strong colour: a reference point or an outline
    showing through. The label's text is ink (grey) and its halo the background, both without colour."""
    from PIL import Image

    x0, y0, x1, y1 = box
    shot = page.screenshot(clip=dict(x=x0 + 4, y=y0 + 4, width=max(x1 - x0 - 8, 1), height=max(y1 - y0 - 8, 1)))
    rgb = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), np.int16)
    return int((rgb.max(-1) - rgb.min(-1) > 60).sum())


@pytest.mark.parametrize("query, title, width", [("", "", 1400), ("?method=umap", "UMAP", 1400),
                                                  ("?method=tsne", "t-SNE", 1400), ("", "", 800),
                                                  ("?method=umap", "UMAP", 800), ("?method=tsne", "t-SNE", 800)])
def test_trajectory_map_labels_neither_overlap_nor_show_points_through(server, browser, query, title, width):
    """Region, step and star labels of the first map: no two boxes overlap (as drawn, after chart.js has moved
    what the server's estimate left over another), no region's name lies over a marker of the path, a step's or
    star's label set more than 14 px from its point is tied to its marker by a line (and no other is), every
    sub-context with a region outline is named, and inside
    every region label no coloured pixel of a point or an outline shows (the label sits on an opaque halo above
    them)."""
    page, errors = open_in_browser(browser, f"{server}/{query}", width=width)
    wait_charts(page, 1)
    wait_idle(page)
    page.wait_for_function(f"""(title) => {{ const m = ({MAP_LABELS})();
        return m !== null && m.title.includes(title) && m.labels.some(l => l.kind === 'region')
            && m.labels.some(l => l.kind === 'step') && ({OVERLAPS})(m.labels).length === 0; }}""",
                           arg=title, timeout=60_000)
    drawn = page.evaluate(MAP_LABELS)
    labels = drawn["labels"]
    assert not _overlaps(labels), _overlaps(labels)
    markers = page.evaluate(PATH_MARKERS)  # no region's name over a step of the path
    assert markers and not _regions_over_markers(labels, markers), _regions_over_markers(labels, markers)
    assert page.evaluate(LEADERS_MISSING) == []  # a label set aside is tied to its point by a line
    outlined = set(page.evaluate("""() => document.querySelector('.llm-chart')._fullData
        .filter(t => (t.name || '').endsWith(' region')).map(t => t.name.slice(0, -7))"""))
    regions = [label for label in labels if label["kind"] == "region"]
    assert outlined and {label["text"] for label in regions} == outlined
    page.locator(".llm-chart").first.scroll_into_view_if_needed()
    drawn = page.evaluate(MAP_LABELS)  # boxes where the page now shows them
    for label in (x for x in drawn["labels"] if x["kind"] == "region"):
        assert _points_through(page, label["box"]) == 0, label["text"]
    no_errors(page, errors)
    page.close()


@pytest.mark.parametrize("width", [1400, 800])
def test_compare_map_labels_do_not_overlap(server, browser, width):
    """The Compare page's map of two runs: the step labels of both runs, as drawn, cover none another."""
    page, errors = open_in_browser(browser, f"{server}/compare", width=width)
    wait_charts(page, 1)
    wait_idle(page)
    page.wait_for_function(f"""() => {{ const m = ({MAP_LABELS})();
        return m !== null && m.title.startsWith('Both runs') && m.labels.filter(l => l.kind === 'step').length > 8
            && ({OVERLAPS})(m.labels).length === 0; }}""", timeout=60_000)
    labels = page.evaluate(MAP_LABELS)["labels"]
    assert not _overlaps(labels), _overlaps(labels)
    no_errors(page, errors)
    page.close()


@pytest.mark.parametrize("query, width, height", [("scene=5", 800, 1400), ("scene=5&presenter=true", 1280, 720)])
def test_story_landscape_labels_cover_neither_each_other_nor_the_paths_markers(server, browser, query, width, height):
    """Story scene 5 as drawn in a narrow column and on a projector: no region or step label covers another, no
    region's name lies over the centre of one of the path's markers (the steps stay visible), and the map fills the
    chart's width (not a square in the middle of it)."""
    page, errors = open_in_browser(browser, f"{server}/story?{query}", width=width, height=height)
    wait_charts(page, 1)
    wait_idle(page)
    page.wait_for_function(f"""() => {{ const m = ({MAP_LABELS})();
        return m !== null && m.labels.some(l => l.kind === 'region') && m.labels.some(l => l.kind === 'step')
            && ({OVERLAPS})(m.labels).length === 0 && ({PATH_MARKERS})().length > 0; }}""", timeout=60_000)
    labels, markers = page.evaluate(MAP_LABELS)["labels"], page.evaluate(PATH_MARKERS)
    assert not _overlaps(labels), _overlaps(labels)
    assert not _regions_over_markers(labels, markers), _regions_over_markers(labels, markers)
    plot, chart = page.evaluate("""() => { const gd = document.querySelector('.llm-chart');
        const r = (e) => { const b = e.getBoundingClientRect(); return [b.width, b.height]; };
        return [r(gd.querySelector('.nsewdrag')), r(gd)]; }""")
    assert plot[0] >= 1.3 * plot[1] and plot[0] >= 0.5 * chart[0], (plot, chart)
    no_errors(page, errors)
    page.close()


# The Embeddings page's word labels as drawn: each label's text, whether it is shown, its box, and whether its trace
# is the last of the chart's scatter traces (drawn above every point).
WORD_LABELS = """() => { const gd = document.querySelector('.llm-chart');
  if (!gd || !gd.dataset.hiddenLabels) return null;
  const traces = [...gd.querySelectorAll('.scatterlayer .trace')];
  return traces.flatMap((t, k) => [...t.querySelectorAll('.textpoint text')].map((e) => {
    const r = e.getBoundingClientRect();
    return { text: e.textContent, shown: e.style.display !== 'none' && r.width > 0,
             box: [r.left, r.top, r.right, r.bottom], last: k === traces.length - 1 }; })); }"""


@pytest.mark.parametrize("method", ["umap", "pca"])
def test_word_map_labels_at_800_px_are_above_every_point_and_apart(server, browser, method):
    """The Embeddings page at 800 px: of the 617 word labels, the shown ones (more than a dozen) cover no other and
    are printed above every point (their trace is drawn last), so a word in a tight cluster reads."""
    page, errors = open_in_browser(browser, f"{server}/embeddings?emb_method={method}", width=800)
    wait_charts(page, 1)
    wait_idle(page)
    page.wait_for_function(f"""() => {{ const l = ({WORD_LABELS})(); if (!l || l.length < 500) return false;
        const shown = l.filter(x => x.shown);
        return shown.length > 12 && ({OVERLAPS})(shown).length === 0; }}""", timeout=60_000)
    words = page.evaluate(WORD_LABELS)
    shown = [w for w in words if w["shown"]]
    assert len(words) > 500 and len(shown) > 12 and not _overlaps(shown), _overlaps(shown)
    assert all(w["last"] for w in words)
    no_errors(page, errors)
    page.close()
