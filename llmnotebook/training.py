"""The Training page's Watch training as a notebook widget: the model at each weight snapshot, one slider for all
its charts (the word map, the prompt's path, its place probabilities, the measure curves, the loss landscape's
training path), drawn by the page's own chart code (dashboard.watch_charts) from the checkpoint's stored Watch
maps."""

from __future__ import annotations

import plotly.graph_objects as go
import traitlets

from dashboard.watch_charts import CHARTS, default_prompt, has_landscape
from llmcore.analysis.trace import MAX_PROMPT_CHARS, PromptError
from llmcore.maps.watch import PromptOverTraining, TrainingFrames
from llmcore.model.depths import FINAL
from llmcore.training.snapshots import snapshot_metrics, weight_snapshot_steps
from llmnotebook.source import Landscape
from llmnotebook.widget import FigureView, SettingRefused


def check_snapshots(land: Landscape) -> list[int]:
    """The model's weight snapshot steps; SettingRefused (before any work) for a model that holds fewer than 2."""
    steps = weight_snapshot_steps(land.ckpt)
    if len(steps) < 2:
        raise SettingRefused(f"{land.ckpt.name}: holds {len(steps)} snapshots of the whole model, and training is "
                             "watched over at least 2 (a model trained by `llmcore train` saves them; one trained "
                             "before that, or a Hugging Face model, has none)")
    return steps


class WatchTraining(FigureView):
    """One chart of Watch training (`chart`: 'words', 'path', 'probs', 'curves' or 'landscape') at the weight
    snapshot of training step `snapshot` (one of `steps`; the slider sets it, and so can Python). `prompt` is
    traced with every snapshot's weights and drawn on each snapshot's context map at depth `layer`. A prompt the
    model cannot read raises PromptError, any other refused setting SettingRefused, and the view keeps what it
    drew. `linked(chart)` gives another chart that follows this one's snapshot, prompt and depth."""

    prompt = traitlets.Unicode("").tag(sync=True)
    layer = traitlets.Unicode(FINAL).tag(sync=True)
    chart = traitlets.Unicode("words").tag(sync=True)
    snapshot = traitlets.Int(0).tag(sync=True)
    steps = traitlets.List(traitlets.Int()).tag(sync=True)  # the slider's stops; empty: no slider drawn

    def __init__(self, land: Landscape, *, slider: bool = True, **kwargs) -> None:
        self.land, self.all_steps = land, check_snapshots(land)
        self.metrics = snapshot_metrics(land.ckpt)
        self._layer, self._prompt = kwargs.get("layer", FINAL), kwargs.get("prompt") or default_prompt(land.ckpt)
        self._check_layer(self._layer)
        self._watch = land.over_training(self._layer, self._prompt)
        kwargs.update(prompt=self._prompt, steps=self.all_steps if slider else [])
        kwargs.setdefault("snapshot", self.all_steps[-1])
        super().__init__(**kwargs)
        self.observe(lambda _: self.redraw(), names=["prompt", "layer", "chart", "snapshot"])
        self.redraw()

    @property
    def frames(self) -> TrainingFrames:
        """Every snapshot's word map and context map at `layer` (llmcore.maps.watch.TrainingFrames)."""
        return self.land.training_frames(self._layer)

    @property
    def over_training(self) -> PromptOverTraining:
        """The prompt traced at every snapshot (llmcore.maps.watch.PromptOverTraining)."""
        return self._watch

    @property
    def completion(self) -> str:
        """What the model at the shown snapshot writes after the prompt."""
        return self._watch.completions[self.all_steps.index(self.snapshot)]

    def _check_layer(self, layer: str) -> None:
        names = self.land.book.layer_names
        if layer not in names:
            raise SettingRefused(f"layer: {layer!r} is not one of the model's depths {names}")

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict) -> str:
        self._check_layer(proposal["value"])
        self._watch = self.land.over_training(proposal["value"], self._prompt)
        self._layer = proposal["value"]
        return proposal["value"]

    @traitlets.validate("prompt")
    def _valid_prompt(self, proposal: dict) -> str:
        prompt = proposal["value"]
        if len(prompt) > MAX_PROMPT_CHARS:
            raise PromptError(f"prompt: {len(prompt)} characters, at most {MAX_PROMPT_CHARS} are read")
        self._watch = self.land.over_training(self._layer, prompt)
        self._prompt = prompt
        return prompt

    @traitlets.validate("snapshot")
    def _valid_snapshot(self, proposal: dict) -> int:
        if proposal["value"] not in self.all_steps:
            raise SettingRefused(f"snapshot: {proposal['value']!r} is not a training step with a weight snapshot "
                                 f"({self.all_steps})")
        return proposal["value"]

    @traitlets.validate("chart")
    def _valid_chart(self, proposal: dict) -> str:
        shown = [c for c in CHARTS if c != "landscape" or has_landscape(self.land.ckpt)]
        if proposal["value"] not in shown:
            raise SettingRefused(f"chart: {proposal['value']!r} is not one of this model's charts {shown}")
        return proposal["value"]

    def charts(self) -> dict:
        """Every chart of the shown snapshot (dashboard.watch_charts.snapshot_charts), built once per setting."""
        return self.land.watch_charts(self._layer, self._prompt, self.snapshot, self.ink)

    def build(self) -> go.Figure:
        return self.charts()[self.chart]  # kept as built: sending it changes nothing in it

    def linked(self, chart: str) -> WatchTraining:
        """Another chart of this view, without a slider of its own: it follows this view's snapshot, prompt and
        depth."""
        view = WatchTraining(self.land, slider=False, chart=chart, prompt=self.prompt, layer=self.layer,
                             snapshot=self.snapshot)
        for name in ("snapshot", "prompt", "layer"):
            traitlets.link((self, name), (view, name))
        return view

