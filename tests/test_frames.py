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


def test_trajectory_frame_follows_the_text(setup):
    trace, cmap, _ = setup
    df = frames.trajectory_frame(trace, cmap, len(trace.layer_names) - 1)
    P, S = len(trace.prompt_words), trace.n_steps
    assert len(df) == P + S - 1
    assert list(df.word) == trace.prompt_words + trace.generated_words[:-1]
    chooses = df[df.step >= 1]
    assert list(chooses.next_word) == trace.generated_words and list(chooses.step) == list(range(1, S + 1))
    assert df.loc[P - 1, "word"] == "in" and df.loc[P - 1, "next_word"] == "the"
    np.testing.assert_allclose(df[["x", "y"]].to_numpy()[P - 1], cmap.place(trace.hidden[0, -1])[0], atol=1e-5)


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
    assert fig.data[-1].name == "this prompt" and len(fig.data[-1].x) == len(path)
    assert fig.layout.xaxis.title.text == "PC 1"


def test_attention_keys_are_the_window_up_to_the_newest_word(setup):
    trace, _, _ = setup
    for s in range(trace.n_steps):
        keys = frames.attention_keys(trace, s)
        assert keys[-1] == (trace.prompt_words + trace.generated_words)[len(trace.prompt_words) - 1 + s]
        assert trace.attention[s, :, :, len(keys):].sum() == 0 and trace.attention[s, :, :, len(keys) - 1].all()


def test_region_labels_at_nearby_centres_are_moved_apart():
    centres = np.array([[0.0, 0.0], [0.2, 0.1], [5.0, 5.0], [0.1, -0.1]])
    shifts = figures.label_shifts(centres, (10.0, 10.0))
    assert shifts[2] == 0  # far from the others: stays
    close = [shifts[i] for i in (0, 1, 3)]
    assert len(set(close)) == 3  # three labels in one spot: three lines
    final = [y / 10 * 560 + sh for (_, y), sh in zip(centres[[0, 1, 3]], close)]
    assert min(abs(a - b) for i, a in enumerate(final) for b in final[i + 1:]) >= 20
    assert figures.label_shifts(np.array([[0.0, 0.0], [0.2, 0.3]]), (10.0, 10.0)) == [0, 20]  # moves away, up


def test_a_clicked_causal_cell_is_read_back_from_its_customdata():
    from dashboard.frames import clicked_cell

    assert clicked_cell({"customdata": {"0": 2, "1": 4, "2": 5}}) == ("mlp", 4, 6)  # as Streamlit hands it over
    assert clicked_cell({"customdata": [0, 1, 0]}) == ("resid", 1, 1)
    assert clicked_cell({"x": 1}) is None and clicked_cell({"customdata": "x"}) is None
