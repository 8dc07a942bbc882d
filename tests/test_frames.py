"""Dashboard data shaping and figures, without a browser."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import frames
from dashboard.figures import geometry, theme
from dashboard.figures import landscapes as landscape_figures
from dashboard.figures import maps as map_figures
from dashboard.figures import training as training_figures
from llmcore.analysis.trace import trace_generation
from llmcore.maps.store import MapBook


@pytest.fixture(scope="module")
def setup(ckpt):
    book = MapBook(ckpt)
    return trace_generation(ckpt, "a dog devours pizza in"), book.get("context:final"), book.states


def test_reference_states_cover_enough_positions(setup, ckpt):
    _, _, ref = setup
    assert len(ref.states) >= 5000
    assert set(ref.contexts) <= set(ckpt.world.contexts) | {"grammar"}
    assert {"animals", "food", "locations"} <= set(ref.contexts)


def test_trajectory_frame_follows_the_text(setup, ckpt):
    trace, cmap, _ = setup
    context_of = {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab}
    df = frames.trajectory_frame(trace, cmap, len(trace.layer_names) - 1, context_of)
    P, S = len(trace.prompt_words), trace.n_steps
    assert len(df) == P + S - 1 and list(df.step) == list(range(1, P + S))  # one step per word read
    assert list(df.word) == trace.prompt_words + trace.generated_words[:-1]
    assert list(df.next_word) == trace.prompt_words[1:] + trace.generated_words
    assert list(df.in_prompt) == [True] * (P - 1) + [False] * S  # the boundary: where the model takes over
    assert list(df.read) == [context_of[w] for w in df.word]
    steps = trace
    assert list(df.next) == [trace.context_names[i] for i in steps.context_probs.argmax(1)]
    np.testing.assert_allclose(df[["x", "y"]].to_numpy()[P - 1], cmap.place(trace.hidden[P - 1, -1])[0], atol=1e-5)


def test_labels_are_placed_clear_of_each_other_and_of_region_labels():
    """The greedy placement leaves no two labels overlapping where 'always above' overlaps many."""
    from dashboard.labels import count_overlaps, place_labels, text_box

    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 300, (14, 2))
    texts = [f"{i + 1} word{i}" for i in range(14)]
    region = [text_box(150, 150, "locations", 14)]
    naive = [text_box(x, y + 14, t) for (x, y), t in zip(pts, texts)]
    shifts = place_labels(pts, texts, region, bounds=(-100, -100, 400, 400))
    placed = [text_box(x + dx, y + dy, t) for (x, y), t, (dx, dy) in zip(pts, texts, shifts)]
    assert count_overlaps(naive + region) > 0
    assert count_overlaps(placed + region) == 0


def test_context_frame_and_chart(setup):
    trace, _, _ = setup
    df = frames.context_probs_frame(trace)
    np.testing.assert_allclose(df.groupby("step").probability.sum(), 1, atol=1e-4)
    colours = theme.context_colours(trace.context_names)
    assert colours["grammar"] == theme.GRAMMAR_COLOUR and len(set(colours.values())) == len(colours)
    fig = map_figures.context_probs_chart(df, colours)
    assert fig.layout.yaxis.title.text == "probability" and len(fig.data) == len(trace.context_names)


def test_map_figure(setup):
    trace, cmap, _ = setup
    path = frames.trajectory_frame(trace, cmap, len(trace.layer_names) - 1)
    fig = map_figures.trajectory_map(frames.reference_frame(cmap), path, theme.context_colours(trace.context_names),
                                     "t")
    line = next(d for d in fig.data if d.name.startswith("this prompt"))
    assert len(line.x) == len(path) and fig.layout.xaxis.title.text == "PC 1"
    arrows = next(d for d in fig.data if d.name == "direction")
    assert len(arrows.x) == len(path) - 1 and arrows.marker.symbol == "arrow"  # one arrowhead per step
    xy = path[["x", "y"]].to_numpy()
    for (x0, y0), (x1, y1), ax, ay in zip(xy[:-1], xy[1:], arrows.x, arrows.y):  # on its step, near its end
        t = np.dot([ax - x0, ay - y0], [x1 - x0, y1 - y0]) / max(np.dot([x1 - x0, y1 - y0], [x1 - x0, y1 - y0]), 1e-12)
        assert 0.45 <= t < 1
    labels = [a.text for a in fig.layout.annotations]
    assert [t.split("</b>")[0].removeprefix("<b>") for t in labels] == [str(s) for s in path.step]


def test_attention_keys_are_the_window_up_to_the_newest_word(setup):
    trace, _, _ = setup
    steps = trace
    for s in range(len(steps)):  # every word read, the prompt's too
        keys = frames.attention_keys(trace, s)
        assert keys[-1] == steps.words[s] and len(keys) == s + 1
        assert steps.attention[s, :, :, len(keys):].sum() == 0 and steps.attention[s, :, :, len(keys) - 1].all()


def test_a_clicked_causal_cell_is_read_back_from_its_customdata():
    from dashboard.frames import clicked_cell

    assert clicked_cell({"customdata": {"0": 2, "1": 4, "2": 5}}) == ("mlp", 4, 6)  # as Streamlit hands it over
    assert clicked_cell({"customdata": [0, 1, 0]}) == ("resid", 1, 1)
    assert clicked_cell({"x": 1}) is None and clicked_cell({"customdata": "x"}) is None


def test_peak_labels_of_neighbouring_hills_are_stacked_apart():
    """Peak labels start just above their peak and rise until, seen from the terrain's camera, none covers a label
    placed before it: neighbours stack, a lone one stays low, and two one behind the other (far apart on the map,
    together on screen) are stacked too."""
    from dashboard.labels import count_overlaps

    scene = dict(xaxis=dict(range=[0, 10]), yaxis=dict(range=[0, 10]), zaxis=dict(range=[0, 1.8]),
                 aspectratio=dict(x=1.3, y=1.3, z=0.55), camera=dict(eye=dict(zip("xyz",
                                                                                  landscape_figures.TERRAIN_EYE)),
                                                                     center=dict(x=0, y=0, z=-0.15)))
    project = [geometry.terrain_projection(scene)]
    peaks = np.array([[5.0, 5.0], [5.3, 5.1], [0.5, 9.5], [5.2, 4.8]])
    placed, boxes = geometry.peak_label_heights(peaks, np.array([0.9, 0.95, 0.5, 0.9]),
                                               ["animals", "food", "people", "locations"], projects=project)
    z = [h for h, _ in placed]
    assert placed[2] == (pytest.approx(0.6), "middle center")  # alone: just above its peak, on its pole
    assert z[0] == pytest.approx(1.0) and min(z[1], z[3]) >= 1.0  # the neighbours beside or above the first
    assert count_overlaps(boxes[0]) == 0 and all(zi > p for zi, p in zip(z, (0.9, 0.95, 0.5, 0.9)))
    eye = np.array(landscape_figures.TERRAIN_EYE[:2]) / np.hypot(*landscape_figures.TERRAIN_EYE[:2])
    behind = np.array([[5.0, 5.0], 5.0 - 3 * eye])  # one behind the other from the camera
    _, boxes = geometry.peak_label_heights(behind, np.array([0.5, 0.5]), ["animals", "food"], projects=project)
    assert count_overlaps(boxes[0]) == 0


def test_terrain_figure_keeps_the_whole_path_in_view(setup, ckpt):
    trace, _, book = setup
    from llmcore.maps.regions import region_map
    from llmcore.maps.store import MapBook

    fmap = MapBook(ckpt).get("context:final", "pca", 2)
    names = ckpt.context_matrix()[0]
    regions = region_map(fmap.coords, fmap.reference.labels["context"], names)
    path = frames.trajectory_frame(trace, fmap, -1)
    fig = landscape_figures.terrain_figure(regions, theme.context_colours(names), path)
    scene = fig.layout.scene
    assert scene.xaxis.range[0] <= path.x.min() and scene.xaxis.range[1] >= path.x.max()
    assert scene.yaxis.range[0] <= path.y.min() and scene.yaxis.range[1] >= path.y.max()
    drawn = next(t for t in fig.data if t.name == "this prompt")
    steps = [a.text for a in scene.annotations if a.name == "step"]
    assert steps == geometry.path_labels(path)  # labelled as on Trajectory (no two steps at one spot here)
    np.testing.assert_allclose(drawn.z, regions.lift(path[["x", "y"]].to_numpy()) + 0.02, atol=1e-5)  # on the ground
    cones = next(t for t in fig.data if t.type == "cone")
    assert len(cones.x) == len(path) - 1  # one arrow per step
    assert scene.xaxis.title.text and scene.yaxis.title.text and scene.zaxis.title.text  # every axis says what it is


def test_loss_figure_marks_start_end_and_spreads_levels(ckpt):
    land = ckpt.loss_landscapes()["pca"]
    z, delta, ticks = landscape_figures.loss_levels(land.loss)
    lo, hi = float(land.loss.min()), float(land.loss.max())
    # the path's span of loss takes more of the colour range than of the raw loss range: the descent is visible
    path_z = np.log(land.path_loss.astype(float) - lo + delta)
    assert np.ptp(path_z) / np.ptp(z) > 2 * np.ptp(land.path_loss) / (hi - lo)
    assert ticks[0] == pytest.approx(lo, abs=0.01) and ticks[-1] == pytest.approx(hi, abs=0.01)
    for three_d in (False, True):
        fig = landscape_figures.loss_figure(land, three_d=three_d)
        names = [t.name for t in fig.data]
        assert any(n and n.startswith("start: step 0, projected (loss") for n in names)
        assert any(n and n.startswith("end") for n in names)
        labelled = [t for t in fig.data if t.name == "training path"][0].text
        assert sum(bool(s) for s in labelled) >= 3
    z_axis = fig.layout.scene.zaxis  # the 3D height: the lowest and highest loss marked, no two ticks crowded
    gaps = np.diff(sorted(z_axis.tickvals))
    assert z_axis.ticktext[0] == f"{ticks[0]:.2f}" and z_axis.ticktext[-1] == f"{ticks[-1]:.2f}"
    assert gaps.min() >= 0.1 * (max(z_axis.tickvals) - min(z_axis.tickvals)), z_axis.ticktext


def test_decision_figure_colours_content_by_its_mass(ckpt):
    from llmcore.maps.landscape import decision_landscape

    fmap = MapBook(ckpt).get("context:final", "pca", 2)
    d = decision_landscape(ckpt, "final", fmap.projector, np.stack([fmap.coords.min(0), fmap.coords.max(0)]), grid=20)
    colours = theme.context_colours(d.context_names)
    fig = landscape_figures.decision_figure(d, ckpt.tokenizer.vocab, colours)
    img = np.asarray(fig.data[0].z, float)
    g = d.context_names.index("grammar")
    content = np.delete(d.context_probs, g, axis=-1).max(-1)
    paleness = img.mean(-1)  # whiter where the content sub-context has little probability
    assert np.corrcoef(paleness.ravel(), content.ravel())[0, 1] < -0.5
    legend = [t.name for t in fig.data if t.type == "scatter" and t.x == (None,)]
    assert "grammar" not in legend and legend


def test_subgroup_colours_are_shades_of_their_sub_context(ckpt):
    import colorsys
    import itertools

    names = ckpt.context_matrix()[0]
    top = theme.context_colours(names)
    assert {c for n, c in top.items() if n != "grammar"} <= set(theme.PALETTE)  # Okabe & Ito: colour-blind safe
    pairs = list(dict.fromkeys(ckpt.world.label(w) for w in ckpt.tokenizer.vocab[1:]))
    shades = theme.subgroup_colours(pairs, top)
    assert len(shades) == len(pairs) and len(set(shades.values())) == len(shades)  # no two subgroups share one
    rgb = {k: theme.hex_rgb(v) for k, v in shades.items()}
    assert min(np.linalg.norm(rgb[a] - rgb[b]) for a, b in itertools.combinations(rgb, 2)) >= 20
    for (ctx, _), c in shades.items():
        if ctx != "grammar":
            hue = colorsys.rgb_to_hls(*(theme.hex_rgb(c) / 255))[0]
            assert abs(hue - colorsys.rgb_to_hls(*(theme.hex_rgb(top[ctx]) / 255))[0]) < 0.03  # family's hue
    df = frames.reference_frame(MapBook(ckpt).get("words"))
    fig = map_figures.word_map(df, "subgroup", "t", "PC", highlight=["cat", "dog"], context_colours=top)
    shown = {(t.legendgroup, t.name): t.marker.color for t in fig.data if t.name not in ("selected", "labels")}
    assert len(shown) == len(pairs) and len(set(shown.values())) == len(pairs)
    pets, labels = next(t for t in fig.data if t.name == "pets"), fig.data[-1]  # 2D: the labels drawn last
    sizes = dict(zip(labels.text, labels.textfont.size))
    assert sizes["cat"] > sizes[next(w for w in pets.hovertext if w not in ("cat", "dog"))]  # selected stand out


@pytest.mark.parametrize("three_d", [False, True])
def test_subgroups_of_one_sub_context_are_told_apart_on_every_map(ckpt, three_d):
    """Members of one family (the animals: pets, farm, woodland, …) differ in marker symbol (one repeats only
    between shades 0.25 apart in lightness: 3D has five filled symbols), and in shade by at least 24 RGB units and
    0.05 in lightness; 3D maps use symbols that scatter3d draws."""
    import colorsys
    import itertools

    import plotly.graph_objects as go

    top = theme.context_colours(ckpt.context_matrix()[0])
    pairs = list(dict.fromkeys(ckpt.world.label(w) for w in ckpt.tokenizer.vocab[1:]))
    styles = theme.subgroup_styles(pairs, top, three_d=three_d)
    light = {k: colorsys.rgb_to_hls(*(theme.hex_rgb(c) / 255))[1] for k, (c, _) in styles.items()}
    for ctx in {c for c, _ in pairs}:
        members = [k for k in styles if k[0] == ctx]
        for a, b in itertools.combinations(members, 2):
            assert styles[a][1] != styles[b][1] or abs(light[a] - light[b]) >= 0.25, (a, b)
            assert np.linalg.norm(theme.hex_rgb(styles[a][0]) - theme.hex_rgb(styles[b][0])) >= 24, (a, b)
        ordered = sorted(members, key=light.get)
        for a, b in zip(ordered, ordered[1:]):
            assert abs(light[a] - light[b]) >= 0.05
    if three_d:
        go.Scatter3d(marker=dict(symbol=[s for _, s in styles.values()]))  # plotly refuses a symbol 3D lacks
    df = frames.reference_frame(MapBook(ckpt).get("words", "pca", 3 if three_d else 2))
    order = [g for groups in ckpt.world.taxonomy.values() for g in groups]
    fig = map_figures.word_map(df, "subgroup", "t", "PC", context_colours=top, subgroup_order=order)
    animals = {t.name: (t.marker.color, t.marker.symbol) for t in fig.data if t.legendgroup == "animals"}
    assert list(animals) == list(ckpt.world.taxonomy["animals"])  # the legend in the world's order
    assert len(set(animals.values())) == len(animals)


def test_an_axis_between_two_subgroups_puts_each_at_its_own_end(ckpt):
    """For every pair of subgroups of one sub-context (pets → water, plants → meat, …), on the axis from the first
    group's centre to the second's the second group's words lie higher on average, and at least 75 % of the two
    groups' words lie on their own side of the midpoint (the Embeddings page's custom axes and the Story's first
    scene)."""
    import itertools

    from llmcore.maps.projection import SemanticAxesProjector

    ref = MapBook(ckpt).reference("words")
    labels = np.asarray(ref.labels["subgroup"])
    checked = 0
    for groups in ckpt.world.taxonomy.values():
        for a, b in itertools.combinations([g for g in groups if (labels == g).any()], 2):
            x = SemanticAxesProjector(axes=[(a, b), (a, b)]).fit(ref.X, labels).transform(ref.X)[:, 0]
            pa, pb = x[labels == a], x[labels == b]
            mid = (pa.mean() + pb.mean()) / 2
            assert pb.mean() > pa.mean()
            assert ((pa < mid).sum() + (pb > mid).sum()) / (len(pa) + len(pb)) >= 0.75, (a, b)
            checked += 1
    assert checked >= 10


def test_compare_map_styles_each_run_by_name_not_by_trace_order(setup):
    """Each side's path carries its own name and colour (given to trajectory_map, not patched onto a trace after)."""
    trace, cmap, _ = setup
    path = frames.trajectory_frame(trace, cmap, len(trace.layer_names) - 1)
    colours = theme.context_colours(trace.context_names)
    fig = map_figures.compare_map(frames.reference_frame(cmap), [("left", "#0072B2", path), ("right", "#D55E00", path)],
                              colours, "t", axis_label=cmap.axis_label)
    left, right = (next(d for d in fig.data if d.name == n) for n in ("left", "right"))
    assert left.line.color == left.marker.color == "#0072B2" and right.line.color == "#D55E00"
    assert len(left.x) == len(right.x) == len(path) and fig.layout.xaxis.title.text == f"{cmap.axis_label} 1"
    plain = map_figures.trajectory_map(frames.reference_frame(cmap), path, colours, "t")
    drawn = next(d for d in plain.data if d.name.startswith("this prompt"))
    assert drawn.line.color == map_figures.MapOptions().ink and list(drawn.marker.color) != ["#0072B2"] * len(path)


def test_figures_share_the_template_and_take_axis_titles_from_the_map(ckpt):
    from llmcore.maps.landscape import decision_landscape
    from llmcore.maps.regions import region_map

    shared = theme.pio.templates[theme.TEMPLATE].layout.margin
    fmap = MapBook(ckpt).get("context:final", "pca", 2)
    d = decision_landscape(ckpt, "final", fmap.projector, np.stack([fmap.coords.min(0), fmap.coords.max(0)]), grid=8)
    colours = theme.context_colours(d.context_names)
    regions = region_map(fmap.coords, fmap.reference.labels["context"], d.context_names)
    figs = [landscape_figures.decision_figure(d, ckpt.tokenizer.vocab, colours, axis_label="LD"),
            landscape_figures.terrain_figure(regions, colours, axis_label="LD"),
            training_figures.training_curves(ckpt.train_log())]
    for fig in figs:
        assert (fig.layout.margin.l, fig.layout.margin.r, fig.layout.margin.b) == (shared.l, shared.r, shared.b)
    assert figs[0].layout.xaxis.title.text == "LD 1" and figs[1].layout.scene.yaxis.title.text == "LD 2"


def test_replay_figure_has_a_frame_and_a_slider_stop_per_snapshot(ckpt):
    from llmcore.maps.alignment import snapshot_coords

    words = ckpt.tokenizer.vocab
    coords = snapshot_coords(ckpt.snapshots()[-3:], 2)
    steps = ckpt.snapshot_steps[-3:]
    fig = training_figures.replay_figure(coords, words, [ckpt.world.label(w)[0] for w in words], steps,
                                colours=theme.context_colours(ckpt.context_matrix()[0]))
    assert [f.name for f in fig.frames] == [str(s) for s in steps]
    assert [s.label for s in fig.layout.sliders[0].steps] == [str(s) for s in steps]
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ play", "❚❚ pause"]
    assert "the final snapshot" in fig.layout.title.text  # the title says which frames it shows
    unaligned = training_figures.replay_figure(coords, words, [ckpt.world.label(w)[0] for w in words], steps,
                                               colours=theme.context_colours(ckpt.context_matrix()[0]), aligned=False)
    assert "flip and spin" in unaligned.layout.title.text and "final snapshot" not in unaligned.layout.title.text
    import json

    import plotly.io as pio

    assert _validated(fig) == json.loads(pio.to_json(fig, validate=False))  # plain JSON, every property valid


def test_compare_steps_frame_has_one_row_per_word_read(ckpt):
    """Every word read is a row (prompt words included), the completion's rows are marked as generated, and a run
    missing on one side leaves its column empty."""
    from llmcore.analysis.trace import trace_generation

    left, right = trace_generation(ckpt, "a dog eats"), trace_generation(ckpt, "a cat drinks milk in")
    table = frames.compare_steps_frame({"left": left, "right": right})
    lw, rw = left, right
    assert len(table) == max(len(lw), len(rw)) and list(table.columns) == ["step", "left", "right"]
    assert table.right[0] == f"{rw.words[0]} → {rw.next_words[0]} (expects {rw.next_context(0)} next)"
    assert sum("✎" in c for c in table.left) == len(lw) - lw.boundary
    one_side = frames.compare_steps_frame({"left": left, "right": None})
    assert list(one_side.columns) == ["step", "left", "right"] and (one_side.right == "").all()


def test_step_labels_stay_readable_on_a_dark_theme(setup):
    """Step labels sit on a translucent background that contrasts with the ink: light under dark ink, dark under
    the light ink of a dark theme."""
    trace, cmap, _ = setup
    path = frames.trajectory_frame(trace, cmap, len(trace.layer_names) - 1)
    for ink in ("#222222", "#EEEEEE"):
        fig = map_figures.trajectory_map(frames.reference_frame(cmap), path, theme.context_colours(trace.context_names),
                                     "t", options=map_figures.MapOptions(ink=ink))
        backs = {a.bgcolor for a in fig.layout.annotations}
        level = [int(c) for c in next(iter(backs))[5:].split(",")[:3]]
        assert len(backs) == 1 and (sum(level) > 382) == (ink == "#222222")


@pytest.mark.parametrize("reading", ["read", "next"])
def test_a_map_drawn_with_kept_reference_traces_is_the_same_figure(setup, reading):
    """The page keeps a map's reference-state traces (state.get_map_base) and hands them in with MapOptions.base:
    the figure is the one built from scratch, its reference states marked to be drawn once, under the path."""
    trace, cmap, _ = setup
    ref, colours = frames.reference_frame(cmap), theme.context_colours(trace.context_names)
    path = frames.trajectory_frame(trace, cmap, len(trace.layer_names) - 1)
    base = tuple(map_figures.reference_traces(ref, colours, reading=reading))
    fresh = map_figures.trajectory_map(ref, path, colours, "t", options=map_figures.MapOptions(reading=reading))
    kept = map_figures.trajectory_map(ref, path, colours, "t", options=map_figures.MapOptions(reading=reading,
                                                                                              base=base))
    assert kept.to_json() == fresh.to_json()
    marked = [t for t in fresh.data if t.meta == theme.BASE]
    assert sum(len(t.x) for t in marked) == len(ref) and all(t.mode == "markers" for t in marked)
    assert fresh.layout.xaxis.range is not None and fresh.layout.yaxis.range is not None  # chart.js layers it


def _validated(fig) -> dict:
    """The figure as plotly.py's validator makes it: every property checked (an unknown or misspelt one raises)."""
    import json

    import plotly.graph_objects as go
    import plotly.io as pio

    return json.loads(pio.to_json(go.Figure(json.loads(pio.to_json(fig, validate=False)))))


@pytest.mark.parametrize("dims", [2, 3])
def test_figures_built_as_plain_json_are_valid_plotly(setup, ckpt, dims):
    """The figures a new prompt redraws are built as plain Plotly.js JSON, unvalidated (theme.figure): the
    validator accepts every property of each (regions, stars, the path through the layers, 2D and 3D) and changes
    none of them."""
    import json

    import plotly.io as pio

    from llmcore.analysis.trace import candidate_states
    from llmcore.maps.regions import region_map

    trace, _, _ = setup
    fmap = MapBook(ckpt).get("context:final", "pca", dims)
    colours = theme.context_colours(trace.context_names)
    path = frames.trajectory_frame(trace, fmap, len(trace.layer_names) - 1,
                                   {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab})
    words, probs, states = candidate_states(ckpt, trace, 2)
    stars = frames.candidates_frame(words, probs, fmap.place(states[:, -1]))
    regions = region_map(fmap.coords[:, :2], fmap.reference.labels["context"], trace.context_names)
    options = map_figures.MapOptions(regions=regions if dims == 2 else None, candidates=stars, selected_step=3,
                                 layer_path=frames.layer_path_frame(trace, 2, fmap), reading="next")
    steps = trace
    lw, lc, lp = frames.lens_grid(trace, {})
    built = [map_figures.trajectory_map(frames.reference_frame(fmap), path, colours, "t", options=options),
             map_figures.context_probs_chart(frames.context_probs_frame(trace), colours,
                                             ["animals"] * len(steps.words), 2),
             map_figures.lens_heatmap(lw, lc, lp, layer_names=trace.layer_names, step_labels=steps.words,
                                  colours=colours),
             map_figures.attention_heatmaps(steps.attention[2, :, :, :3], steps.words[:3], "a")]
    assert len(built[0].layout.annotations or ()) >= (len(path) if dims == 2 else 0)
    for fig in built:
        assert _validated(fig) == json.loads(pio.to_json(fig, validate=False))


def test_the_watch_landscapes_star_sentence_says_where_the_star_is(ckpt):
    """Watch training's loss-landscape caption: at a saved step the star is on that step's point, between two saved
    steps on the line between them (the two named bracket the step), and the figure writes no path label close
    enough to the star to print over its own."""
    land = ckpt.loss_landscapes()["pca"]
    steps = [int(s) for s in land.path_steps]
    for step in (steps[0], steps[-1], (steps[2] + steps[3]) // 2):
        said = frames.path_point_sentence(land, step)
        if step in steps:
            assert said.endswith(f"saved point of step {step}")
            assert frames.path_point_at(land, step) == pytest.approx(tuple(land.path[steps.index(step)]))
        else:
            before, after = (int(n) for n in said.split("steps ")[1].split(" and "))
            assert before < step < after and before in steps and after in steps
            assert steps.index(after) == steps.index(before) + 1
        fig = landscape_figures.loss_figure_at(land, frames.path_point_at(land, step), step)
        labels = next(t for t in fig.data if t.name == "training path").text
        span = np.ptp(np.stack([land.alphas, land.betas]), axis=1)
        near = np.hypot(*((land.path - np.asarray(frames.path_point_at(land, step))) / span).T)
        assert all(not t for t, d in zip(labels, near) if d < landscape_figures.NEAR_STAR)


def test_the_drawn_reference_states_hold_every_sub_context_the_map_has(ckpt):
    """The subsample of reference states a map draws holds every sub-context of both readings that the whole map
    has (so every outlined region's colour is in the legend), and says how many it draws of how many."""
    for method in ("pca", "lda"):
        fmap = MapBook(ckpt).get("context:final", method, 2)
        df = frames.reference_frame(fmap)
        for key in ("context", "next_context"):
            assert set(df[key]) == set(fmap.reference.labels[key])
        assert df.attrs["total"] == len(fmap.coords) and len(df) <= frames.MAP_POINTS + 2 * frames.FEW_KEPT * 8


def test_a_step_that_reads_an_unknown_word_calls_it_unknown(ckpt):
    """An unknown word is read as '<unk>': its step's caption says so, instead of filing it under grammar."""
    from llmcore.analysis.trace import trace_generation

    trace = trace_generation(ckpt, "a zzzq dog eats")
    context_of = {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab}
    captions = frames.step_captions(trace, context_of)
    assert trace.words[1] == "<unk>" and "after reading '<unk>' (read: an unknown word)" in captions[1]
    assert "(read: animals)" in captions[2]
