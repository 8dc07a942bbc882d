"""The Causes page's views as notebook widgets: the causal trace, whose clicked cell returns that patched run, and
the counterfactual grid (does the model generalise to pairs it never saw?), from the dashboard's figure builders."""

from __future__ import annotations

import plotly.graph_objects as go
import traitlets

from dashboard import frames
from dashboard.figures import causes as causes_figures
from llmcore.analysis.counterfactual import CounterfactualGrid, counterfactual_grid, counterfactual_prompt
from llmcore.analysis.interventions import (
    KINDS,
    CausalTrace,
    PatchedRun,
    best_restore,
    causal_trace,
    changed_positions,
    patched_run,
)
from llmcore.model.threads import one_thread
from llmnotebook.source import Landscape
from llmnotebook.views import SEED_PROMPT
from llmnotebook.widget import FigureView, SettingRefused


class CausalTraceView(FigureView):
    """Causal tracing of `prompt` against `corrupt` (a counterfactual prompt of the same length; by default the
    prompt's animal swapped for one that shares none of its habitats): depth × position, the share of the answer's
    probability one clean state brings back. `cell` = (kind, depth, 0-based position) is outlined; a click on a
    cell sets it, and `patched` is then the corrupted run with that clean state restored (llmcore's PatchedRun:
    its words, its states at every depth, the target's probability and its top word)."""

    prompt = traitlets.Unicode(SEED_PROMPT).tag(sync=True)
    corrupt = traitlets.Unicode("").tag(sync=True)
    cell = traitlets.Tuple(traitlets.Unicode(), traitlets.Int(), traitlets.Int()).tag(sync=True)
    patched = traitlets.Instance(PatchedRun, allow_none=True)

    def __init__(self, land: Landscape, **kwargs) -> None:
        self.land = land
        prompt = kwargs.setdefault("prompt", SEED_PROMPT)
        if not kwargs.get("corrupt"):
            kwargs["corrupt"] = counterfactual_prompt(land.ckpt, prompt) or ""
        if not kwargs["corrupt"]:
            raise SettingRefused(f"corrupt: give a counterfactual prompt of the same length; {prompt!r} names no "
                                 "animal of the model's world to swap")
        self.trace: CausalTrace = causal_trace(land.ckpt, prompt, corrupt=kwargs["corrupt"])
        t = changed_positions(self.trace)[0]
        kwargs.setdefault("cell", ("resid", best_restore(self.trace, t)[0], t))
        super().__init__(**kwargs)
        self.observe(self._on_click, names="clicked")
        self.observe(lambda _: self._restore(), names="cell")
        self._restore()

    @traitlets.validate("cell")
    def _valid_cell(self, proposal) -> tuple[str, int, int]:
        kind, depth, position = proposal["value"]
        D, T = len(self.trace.depth_names), len(self.trace.words)
        if kind not in KINDS or not (0 if kind == "resid" else 1) <= depth < D or not 0 <= position < T:
            raise SettingRefused(f"cell: {proposal['value']} is not a (kind in {KINDS}, depth 0-{D - 1} (1 and up for "
                             f"attn and mlp), position 0-{T - 1}) of this trace")
        return kind, depth, position

    @property
    def captions(self) -> list[str]:
        """The trace in plain sentences (the dashboard's captions)."""
        return frames.causal_captions(self.trace)

    def build(self) -> go.Figure:
        kind, depth, position = self.cell
        return causes_figures.causal_heatmaps(self.trace, (KINDS.index(kind), depth, position))

    def _on_click(self, change) -> None:
        cell = frames.clicked_cell(change["new"])
        if cell is not None and not (cell[0] != "resid" and cell[1] == 0):
            self.cell = (cell[0], cell[1], cell[2] - 1)

    def _restore(self) -> None:
        with one_thread():
            self.patched = patched_run(self.land.ckpt, self.prompt, corrupt=self.corrupt, restore=[self.cell])
        self.redraw()


class GeneralisationGrid(FigureView):
    """Every animal of the world with every food: whose place the model names next (the animal's habitat, the
    food's own place, both or neither). Pairs never seen together in training test generalisation; `found`
    (animal, food) is outlined, first the model's first held-out pair; a click on a cell sets it."""

    found = traitlets.Tuple(traitlets.Unicode(), traitlets.Unicode()).tag(sync=True)

    def __init__(self, land: Landscape, **kwargs) -> None:
        self.land = land
        self.grid: CounterfactualGrid = counterfactual_grid(land.ckpt)
        held = [(a, f) for a, f in land.ckpt.held_out if a in self.grid.animals and f in self.grid.foods]
        kwargs.setdefault("found", held[0] if held else (self.grid.animals[0], self.grid.foods[0]))
        super().__init__(**kwargs)
        self.observe(lambda _: self.redraw(), names="found")
        self.observe(self._on_click, names="clicked")
        self.redraw()

    @traitlets.validate("found")
    def _valid_found(self, proposal) -> tuple[str, str]:
        animal, food = proposal["value"]
        if animal not in self.grid.animals or food not in self.grid.foods:
            raise SettingRefused(f"found: ({animal!r}, {food!r}) is not an (animal, food) of the model's world")
        return animal, food

    @property
    def lead(self) -> str:
        """What the grid shows, in a sentence computed from it."""
        return self.grid.lead()

    @property
    def cell_text(self) -> str:
        """What the model does with the found pair, in words."""
        return self.grid.cell(*self.found, self.land.ckpt.world)

    def build(self) -> go.Figure:
        return causes_figures.counterfactual_heatmap(self.grid, self.found)

    def _on_click(self, change) -> None:
        x, y = change["new"].get("x"), change["new"].get("y")
        if isinstance(x, int) and isinstance(y, int) and 0 <= x < len(self.grid.animals) and \
                0 <= y < len(self.grid.foods):
            self.found = (self.grid.animals[x], self.grid.foods[y])
