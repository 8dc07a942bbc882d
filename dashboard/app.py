"""LLM Landscape dashboard: routing only; each page lives in dashboard/views."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source tree without installing

from dashboard.views import trajectory  # noqa: E402


def main() -> None:
    st.set_page_config(page_title="LLM Landscape", page_icon="🗺️", layout="wide")
    page = st.navigation([st.Page(trajectory.render, title="Trajectory", url_path="trajectory", default=True)])
    page.run()


main()
