"""LLM Landscape dashboard: routing only. Each page lives in dashboard/views; the sidebar's model picker and
uploads in dashboard/sidebar.py."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source tree without installing

from dashboard import chart  # noqa: E402  (light: the browser starts loading Plotly.js before the imports below)

chart.preload(full_on=("landscape",))  # its first charts are 3D: the full Plotly bundle

from dashboard.sidebar import add_model, fold_when_narrow, model_picker  # noqa: E402
from dashboard.state import PAGE_RAN  # noqa: E402
from dashboard.text import escape_md  # noqa: E402
from llmcore.model.checkpoint import CheckpointError  # noqa: E402

# (view module in dashboard/views, title, URL path, icon). A view is imported when its page first runs, so a start
# does not wait for the pages it does not show (training, interventions and the editor import much of llmcore).
PAGES = [("trajectory", "Trajectory", "trajectory", ":material/route:"),
         ("story", "Story", "story", ":material/slideshow:"),
         ("embeddings", "Embeddings", "embeddings", ":material/scatter_plot:"),
         ("landscape", "Landscape", "landscape", ":material/landscape:"),
         ("training", "Training", "training", ":material/monitoring:"),
         ("compare", "Compare", "compare", ":material/compare:"),
         ("causes", "Causes", "causes", ":material/call_split:"),
         ("features", "Features", "features", ":material/category:"),
         ("model_card", "Model card", "model-card", ":material/badge:")]


HOME = "home"  # the path Streamlit reserves for the default page, served at "/"


def view(module: str) -> Callable[[], None]:
    """The page function of a view in dashboard/views, importing it on first use."""
    def render() -> None:
        importlib.import_module(f"dashboard.views.{module}").render()

    render.__name__ = module
    return render


def main() -> None:
    st.set_page_config(page_title="LLM Landscape", page_icon="🗺️", layout="wide")
    pages = [st.Page(view(module), title=title, url_path=url if i else HOME, icon=icon, default=i == 0)
             for i, (module, title, url, icon) in enumerate(PAGES)]
    # the first page is served at "/" (its reserved path is HOME); its own path, typed or linked, opens it there,
    # with its settings, so that the navigation marks the page shown
    module, title, url, icon = PAGES[0]
    pages.append(st.Page(view(module), title=title, url_path=url, icon=icon, visibility="hidden"))
    page = st.navigation(pages)
    if page is pages[-1]:
        st.switch_page(pages[0], query_params=st.query_params.to_dict())
    fold_when_narrow()
    model_picker(show=page.url_path != "compare")
    add_model()
    try:
        page.run()
    except CheckpointError as e:  # e.g. weights read on first use (state.get_checkpoint opens models lazily)
        st.error(escape_md(str(e)))
    except Exception as e:  # last line of defence: a message, never a traceback (Streamlit's own stop/rerun pass)
        logging.getLogger("llm_landscape").exception("page failed")
        st.error(f"Something went wrong on this page ({type(e).__name__}). Try other settings or reload; "
                 "the details are in the server log.")
    finally:
        PAGE_RAN.set()


main()
