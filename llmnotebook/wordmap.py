"""The Embeddings page's word map as a notebook widget: every word of the vocabulary as a point, drawn by the
dashboard's word_map from its own frame, with the page's search (a word or a regular expression) ringing the words
it matches. Setting `method`, `dims`, `colour_by` or `search` redraws; a box or lasso selection sets `selection`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import traitlets

from dashboard.figures import maps as map_figures
from dashboard.figures.theme import context_colours
from dashboard.text import faithfulness
from llmcore.maps.methods import MAP_METHODS, method_names
from llmcore.world.suggest import ADD_A_WORD, matching_words, unknown_words_message
from llmnotebook.source import Landscape
from llmnotebook.widget import FigureView, SettingRefused

WORD_METHODS = method_names(from_states=True)  # the page's maps but custom axes (which need axes picked)
WORD_SELECTION_COLUMNS = ["word", "sub_context", "subgroup", "x", "y"]


class EmbeddingMap(FigureView):
    """The word map: each word's input embedding placed by `method` ('pca', 'lda', 'umap', 'tsne') in `dims` (2 or
    3) dimensions, coloured by sub-context or subgroup (`colour_by`). `search` rings the words equal to it or
    matching it whole as a regular expression (case ignored; `found` lists them); a search that is not valid or
    matches no word is refused with the page's message. `selection`: the words chosen with the box or lasso tool
    on the 2D map (a pandas DataFrame: word, sub_context, subgroup, x, y), observed with
    `w.observe(callback, names="selection")`."""

    method = traitlets.Unicode("pca").tag(sync=True)
    dims = traitlets.Int(2).tag(sync=True)
    colour_by = traitlets.Unicode("context").tag(sync=True)
    search = traitlets.Unicode("").tag(sync=True)
    selection = traitlets.Instance(pd.DataFrame, args=([],), kw={"columns": WORD_SELECTION_COLUMNS})

    def __init__(self, land: Landscape, **kwargs) -> None:
        self.land, self.found = land, []
        self._curves: list[list[str] | None] = []  # the words of each trace drawn, by its number in the figure
        super().__init__(**kwargs)
        self.observe(self._changed, names=["method", "dims", "colour_by", "search"])
        self.observe(self._on_select, names="selected")
        self.redraw()

    @traitlets.validate("method")
    def _valid_method(self, proposal: dict) -> str:
        if proposal["value"] not in WORD_METHODS:
            raise SettingRefused(f"method: {proposal['value']!r} is not one of {list(WORD_METHODS)}")
        return proposal["value"]

    @traitlets.validate("dims")
    def _valid_dims(self, proposal: dict) -> int:
        if proposal["value"] not in (2, 3):
            raise SettingRefused(f"dims: {proposal['value']!r} is not 2 or 3")
        return proposal["value"]

    @traitlets.validate("colour_by")
    def _valid_colour_by(self, proposal: dict) -> str:
        if proposal["value"] not in ("context", "subgroup"):
            raise SettingRefused(f"colour_by: {proposal['value']!r} is not 'context' or 'subgroup'")
        return proposal["value"]

    @traitlets.validate("search")
    def _valid_search(self, proposal: dict) -> str:
        search, words = proposal["value"], list(self.frame.word)
        try:
            found = matching_words(words, search)
        except ValueError as e:
            raise SettingRefused(f"search: {e}") from None
        if search and not found:
            hint = f": {unknown_words_message([search], words)}; {ADD_A_WORD}" if search.isalpha() else ""
            raise SettingRefused(f"search: no word matches '{search}'{hint}")
        self.found = found
        return search

    @property
    def frame(self) -> pd.DataFrame:
        """Every word on the current map (dashboard.frames.reference_frame): x, y (z), word, context, subgroup."""
        return self.land.word_frame(self.method, self.dims)

    def _changed(self, change: dict) -> None:
        if change["name"] != "search" and self.selected:  # the points chosen are no longer where they were drawn
            self.selected = []
        self.redraw()

    def build(self) -> go.Figure:
        fmap, df, ckpt = self.land.word_map(self.method, self.dims), self.frame, self.land.ckpt
        title = f"{MAP_METHODS[self.method].title} map of {len(df)} words — {faithfulness(fmap.quality)}"
        fig = map_figures.word_map(df, self.colour_by, title, fmap.axis_label, highlight=self.found,
                                   context_colours=context_colours(ckpt.context_matrix()[0]),
                                   subgroup_order=[g for groups in ckpt.world.taxonomy.values() for g in groups])
        self._curves = [None if t.hovertext is None else [str(w) for w in t.hovertext] for t in fig.data]
        if self.dims == 2:
            fig.layout.dragmode = "select"  # a drag selects words (the modebar switches to lasso, zoom or pan)
        return fig

    def _on_select(self, change: dict) -> None:
        self.selection = self.selected_frame(change["new"])

    def selected_frame(self, points: list[dict]) -> pd.DataFrame:
        """The selected points as rows, one per word (a point is known by its trace's number and its index in it;
        the rings and labels drawn over the words are not words)."""
        words = []
        for p in points:
            curve, i = p.get("curve"), p.get("index")
            drawn = self._curves[curve] if isinstance(curve, int) and 0 <= curve < len(self._curves) else None
            if drawn is not None and isinstance(i, int) and 0 <= i < len(drawn):
                words.append(drawn[i])
        rows = self.frame.set_index("word").loc[list(dict.fromkeys(words))].reset_index()
        out = rows.rename(columns={"context": "sub_context"})
        return out[WORD_SELECTION_COLUMNS].reset_index(drop=True)
