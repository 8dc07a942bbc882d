"""Weight snapshots: the schedule, float16 storage that traces like float32, stored measures that recompute, loading
a step as a normal checkpoint, context maps aligned across snapshots, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from llmcore.analysis.trace import trace_generation
from llmcore.cli import main
from llmcore.maps.watch import (
    WatchMaps,
    aligned_context_maps,
    compute_watch_maps,
    context_states,
    prompt_over_training,
    shown_positions,
    stored_watch_maps,
    training_frames,
    watch_maps_path,
)
from llmcore.model.checkpoint import CheckpointError, load_checkpoint
from llmcore.training.config import TrainConfig
from llmcore.training.snapshots import (
    SnapshotMetrics,
    at_step,
    generalisation_step,
    measure_snapshot,
    snapshot_metrics,
    snapshot_schedule,
    weight_snapshot_steps,
)

# float16 weights (11 significant bits) move hidden states by well under 1 % of their scale
STATE_TOLERANCE = 0.01
PROB_TOLERANCE = 0.01


def test_schedule_is_log_spaced_and_dense_early():
    steps = snapshot_schedule(2000, 16)
    assert steps[0] == 0 and steps[-1] == 2000 and len(steps) == 16
    gaps = np.diff(steps[1:])
    assert (np.diff(gaps) >= -1).all()  # gaps grow: dense early
    assert steps[1] <= 50 and sum(s <= 200 for s in steps) >= 6
    assert snapshot_schedule(2000, 0) == []
    with pytest.raises(ValueError, match="weight_snapshots"):
        TrainConfig(weight_snapshots=-1)


def test_snapshot_at_the_final_step_traces_like_the_checkpoint(tiny_ckpt_dir, tiny_ckpt):
    steps = weight_snapshot_steps(tiny_ckpt)
    assert steps[0] == 0 and steps[-1] == tiny_ckpt.metrics["steps_done"]
    snap = at_step(load_checkpoint(tiny_ckpt_dir), steps[-1])
    assert snap.content_hash != tiny_ckpt.content_hash and snap.tokenizer.vocab == tiny_ckpt.tokenizer.vocab
    prompt = f"a {tiny_ckpt.held_out[0][0]} eats"
    a, b = trace_generation(tiny_ckpt, prompt), trace_generation(snap, prompt)
    assert (a.generated_ids == b.generated_ids).all()
    scale = np.abs(a.hidden).max()
    assert np.abs(a.hidden - b.hidden).max() <= STATE_TOLERANCE * scale
    assert np.abs(a.topk_probs - b.topk_probs).max() <= PROB_TOLERANCE
    first = at_step(load_checkpoint(tiny_ckpt_dir), 0)
    assert not np.allclose(first.model.transformer.wte.weight.detach(), snap.model.transformer.wte.weight.detach())


def test_stored_measures_equal_recomputed_ones(tiny_ckpt_dir, tiny_ckpt):
    stored = snapshot_metrics(tiny_ckpt)
    assert [m.step for m in stored] == weight_snapshot_steps(tiny_ckpt)
    for m in (stored[0], stored[-1]):
        again = measure_snapshot(at_step(load_checkpoint(tiny_ckpt_dir), m.step), m.step,
                                 held_out_forms=m.held_out_forms)
        for k in ("habitat_mass", "habitat_top1", "food_place_mass", "diet_share", "neighbour_purity"):
            assert getattr(again, k) == pytest.approx(getattr(m, k), abs=PROB_TOLERANCE), k
        assert np.allclose(again.separability, m.separability, atol=0.03)
        assert again.layer_names == m.layer_names and len(m.separability) == len(m.layer_names)
    assert all(0 <= x <= 1 for m in stored for x in m.separability)


def test_new_snapshots_measure_the_plain_held_out_forms_and_older_files_say_all(tiny_ckpt_dir, tiny_ckpt):
    """New runs measure the held-out pairs in their plain form only (a tenth of the forms, so the snapshots cost
    little training time) and say so; measures stored before the field existed read as every form; a file naming
    another set is refused before anything shows it."""
    from llmcore.analysis.evaluate import held_out_breakdown

    stored = snapshot_metrics(tiny_ckpt)
    assert {m.held_out_forms for m in stored} == {"plain"}
    snap = at_step(load_checkpoint(tiny_ckpt_dir), stored[-1].step)
    plain = held_out_breakdown(snap.model, snap.tokenizer, snap.world, snap.held_out, plain=True)
    every = held_out_breakdown(snap.model, snap.tokenizer, snap.world, snap.held_out)
    assert 0 < len(plain.prompts) < len(every.prompts)
    assert stored[-1].habitat_mass == pytest.approx(float(np.mean(plain.habitat_mass)), abs=PROB_TOLERANCE)
    old = {k: v for k, v in stored[0].to_dict().items() if k != "held_out_forms"}
    assert SnapshotMetrics(**old).held_out_forms == "all"
    with pytest.raises(ValueError, match="held_out_forms"):
        SnapshotMetrics(**{**old, "held_out_forms": "<b>some</b>"})
    with pytest.raises(ValueError, match="held_out_forms"):
        measure_snapshot(snap, 0, held_out_forms="most")


def test_generalisation_step_is_the_first_snapshot_at_the_threshold():
    def m(step, top1):
        return SnapshotMetrics(step=step, habitat_mass=0.0, habitat_top1=top1, food_place_mass=0.0, diet_share=0.0,
                               neighbour_purity=0.0, separability=[], layer_names=[])

    assert generalisation_step([m(0, 0.0), m(10, 0.96), m(5, 0.5), m(20, 1.0)]) == 10
    assert generalisation_step([m(0, 0.0), m(10, 0.94)]) is None


def test_loading_a_missing_step_or_a_checkpoint_without_snapshots_says_so(tiny_ckpt_dir, ckpt):
    with pytest.raises(CheckpointError, match="no weight snapshot at step 7"):
        at_step(load_checkpoint(tiny_ckpt_dir), 7)
    if not weight_snapshot_steps(ckpt):  # the bundled checkpoint until it is retrained
        with pytest.raises(CheckpointError, match="holds no weight snapshots"):
            at_step(load_checkpoint(ckpt.path), 0)


def test_aligned_context_maps_move_less_than_unaligned(tiny_ckpt, frame_displacement):
    frames = training_frames(tiny_ckpt, "final")
    states = [context_states(m, "final")[0] for m in frames.models]
    aligned, _ = aligned_context_maps(states)
    naive, _ = aligned_context_maps(states, aligned=False)
    assert frame_displacement(aligned).mean() < frame_displacement(naive).mean()
    shown = shown_positions(aligned.shape[1])
    assert np.allclose(aligned[:, shown], frames.context_coords, atol=1e-3 * np.abs(aligned).max())  # float16


def test_a_placement_is_the_rotation_onto_the_final_states_then_their_pca():
    from scipy.linalg import orthogonal_procrustes
    from scipy.stats import special_ortho_group

    from llmcore.maps.projection import PCAProjector

    rng = np.random.default_rng(0)
    final = rng.normal(size=(300, 8)).astype(np.float32) * np.arange(8, 0, -1)
    source = (final @ special_ortho_group.rvs(8, random_state=1) + 2.0 + rng.normal(size=(300, 8)) * 0.05)
    coords, placers = aligned_context_maps([source.astype(np.float32), final])
    R, _ = orthogonal_procrustes(source - source.mean(0), final - final.mean(0))
    explicit = PCAProjector(2).fit(final).transform(((source - source.mean(0)) @ R + final.mean(0)).astype(np.float32))
    assert np.allclose(coords[0], explicit, atol=1e-3)
    assert np.abs(coords[0] - coords[1]).max() < 0.05 * np.abs(coords[1]).max()  # a rotated copy lands in place
    assert np.allclose(placers[0].place(source[:5]), coords[0][:5], atol=1e-5)


def test_watch_maps_are_stored_by_training_and_a_stale_file_is_ignored(tiny_ckpt, tmp_path):
    stored = stored_watch_maps(tiny_ckpt)
    assert stored is not None and stored.steps == weight_snapshot_steps(tiny_ckpt)
    fresh = compute_watch_maps(tiny_ckpt)
    for k in ("word_coords", "context_coords", "weights", "biases"):
        assert np.allclose(getattr(stored, k), getattr(fresh, k), atol=1e-5), k
    assert (stored.contexts == fresh.contexts).all() and stored.layers == fresh.layers
    path, other = watch_maps_path(tiny_ckpt), tmp_path / "watch.safetensors"
    assert WatchMaps.from_file(path, "another model", stored.steps) is None
    assert WatchMaps.from_file(path, tiny_ckpt.content_hash, stored.steps[:-1]) is None
    other.write_bytes(path.read_bytes()[:-8] + bytes(8))  # damaged
    assert WatchMaps.from_file(other, tiny_ckpt.content_hash, stored.steps) is None
    other.write_bytes(b"not a file")
    assert WatchMaps.from_file(other, tiny_ckpt.content_hash, stored.steps) is None
    assert WatchMaps.from_file(tmp_path / "missing", tiny_ckpt.content_hash, stored.steps) is None


def test_a_prompt_over_training_has_one_path_per_snapshot(tiny_ckpt):
    frames = training_frames(tiny_ckpt, "final")
    watch = prompt_over_training(frames, f"a {tiny_ckpt.held_out[0][0]} eats")
    T = len(frames.steps)
    assert len(watch.traces) == len(watch.paths) == T and watch.place_probs.shape == (T, len(watch.context_names))
    assert np.allclose(watch.place_probs.sum(1), 1, atol=1e-3)
    for path, trace in zip(watch.paths, watch.traces):
        assert path.shape == (len(trace.prompt_ids) + trace.n_steps - 1, 2)
    assert not np.allclose(watch.paths[0][-1], watch.paths[-1][-1])  # training moved the path


def test_cli_generate_at_a_step_and_info_lists_snapshots(capsys, tiny_ckpt_dir, tiny_ckpt):
    steps = weight_snapshot_steps(tiny_ckpt)
    assert main(["generate", "a dog eats", "--checkpoint", str(tiny_ckpt_dir), "--step", str(steps[1])]) == 0
    assert capsys.readouterr().out.startswith("a dog eats")
    assert main(["generate", "a dog eats", "--checkpoint", str(tiny_ckpt_dir), "--step", "9999"]) == 2
    assert "9999" in capsys.readouterr().err
    assert main(["maps", str(tiny_ckpt_dir), "--watch-only"]) == 0
    assert "already stored" in capsys.readouterr().out
    assert main(["info", str(tiny_ckpt_dir)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == steps
    expected = generalisation_step(snapshot_metrics(tiny_ckpt))
    assert (f"appears at step {expected} " in out) if expected is not None else "no snapshot reaches" in out


def test_reference_sentences_are_generated_once_per_world_and_the_cache_stays_small(tiny_ckpt):
    """Every snapshot's separability reads the same sentences: one generation per world content, at most 4 kept."""
    from dataclasses import replace

    from llmcore.analysis import reference

    world = tiny_ckpt.world
    first = reference._reference_sentences(world, 1, 50)
    assert reference._reference_sentences(world, 1, 50) is first and first == world.reference_sentences(1, 50)
    for seed in range(2, 8):
        reference._reference_sentences(world, seed, 50)
    assert len(reference._SENTENCES) <= 4
    unhashed = replace(world, content_hash="")  # a world built in code: generated each time, never cached
    assert reference._reference_sentences(unhashed, 1, 50) is not reference._reference_sentences(unhashed, 1, 50)
