"""Training from the browser: a background job with progress, cancel, and a checkpoint the picker then lists."""

from __future__ import annotations

import time

import pytest

from dashboard import jobs

from .conftest import TINY_WORLD


@pytest.fixture
def sandbox(job_sandbox):
    return job_sandbox


def _wait(job, timeout=120):
    deadline = time.time() + timeout
    while not job.finished and time.time() < deadline:
        time.sleep(0.2)
    assert job.finished, job.state


@pytest.mark.slow
def test_a_job_trains_a_checkpoint_and_reports_progress(sandbox):
    job = jobs.start_training("tiny", TINY_WORLD.read_text(), steps=20)
    _wait(job)
    assert job.state == "done", job.message
    assert job.step == 20 and job.evals and (sandbox / "checkpoints" / "tiny" / "config.json").is_file()
    assert (sandbox / "data" / "worlds" / "tiny.toml").read_text() == TINY_WORLD.read_text()
    # the tuned lens is fitted beside the weights, as `llmcore train` does, and the page's phases say so
    from llmcore.analysis.lens import find_lens
    from llmcore.model.checkpoint import load_checkpoint
    from llmcore.training.lens_phase import PHASE

    found = find_lens(load_checkpoint(sandbox / "checkpoints" / "tiny"))
    assert found is not None and found[1].parent == sandbox / "checkpoints" / "tiny"
    assert PHASE in [name for name, _, end in job.phases if end is not None]


@pytest.mark.slow
def test_a_job_can_be_cancelled(sandbox):
    job = jobs.start_training("stopped", TINY_WORLD.read_text(), steps=5000)
    while job.step < 3 and not job.finished:
        time.sleep(0.05)
    job.cancel()
    _wait(job)
    assert job.state == "cancelled" and job.step < 5000
    assert (sandbox / "checkpoints" / "stopped" / ".resume" / "state.json").is_file()


@pytest.mark.parametrize("name, message", [("default", "bundled"), ("../evil", "lower-case"), ("", "lower-case"),
                                           ("A" * 3, "lower-case")])
def test_names_that_would_escape_or_overwrite_are_refused(sandbox, name, message):
    with pytest.raises(ValueError, match=message):
        jobs.start_training(name, TINY_WORLD.read_text(), steps=20)


def test_a_broken_world_is_refused_before_anything_runs(sandbox):
    with pytest.raises(jobs.WorldError, match="cannot be parsed"):
        jobs.start_training("ok", "[taxonomy\n", steps=20)
    assert not (sandbox / "checkpoints").exists()


def test_progress_text_has_no_nan_and_a_measured_pace(tmp_path):
    import math
    import time

    from dashboard.jobs import TrainingJob

    job = TrainingJob("pace", tmp_path, 100)
    assert "nan" not in job.status_text() and "preparing" in job.status_text()
    start = time.time()
    for step in range(1, 21):
        job.on_step_end(None, step, 2.0 - step / 20)
        job.last_step_at = job.first_step_at + (step - 1) * 0.05  # as if each step took 50 ms
    assert math.isclose(job.seconds_per_step, 0.05, rel_tol=1e-6)
    text = job.status_text()
    assert "50 ms a step" in text and "about 4 s of training left" in text and "nan" not in text
    job.on_phase(None, "evaluation")
    job.on_phase(None, "loss landscapes")
    lines = job.phase_lines()
    assert lines[0].startswith("✓ evaluation") and lines[1].startswith("… loss landscapes: running")
    job.begin_phase(None)
    assert all(line.startswith("✓") for line in job.phase_lines()) and time.time() >= start


@pytest.mark.slow
def test_a_warm_job_starts_from_the_selected_model_and_reports_its_bars(sandbox, tiny_ckpt_dir, tmp_path):
    from llmcore.model.checkpoint import load_checkpoint
    from llmcore.world.edit import set_animal, to_toml
    from llmcore.world.load import read_world_data

    text = to_toml(set_animal(read_world_data(TINY_WORLD), "wolf", group="wild", kind="wild", habitats=["forest"],
                              diet=["meat", "sausage"], drinks=["milk"], new=True))
    can, plan = jobs.warm_start_plan(load_checkpoint(tiny_ckpt_dir, lazy=True), text)
    assert can and "wolf" in plan
    job = jobs.start_training("warm", text, steps=200, warm_from=tiny_ckpt_dir)
    _wait(job, timeout=300)
    assert job.state == "done", job.message
    assert job.warm and job.checks and job.checks[0]["step"] == 0 and job.check_line()
    warm = load_checkpoint(sandbox / "checkpoints" / "warm").metrics["warm_start"]
    assert warm["from"] == tiny_ckpt_dir.name and "wolf" in warm["changed"]
    assert warm["bars_held"] == (not job.checks[-1]["failing"])
    with pytest.raises(ValueError, match="nothing to learn"):  # checked before anything runs
        jobs.start_training("same", TINY_WORLD.read_text(), steps=20, warm_from=tiny_ckpt_dir)
    assert not (sandbox / "checkpoints" / "same").exists()
