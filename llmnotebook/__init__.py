"""The dashboard's views as live notebook widgets (JupyterLab, Notebook 7, VS Code), drawn by the dashboard's own
figure code: `pip install llm-landscape[notebook]`, then

    from llmnotebook import trajectory
    w = trajectory("a dog devours pizza in")   # the map; w.bars(), w.lens() follow it
    w.selection                                # the points chosen with the box or lasso tool, as a DataFrame
    embeddings(search="c.*t")                  # the word map, the search's matches ringed
    watch()                                    # the model at each weight snapshot, on one slider

It sits above both `llmcore` (the model) and `dashboard` (the figures and frames, which import no Streamlit), so
neither of those imports it."""

from __future__ import annotations

from pathlib import Path

from llmcore.analysis.trace import SamplingConfig

try:
    import anywidget  # noqa: F401
except ImportError as e:  # pragma: no cover - the base install
    raise ImportError("llmnotebook needs the notebook extra: pip install 'llm-landscape[notebook]'") from e

from llmnotebook.causes import CausalTraceView, GeneralisationGrid
from llmnotebook.source import Landscape, open_model
from llmnotebook.training import WatchTraining
from llmnotebook.views import SEED_PROMPT, ContextBars, LogitLens, TrajectoryMap
from llmnotebook.widget import FigureView, SettingRefused, save_html
from llmnotebook.wordmap import EmbeddingMap

__all__ = ["CausalTraceView", "ContextBars", "EmbeddingMap", "FigureView", "GeneralisationGrid", "Landscape",
           "LogitLens", "SettingRefused", "TrajectoryMap", "WatchTraining", "causal_trace", "embeddings",
           "generalisation", "open_model", "save_html", "trajectory", "watch"]


def _model(model: str | Path | Landscape | None) -> Landscape:
    if isinstance(model, Landscape):
        return model
    if model is not None and not isinstance(model, (str, Path)):
        raise TypeError(f"model: a folder (str or Path) or a Landscape, not {type(model).__name__}")
    return open_model(None if model is None else str(model))


def trajectory(prompt: str = SEED_PROMPT, *, model: str | Path | Landscape | None = None, step: int = 1,
               layer: str | None = None, method: str | None = None,
               sampling: SamplingConfig | None = None) -> TrajectoryMap:
    """The Trajectory map of `prompt` (the bundled model unless `model` names a folder); layer and method default
    to the view measured to show the story best."""
    land = _model(model)
    settings = {k: v for k, v in (("layer", layer), ("method", method)) if v is not None}
    return TrajectoryMap(land, prompt=prompt, step=step, sampling=sampling, **settings)


def causal_trace(prompt: str = SEED_PROMPT, *, corrupt: str = "",
                 model: str | Path | Landscape | None = None) -> CausalTraceView:
    """The causal trace of `prompt` against `corrupt` (default: its animal swapped); click a cell for `w.patched`."""
    return CausalTraceView(_model(model), prompt=prompt, corrupt=corrupt)


def generalisation(*, model: str | Path | Landscape | None = None) -> GeneralisationGrid:
    """Every animal with every food: whose place the model names next, held-out pairs included."""
    return GeneralisationGrid(_model(model))


def embeddings(search: str = "", *, model: str | Path | Landscape | None = None, method: str = "pca", dims: int = 2,
               colour_by: str = "context") -> EmbeddingMap:
    """The Embeddings page's word map (the bundled model unless `model` names a folder), the words `search` matches
    (a word or a regular expression) ringed; a box or lasso selection sets `w.selection`."""
    return EmbeddingMap(_model(model), search=search, method=method, dims=dims, colour_by=colour_by)


def watch(prompt: str = "", *, model: str | Path | Landscape | None = None, layer: str | None = None,
          snapshot: int | None = None, chart: str = "words") -> WatchTraining:
    """Watch training: `chart` of the model at the weight snapshot of training step `snapshot` (default the last),
    on a slider over every snapshot; `prompt` (default a held-out pair, as the Training page's) is traced with
    each snapshot's weights at depth `layer` (default the final one). `w.linked("path")` adds another chart."""
    settings = {k: v for k, v in (("layer", layer), ("snapshot", snapshot)) if v is not None}
    return WatchTraining(_model(model), prompt=prompt, chart=chart, **settings)
