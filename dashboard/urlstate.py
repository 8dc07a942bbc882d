"""A view's state in the URL (st.query_params), so a shared link opens exactly that view."""

from __future__ import annotations

from typing import Any

import streamlit as st


def restore(defaults: dict[str, Any]) -> None:
    """On a page's first run in a session, seed widget keys from the URL (falling back to defaults)."""
    flag = f"_restored_{st.session_state.get('_page', '')}_{','.join(defaults)}"
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    for key, default in defaults.items():
        raw = st.query_params.get(key)
        if raw is None or key in st.session_state:
            st.session_state.setdefault(key, default)
            continue
        st.session_state[key] = _parse(raw, default)


def _parse(raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        return default
    return raw


def publish(keys: list[str]) -> None:
    """Write the current values of widget keys to the URL."""
    for key in keys:
        value = st.session_state.get(key)
        if value is not None and st.query_params.get(key) != str(value):
            st.query_params[key] = str(value)
