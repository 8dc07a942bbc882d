"""The 3D charts as the browser draws them, at a wide and a narrow window: the Landscape page's terrain keeps every
region name off the path's step labels, the Trajectory page's 3D map gives its scene most of the chart and keeps its
step labels apart, and both keep their whole scene inside the chart."""

from __future__ import annotations

import pytest

from dashboard.figures.geometry import MAP_SCENE_ASPECT, TERRAIN_ASPECT

from .conftest import no_errors, open_in_browser, wait_charts, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# The page's first 3D chart as drawn: its scene's annotations (kind: their name) with their boxes on screen, the
# chart's box, its plot area, and the corners of the scene's axes box in normalised device coordinates (-1..1 inside
# the scene's canvas), projected with the matrices Plotly's WebGL scene draws with.
SCENE = """() => {
  const gd = [...document.querySelectorAll('.llm-chart')].find(g => g._fullLayout && g._fullLayout.scene);
  if (!gd || !gd.dataset.drawn || !gd._fullLayout.scene._scene) return null;
  const L = gd._fullLayout, notes = L.scene.annotations || [], chart = gd.getBoundingClientRect();
  const labels = [...gd.querySelectorAll('.infolayer .annotation-scene')].map((n) => {
    const r = (n.querySelector('.cursor-pointer') || n).getBoundingClientRect();
    return { text: n.textContent, kind: (notes[+n.getAttribute('data-index')] || {}).name || '',
             box: [r.left, r.top, r.right, r.bottom] }; }).filter((l) => l.box[2] > l.box[0]);
  const gl = L.scene._scene.glplot, c = gl.cameraParams, b = gl.bounds, corners = [];
  for (const i of [0, 1]) for (const j of [0, 1]) for (const k of [0, 1]) {
    let v = [b[i][0], b[j][1], b[k][2], 1];
    for (const m of [c.model, c.view, c.projection]) {
      v = [0, 1, 2, 3].map((r) => m[r] * v[0] + m[4 + r] * v[1] + m[8 + r] * v[2] + m[12 + r] * v[3]); }
    corners.push([v[0] / v[3], v[1] / v[3]]); }
  return { labels, corners, chart: [chart.left, chart.top, chart.right, chart.bottom],
           plot: [L._size.w, L._size.h], height: L.height }; }"""


def _overlaps(labels: list[dict]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1:]
            if a["box"][0] < b["box"][2] and b["box"][0] < a["box"][2] and a["box"][1] < b["box"][3]
            and b["box"][1] < a["box"][3]]


def _outside(drawn: dict) -> list[str]:
    """Labels whose box leaves the chart, and the scene's corners outside 90 % of its canvas's width or 95 % of its
    height (room for the ticks)."""
    x0, y0, x1, y1 = drawn["chart"]
    out = [label["text"] for label in drawn["labels"] if label["box"][0] < x0 or label["box"][2] > x1
           or label["box"][1] < y0 or label["box"][3] > y1]
    return out + [f"corner {c}" for c in drawn["corners"] if abs(c[0]) > 0.9 or abs(c[1]) > 0.95]


@pytest.mark.parametrize("width", [1400, 800])
def test_terrain_names_no_region_over_a_step_and_fits_the_chart(server, browser, width):
    """The terrain at 1400 and 800 px: its step labels and region names (drawn over the WebGL scene, so no hill hides
    them) cover none another and stay inside the chart, the chart keeps its scene at least TERRAIN_ASPECT wide for
    its height, and the scene's box, projected as Plotly draws it, lies inside its canvas (in a narrow column the
    scene ran past both sides)."""
    page, errors = open_in_browser(browser, f"{server}/landscape", width=width)
    wait_charts(page, 1)
    wait_idle(page)
    page.wait_for_function(f"""(aspect) => {{ const s = ({SCENE})();
        return s !== null && s.labels.some(l => l.kind === 'region') && s.labels.some(l => l.kind === 'step')
            && s.plot[0] >= aspect * s.plot[1] - 2; }}""", arg=TERRAIN_ASPECT, timeout=90_000)
    drawn = page.evaluate(SCENE)
    assert drawn["plot"][0] >= TERRAIN_ASPECT * drawn["plot"][1] - 2, drawn["plot"]
    assert not _overlaps(drawn["labels"]), _overlaps(drawn["labels"])
    assert not _outside(drawn), _outside(drawn)
    regions = [label for label in drawn["labels"] if label["kind"] == "region"]
    assert len(regions) >= 2  # the path's sub-contexts named, not all left to the legend
    no_errors(page, errors)
    page.close()


@pytest.mark.parametrize("width", [1400, 800])
def test_trajectory_3d_map_gives_its_scene_the_chart_and_keeps_step_labels_apart(server, browser, width):
    """The Trajectory page's 3D map at 1400 and 800 px: every step named once by the scene's annotations, none over
    another, all inside the chart; the scene, projected as Plotly draws it, inside its canvas (the chart lowered
    in a narrow column to keep the scene MAP_SCENE_ASPECT wide); in a wide window the scene takes at least 70 % of
    the chart's height (the legend in rows below it: as a column per group it took 40 %)."""
    page, errors = open_in_browser(browser, f"{server}/?dims=3", width=width)
    wait_charts(page, 1)
    wait_idle(page)
    page.wait_for_function(f"""(aspect) => {{ const s = ({SCENE})();
        return s !== null && s.labels.filter(l => l.kind === 'step').length >= 5
            && s.plot[0] >= aspect * s.plot[1] - 2; }}""", arg=MAP_SCENE_ASPECT, timeout=90_000)
    drawn = page.evaluate(SCENE)
    steps = [label for label in drawn["labels"] if label["kind"] == "step"]
    assert all(label["text"][:1].isdigit() for label in steps)  # 'n word': step n's label
    assert not _overlaps(drawn["labels"]), _overlaps(drawn["labels"])
    assert not _outside(drawn), _outside(drawn)
    if width == 1400:
        assert drawn["plot"][1] >= 0.7 * drawn["height"], (drawn["plot"], drawn["height"])
    no_errors(page, errors)
    page.close()
