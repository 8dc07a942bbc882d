"""Readable maps, on the figures' JSON: region labels on a halo above the points, no two labels over each other,
every state of the path and its labels inside the axes (2D and 3D), and each prompt state's region named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import frames, labels
from dashboard.figures import geometry, theme
from dashboard.figures import landscapes as landscape_figures
from dashboard.figures import maps as map_figures
from dashboard.labels import camera_pixels, count_overlaps, pick_text_positions, place_centred, plain, text_box
from dashboard.views.trajectory import EXAMPLES
from dashboard.views.trajectory import SEED_PROMPT as DEFAULT_PROMPT
from llmcore.analysis.trace import SamplingConfig, candidate_states, trace_generation
from llmcore.maps.regions import region_map
from llmcore.maps.store import MapBook
from llmcore.world.types import FUNCTION_CONTEXT


@pytest.fixture(scope="module")
def book(ckpt):
    return MapBook(ckpt)


def _map(ckpt, book, prompt: str, *, method: str, layer: str, dims: int = 2, step: int = 3, ink: str = "#222222"):
    """The Trajectory page's map of `prompt` (regions in 2D, the step's stars and its path through the layers)."""
    trace = trace_generation(ckpt, prompt, SamplingConfig(max_new_words=12))
    fmap = book.get(f"context:{layer}", method, dims)
    depth = trace.layer_names.index(layer)
    path = frames.trajectory_frame(trace, fmap, depth, {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab})
    words, probs, states = candidate_states(ckpt, trace, step - 1)
    keep = probs >= 0.02
    stars = frames.candidates_frame([w for w, k in zip(words, keep) if k], probs[keep],
                                    fmap.place(states[keep][:, depth]))
    regions = region_map(fmap.coords[:, :2], fmap.reference.labels["context"], trace.context_names)
    options = map_figures.MapOptions(regions=regions if dims == 2 else None, candidates=stars, selected_step=step,
                                 layer_path=frames.layer_path_frame(trace, step - 1, fmap), ink=ink)
    fig = map_figures.trajectory_map(frames.reference_frame(fmap), path,
                                 theme.context_colours(trace.context_names), "t", options=options)
    return fig, path, stars, regions


def _rgba(colour: str) -> tuple[tuple[int, int, int], float]:
    parts = colour[colour.index("(") + 1:-1].split(",")
    return tuple(int(p) for p in parts[:3]), float(parts[3])


@pytest.mark.parametrize("ink, background", [("#222222", "#FFFFFF"), ("#EEEEEE", "#0E1117")])
def test_region_labels_sit_on_a_halo_of_the_background_above_every_point(ckpt, book, ink, background):
    """Region labels are annotations (Plotly draws them above every trace: the points and outlines stay under
    them), on a nearly opaque box of the theme's background, bordered in the region's colour, in ink that reads
    on that background (light and dark themes)."""
    fig, _, _, regions = _map(ckpt, book, DEFAULT_PROMPT, method="pca", layer="final", ink=ink)
    notes = [a for a in fig.layout.annotations if a.name == "region"]
    drawn = {g for g, c in enumerate(regions.contexts) if regions.counts[g] and c != FUNCTION_CONTEXT}
    assert {a.text.removeprefix("<b>").removesuffix("</b>") for a in notes} == {regions.contexts[g] for g in drawn}
    colours = theme.context_colours(regions.contexts)
    for a in notes:
        rgb, alpha = _rgba(a.bgcolor)
        assert "#{:02X}{:02X}{:02X}".format(*rgb) == background and alpha >= 0.85
        assert a.bordercolor == colours[a.text.removeprefix("<b>").removesuffix("</b>")] and a.borderwidth >= 1
        assert theme.contrast(a.font.color, background) >= 4.5
    assert not any(t.mode == "text" for t in fig.data)  # no label drawn as a trace, under other traces


@pytest.mark.parametrize("method", ["pca", "lda", "umap", "tsne"])
def test_labels_of_a_map_do_not_cover_each_other_as_placed(ckpt, book, method):
    """Region labels, step labels, stars and depths: as placed on the plot area the figure assumes, no two boxes
    overlap, and every region label is clear of the path's markers (the browser test measures the drawn chart)."""
    fig, path, stars, _ = _map(ckpt, book, DEFAULT_PROMPT, method=method, layer="final")
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    w, h = 640 - 60, 700 - 230  # MapOptions.width_px's plot area, as _labels_2d takes it
    boxes, regions = [], []
    for a in fig.layout.annotations:
        (px, py), = labels.to_pixels(np.array([[a.x, a.y]]), (x0, x1), (y0, y1), width=w, height=h)
        text = plain(a.text)
        frame = (a.borderwidth or 0) + (a.borderpad or 0) if a.name == "region" else 0
        box = text_box(px + (a.xshift or 0), py + (a.yshift or 0), text, a.font.size + (a.name == "region"), frame)
        boxes.append(box)
        if a.name == "region":
            regions.append(box)
    assert count_overlaps(boxes) == 0
    points = np.concatenate([path[["x", "y"]].to_numpy(), stars[["x", "y"]].to_numpy()])
    for x, y in labels.to_pixels(points, (x0, x1), (y0, y1), width=w, height=h):
        marker = (x - 5, y - 5, x + 5, y + 5)
        assert not any(min(r[2], marker[2]) > max(r[0], marker[0]) and min(r[3], marker[3]) > max(r[1], marker[1])
                       for r in regions), (x, y)


@pytest.mark.parametrize("dims", [2, 3])
def test_axis_ranges_hold_the_path_the_stars_and_the_depths(ckpt, book, dims):
    """Every step of the path, every star and every depth of the layer path lie inside the axes (2D: the layout's
    ranges; 3D: the scene's), so nothing the page names is drawn outside the plot."""
    fig, path, stars, _ = _map(ckpt, book, "two hungry dogs devour pizza on the", method="pca", layer="block 2",
                               dims=dims)
    layers = next(t for t in fig.data if t.name == "through the layers")
    axes = [fig.layout.xaxis, fig.layout.yaxis] if dims == 2 else [fig.layout.scene.xaxis, fig.layout.scene.yaxis,
                                                                     fig.layout.scene.zaxis]
    for k, axis in zip("xyz", axes):
        values = np.concatenate([path[k], stars[k], np.asarray(getattr(layers, k), float)])
        lo, hi = axis.range
        assert lo < values.min() and values.max() < hi, k


def test_3d_labels_do_not_cover_each_other_from_the_default_camera(ckpt, book):
    """In 3D, the steps are labelled by the scene's annotations (drawn over the WebGL scene), beside their point where,
    from the default camera at both sizes the map is drawn (geometry.MAP_VIEWS), no label covers another or leaves
    the plot area; then stars and depths, on a side clear of those at the smaller size or unnamed; labels of points
    at one spot are joined: no two steps' labels at one place."""
    fig, path, stars, _ = _map(ckpt, book, DEFAULT_PROMPT, method="umap", layer="final", dims=3)
    scene = fig.layout.scene
    ranges = [scene.xaxis.range, scene.yaxis.range, scene.zaxis.range]
    cam = scene.camera
    eye, centre = (cam.eye.x, cam.eye.y, cam.eye.z), (cam.center.x, cam.center.y, cam.center.z)
    notes = [a.to_plotly_json() for a in scene.annotations]
    assert notes and all(a["name"] == "step" for a in notes)
    for height in geometry.MAP_VIEWS:
        at = camera_pixels(np.array([[a["x"], a["y"], a["z"]] for a in notes]), ranges, eye=eye, center=centre,
                           height_px=height)
        boxes = [_anchored_box(x, y, a) for (x, y), a in zip(at, notes)]
        assert count_overlaps(boxes) == 0, height
        half = np.array([geometry.MAP_SCENE_ASPECT * height, height]) / 2
        assert all((np.abs(np.array(b)) <= np.tile(half, 2)).all() for b in boxes), height
    texts = [t for t in fig.data if t.type == "scatter3d" and t.mode == "text"]
    layers = next(t for t in fig.data if t.name == "through the layers")
    for trace in [*texts, layers]:
        xyz = np.stack([trace.x, trace.y, trace.z], 1)
        px = camera_pixels(xyz, ranges, eye=eye, center=centre, height_px=geometry.MAP_VIEWS[-1])
        for (x, y), text, pos in zip(px, trace.text, trace.textposition):
            if not text:  # joined to the label of a point at the same spot, or left out
                continue
            ux, uy = labels.TEXT_POSITIONS[pos]
            w, h = (2 * v for v in text_box(0, 0, plain(text))[2:])
            boxes.append(text_box(x + ux * (w / 2 + 6), y + uy * (h / 2 + 6), plain(text)))
    steps = [line for a in notes for line in plain(a["text"]).split("\n")]
    assert steps == [f"{s} {w}" for s, w in zip(path.step, path.word)]  # every step named, once, in order
    assert count_overlaps(boxes) == 0  # stars and depths whose label found no free side go unnamed (hover names them)


def test_labels_of_points_at_one_place_take_different_sides():
    """Four steps at the same spot (a state that barely moves) get four different sides; a lone one goes above."""
    pts = np.array([[0.0, 0.0]] * 4 + [[300.0, 300.0]])
    pos = pick_text_positions(pts, ["1 a", "2 dog", "3 devours", "4 pizza", "5 in"])
    assert len(set(pos[:4])) == 4 and pos[4] == "top center"


def test_camera_pixels_follow_the_camera():
    """The box's centre projects to the screen's centre when the camera looks at it, up stays up, and from a
    camera over the +x, +y corner the -x end of the y axis is on the right (as Plotly draws it: checked against
    its own camera matrices when this was written)."""
    ranges = [(0.0, 10.0)] * 3
    centre, top, right, left = camera_pixels(np.array([[5.0, 5.0, 5.0], [5.0, 5.0, 10.0], [0.0, 10.0, 5.0],
                                                       [10.0, 0.0, 5.0]]), ranges, eye=(1.25, 1.25, 1.25))
    np.testing.assert_allclose(centre, 0, atol=1e-9)
    assert top[1] > 0 and abs(top[0]) < 1e-9
    assert right[0] > 0 > left[0]


def test_centred_labels_stay_on_their_point_when_free_and_move_the_least_when_not():
    pts = np.array([[100.0, 100.0], [104.0, 102.0], [400.0, 100.0]])
    texts = ["animals", "food", "locations"]
    shifts = place_centred(pts, texts, bounds=(0, 0, 600, 400))
    assert shifts[0] == (0.0, 0.0) and shifts[2] == (0.0, 0.0)  # free: on the point
    boxes = [text_box(x + dx, y + dy, t, 14) for (x, y), t, (dx, dy) in zip(pts, texts, shifts)]
    assert count_overlaps(boxes) == 0 and abs(shifts[1][1]) <= 40  # moved one line or two, not across the map
    marker = np.array([[400.0, 100.0]])
    moved = place_centred(pts[2:], texts[2:], bounds=(0, 0, 600, 400), markers=marker)
    assert moved[0] != (0.0, 0.0)  # off the path's marker it would hide


@pytest.mark.parametrize("prompt", list(EXAMPLES))
def test_every_state_inside_its_region_is_under_a_label_of_that_region(ckpt, book, prompt):
    """On the default view, each state of the path that lies inside its own word's region (read reading) has a
    label of that region on the same island of it: a small cluster holding the state is named, not only the
    sub-context's biggest one."""
    view = book.best_view()
    fig, path, _, regions = _map(ckpt, book, prompt, method=view.method, layer=view.layer)
    named = [(a.x, a.y, a.text.removeprefix("<b>").removesuffix("</b>")) for a in fig.layout.annotations
              if a.name == "region"]
    for (x, y), ctx, inside in zip(path[["x", "y"]].to_numpy(), path.read,
                                   regions.inside(path[["x", "y"]].to_numpy(), list(path.read))):
        if not inside or ctx == FUNCTION_CONTEXT:  # the function words' sub-context has no region drawn
            continue
        island = regions.island(regions.contexts.index(ctx), (x, y))
        assert any(name == ctx and island[np.abs(regions.y - ly).argmin(), np.abs(regions.x - lx).argmin()]
                   for lx, ly, name in named), (prompt, ctx, x, y)


def test_the_default_view_shows_each_word_of_the_first_prompt_in_its_named_region(ckpt, book):
    """The default view (measured: llmcore.maps.bestview) is one where every content word of the page's first prompt
    lies inside its own word's region, so the first map shows 'dog' among the animals, 'pizza' among the food."""
    view = book.best_view()
    _, path, _, regions = _map(ckpt, book, DEFAULT_PROMPT, method=view.method, layer=view.layer)
    content = path[path.read != FUNCTION_CONTEXT]
    assert len(content) >= 2
    inside = regions.inside(content[["x", "y"]].to_numpy(), list(content.read))
    assert inside.all(), list(content.word[~inside])


def _anchored_box(x: float, y: float, note: dict) -> tuple:
    """The box (y up) of a 3D scene's annotation at (x, y) on screen, as its anchors and shifts place it."""
    text, pad = plain(note["text"]), geometry.REGION_PAD_PX if note["name"] == "region" else 2
    x0, y0, x1, y1 = text_box(0, 0, text, note["font"]["size"], pad)
    dx = {"left": x1, "right": x0}.get(note.get("xanchor", "center"), 0.0) + note.get("xshift", 0)
    dy = {"bottom": y1, "top": y0}.get(note.get("yanchor", "middle"), 0.0) + note.get("yshift", 0)
    return text_box(x + dx, y + dy, text, note["font"]["size"], pad)


def test_terrain_path_labels_cover_neither_each_other_nor_the_peaks_labels(ckpt, book):
    """The Landscape page's terrain: seen from its default camera at both sizes it is drawn (geometry.TERRAIN_VIEWS:
    a wide window, and an 800 px one where the scene is smaller and the labels are not), the path's step labels
    and the peaks' names (the scene's annotations, drawn over the WebGL scene) cover none another and stay in the
    plot area, and every step is labelled."""
    trace = trace_generation(ckpt, DEFAULT_PROMPT, SamplingConfig(max_new_words=12))
    fmap = book.get("context:final", "pca", 2)
    names = ckpt.context_matrix()[0]
    regions = region_map(fmap.coords, fmap.reference.labels["context"], names)
    path = frames.trajectory_frame(trace, fmap, -1)
    fig = landscape_figures.terrain_figure(regions, theme.context_colours(names), path)
    scene = fig.layout.scene.to_plotly_json()
    notes = scene["annotations"]
    assert {a["name"] for a in notes} == {"step", "region"} and not any(
        t.mode and "text" in t.mode for t in fig.data if t.type == "scatter3d")  # no WebGL text left to hide
    for height in geometry.TERRAIN_VIEWS:
        project = geometry.terrain_projection(scene, height)
        at = project(np.array([[a["x"], a["y"], a["z"]] for a in notes]))
        boxes = [_anchored_box(x, y, a) for (x, y), a in zip(at, notes)]
        assert count_overlaps(boxes) == 0, height
        half = np.array([geometry.TERRAIN_ASPECT * height, height]) / 2
        assert all((np.abs(b[:2]) <= half).all() and (np.abs(b[2:]) <= half).all() for b in map(np.array, boxes))
    steps = [plain(a["text"]) for a in notes if a["name"] == "step"]
    assert [line for t in steps for line in t.split("\n")] == [plain(t) for t in geometry.path_labels(path)]


def test_compare_map_holds_every_run_and_its_labels_cover_none_another(ckpt, book):
    """Two runs on one map: the axes hold both paths, the second run's steps are labelled in its colour where they
    cover no label (as placed on the plot area the figure assumes), and none of its labels is a text trace."""
    fmap = book.get("context:final", "pca", 2)
    paths = [frames.trajectory_frame(trace_generation(ckpt, p, SamplingConfig(max_new_words=12)), fmap, -1)
             for p in (DEFAULT_PROMPT, "a cow munches")]
    fig = map_figures.compare_map(frames.reference_frame(fmap), [("left", "#0072B2", paths[0]), ("right", "#D55E00",
                                                                                              paths[1])],
                              theme.context_colours(ckpt.context_matrix()[0]), "t", axis_label=fmap.axis_label)
    both = pd.concat(paths)
    for k in "xy":
        lo, hi = fig.layout[f"{k}axis"].range
        assert lo < both[k].min() and both[k].max() < hi
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    boxes = []
    for a in fig.layout.annotations:
        (px, py), = labels.to_pixels(np.array([[a.x, a.y]]), (x0, x1), (y0, y1), width=580, height=470)
        boxes.append(text_box(px + (a.xshift or 0), py + (a.yshift or 0), plain(a.text), a.font.size))
    assert count_overlaps(boxes) == 0
    right = [a for a in fig.layout.annotations if a.font.color == "#D55E00"]
    assert len(right) >= len(paths[1]) // 2 and all(a.name == "step" for a in right)
    assert not any(t.mode and "text" in t.mode for t in fig.data)


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_3d_word_map_prints_only_labels_that_cover_none_from_the_default_camera(ckpt, book, method):
    """The Embeddings page's 3D word map: Plotly draws 3D text in WebGL, which the page cannot thin out, so the
    figure prints only labels that, seen from the default camera, cover no other printed label (the selected words
    considered first, in their larger font), and hovering names every point."""
    fmap = book.get("words", method, 3)
    df = frames.reference_frame(fmap)
    chosen = list(df.word[:3])
    fig = map_figures.word_map(df, "context", "t", fmap.axis_label, highlight=chosen,
                               context_colours=theme.context_colours(ckpt.context_matrix()[0]))
    scene = fig.layout.scene
    ranges = [scene.xaxis.range, scene.yaxis.range, scene.zaxis.range]
    eye, centre = scene.camera.eye, scene.camera.center
    words = [t for t in fig.data if t.type == "scatter3d" and t.mode == "markers+text"]
    boxes, printed, hovered = [], [], []
    for trace in words:
        xyz = np.stack([trace.x, trace.y, trace.z], 1)
        px = camera_pixels(xyz, ranges, eye=(eye.x, eye.y, eye.z), center=(centre.x, centre.y, centre.z),
                           height_px=520)
        hovered += list(trace.hovertext)
        for (x, y), text in zip(px, trace.text):
            if text:
                printed.append(text)
                size = 13 if text in chosen else 10
                h = 2 * text_box(0, 0, text, size)[3]
                boxes.append(text_box(x, y + 4 + h / 2, text, size))
    assert sorted(hovered) == sorted(df.word)  # every point named on hover
    assert chosen[0] in printed  # the first selected word is considered first
    assert 0 < len(printed) < len(df)  # thinned, not emptied
    assert count_overlaps(boxes) == 0
    np.testing.assert_array_less(np.array([r[0] for r in ranges]), df[["x", "y", "z"]].min().to_numpy())


def test_a_step_move_keeps_the_maps_frame_and_its_legend(ckpt, book):
    """A step move changes the stars and the selected step only: the axis ranges stay the same to the last bit
    (while the stars lie inside the frame of the reference states and the path) and the legend keeps its entries,
    a step with no star included, so the plot area does not move and the browser keeps the reference states drawn
    underneath (dashboard/chart.js redraws them only when the plot area changes)."""
    trace = trace_generation(ckpt, DEFAULT_PROMPT, SamplingConfig(max_new_words=12))
    fmap = book.get("context:final", "pca", 2)
    ref, colours = frames.reference_frame(fmap), theme.context_colours(trace.context_names)
    path = frames.trajectory_frame(trace, fmap, len(trace.layer_names) - 1)
    frame = pd.concat([ref[["x", "y"]], path[["x", "y"]]]).astype(np.float64)
    lo, hi = frame.min(), frame.max()
    figures = []
    for step in range(1, len(trace) + 1):
        words, probs, states = candidate_states(ckpt, trace, step - 1)
        stars = frames.candidates_frame(list(words), probs, fmap.place(states[:, -1]))
        if step == 2:
            stars = stars.iloc[:0]  # no candidate above the threshold
        inside = ((stars.x >= lo.x) & (stars.x <= hi.x) & (stars.y >= lo.y) & (stars.y <= hi.y)).all()
        options = map_figures.MapOptions(candidates=stars, selected_step=step)
        fig = map_figures.trajectory_map(ref, path, colours, "t", options=options)
        figures.append((inside, fig))
    legend = [[t.name for t in fig.data if t.showlegend is not False] for _, fig in figures]
    assert all(names == legend[0] for names in legend) and "candidate next words (★)" in legend[1]
    visible = [{t.name: t.visible for t in fig.data if t.name == "candidate next words (★)"} for _, fig in figures]
    assert visible[1] == {"candidate next words (★)": "legendonly"}  # greyed: the entry promises no star there
    assert all(v == {"candidate next words (★)": None} for i, v in enumerate(visible) if i != 1)
    frames_kept = [(tuple(f.layout.xaxis.range), tuple(f.layout.yaxis.range)) for inside, f in figures if inside]
    assert len(frames_kept) >= 2 and len(set(frames_kept)) == 1


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_2d_word_map_prints_its_labels_above_every_point(ckpt, book, method):
    """The Embeddings page's 2D word map: every word's label is in one text trace drawn after every point (Plotly
    prints a trace's text under later traces' points), the selected words first and larger, on a side of its point
    that keeps it inside the plot area at 800 px (the browser test measures the drawn labels there)."""
    fmap = book.get("words", method, 2)
    df = frames.reference_frame(fmap)
    chosen = list(df.word[:2])
    fig = map_figures.word_map(df, "context", "t", fmap.axis_label, highlight=chosen,
                               context_colours=theme.context_colours(ckpt.context_matrix()[0]))
    texts = [t for t in fig.data if t.mode and "text" in t.mode]
    assert texts == [fig.data[-1]] and texts[0].meta == theme.DECLUTTER and texts[0].hoverinfo == "skip"
    words = texts[0]
    assert sorted(words.text) == sorted(df.word) and list(words.text[:2]) == chosen
    assert min(words.textfont.size[:2]) > max(words.textfont.size[2:])
    assert set(words.textposition) <= set(labels.TEXT_POSITIONS) and words.textfont.shadow == "auto"
    width, height = geometry.WORD_MAP_AREA  # every label inside the plot area at 800 px (Plotly clips text there)
    px = labels.to_pixels(np.stack([words.x, words.y], 1), fig.layout.xaxis.range, fig.layout.yaxis.range,
                          width=width, height=height)
    for (x, y), text, side in zip(px, words.text, words.textposition):
        ux, uy = labels.TEXT_POSITIONS[side]
        w, h = (2 * v for v in text_box(0, 0, text, 10)[2:])
        box = text_box(x + ux * (w / 2 + 6), y + uy * (h / 2 + 6), text, 10)
        assert box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height, text


def test_a_layer_paths_ends_name_the_word_that_enters_and_leaves(ckpt, book):
    """The path of one step through the layers reads from where its word enters to where it leaves: its two ends are
    labelled "'word' at embed" and "'word' at final", the depths between by their names."""
    step = 4
    fig, path, _, _ = _map(ckpt, book, DEFAULT_PROMPT, method="pca", layer="final", step=step)
    word = path.word.iloc[step - 1]
    depths = " | ".join(a.text for a in fig.layout.annotations if a.name == "depth")
    assert f"'{word}' at embed" in depths and f"'{word}' at final" in depths and "block 1" in depths, depths
