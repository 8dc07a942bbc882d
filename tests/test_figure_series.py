"""Every multi-series line chart the figures module builds gives each series its own (colour, dash) pair, in a
colour that keeps a WCAG contrast of at least 3:1 against both the light and the dark theme's background; checked
on the figures' JSON, as the browser receives it."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from dashboard import frames
from dashboard.figures import causes as causes_figures
from dashboard.figures import maps as map_figures
from dashboard.figures import theme
from dashboard.figures import training as training_figures

LIGHT, DARK = "#FFFFFF", "#0E1117"  # Streamlit's two themes' backgrounds


def wcag_contrast(a: str, b: str) -> float:
    """The WCAG 2 contrast ratio, written out here apart from the dashboard's own."""
    def lum(h: str) -> float:
        rgb = [int(h.lstrip("#")[k: k + 2], 16) / 255 for k in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def line_series(fig) -> list[dict]:
    """The line series of a figure as the browser gets it: scatter traces drawn with lines and listed in the legend
    (a map's region outlines and reference states are not series)."""
    data = json.loads(fig.to_json())["data"]
    return [t for t in data if t.get("type", "scatter") in ("scatter", "scattergl") and "lines" in t.get("mode", "")
            and t.get("showlegend", True) is not False and t.get("meta") != theme.BASE]


def assert_distinct_and_readable(fig, n_min: int = 2) -> None:
    series = line_series(fig)
    assert len(series) >= n_min, [t.get("name") for t in series]
    styles = [(str(t.get("line", {}).get("color")).upper(), t.get("line", {}).get("dash", "solid")) for t in series]
    assert len(set(styles)) == len(styles), list(zip([t["name"] for t in series], styles))
    for (colour, _), t in zip(styles, series):
        assert colour.startswith("#"), (t["name"], colour)  # an explicit colour, not the theme's default
        for bg in (LIGHT, DARK):
            assert wcag_contrast(colour, bg) >= 3, (t["name"], colour, bg, wcag_contrast(colour, bg))


def test_the_contrast_ratio_is_wcags():
    assert theme.contrast("#000000", "#FFFFFF") == pytest.approx(21)
    assert theme.contrast("#777777", "#777777") == pytest.approx(1)
    for c in theme.SERIES_COLOURS + ["#E69F00", "#222222", "#EEEEEE"]:
        assert theme.contrast(c, DARK) == pytest.approx(wcag_contrast(c, DARK))
        assert theme.readable(c) == (min(wcag_contrast(c, LIGHT), wcag_contrast(c, DARK)) >= 3)


def test_series_styles_are_distinct_and_readable_on_both_themes():
    styles = [theme.series_style(i) for i in range(42)]
    pairs = [(s["line"]["color"], s["line"]["dash"]) for s in styles]
    assert len(set(pairs)) == len(pairs)
    for a, b in zip(styles, styles[1:]):  # neighbours differ in colour, dash and marker
        assert a["line"]["color"] != b["line"]["color"] and a["line"]["dash"] != b["line"]["dash"]
        assert a["marker"]["symbol"] != b["marker"]["symbol"]
    assert all(theme.readable(c) for c in theme.SERIES_COLOURS)


def test_training_curves(ckpt, tiny_ckpt):
    """The Training page's Loss and Generalisation lines, for the bundled model and a tiny one."""
    for c in (ckpt, tiny_ckpt):
        fig = training_figures.training_curves(c.train_log())
        assert_distinct_and_readable(fig, n_min=4)


def test_snapshot_curves(ckpt):
    from llmcore.maps.watch import metric_table
    from llmcore.training.snapshots import generalisation_step, snapshot_metrics

    table = frames.metrics_frame(metric_table(ckpt))
    fig = training_figures.snapshot_curves(table, int(table.step.iloc[-1]), generalisation_step(snapshot_metrics(ckpt)))
    assert_distinct_and_readable(fig, n_min=table.measure.nunique())
    colours = [t["line"]["color"] for t in line_series(fig)]
    assert len(set(colours)) == len(colours)  # no two lines share a colour: the legend is matched by colour alone
    families = {t.get("legendgroup"): "markers" in t["mode"] for t in line_series(fig)}
    assert families == {"measures": True, "separability": False}  # and the two families by their markers


def _paths(runs: list[str], rng) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"run": r, "position": np.arange(1, 6), "word": list("abcde"),
                                    "x": rng.normal(size=5), "y": rng.normal(size=5)}) for r in runs])


def test_causes_maps_runs(ckpt):
    """The Causes page's runs (clean, corrupted, patched; unsteered in either theme's ink, steered)."""
    from dashboard.views.causes import RUN_COLOURS
    from llmcore.maps.regions import region_map

    rng = np.random.default_rng(0)
    names = ["animals", "food", "grammar"]
    regions = region_map(rng.normal(size=(300, 2)), np.array(rng.choice(names, 300)), names)
    colours = theme.context_colours(names)
    fig = causes_figures.causes_map(regions, _paths(["clean", "corrupted", "patched"], rng), colours, "runs",
                                    axis_label="PC",
                             run_colours=RUN_COLOURS)
    assert_distinct_and_readable(fig, n_min=3)
    for ink in ("#222222", "#EEEEEE"):
        fig = causes_figures.causes_map(regions, _paths(["unsteered", "steered"], rng), colours, "steer",
                                        axis_label="PC",
                                 run_colours={"unsteered": ink, "steered": RUN_COLOURS["steered"]})
        assert_distinct_and_readable(fig, n_min=2)


def test_compare_maps_runs(ckpt):
    from dashboard.views.compare import SIDE_COLOURS
    from llmcore.analysis.trace import trace_generation
    from llmcore.maps.store import MapBook

    fmap = MapBook(ckpt).get("context:final", "pca", 2)
    depth = -1
    paths = [frames.trajectory_frame(trace_generation(ckpt, p), fmap, depth) for p in ("a dog eats", "a cat drinks")]
    colours = theme.context_colours(ckpt.context_matrix()[0])
    for side_colours in (SIDE_COLOURS, ("#222222", "#EEEEEE")):
        drawn = [(name, c, p) for name, c, p in zip(("left", "right"), side_colours, paths)]
        fig = map_figures.compare_map(frames.reference_frame(fmap), drawn, colours, "both", axis_label=fmap.axis_label)
        assert_distinct_and_readable(fig, n_min=2)
        steps = [a for a in fig.layout.annotations if a.name == "step"]  # both runs' steps labelled alike
        colours_used = {a.font.color for a in steps}
        assert len(colours_used) == 2 and len({a.font.size for a in steps}) == 1
        assert all(re.fullmatch(r"<b>\d+</b> \S+", a.text) for a in steps), [a.text for a in steps]


def test_causes_map_names_regions_on_labels_and_writes_a_repeated_word_once(ckpt):
    """Region names are annotations named "region" (chart.js moves one that meets another label), one per region
    with states; a later run's label is left out only where it repeats the first run's word at the same spot."""
    from llmcore.maps.regions import region_map

    rng = np.random.default_rng(1)
    names = ["animals", "food", "grammar"]
    regions = region_map(rng.normal(size=(300, 2)), np.array(rng.choice(names, 300)), names)
    paths = _paths(["unsteered", "steered"], rng)
    moved = paths.run == "steered"
    paths.loc[moved, ["x", "y"]] = paths.loc[~moved, ["x", "y"]].to_numpy()  # the same path ...
    paths.loc[moved & (paths.position == 5), "x"] += 3.0  # ... but for its last step
    fig = causes_figures.causes_map(regions, paths, theme.context_colours(names), "t", axis_label="PC",
                             run_colours={"unsteered": "#222222", "steered": "#009E73"})
    notes = [a for a in fig.layout.annotations if a.name == "region"]
    assert sorted(a.text for a in notes) == ["<b>animals</b>", "<b>food</b>"]  # grammar is everywhere: unnamed
    texts = {t.name: list(t.text) for t in fig.data if t.name in ("unsteered", "steered")}
    assert texts["unsteered"] == list("abcde") and texts["steered"] == ["", "", "", "", "e"]
