"""Plotly charts that are updated in place.

`st.plotly_chart` gives a chart a new element id whenever its figure changes (the id hashes the figure), so the
browser unmounts the chart and draws the new one twice: once without a width, hidden, then at its column's width.
A slider move that changes five charts paid ten drawings (0.7-1.2 s on the 2-core machine). `show` keeps one chart
per key and hands it the new figure, which Plotly.react draws once, at the column's width (chart.js).

Plotly.js is served from the plotly Python package that built the figures, through Streamlit's route for a
component's files; no file is copied and nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import plotly
import plotly.io as pio
import streamlit as st
import streamlit.components.v1 as components_v1
from streamlit import config
from streamlit.runtime import Runtime

if TYPE_CHECKING:
    import plotly.graph_objects as go

NAME = "llm_landscape.chart"
ASSETS = "plotly_js"  # registered as "dashboard.chart.plotly_js": Plotly's own files, served by Streamlit
ROUTE = f"{__name__}.{ASSETS}"
PLOTLY_DIR = Path(plotly.__file__).resolve().parent / "package_data"

LOADER = (Path(__file__).parent / "plotly_loader.js").read_text()
_render = st.components.v2.component(NAME, js=LOADER + (Path(__file__).parent / "chart.js").read_text(),
                                     isolate_styles=False)


def _plotly_url() -> str:
    """Where the browser loads plotly.min.js from (under the server's base path), registering the route once per
    server (declaring it costs about 0.3 ms, and every chart of every run asks)."""
    if not Runtime.exists() or Runtime.instance().component_registry.get_component_path(ROUTE) is None:
        components_v1.declare_component(ASSETS, path=str(PLOTLY_DIR))
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"{'/' + base if base else ''}/component/{ROUTE}/plotly.min.js"


def show(fig: go.Figure, *, key: str, where=None, on_click: Callable[[], None] | None = None) -> None:
    """Draw `fig` in `where` (a column or container; the page by default) as the chart `key`: a later run with the
    same key redraws that chart with the new figure. `on_click` makes points clickable: it runs on a click, with
    the clicked point in `clicked(key)`."""
    # the figure as its JSON text, which the browser parses: as a dict it would be parsed here and encoded twice
    # more by Streamlit (the message and the element's identity)
    data = {"figure": pio.to_json(fig, validate=False), "src": _plotly_url(), "clickable": on_click is not None}
    callbacks = {"on_click_change": on_click} if on_click is not None else {}
    with where if where is not None else contextlib.nullcontext():
        _render(key=key, data=data, **callbacks)


def preload() -> None:
    """Start the browser loading Plotly.js at once (app.py calls this first): an inline script (ours, fixed: no
    user text), which the page runs as soon as the element arrives, while the chart component's own code is
    loaded only later; evaluating Plotly.js takes the browser about a second, which then overlaps the page's run.
    Draws nothing."""
    src = json.dumps(_plotly_url())
    st.sidebar.html(f"<script>{LOADER}\nwindow.__llmLandscapePlotlyLoad({src});</script>", unsafe_allow_javascript=True)


def clicked(key: str) -> dict | None:
    """The point last clicked on chart `key` ({x, y, curve, customdata}), during the run its click started."""
    value = st.session_state.get(key)
    point = value.get("click") if isinstance(value, Mapping) else getattr(value, "click", None)
    return point if isinstance(point, Mapping) else None
