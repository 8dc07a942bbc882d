"""The dashboard's one place for loading and caching: models, traces, maps, regions. Every cached function is
pure and keyed by the checkpoint's content hash; entries are bounded.

Over 400 lines on purpose: it is the dashboard's only cache (STYLE.md), so every cached loader lives here;
each is a few lines.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import streamlit as st

from dashboard import classroom, mapjobs
from dashboard.figures.theme import INK
from dashboard.mapjobs import MapJob
from llmcore.analysis.trace import GenerationTrace, SamplingConfig, trace_generation
from llmcore.loader import any_checkpoint
from llmcore.maps.methods import MAP_METHODS, method_names
from llmcore.maps.regions import RegionMap, region_map
from llmcore.maps.results import model_result
from llmcore.maps.store import FittedMap, MapBook
from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, Checkpoint, CheckpointError

if TYPE_CHECKING:
    from llmcore.analysis.attribution import Ablation, Attribution
    from llmcore.analysis.counterfactual import CounterfactualGrid
    from llmcore.analysis.evaluate import HeldOutBreakdown
    from llmcore.analysis.feature_axis import FeatureAxis
    from llmcore.analysis.features import Features, FeaturesError, PromptFeatures
    from llmcore.analysis.interventions import CausalTrace, Noise, PatchedRun
    from llmcore.analysis.lens import LensReadings, TunedLens
    from llmcore.analysis.steering import SteeringSweep
    from llmcore.maps.alignment import SpaceAlignment
    from llmcore.maps.bestview import BestView
    from llmcore.maps.landscape import DecisionLandscape, NextWordRegions
    from llmcore.maps.tracecache import Candidates
    from llmcore.maps.watch import PromptOverTraining, TrainingFrames, WatchMaps

Built = TypeVar("Built")

CHECKPOINT_ENV = "LLM_LANDSCAPE_CHECKPOINT"
# Set once a page has run in this server: the launcher's warm-up loads torch after that, not during the first page.
PAGE_RAN = threading.Event()


def default_checkpoint_path() -> Path:
    """The checkpoint the dashboard opens: $LLM_LANDSCAPE_CHECKPOINT or the bundled default."""
    return Path(os.environ.get(CHECKPOINT_ENV) or DEFAULT_CHECKPOINT)


METHOD_NAMES = {name: m.title for name, m in MAP_METHODS.items()}  # what the pages call each map method


def checkpoint_label(path: str) -> str:
    """How a checkpoint is named in every model picker: its folder, the bundled one marked."""
    return f"{Path(path).name} (bundled)" if Path(path) == default_checkpoint_path() else Path(path).name


def available_checkpoints() -> list[Path]:
    """The default checkpoint first, then every other checkpoint folder: a source tree's checkpoints/, the models
    trained and uploaded in the dashboard (the user data folder)."""
    from dashboard import folders
    from dashboard.uploads import uploaded_checkpoints_dir

    found = [default_checkpoint_path()]
    for folder in (folders.SOURCE_CHECKPOINTS, folders.CHECKPOINTS_DIR, uploaded_checkpoints_dir()):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if (p / "config.json").is_file() and p not in found)
    found += [Path(p) for p in st.session_state.get("local_models", []) if Path(p) not in found]
    return found


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def get_checkpoint(path: str, mtime_ns: int) -> Checkpoint:
    """Loaded once per folder and modification time (a retrained folder reloads); our checkpoints and local
    Hugging Face model folders alike."""
    return any_checkpoint(path, lazy=True)  # the weights are read when the model is first used


def checkpoint_at(path: Path) -> Checkpoint:
    cfg = Path(path) / "config.json"
    return get_checkpoint(str(path), cfg.stat().st_mtime_ns if cfg.exists() else 0)


def current_checkpoint() -> Checkpoint:
    """The checkpoint chosen in the sidebar's model picker (or the default)."""
    chosen = st.session_state.get("checkpoint")
    path = Path(chosen) if chosen else default_checkpoint_path()
    try:
        return checkpoint_at(path)
    except CheckpointError:
        if path != default_checkpoint_path():
            st.session_state.pop("checkpoint", None)
        raise


def current_checkpoint_or_none() -> Checkpoint | None:
    """The current checkpoint, or None where it cannot be loaded (the page has said why already)."""
    try:
        return current_checkpoint()
    except CheckpointError:
        return None


def checkpoint_or_error() -> Checkpoint | None:
    """The current checkpoint, or None after showing what is wrong and what to do (every page starts here)."""
    try:
        return current_checkpoint()
    except CheckpointError as e:
        from dashboard.text import escape_md

        st.error(f"The model could not be loaded: {escape_md(str(e))}")
        st.info("Retrain the bundled model with `make train-default`, or pick another model in the sidebar.")
        return None


@st.cache_data(max_entries=64, show_spinner=False)
def get_trace(content_hash: str, prompt: str, sampling: SamplingConfig, _ckpt: Checkpoint) -> GenerationTrace:
    return trace_generation(_ckpt, prompt, sampling)


@st.cache_resource(max_entries=6, show_spinner="Fitting the tuned lens of this model (once per model)…")
def get_lens(content_hash: str, _ckpt: Checkpoint) -> TunedLens:
    """The model's tuned lens (llmcore.analysis.lens): beside the model or in the user cache; fitted into the user
    cache now where there is none fitted to these weights (a stale file, or one that is not a lens, is passed over
    and left as it is)."""
    from llmcore.analysis.lens import ensure_lens
    from llmcore.files import user_cache_dir

    return ensure_lens(_ckpt, folder=user_cache_dir() / content_hash)[0]


@st.cache_data(max_entries=64, show_spinner=False)
def get_lens_readings(content_hash: str, trace_key: str, lens: str, *, _trace: GenerationTrace,
                      _ckpt: Checkpoint) -> LensReadings:
    """What the logit or tuned lens reads at every word step of a trace, with each step's prediction depth
    (llmcore.analysis.lens.LensReadings); the logit lens needs no model (the trace recorded it). trace_key: what
    makes the trace (its text and sampling settings)."""
    from llmcore.analysis.lens import trace_readings

    tuned = get_lens(content_hash, _ckpt) if lens == "tuned" else None
    return trace_readings(_trace, lens=tuned, ckpt=_ckpt)


@st.cache_resource(max_entries=6, show_spinner=False)
def get_default_trace(content_hash: str, prompt: str, sampling: SamplingConfig,
                      _ckpt: Checkpoint) -> tuple[GenerationTrace, Candidates]:
    """A page's default view: its trace and every step's candidates, read from beside the maps where they are kept
    (llmcore.maps.tracecache), so that a cold start draws it without torch; computed and kept there when missing."""
    from llmcore.inputs import InputError
    from llmcore.maps.store import cache_dirs, default_cache_dir
    from llmcore.maps.tracecache import compute_candidates, load_trace, save_trace

    kept = next(filter(None, (load_trace(d, _ckpt, prompt, sampling) for d in cache_dirs(_ckpt))), None)
    if kept is None:
        trace = trace_generation(_ckpt, prompt, sampling)
        kept = trace, compute_candidates(_ckpt, trace)
        try:
            save_trace(default_cache_dir(_ckpt), _ckpt, prompt, sampling, *kept)
        except (OSError, InputError):  # a cache that cannot be written: computed again after the next start
            pass
    return kept


@st.cache_resource(max_entries=6, show_spinner="Running the model over reference sentences…")
def get_map_book(content_hash: str, _ckpt: Checkpoint) -> MapBook:
    return MapBook(_ckpt)


@st.cache_resource(max_entries=48, show_spinner="Preparing the map…")
def get_map(content_hash: str, reference: str, method: str, n_components: int, *, _ckpt: Checkpoint,
            params_key: str = "") -> FittedMap:
    """A map from the checkpoint's map cache, or fitted now. No page element is drawn in here: a cached
    function's elements are replayed to every later session, and a replayed progress box never finishes."""
    import json

    book = get_map_book(content_hash, _ckpt)
    return book.get(reference, method, n_components, params=json.loads(params_key) if params_key else None)


@st.cache_resource(max_entries=16, show_spinner=False)
def get_map_base(content_hash: str, map_key: str, reading: str, colours: tuple[tuple[str, str], ...], *,
                 _fmap: FittedMap) -> tuple:
    """A map's reference-state traces (map_figures.reference_traces) for one reading and colouring, built once: they
    are the same for every prompt drawn on that map (map_key: FittedMap.key, which names the map's checkpoint,
    points, method and settings)."""
    from dashboard import frames
    from dashboard.figures import maps as map_figures

    return tuple(map_figures.reference_traces(frames.reference_frame(_fmap), dict(colours), reading=reading))


_READY: set[tuple[str, str, str, int]] = set()  # maps known to be on disk


def map_when_ready(content_hash: str, reference: str, method: str, n_components: int,
                   *, ckpt: Checkpoint) -> tuple[FittedMap, MapJob | None]:
    """The map asked for, at once if it is PCA, the story map (LDA) or already on disk. A UMAP or t-SNE map that
    is not is fitted in the background (one server-wide job, whichever session asked first) and the PCA map stands
    in until it is ready: returns the map to draw and the job to show progress of (None when the map is the one
    asked for). A classroom visitor starts no fit: it sees a job the teacher started, else a refused one saying
    why the PCA map stands in."""
    key = (content_hash, reference, method, n_components)
    if MAP_METHODS[method].linear or key in _READY:
        return get_map(content_hash, reference, method, n_components, _ckpt=ckpt), None
    book = get_map_book(content_hash, ckpt)
    if book.cached(reference, method, n_components) is None:
        ref = book.reference(reference)
        if classroom.visitor_page():
            job = mapjobs.find(ckpt, ref, method, n_components, cache_dir=book.cache_dir) or MapJob(
                "", refused=not_stored(book, reference, method, n_components))
        else:
            label = f"Fitting the {METHOD_NAMES.get(method, method)} map of {reference} in the background"
            job = mapjobs.request(ckpt, ref, method, n_components, label=label, cache_dir=book.cache_dir)
        if job.result is None:
            return get_map(content_hash, reference, "pca", n_components, _ckpt=ckpt), job
    _READY.add(key)
    return get_map(content_hash, reference, method, n_components, _ckpt=ckpt), None


def not_stored(book: MapBook, reference: str, method: str, n_components: int) -> str:
    """What a classroom visitor reads where a map is neither stored with the model nor fitted by the teacher: which
    map is missing, why it is not fitted now, and which other non-linear map of it is stored."""
    what = "the words" if reference == "words" else f"the states at depth '{reference.removeprefix('context:')}'"
    others = [METHOD_NAMES[m] for m in method_names(neighbour_placed=True)  # the one other non-linear method
              if m != method and book.cached(reference, m, n_components) is not None]
    also = f" Its {others[0]} map is stored: choose it for a non-linear map." if others else ""
    return (f"This model's {n_components}D {METHOD_NAMES.get(method, method)} map of {what} is not stored with it, "
            "and on a classroom server only the teacher's own machine fits new maps: the PCA map is shown "
            f"instead.{also}")


def map_progress(job: MapJob) -> None:
    """Why the PCA map stands in: a background fit's progress, or the sentence saying why none was started."""
    if job.refused:
        st.info(job.refused)
    else:
        _fit_progress(job)


@st.fragment(run_every=1.0)
def _fit_progress(job: MapJob) -> None:
    """The background fit's progress and measured ETA, refreshed every second; the page reruns when it is done."""
    if job.result is not None:
        st.rerun()
    if job.error:
        st.error(f"The map could not be fitted: {job.error}")
        return
    st.progress(job.fraction, text=f"{job.status_line()}. The PCA map is shown meanwhile; this page updates "
                "when the map is ready.")


@st.cache_resource(max_entries=48, show_spinner=False)  # shared, not copied: a RegionMap keeps its outlines
def get_regions(content_hash: str, reference: str, method: str, contexts: tuple[str, ...],
                *, _fitted: FittedMap, label: str = "context") -> RegionMap:
    """Regions of one reference label: 'context' (the read reading) or 'next_context' (the next reading)."""
    return region_map(_fitted.coords[:, :2], _fitted.reference.labels[label], list(contexts))


@st.cache_resource(max_entries=6, show_spinner="Measuring which map shows the story best…")
def get_best_view(content_hash: str, _ckpt: Checkpoint) -> BestView:
    """The measured default view (stored with the maps; measured on the linear maps where it is missing)."""
    return get_map_book(content_hash, _ckpt).best_view()


def contexts_of_words(ckpt: Checkpoint) -> dict[str, str]:
    """The read reading of every vocabulary word: its sub-context in the world."""
    return {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab}


@st.cache_resource(max_entries=16, show_spinner="Aligning the two models on the sentences both can read…")
def get_alignment(source_hash: str, target_hash: str, layer: str, *, _source: Checkpoint,
                  _target: Checkpoint) -> SpaceAlignment:
    """The map from one model's states at a depth onto another's (llmcore.maps.alignment.align_models); ValueError
    when they share too few sentences."""
    from llmcore.maps.alignment import align_models

    return align_models(_source, _target, layer)


def theme_ink() -> str:
    """The colour of paths drawn over maps: dark on a light theme, light on a dark one."""
    try:
        return INK["dark"] if st.context.theme.type == "dark" else INK["light"]
    except AttributeError:  # older Streamlit: no theme information
        return INK["light"]


# ---------------------------------------------------------------- Causes page (llmcore.analysis.interventions)
def _corruption(corrupt: str | tuple) -> str | Noise:
    """A counterfactual prompt (text) as it is, or ('noise', positions, scale, seeds) as llmcore's Noise: the cached
    functions take the tuple, which hashes by value."""
    from llmcore.analysis.interventions import Noise

    if isinstance(corrupt, tuple):
        _, positions, scale, seeds = corrupt
        return Noise(positions=tuple(positions), scale=scale, n_seeds=seeds)
    return corrupt


def noise_unit(ckpt: Checkpoint) -> float:
    """The standard deviation of the word embeddings: the unit the page's noise scale is given in."""
    return float(ckpt.model.transformer.wte.weight.detach().float().std())


@st.cache_data(max_entries=32, show_spinner="Tracing every state of the run…")
def get_causal_trace(content_hash: str, prompt: str, corrupt: str | tuple, target: tuple[str, ...],
                     *, _ckpt: Checkpoint) -> CausalTrace:
    """corrupt: a counterfactual prompt, or ('noise', positions, scale, seeds)."""
    from llmcore.analysis.interventions import causal_trace

    return causal_trace(_ckpt, prompt, corrupt=_corruption(corrupt), target=list(target) or None)


@st.cache_data(max_entries=64, show_spinner=False)
def get_patched_run(content_hash: str, prompt: str, corrupt: str | tuple, target: tuple[str, ...],
                    *, restore: tuple[tuple[str, int, int], ...], _ckpt: Checkpoint) -> PatchedRun:
    from llmcore.analysis.interventions import patched_run

    return patched_run(_ckpt, prompt, corrupt=_corruption(corrupt), restore=list(restore),
                       target=list(target) or None)


@st.cache_data(max_entries=32, show_spinner=False)
def get_attribution(content_hash: str, prompt: str, target: tuple[str, ...], _ckpt: Checkpoint) -> Attribution:
    from llmcore.analysis.attribution import attribute

    return attribute(_ckpt, prompt, target=list(target) or None)


@st.cache_data(max_entries=6, show_spinner="Asking every animal with every food…")
def get_counterfactual_grid(content_hash: str, _ckpt: Checkpoint) -> CounterfactualGrid:
    return model_result(_ckpt, "counterfactual_grid")


@st.cache_data(max_entries=6, show_spinner="Removing each head and MLP in turn…")
def get_ablation(content_hash: str, _ckpt: Checkpoint) -> Ablation:
    return model_result(_ckpt, "ablation")


@st.cache_data(max_entries=64, show_spinner=False)
def get_steering_vector(content_hash: str, source: str, target: str, depth: int, *, _ckpt: Checkpoint) -> np.ndarray:
    from llmcore.analysis.steering import steering_vector

    book = get_map_book(content_hash, _ckpt)
    return steering_vector(_ckpt, source=source, target=target, depth=depth, reference=book.states)


@st.cache_data(max_entries=6, show_spinner=False)
def get_steering_groups(content_hash: str, _ckpt: Checkpoint) -> list[str]:
    from llmcore.analysis.steering import group_names

    return group_names(_ckpt, get_map_book(content_hash, _ckpt).states)


@st.cache_data(max_entries=64, show_spinner=False)
def get_steered_trace(content_hash: str, prompt: str, source: str, target: str, *, depth: int, alpha: float,
                      positions: tuple[int, ...] | None = None, _ckpt: Checkpoint) -> GenerationTrace:
    from llmcore.analysis.steering import steer

    vec = get_steering_vector(content_hash, source, target, depth, _ckpt=_ckpt)
    return steer(_ckpt, prompt, vector=vec, depth=depth, alpha=alpha, positions=positions)


@st.cache_resource(max_entries=6, show_spinner=False)
def get_grammar_pairs(content_hash: str, _ckpt: Checkpoint) -> frozenset[tuple[str, str]]:
    return frozenset((a, b) for a, b in model_result(_ckpt, "grammar_pairs"))


@st.cache_data(max_entries=32, show_spinner="Measuring how far the push can go…")
def get_steering_sweep(content_hash: str, source: str, target: str, depth: int, on_animal: bool, *,
                       _ckpt: Checkpoint) -> SteeringSweep | None:
    """The steering sweep (llmcore.analysis.steering.steering_sweep) over the world's prompts of the source group; None
    when the world has no animals to make prompts from."""
    from llmcore.analysis.steering import steering_sweep, sweep_prompts

    prompts = sweep_prompts(_ckpt, source)
    if not prompts:
        return None
    vec = get_steering_vector(content_hash, source, target, depth, _ckpt=_ckpt)
    return steering_sweep(_ckpt, vector=vec, depth=depth, prompts=prompts, target=target,
                          on_word=1 if on_animal else None, pairs=get_grammar_pairs(content_hash, _ckpt))


@st.cache_resource(max_entries=4, show_spinner="Loading the weight snapshots…")
def get_snapshot_models(content_hash: str, _ckpt: Checkpoint) -> list[Checkpoint]:
    """Every weight snapshot as a Checkpoint (llmcore.training.snapshots.snapshot_checkpoints), from one read."""
    from llmcore.training.snapshots import snapshot_checkpoints

    return snapshot_checkpoints(_ckpt)


@st.cache_resource(max_entries=4, show_spinner=False)
def get_watch_maps(content_hash: str, _ckpt: Checkpoint) -> WatchMaps:
    """The snapshots' word maps and aligned context maps at every depth: stored with the checkpoint, or computed
    now (the view says so first) and stored for next time (llmcore.maps.watch.watch_maps)."""
    from llmcore.maps.watch import watch_maps

    return watch_maps(_ckpt, get_snapshot_models(content_hash, _ckpt))


@st.cache_resource(max_entries=16, show_spinner=False)
def get_training_frames(content_hash: str, layer: str, _ckpt: Checkpoint) -> TrainingFrames:
    """Every weight snapshot's word map and context map at one depth (llmcore.maps.watch.TrainingFrames)."""
    return get_watch_maps(content_hash, _ckpt).frames(layer, get_snapshot_models(content_hash, _ckpt))


@st.cache_resource(max_entries=16, show_spinner="Tracing the prompt with every snapshot's weights…")
def get_prompt_over_training(content_hash: str, layer: str, prompt: str,
                             _training_frames: TrainingFrames) -> PromptOverTraining:
    """The prompt traced at every snapshot and placed on its aligned context map (llmcore.maps.watch)."""
    from llmcore.maps.watch import prompt_over_training

    return prompt_over_training(_training_frames, prompt)


@st.cache_resource(max_entries=512, show_spinner=False)
def cached_build(key: tuple, _build: Callable[[], Built]) -> Built:
    """A figure (or what it is drawn from) built once per key: Watch training draws one per snapshot, prompt,
    depth and chart, so moving the step slider only sends figures that are ready."""
    return _build()


_LATER: set[tuple] = set()
_LATER_LOCK = threading.Lock()


def built_later(key: tuple, builds: list, *, pause_s: float = 1.0) -> None:
    """Run `builds` (each calls cached_build) in one server thread, once per key, pause_s after the page's run has
    begun sending: what a control may show next is ready when it is moved, and the first draw does not wait."""
    with _LATER_LOCK:
        if key in _LATER:
            return
        _LATER.add(key)

    def run() -> None:
        time.sleep(pause_s)
        for build in builds:
            try:
                build()
            except Exception:  # noqa: BLE001 - the page builds it again when shown, and reports any problem there
                return

    threading.Thread(target=run, name="dashboard-built-later", daemon=True).start()


# ---------------------------------------------------------------- moved here from views/ (issue 10: thin views)
# The pages' own caches and the server-wide training jobs: every page reads them through the functions below.
@st.cache_data(max_entries=6, show_spinner="Aligning the snapshots…")
def get_replay_coords(content_hash: str, aligned: bool, _ckpt: Checkpoint) -> np.ndarray:
    """(T, V, 2) every word at every embedding snapshot (llmcore.maps.alignment.snapshot_coords), kept with the
    maps (llmcore.maps.results)."""
    return model_result(_ckpt, "replay_aligned" if aligned else "replay_naive")


@st.cache_data(max_entries=4, show_spinner="Regenerating the training corpus to check it…")
def get_corpus_check(content_hash: str, _ckpt: Checkpoint) -> dict:
    """Recreate the exact training corpus and count sentences in which each held-out pair occurs in any form
    ('dogs' counts as 'dog'; should be 0), and every animal and food named together:
    llmcore.maps.results.corpus_check, kept with the maps."""
    return model_result(_ckpt, "corpus_counts")


@st.cache_data(max_entries=4, show_spinner="Asking the model about every held-out prompt…")
def get_held_out_breakdown(content_hash: str, _ckpt: Checkpoint) -> HeldOutBreakdown:
    """Where the model sends the place word after every held-out prompt
    (llmcore.analysis.evaluate.held_out_breakdown), kept with the maps."""
    return model_result(_ckpt, "held_out_breakdown")


@st.cache_data(max_entries=4, show_spinner="Fitting a map of your embeddings (UMAP and t-SNE take a while)…")
def get_own_map(vectors: bytes, metadata: bytes | None, method: str) -> FittedMap:
    """A map of embeddings a user brings (Embedding Projector files). No page element is drawn in here: a cached
    function's elements are replayed to later sessions, where a progress box never finishes."""
    from llmcore.maps.formats import read_projector_files
    from llmcore.maps.store import fit_map

    return fit_map(read_projector_files(vectors, metadata), method, 2)


@st.cache_data(max_entries=16, show_spinner="Decoding the plane…")
def get_decision(content_hash: str, layer: str, _ckpt: Checkpoint, _fmap: FittedMap, *,
                 grid: int) -> DecisionLandscape:
    """The decision landscape on a PCA map's plane, decoded on a grid × grid lattice over the map's extent."""
    from llmcore.maps.landscape import decision_landscape

    extent = np.stack([_fmap.coords.min(0), _fmap.coords.max(0)])
    return decision_landscape(_ckpt, layer, _fmap.projector, extent, grid=grid)


@st.cache_resource(max_entries=4, show_spinner="Reading what the model predicts from each reference state…")
def get_next_regions(content_hash: str, layer: str, _ckpt: Checkpoint) -> NextWordRegions:
    """What the reference states at a depth predict next, on the plane that separates their predictions
    (llmcore.maps.landscape.NextWordRegions)."""
    from llmcore.maps.landscape import next_word_regions

    return next_word_regions(_ckpt, layer, get_map_book(content_hash, _ckpt).reference(f"context:{layer}").X)


_TRAINING_JOBS: dict = {}  # server-wide: a run goes on while pages change and sessions come and go


def training_jobs() -> dict:
    """The training runs started from the browser, by model name (dashboard.jobs.TrainingJob)."""
    return _TRAINING_JOBS


# ---------------------------------------------------------------- Features page
@st.cache_resource(max_entries=6, show_spinner="Reading the model's features…")
def get_features(content_hash: str, _ckpt: Checkpoint) -> Features | FeaturesError | None:
    """The checkpoint's stored features (llmcore.analysis.features); None where none were ever fitted; or the
    FeaturesError that says why the stored ones cannot be used (stale, bad file): returned, not raised, so the page
    can say it."""
    from llmcore.analysis.features import FeaturesError, load_features

    try:
        return load_features(_ckpt)
    except FeaturesError as e:
        return e


@st.cache_data(max_entries=64, show_spinner=False)
def get_prompt_features(content_hash: str, prompt: str, *, _ckpt: Checkpoint,
                        _features: Features) -> PromptFeatures:
    """The active features of every word step of a prompt's greedy completion."""
    from llmcore.analysis.features import features_of_states, trace_word_states

    trace = get_trace(content_hash, prompt, SamplingConfig(), _ckpt)
    return features_of_states(_features, *trace_word_states(trace))


@st.cache_data(max_entries=64, show_spinner="Placing the states on the feature's direction…")
def get_feature_axis(content_hash: str, depth: int, feature: int, *, _ckpt: Checkpoint,
                     _features: Features) -> FeatureAxis:
    """A feature's decoder direction as a map axis over the model's reference states at its depth (the Trajectory
    map's corpus positions)."""
    from llmcore.analysis.feature_axis import feature_axis

    states = get_map_book(content_hash, _ckpt).states
    return feature_axis(_features.sae, depth, feature, states.layer(_features.sae.layer_names[depth]))


@st.cache_data(max_entries=64, show_spinner="Steering with the feature…")
def get_feature_steered(content_hash: str, prompt: str, depth: int, feature: int, alpha: float, *, _ckpt: Checkpoint,
                        _features: Features) -> str:
    """The completion with alpha times a feature's decoder direction added at its depth at every position."""
    from llmcore.analysis.features import steer_with_feature

    return steer_with_feature(_ckpt, _features, prompt, depth=depth, feature=feature, alpha=alpha).completion
