"""Plotly charts that are updated in place.

`st.plotly_chart` gives a chart a new element id whenever its figure changes (the id hashes the figure), so the
browser unmounts the chart and draws the new one twice: once without a width, hidden, then at its column's width.
A slider move that changes five charts paid ten drawings (0.7-1.2 s on the 2-core machine). `show` keeps one chart
per key and hands it the new figure, which Plotly.react draws once, at the column's width (chart.js).

Plotly.js is served through Streamlit's route for a component's files, nothing is downloaded: the plotly Python
package's own full bundle, and plotly.js's official cartesian bundle of the same version (dashboard/plotly_light/,
MIT), which draws every 2D chart of the dashboard (scatter, bar, heatmap, contour, image). The browser evaluates it
in 0.5 s against 1.1 s for the full bundle, which a start spent before its first chart; the full bundle is loaded
when a figure needs it (3D: scatter3d, cone, surface). The light bundle is used only while its version is the
plotly package's.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
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
    from streamlit.delta_generator import DeltaGenerator

NAME = "llm_landscape.chart"
ASSETS = "plotly_js"  # registered as "dashboard.chart.plotly_js": Plotly's own files, served by Streamlit
ROUTE = f"{__name__}.{ASSETS}"
PLOTLY_DIR = Path(plotly.__file__).resolve().parent / "package_data"
LIGHT_ASSETS = "plotly_light"  # dashboard/plotly_light: plotly.js's cartesian bundle
LIGHT_ROUTE = f"{__name__}.{LIGHT_ASSETS}"
LIGHT_FILE = Path(__file__).parent / LIGHT_ASSETS / "plotly-cartesian.min.js"

LOADER = (Path(__file__).parent / "plotly_loader.js").read_text()
LABELS_JS = Path(__file__).parent / "chart_labels.js"  # where labels go: shared with the notebook's widgets
_render = st.components.v2.component(NAME, js=LOADER + LABELS_JS.read_text() + (Path(__file__).parent / "chart.js")
                                     .read_text(), isolate_styles=False)


def _url(name: str, route: str, folder: Path, file: str) -> str:
    """Where the browser loads `file` of `folder` from (under the server's base path), registering the route once
    per server (declaring it costs about 0.3 ms, and every chart of every run asks)."""
    if not Runtime.exists() or Runtime.instance().component_registry.get_component_path(route) is None:
        components_v1.declare_component(name, path=str(folder))
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"{'/' + base if base else ''}/component/{route}/{file}"


def _plotly_url() -> str:
    """The full Plotly.js bundle of the plotly package."""
    return _url(ASSETS, ROUTE, PLOTLY_DIR, "plotly.min.js")


def bundle_version(path: Path) -> str | None:
    """The plotly.js version a bundle names in its first lines ('plotly.js … v4.1.1'), or None."""
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(400)
    except OSError:
        return None
    match = re.search(r"plotly\.js[^\n]*? v(\d+\.\d+\.\d+)", head)
    return match.group(1) if match else None


@functools.cache
def light_available() -> bool:
    """Whether the cartesian bundle is the plotly package's plotly.js version (a figure's JSON may use what that
    version added)."""
    ours = bundle_version(LIGHT_FILE)
    return ours is not None and ours == bundle_version(PLOTLY_DIR / "plotly.min.js")


def _light_url() -> str | None:
    return _url(LIGHT_ASSETS, LIGHT_ROUTE, LIGHT_FILE.parent, LIGHT_FILE.name) if light_available() else None


def show(fig: go.Figure, *, key: str, where: DeltaGenerator | None = None, on_click: Callable[[], None] | None = None,
         fit: Mapping[str, int] | None = None) -> None:
    """Draw `fig` in `where` (a column or container; the page by default) as the chart `key`: a later run with the
    same key redraws that chart with the new figure. `on_click` makes points clickable: it runs on a click, with
    the clicked point in `clicked(key)`. `fit` ({below, min, max} in pixels) makes the chart as tall as the window
    leaves below its top, less `below`, within [min, max], instead of the figure's height (a projector's slide)."""
    # the figure as its JSON text, which the browser parses: as a dict it would be parsed here and encoded twice
    # more by Streamlit (the message and the element's identity)
    data = {"figure": pio.to_json(fig, validate=False), "src": _plotly_url(), "light": _light_url(),
            "clickable": on_click is not None}
    if fit is not None:
        data["fit"] = {k: int(fit[k]) for k in ("below", "min", "max")}
    callbacks = {"on_click_change": on_click} if on_click is not None else {}
    with where if where is not None else contextlib.nullcontext():
        _render(key=key, data=data, **callbacks)


def preload(full_on: tuple[str, ...] = ()) -> None:
    """Start the browser loading Plotly.js at once (app.py calls this first): an inline script (ours, fixed: no
    user text), which the page runs as soon as the element arrives, while the chart component's own code is
    loaded only later; evaluating Plotly.js takes the browser 0.5 s (the cartesian bundle) to 1.1 s (the full one),
    which then overlaps the page's run. The full bundle where the page's URL path ends in one of `full_on` (pages
    whose first charts are 3D), else the cartesian one. Draws nothing."""
    light, full = _light_url(), _plotly_url()
    pages = "|".join(re.escape(p) for p in full_on) or "$^"
    choose = (f"/\\/({pages})\\/?$/.test(location.pathname) ? {json.dumps(full)} : {json.dumps(light or full)}")
    st.sidebar.html(f"<script>{LOADER}\nwindow.__llmLandscapePlotlyLoad({choose});</script>",
                    unsafe_allow_javascript=True)


def clicked(key: str) -> dict | None:
    """The point last clicked on chart `key` ({x, y, curve, customdata}), during the run its click started."""
    value = st.session_state.get(key)
    point = value.get("click") if isinstance(value, Mapping) else getattr(value, "click", None)
    return point if isinstance(point, Mapping) else None
