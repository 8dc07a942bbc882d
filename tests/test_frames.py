"""Dashboard data shaping and figures, without a browser."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import figures, frames
from llmcore.maps import MapBook
from llmcore.trace import trace_generation


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
    steps = trace.word_steps()
    assert list(df.next) == [trace.context_names[i] for i in steps.context_probs.argmax(1)]
    np.testing.assert_allclose(df[["x", "y"]].to_numpy()[P - 1], cmap.place(trace.hidden[0, -1])[0], atol=1e-5)


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
    colours = figures.context_colours(trace.context_names)
    assert colours["grammar"] == figures.GRAMMAR_COLOUR and len(set(colours.values())) == len(colours)
    fig = figures.context_probs_chart(df, colours)
    assert fig.layout.yaxis.title.text == "probability" and len(fig.data) == len(trace.context_names)


def test_map_figure(setup):
    trace, cmap, _ = setup
    path = frames.trajectory_frame(trace, cmap, len(trace.layer_names) - 1)
    fig = figures.trajectory_map(frames.reference_frame(cmap), path, figures.context_colours(trace.context_names), "t")
    line = next(d for d in fig.data if d.name.startswith("this prompt"))
    assert len(line.x) == len(path) and fig.layout.xaxis.title.text == "PC 1"
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == len(path) - 1  # one arrowhead per step
    labels = [a.text for a in fig.layout.annotations if not a.showarrow]
    assert [t.split("</b>")[0].removeprefix("<b>") for t in labels] == [str(s) for s in path.step]


def test_attention_keys_are_the_window_up_to_the_newest_word(setup):
    trace, _, _ = setup
    steps = trace.word_steps()
    for s in range(len(steps)):  # every word read, the prompt's too
        keys = frames.attention_keys(trace, s)
        assert keys[-1] == steps.words[s] and len(keys) == s + 1
        assert steps.attention[s, :, :, len(keys):].sum() == 0 and steps.attention[s, :, :, len(keys) - 1].all()


def test_region_labels_at_nearby_centres_are_moved_apart():
    centres = np.array([[0.0, 0.0], [0.2, 0.1], [5.0, 5.0], [0.1, -0.1]])
    shifts = figures.label_shifts(centres, (10.0, 10.0))
    assert shifts[2] == 0  # far from the others: stays
    close = [shifts[i] for i in (0, 1, 3)]
    assert len(set(close)) == 3  # three labels in one spot: three lines
    final = [y / 10 * 560 + sh for (_, y), sh in zip(centres[[0, 1, 3]], close)]
    assert min(abs(a - b) for i, a in enumerate(final) for b in final[i + 1:]) >= 20
    assert figures.label_shifts(np.array([[0.0, 0.0], [0.2, 0.3]]), (10.0, 10.0)) == [0, 20]  # moves away, up
