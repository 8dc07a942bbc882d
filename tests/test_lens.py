"""The tuned lens (llmcore.analysis.lens): it reads every depth below the last block closer to the model's output
than the logit lens; at its identity start it is the logit lens; its file is refused when stale, foreign or bad;
the prediction depth; the CLI and the pages that show it."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
from safetensors.numpy import save

from llmcore.analysis import lens as L
from llmcore.analysis.trace import trace_generation
from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

PROMPT = "a dog devours pizza in"


@pytest.fixture(scope="module")
def ckpt():
    return load_checkpoint(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="module")
def shipped(ckpt):
    lens = L.load_lens(ckpt)
    assert lens is not None, "the bundled checkpoint ships its lens (`llmcore lens checkpoints/default`)"
    return lens


@pytest.fixture(scope="module")
def trace(ckpt):
    return trace_generation(ckpt, PROMPT)


def identity(lens: L.TunedLens) -> L.TunedLens:
    return L.TunedLens(np.zeros_like(lens.weight), np.zeros_like(lens.bias), lens.checkpoint, lens.report)


def elsewhere(ckpt, folder):
    """The same loaded model as if its folder were `folder` (where the lens is looked for and written)."""
    other = copy.copy(ckpt)
    other.path = folder
    return other


def test_tuned_lens_is_closer_to_the_output_at_every_depth_below_the_last_block(ckpt, shipped):
    report = L.measure_lens(ckpt, shipped, n_sentences=600)  # held-back sentences only, measured now
    t = report.translated
    assert t.sum() == ckpt.model_config.n_layer and not t[-2:].any()
    assert (report.kl_tuned[t] < report.kl_logit[t]).all(), report.to_dict()
    assert np.allclose(report.kl_tuned[~t], report.kl_logit[~t]) and report.n_eval > 0


def test_identity_lens_reads_as_the_logit_lens(ckpt, shipped, trace):
    zero = identity(shipped)
    report = L.measure_lens(ckpt, zero, n_sentences=300)
    assert np.allclose(report.kl_tuned, report.kl_logit, rtol=1e-4, atol=1e-5)
    tuned, logit = L.trace_readings(trace, lens=zero, ckpt=ckpt), L.trace_readings(trace)
    assert (tuned.top_ids[:, :, 0] == logit.top_ids[:, :, 0]).all()
    assert np.allclose(tuned.top_probs[:, :, 0], logit.top_probs[:, :, 0], atol=1e-4)
    assert (tuned.settled == logit.settled).all()


def test_a_short_fit_moves_towards_the_output_and_survives_saving(ckpt, tmp_path):
    lens = L.fit_lens(ckpt, n_sentences=300, steps=20)  # a few steps: closer overall (the full fit: every depth)
    r = lens.report
    assert r.kl_tuned[r.translated].sum() < r.kl_logit[r.translated].sum() and r.kl_tuned[0] < r.kl_logit[0]
    back = L.read_lens(L.save_lens(lens, tmp_path), ckpt)
    assert np.array_equal(back.weight, lens.weight) and np.array_equal(back.bias, lens.bias)
    assert np.array_equal(back.report.kl_tuned, r.kl_tuned) and back.checkpoint == ckpt.content_hash


def brute_depth(top: np.ndarray) -> np.ndarray:
    return np.array([min(d for d in range(len(row)) if (row[d:] == row[-1]).all()) for row in top])


def test_prediction_depth_is_the_first_depth_that_stays_on_the_final_word():
    rng = np.random.default_rng(0)
    top = rng.integers(0, 3, size=(500, 6))
    depth = L.prediction_depth(top)
    assert (depth == brute_depth(top)).all()
    assert all((row[d:] == row[-1]).all() and (d == 0 or row[d - 1] != row[-1]) for row, d in zip(top, depth))


def test_readings_of_a_trace_settle_where_the_lens_says(ckpt, shipped, trace):
    for lens in (None, shipped):
        r = L.trace_readings(trace, lens=lens, ckpt=ckpt)
        assert r.top_ids.shape[:2] == (len(trace), len(trace.layer_names))
        assert (r.top_ids[:, -1, 0] == trace.topk_ids[:, 0]).all()  # the last depth is the model's own output
        assert (r.settled == brute_depth(r.top_ids[:, :, 0])).all()


# ---- the file
def write(path, tensors, meta=None):
    path.write_bytes(save(tensors, metadata=meta))
    return path


def test_a_lens_of_other_weights_is_refused_and_replaced_only_as_ours(ckpt, shipped, tmp_path):
    stale = L.TunedLens(shipped.weight, shipped.bias, "0" * 16, shipped.report)
    path = L.save_lens(stale, tmp_path)
    with pytest.raises(L.LensError, match="fitted to the weights '0000000000000000', not these"):
        L.read_lens(path, ckpt)
    other = elsewhere(ckpt, tmp_path)
    with pytest.raises(L.LensError, match="refit it with `llmcore lens"):
        L.load_lens(other)  # refused, never silently read


def test_the_cli_refits_a_stale_lens_of_ours_but_never_replaces_a_foreign_file(ckpt, shipped, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(L, "fit_lens", lambda c: shipped)  # the fit itself is tested above
    other = elsewhere(ckpt, tmp_path)
    L.save_lens(L.TunedLens(shipped.weight, shipped.bias, "0" * 16, shipped.report), tmp_path)
    lens, path, fitted = L.ensure_lens(other, folder=tmp_path)
    assert fitted and L.read_lens(path, ckpt).checkpoint == ckpt.content_hash
    assert L.ensure_lens(other, folder=tmp_path)[2] is False  # now current: read, not fitted
    foreign = write(tmp_path / L.LENS_FILE, {"x": np.zeros(3, np.float32)})
    before = foreign.read_bytes()
    with pytest.raises(L.LensError, match="not a tuned lens written by llmcore"):
        L.ensure_lens(other, folder=tmp_path)
    assert foreign.read_bytes() == before


def test_bad_lens_files_are_refused_naming_the_rule(ckpt, shipped, tmp_path):
    good = L.save_lens(shipped, tmp_path / "good")
    fifo = tmp_path / "fifo" / L.LENS_FILE
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    link = tmp_path / "link" / L.LENS_FILE
    link.parent.mkdir()
    link.symlink_to(good)
    wrong = dict(L.lens_tensors(shipped), weight=np.zeros((2, 3, 3), np.float32))
    shaped = write(tmp_path / "shape.safetensors", wrong, L.lens_metadata(shipped))
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(good.read_bytes())
    with open(huge, "r+b") as f:
        f.truncate(3 * 2**30)  # sparse: larger than any checkpoint file may be, refused before reading
    cases = {fifo: "is a FIFO", link: "is a symbolic link", shaped: "tensor weight has shape",
             huge: "a checkpoint file may be at most", tmp_path / "none.safetensors": "is missing",
             write(tmp_path / "plain.safetensors", {"x": np.zeros(2)}): "is not a tuned lens"}
    for path, rule in cases.items():
        with pytest.raises(L.LensError, match=rule) as e:
            L.read_lens(path, ckpt)
        assert str(path) in str(e.value)


# ---- the CLI
def test_cli_lens_prints_the_shipped_table_and_generate_names_each_settled_depth(ckpt, shipped, trace, capsys):
    from llmcore.cli import main

    assert main(["lens", str(DEFAULT_CHECKPOINT), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert not out["fitted_now"] and out["checkpoint"] == ckpt.content_hash
    rows = [r for r in out["depths"] if r["translated"]]
    assert len(rows) == ckpt.model_config.n_layer and all(r["kl_tuned"] < r["kl_logit"] for r in rows)
    for lens in ("logit", "tuned"):
        assert main(["generate", PROMPT, "--lens", lens]) == 0
        lines = [ln for ln in capsys.readouterr().out.splitlines() if "settled" in ln and ln.strip().startswith("step")]
        r = L.trace_readings(trace, lens=shipped if lens == "tuned" else None, ckpt=ckpt)
        assert len(lines) == len(trace)
        assert all(L.settled_phrase(r, i) in line for i, line in enumerate(lines))


def test_cli_lens_refuses_a_checkpoint_folder_that_is_not_one(tmp_path, capsys):
    from llmcore.cli import main

    assert main(["lens", str(tmp_path / "nothing")]) == 2
    assert "no such checkpoint folder" in capsys.readouterr().err


# ---- the pages
@pytest.mark.slow
def test_trajectory_shows_the_chosen_lens_and_where_each_word_is_settled(ckpt, shipped, trace):
    from tests.charts import charts
    from tests.conftest import open_page

    for lens in ("logit", "tuned"):
        at = open_page("trajectory", lens_kind=lens, step="6")
        assert not at.exception and at.radio(key="lens_kind").value == lens
        r = L.trace_readings(trace, lens=shipped if lens == "tuned" else None, ckpt=ckpt)
        top = trace.vocab[int(r.top_ids[5, -1, 0])]
        caption = at.info[0].value.replace("\\", "")  # Markdown-escaped
        assert f"({lens} lens), '{top}'" in caption and (r.settled_label(5) in caption or "only at the final" in
                                                         caption)
        figs = {c.key: c.figure for c in charts(at)}
        assert f"{lens.capitalize()} lens" in figs["lens"]["layout"]["title"]["text"]
        assert figs["settled"]["data"][0]["y"] == [int(d) for d in r.settled]
        rings = [t for t in figs["map"]["data"] if t.get("name", "").startswith("ring")]
        assert len(rings) == 1
        assert [c[2] for c in rings[0]["customdata"]] == [r.settled_label(i) for i in range(len(trace))]
        assert at.query_params["lens_kind"] in (lens, [lens])
    at = open_page("trajectory", lens_kind="sideways")
    assert not at.exception and at.radio(key="lens_kind").value == "logit"
    assert any("lens_kind" in w.value for w in at.warning)  # a bad link value: the default, said so


def test_lens_heatmap_frames_each_settled_cell_on_its_own_edge(ckpt, shipped, trace):
    """Each step's settled depth is framed by a rectangle inside that cell (so it crosses no cell's text and no
    neighbour's frame), one per step."""
    from dashboard.figures.maps import lens_heatmap

    r = L.trace_readings(trace, lens=shipped, ckpt=ckpt)
    names = trace.layer_names
    words = [[trace.vocab[int(r.top_ids[i, d, 0])] for i in range(len(trace))] for d in range(len(names))]
    fig = lens_heatmap(words, [["grammar"] * len(trace)] * len(names), [[0.5] * len(trace)] * len(names),
                       layer_names=names, step_labels=[str(i) for i in range(len(trace))],
                       colours={"grammar": "#BBBBBB"}, settled=r.settled)
    shapes = fig.layout.shapes
    assert len(shapes) == len(trace) and all(t.type == "heatmap" for t in fig.data)
    for i, (shape, d) in enumerate(zip(shapes, r.settled)):
        assert i - 0.5 < shape.x0 < i < shape.x1 < i + 0.5 and d - 0.5 < shape.y0 < d < shape.y1 < d + 0.5


@pytest.mark.slow
def test_story_scene_six_reads_the_chosen_lens(ckpt):
    at = open_page_story(story_lens="tuned")
    assert not at.exception and at.radio(key="story_lens").value == "tuned"
    texts = " ".join(m.value for m in at.markdown).replace("\\", "")  # Markdown-escaped
    assert "(tuned lens)" in texts and "translator fitted for that depth" in texts


def open_page_story(**params):
    from tests.conftest import open_page

    return open_page("story", story_prompt=PROMPT, scene="6", **params)
