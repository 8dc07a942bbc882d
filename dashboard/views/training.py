"""Training page: loss and generalisation curves, the aligned embedding replay, and training a new model from an
edited world, with progress and a cancel button."""

from __future__ import annotations

import streamlit as st

from dashboard import chart, classroom, frames, glossary, jobs, uploads
from dashboard.downloads import figure_html
from dashboard.figures import theme
from dashboard.figures import training as training_figures
from dashboard.state import checkpoint_or_error, current_checkpoint_or_none, get_replay_coords, training_jobs
from dashboard.text import escape_md
from dashboard.views import watch
from dashboard.world_form import world_editor
from llmcore.maps.methods import MAP_METHODS
from llmcore.model.checkpoint import Checkpoint
from llmcore.world.load import DEFAULT_WORLD
from llmcore.world.types import WorldError


def _load_world_file() -> None:
    file = st.session_state.get("world_upload")
    st.session_state.world_upload_error = ""
    if file is None:
        return
    try:
        text = uploads.save_world_upload(file.getvalue(), file.name)
        jobs.validate_world_text(text, file.name)
        st.session_state.world_text = text
    except (uploads.UploadError, WorldError) as e:
        st.session_state.world_upload_error = str(e)


def train_form() -> None:
    st.subheader("Train a new model")
    st.caption("Change the world with the form on the left (or in its file on the right), name the model and train "
               "it here. It appears in the sidebar's model picker for every page when done. The time a step takes "
               "is measured once the run starts, and the page says how long is left.")
    if "world_text" not in st.session_state:
        st.session_state.world_text = DEFAULT_WORLD.read_text()
    st.file_uploader("Start from a world file (TOML)", type=["toml"], key="world_upload",
                     on_change=_load_world_file, max_upload_size=uploads.MAX_WORLD_BYTES // 2**20)
    if st.session_state.get("world_upload_error"):
        st.error(escape_md(st.session_state.world_upload_error))
    left, right = st.columns([3, 2])
    with left:
        world_editor()
    base = current_checkpoint_or_none()
    can_warm, plan = jobs.warm_start_plan(base, st.session_state.world_text)
    with right, st.form("train"):
        text = st.text_area("World file (TOML)", key="world_text", height=560)
        warm = st.checkbox("Start from the selected model (warm start)", value=can_warm, disabled=not can_warm,
                           key=f"train_warm_{can_warm}",  # a new widget, on by default, whenever it comes to apply
                           help="Seconds instead of minutes: the model already knows the rest of the world. Off: a "
                           "new model from random weights.")
        st.caption(escape_md(plan))
        c1, c2 = st.columns(2)
        name = c1.text_input("Model name", value="my-world", max_chars=40, key="train_name")
        steps = c2.number_input("Training steps", 20, 20_000, 300, step=20, key="train_steps",
                                help="A warm start takes at most this many and stops as soon as its bars hold")
        go_ = st.form_submit_button("Start training", type="primary", key="train_start")
    if go_:
        running = training_jobs()
        if name in running and not running[name].finished:
            st.warning(f"'{escape_md(name)}' is already training.")
            return
        try:
            running[name] = jobs.start_training(name, text, int(steps),
                                                warm_from=base.path if warm and can_warm and base else None)
            st.session_state.train_job = name
        except (WorldError, ValueError) as e:
            st.error(escape_md(str(e)))


def job_progress() -> None:
    """The training job's progress, refreshed every second while it runs. Only then: a timer on an idle page would
    rerun it every second for nothing, in the way of every slider move on the Watch training charts above."""
    name = st.session_state.get("train_job")
    job = training_jobs().get(name) if name else None
    if job is not None:
        st.fragment(_job_status, run_every=None if job.finished else 1.0)(job)


def _job_status(job: jobs.TrainingJob) -> None:
    if job.finished and st.session_state.get("_job_timed") == job.name:
        st.session_state._job_timed = None
        st.rerun(scope="app")  # the page's next run sets no timer
    if not job.finished:
        st.session_state._job_timed = job.name
    st.progress(min(job.step / job.total, 1.0), text=job.status_text())
    if job.check_line():
        st.caption(escape_md(job.check_line()))
    for line in job.phase_lines():
        st.caption(line)
    if job.evals:
        r = job.evals[-1]
        habitat = (f"held-out habitat probability {r['habitat_mass']:.2f}" if "habitat_mass" in r
                   else "no held-out pairs to measure")
        st.caption(f"last evaluation at step {r['step']}: validation loss {r['val_loss']:.3f}, {habitat}, diet share "
                   f"{r['diet_share']:.2f}")
    if not job.finished:
        if st.button("Cancel training", key="cancel"):
            job.cancel()
    elif job.state == "done":
        st.success(f"'{escape_md(job.name)}' is trained: pick it in the sidebar's model picker.")
    elif job.state == "cancelled":
        st.warning(f"'{escape_md(job.name)}' was cancelled at step {job.step}; its last checkpoint is kept and "
                   "training it again with the same settings resumes from there.")
    else:
        st.error(f"Training '{escape_md(job.name)}' failed: {escape_md(job.message)}")


def warm(ckpt: Checkpoint) -> None:
    """What the page's first draw reads for `ckpt`, into the process-wide caches (the launcher's warm-up calls it,
    so that a teacher's first visit does not load twelve weight snapshots and trace a prompt with each)."""
    if len(ckpt.snapshot_steps) >= 2:
        get_replay_coords(ckpt.content_hash, True, ckpt)
    watch.warm(ckpt)


def render() -> None:
    st.title("Training")
    st.caption("How the selected model learned: its losses and generalisation measures at each evaluation, and its "
               "word embeddings replayed from random to trained. Below, train a model of your own.")
    ckpt = checkpoint_or_error()
    if ckpt is not None:
        glossary.show({**glossary.training_terms(), **glossary.state_terms(ckpt)})
        log = ckpt.train_log()
        if log:
            chart.show(training_figures.training_curves(log), key="curves")
            st.caption(escape_md(" ".join(frames.training_sentences(log, ckpt.held_out))))
        if len(ckpt.snapshot_steps) >= 2:
            aligned = st.toggle("Keep the picture from spinning between snapshots (Procrustes alignment)", value=True,
                                key="replay_aligned",
                                help="Off: a separate PCA per snapshot, whose axes flip and spin between frames")
            coords = get_replay_coords(ckpt.content_hash, aligned, ckpt)
            words = ckpt.tokenizer.vocab
            contexts = [ckpt.world.label(w)[0] for w in words]
            replay = training_figures.replay_figure(coords, words, contexts, ckpt.snapshot_steps,
                                           colours=theme.context_colours(ckpt.context_matrix()[0]),
                                           axis_label=MAP_METHODS["pca"].axis_label, aligned=aligned)
            chart.show(replay, key="replay")
            figure_html(replay, "embedding_replay", "Replay (standalone HTML)")
        watch.render(ckpt)
    if classroom.blocked("models are trained, their worlds edited and world files uploaded"):
        return
    train_form()
    job_progress()
