"""Download buttons: data as CSV/JSON and figures as standalone HTML (plotly.js embedded, works offline)."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import streamlit as st

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator


def figure_html(fig: go.Figure, name: str, label: str = "Figure (standalone HTML)",
                container: DeltaGenerator | ModuleType = st) -> None:
    """A button that downloads the figure as one HTML file (in `container`: a column, or the page by default); the
    file is only built when clicked."""
    container.download_button(label, lambda: fig.to_html(include_plotlyjs=True, full_html=True), f"{name}.html",
                              "text/html", key=f"html_{name}", on_click="ignore")
