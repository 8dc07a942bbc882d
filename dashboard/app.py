"""LLM Landscape dashboard: routing and the model picker only; each page lives in dashboard/views."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source tree without installing

from dashboard import chart  # noqa: E402  (light: the browser starts loading Plotly.js before the imports below)

chart.preload(full_on=("landscape",))  # its first charts are 3D: the full Plotly bundle

from dashboard.state import PAGE_RAN, available_checkpoints, checkpoint_label, default_checkpoint_path  # noqa: E402
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


def view(module: str):
    """The page function of a view in dashboard/views, importing it on first use."""
    def render() -> None:
        importlib.import_module(f"dashboard.views.{module}").render()

    render.__name__ = module
    return render


def model_picker(show: bool = True) -> None:
    """Choose among the bundled model and models trained here; the choice holds on every page and is in the URL
    (?model=<folder name>); a link to a model this server lacks opens the bundled one with a notice. show=False (the
    Compare page, whose two sides have pickers of their own) names the model instead of offering a third picker."""
    paths = [str(p) for p in available_checkpoints()]
    default = str(default_checkpoint_path())
    if not st.session_state.get("_model_from_url"):
        st.session_state._model_from_url = True
        wanted = st.query_params.get("model")
        by_name = {Path(p).name: p for p in reversed(paths)}  # the first path wins a shared name
        if wanted is not None and wanted in by_name:
            st.session_state.checkpoint = by_name[wanted]
        elif wanted is not None:
            st.warning(f"The link names a model this server does not have ({escape_md(wanted[:80])}); the bundled "
                       "model is shown instead.")
    if st.session_state.get("checkpoint") not in paths:
        st.session_state.checkpoint = default
    if show:
        st.sidebar.selectbox("Model", paths, key="checkpoint", format_func=checkpoint_label)
    else:
        st.session_state.checkpoint = st.session_state.checkpoint  # keeps the choice while its picker is hidden
        st.sidebar.caption(f"Model: {escape_md(checkpoint_label(st.session_state.checkpoint))}. On this page each "
                           "side has its own model picker.")
    st.query_params["model"] = Path(st.session_state.checkpoint).name


def _open_local() -> None:
    from dashboard import classroom

    raw = st.session_state.get("local_path", "").strip()
    if classroom.visitor():  # never offered the box; nor does a crafted message open this machine's folders
        return
    st.session_state.local_error = ""
    if not raw:
        return
    path = Path(raw).expanduser()
    if not (path / "config.json").is_file():
        st.session_state.local_error = f"{raw}: no config.json there; point to a checkpoint or a model folder"
        return
    st.session_state.setdefault("local_models", [])
    if str(path) not in st.session_state.local_models:
        st.session_state.local_models.append(str(path))
    st.session_state.checkpoint = str(path)


def add_model() -> None:
    """Upload a checkpoint (config.json + model.safetensors); it is checked, then kept under data/checkpoints/."""
    from dashboard import classroom
    from dashboard.uploads import MAX_CHECKPOINT_BYTES, UploadError, install_checkpoint

    with st.sidebar.expander("Add a model"):
        if classroom.blocked("models are uploaded or opened from a folder"):
            return
        st.text_input("Open a local folder (a checkpoint or a Hugging Face model)", key="local_path",
                      on_change=_open_local, help="A folder on this machine; nothing is downloaded")
        if st.session_state.get("local_error"):
            st.error(escape_md(st.session_state.local_error))
        files = st.file_uploader("config.json and model.safetensors (+ snapshots, landscape, weight snapshots)",
                                 accept_multiple_files=True, type=["json", "safetensors"], key="upload_ckpt",
                                 max_upload_size=MAX_CHECKPOINT_BYTES // 2**20)
        name = st.text_input("Name", key="upload_name", max_chars=40)
        if st.button("Add", key="upload_add", disabled=not files or not name):
            try:
                path = install_checkpoint({f.name: f.getvalue() for f in files}, name)
                st.session_state.checkpoint = str(path)
                st.success(f"Added '{escape_md(name)}'.")
            except UploadError as e:
                st.error(escape_md(str(e)))


def main() -> None:
    st.set_page_config(page_title="LLM Landscape", page_icon="🗺️", layout="wide")
    pages = [st.Page(view(module), title=title, url_path=url, icon=icon, default=i == 0)
             for i, (module, title, url, icon) in enumerate(PAGES)]
    page = st.navigation(pages)
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
