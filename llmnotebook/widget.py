"""FigureView: one live Plotly figure in a notebook (an anywidget), the base of every view in this package, and
its static export (save_html: one standalone page, Plotly.js inline, no server)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import anywidget
import plotly.graph_objects as go
import plotly.io as pio
import traitlets

from dashboard.figures.theme import INK  # paths over maps, as the dashboard draws them (state.theme_ink)
from llmcore.files import atomic_write

HERE = Path(__file__).parent
LABELS_JS = HERE.parent / "dashboard" / "chart_labels.js"  # the dashboard's label placement (no Streamlit)


class SettingRefused(ValueError):
    """A widget setting refused (the view keeps what it drew), with a message naming the value and the rule.
    Jupyter prints that one line instead of a traceback through traitlets (IPython's _render_traceback_ hook)."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def plotly_bundle() -> bytes:
    """Plotly.js as the plotly package ships it (the same version as the figures are built for)."""
    return (Path(pio.__file__).parent.parent / "package_data" / "plotly.min.js").read_bytes()


class FigureView(anywidget.AnyWidget):
    """A Plotly figure drawn in the notebook and redrawn in place (Plotly.react) whenever `figure` changes.

    The browser reports the notebook's theme (`theme`), box and lasso selections (`selected`: trace, index and name
    of each point) and clicks (`clicked`); subclasses turn those into their own attributes."""

    _esm = LABELS_JS.read_text() + (HERE / "widget.js").read_text()  # where labels go, as on the dashboard
    figure = traitlets.Unicode("").tag(sync=True)  # the figure as Plotly.js JSON
    theme = traitlets.Unicode("light").tag(sync=True)
    selected = traitlets.List().tag(sync=True)
    clicked = traitlets.Dict().tag(sync=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._send_plotly)
        self.observe(lambda _: self.redraw(), names="theme")

    def _send_plotly(self, _widget, content: dict, _buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "plotly?":
            self.send({"type": "plotly"}, buffers=[plotly_bundle()])

    _printing = False  # building for a standalone page: the light theme, whatever the notebook's

    @property
    def ink(self) -> str:
        """The colour of paths drawn over maps in the notebook's theme."""
        return INK["light"] if self._printing else INK.get(self.theme, INK["light"])

    def build(self) -> go.Figure:
        """The figure for the current settings (subclasses)."""
        raise NotImplementedError

    def redraw(self) -> None:
        """Build the figure again and send it; the browser redraws it in place."""
        self.figure = pio.to_json(self.build(), validate=False, remove_uids=False)

    def printed(self) -> dict:
        """The figure as Plotly.js JSON for a page in the light theme (the notebook's may be dark)."""
        if self.theme == "light" and self.figure:
            return json.loads(self.figure)
        self._printing = True
        try:
            return json.loads(pio.to_json(self.build(), validate=False))
        finally:
            self._printing = False

    def save_html(self, path: str | Path, *, title: str = "LLM Landscape", overwrite: bool = False) -> Path:
        """This view's figure as a standalone page (see save_html)."""
        return save_html(path, self, title=title, overwrite=overwrite)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: sans-serif; margin: 1.5em; color: #222; background: #fff; }}</style>
<script>{plotly}</script></head>
<body><h1>{title}</h1>
{figures}
</body></html>
"""


def page_html(views: list[FigureView], title: str = "LLM Landscape") -> str:
    """The page: each view's figure as it is now, in the light theme, one after another."""
    figures = [pio.to_html(v.printed(), include_plotlyjs=False, full_html=False, validate=False,
                           config={"displaylogo": False}) for v in views]
    return PAGE.format(title=html.escape(title), plotly=plotly_bundle().decode(), figures="\n".join(figures))


def save_html(path: str | Path, *views: FigureView, title: str = "LLM Landscape", overwrite: bool = False) -> Path:
    """Write the views' figures to `path` as one standalone page; an existing file is replaced only with
    `overwrite`, and never a link, folder or special file (llmcore.files.atomic_write)."""
    path = Path(path)
    if not views or not all(isinstance(v, FigureView) for v in views):
        raise ValueError("save_html: give one or more of this package's widgets to save")
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{path}: the page is written to a file named *.html")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    atomic_write(path, page_html(list(views), title).encode())
    return path
