"""The dashboard's Trajectory views as notebook widgets: the map with the prompt's path, the sub-context bars and the
logit lens, drawn by the dashboard's own figure builders from its own frames. Setting `prompt`, `step`, `layer` or
`method` redraws; a box or lasso selection on the map sets `selection`, a click on a step sets `step`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import traitlets

from dashboard import frames
from dashboard.figures import maps as map_figures
from dashboard.figures.theme import BASE, context_colours
from llmcore.analysis.trace import MAX_PROMPT_CHARS, GenerationTrace, PromptError, SamplingConfig
from llmnotebook.source import METHODS, Landscape
from llmnotebook.widget import FigureView, SettingRefused

SEED_PROMPT = "a dog devours pizza in"
STARS = 0.02  # candidate stars drawn from this probability, as the dashboard's default
SELECTION_COLUMNS = ["word", "sub_context", "next_word", "x", "y", "depth", "step"]


class PromptView(FigureView):
    """A figure of one prompt's trace at one step. `prompt` is traced when it is set (a prompt the model cannot
    read raises PromptError and leaves the view as it was); `step` counts words read, from 1."""

    prompt = traitlets.Unicode(SEED_PROMPT).tag(sync=True)
    step = traitlets.Int(1).tag(sync=True)

    def __init__(self, land: Landscape, *, sampling: SamplingConfig | None = None, **kwargs) -> None:
        self.land, self.sampling, self._held = land, sampling or SamplingConfig(), False
        self._trace = land.trace(kwargs.get("prompt", SEED_PROMPT), self.sampling)
        super().__init__(**kwargs)
        self.observe(self._changed, names=self.redrawn_by())
        self.observe(self._on_click, names="clicked")
        self.redraw()

    def redrawn_by(self) -> list[str]:
        return ["prompt", "step"]

    @property
    def trace(self) -> GenerationTrace:
        """The prompt's trace (llmcore.analysis.trace.GenerationTrace)."""
        return self._trace

    @traitlets.validate("prompt")
    def _valid_prompt(self, proposal) -> str:
        prompt = proposal["value"]
        if len(prompt) > MAX_PROMPT_CHARS:
            raise PromptError(f"prompt: {len(prompt)} characters, at most {MAX_PROMPT_CHARS} are read")
        self._trace = self.land.trace(prompt, self.sampling)
        self._held = True  # the prompt's own change redraws, once
        try:
            self.step = min(self.step, self.n_steps)
        finally:
            self._held = False
        return prompt

    @traitlets.validate("step")
    def _valid_step(self, proposal) -> int:
        step = proposal["value"]
        if not 1 <= step <= self.n_steps:
            raise SettingRefused(f"step: {step} is not a word read (1 to {self.n_steps} for this prompt)")
        return step

    def _changed(self, _change) -> None:
        if not self._held:
            self.redraw()

    @property
    def n_steps(self) -> int:
        return len(self._trace)

    @property
    def colours(self) -> dict[str, str]:
        return context_colours(self._trace.context_names)

    def _on_click(self, change) -> None:
        step = self.step_clicked(change["new"])
        if step is not None and 1 <= step <= self.n_steps:
            self.step = step

    def step_clicked(self, point: dict) -> int | None:
        """The step a clicked point stands for, if any (subclasses)."""
        return None


def _label_step(label) -> int | None:
    """1-based step of an axis label '3: devours' (the bars' and the lens's columns)."""
    head = str(label).split(":", 1)[0]
    return int(head) if head.isdigit() else None


class TrajectoryMap(PromptView):
    """The Trajectory page's map: reference states coloured by sub-context, regions, the prompt's path with the
    selected step ringed and its candidate next words (stars). `selection`: the points chosen with the box or lasso
    tool (a pandas DataFrame: word, sub_context, next_word, x, y, depth, step; step is missing for reference
    states), observed with `w.observe(callback, names="selection")`."""

    layer = traitlets.Unicode().tag(sync=True)
    method = traitlets.Unicode().tag(sync=True)
    reading = traitlets.Enum(["read", "next"], "read").tag(sync=True)
    selection = traitlets.Instance(pd.DataFrame, args=([],), kw={"columns": SELECTION_COLUMNS})

    def __init__(self, land: Landscape, **kwargs) -> None:
        self._path: tuple = (None, None)  # (prompt, layer, method) and the path's frame on that map
        kwargs.setdefault("layer", land.best_view.layer)
        kwargs.setdefault("method", land.best_view.method)
        super().__init__(land, **kwargs)
        self.observe(self._on_select, names="selected")

    def redrawn_by(self) -> list[str]:
        return ["prompt", "step", "layer", "method", "reading"]

    def _changed(self, change) -> None:
        if change["name"] != "step" and self.selected:  # the points chosen are no longer where they were drawn
            self.selected = []
        super()._changed(change)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal) -> str:
        names = self._trace.layer_names
        if proposal["value"] not in names:
            raise SettingRefused(f"layer: {proposal['value']!r} is not one of the model's depths {names}")
        return proposal["value"]

    @traitlets.validate("method")
    def _valid_method(self, proposal) -> str:
        if proposal["value"] not in METHODS:
            raise SettingRefused(f"method: {proposal['value']!r} is not one of {list(METHODS)}")
        return proposal["value"]

    def parts(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The reference states drawn and the prompt's path on the current map (dashboard.frames)."""
        key = (self.prompt, self.layer, self.method)
        if self._path[0] != key:
            fmap = self.land.map(self.layer, self.method)
            depth = self._trace.layer_names.index(self.layer)
            self._path = key, frames.trajectory_frame(self._trace, fmap, depth, self.land.contexts_of_words)
        return self.land.reference_frame(self.layer, self.method), self._path[1]

    def build(self) -> go.Figure:
        fmap = self.land.map(self.layer, self.method)
        ref, path = self.parts()
        label = map_figures.READING_LABELS[self.reading]
        regions = self.land.regions(self.layer, self.method, tuple(self._trace.context_names), label)
        words, probs, states = self.land.candidates(self.prompt, self.sampling, self.step)
        keep = probs >= STARS
        depth = self._trace.layer_names.index(self.layer)
        cands = frames.candidates_frame([w for w, k in zip(words, keep) if k], probs[keep],
                                        fmap.place(states[keep][:, depth]) if keep.any() else np.zeros((0, 2)))
        base = self.land.base_traces(self.layer, self.method, self.reading, tuple(self.colours.items()))
        options = map_figures.MapOptions(axis_label=fmap.axis_label, regions=regions, candidates=cands, base=base,
                                         selected_step=self.step, reading=self.reading, ink=self.ink)
        fig = map_figures.trajectory_map(ref, path, self.colours, f"{METHODS[self.method]}, {self.layer}",
                                         options=options)
        fig.layout.dragmode = "select"  # a drag selects points (the modebar switches to lasso, zoom or pan)
        key = f"{self.land.ckpt.content_hash[:16]}|{self.layer}|{self.method}|{self.reading}"
        for t in fig.data:  # the same for every prompt on this map: the browser keeps them (widget.js)
            if t.meta == BASE:
                t.uid = f"{key}|{t.name}"
        return fig

    def step_clicked(self, point: dict) -> int | None:
        if point.get("name") != map_figures.MapOptions.path_name or point.get("index") is None:
            return None
        return int(point["index"]) + 1

    def _on_select(self, change) -> None:
        self.selection = self.selected_frame(change["new"])

    def selected_frame(self, points: list[dict]) -> pd.DataFrame:
        """The selected points as rows: reference states by their trace (one per sub-context, marked BASE) and
        index in it, the path's words by their step."""
        ref, path = self.parts()
        label = map_figures.READING_LABELS[self.reading]
        rows = []
        for p in points:
            i, name = p.get("index"), p.get("name")
            if i is None:
                continue
            if p.get("meta") == BASE:
                part = ref[ref[label] == name]
                if 0 <= i < len(part):
                    r = part.iloc[int(i)]
                    rows.append((r.word, r.context, r.next_word, r.x, r.y, self.layer, pd.NA))
            elif name == map_figures.MapOptions.path_name and 0 <= i < len(path):
                r = path.iloc[int(i)]
                rows.append((r.word, r.read, r.next_word, r.x, r.y, self.layer, int(r.step)))
        out = pd.DataFrame(rows, columns=SELECTION_COLUMNS)
        out["step"] = out["step"].astype("Int64")
        return out

    def bars(self) -> ContextBars:
        """The sub-context bars of this map's prompt, following its prompt and step (and setting its step)."""
        return _linked(ContextBars(self.land, sampling=self.sampling, prompt=self.prompt, step=self.step), self)

    def lens(self) -> LogitLens:
        """The logit lens of this map's prompt, following its prompt and step (a click sets step and layer)."""
        view = _linked(LogitLens(self.land, sampling=self.sampling, prompt=self.prompt, step=self.step), self)
        view.observe(lambda c: setattr(self, "layer", c["new"]), names="layer")
        return view


def _linked(view: PromptView, source: TrajectoryMap) -> PromptView:
    traitlets.link((source, "prompt"), (view, "prompt"))
    traitlets.link((source, "step"), (view, "step"))
    return view


class ContextBars(PromptView):
    """The sub-context bars: per word read, how the next-word probability splits across sub-contexts (the `next`
    reading) under a square in the word's own sub-context (`read`); the selected step outlined. A click on a bar
    sets `step`."""

    def build(self) -> go.Figure:
        reads = [self.land.contexts_of_words.get(w, "") for w in self._trace.words]
        return map_figures.context_probs_chart(frames.context_probs_frame(self._trace), self.colours, reads,
                                               self.step)

    def step_clicked(self, point: dict) -> int | None:
        return _label_step(point.get("x"))


class LogitLens(PromptView):
    """The logit lens: the top next word read out at every depth (rows) after every word read (columns). A click
    on a cell sets `step` and `layer`."""

    layer = traitlets.Unicode("").tag(sync=True)

    def build(self) -> go.Figure:
        lw, lc, lp = frames.lens_grid(self._trace, self.land.contexts_of_words)
        labels = [f"{i + 1}: {w}" for i, w in enumerate(self._trace.words)]
        return map_figures.lens_heatmap(lw, lc, lp, layer_names=self._trace.layer_names, step_labels=labels,
                                        colours=self.colours)

    def step_clicked(self, point: dict) -> int | None:
        if point.get("y") in self._trace.layer_names:
            self.layer = point["y"]
        return _label_step(point.get("x"))
