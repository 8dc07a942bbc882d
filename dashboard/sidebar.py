"""The sidebar every page shares: the model picker (its choice in the URL) and adding a model (an uploaded
checkpoint, or a local folder); a classroom visitor is offered neither upload nor folder."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.state import available_checkpoints, checkpoint_label, default_checkpoint_path
from dashboard.text import escape_md

NARROW_PX = 1000  # below this window width the sidebar starts folded: the page gets the whole width

FOLD_SCRIPT = f"""<script>(() => {{
  if (window.__llmSidebarFolded) return;  // once per page load: a sidebar the user opens again stays open
  window.__llmSidebarFolded = true;
  if (window.innerWidth >= {NARROW_PX}) return;
  const start = Date.now();
  const fold = () => {{
    const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (button) button.click(); else if (Date.now() - start < 10000) setTimeout(fold, 50);
  }};
  fold();
}})();</script>"""


def fold_when_narrow() -> None:
    """In a window narrower than NARROW_PX (a laptop's half screen, a tablet) fold the sidebar once the page loads,
    as Streamlit itself does only below 768 px: the pages and the model picker stay one click away (the » button
    at the top left), and the charts get the whole width. A fixed inline script of ours, no user text."""
    st.sidebar.html(FOLD_SCRIPT, unsafe_allow_javascript=True)


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


def open_local() -> None:
    """Open the folder typed in the sidebar: a checkpoint or a Hugging Face model folder of this machine."""
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
                      on_change=open_local, help="A folder on this machine; nothing is downloaded")
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
