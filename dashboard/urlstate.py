"""A view's state in the URL (st.query_params), so a shared link opens exactly that view."""

from __future__ import annotations

from typing import Any

import streamlit as st

from llmcore.inputs import InputError, decode_text, parse_json

Allowed = dict[str, Any]  # key -> a collection of allowed values, or a (low, high) tuple for numbers
KEPT = "_urlstate_kept"  # session state: the value each published key had last, kept when its page is left


def restore(defaults: dict[str, Any], allowed: Allowed | None = None) -> list[str]:
    """Seed the widget keys that session state does not hold: on a page's first run in a session, and each time
    the page is opened again (Streamlit forgets the widgets a run does not draw, so a page that was left has lost
    its values). From the URL where it names the key (a shared link, or a link from another page), else the value
    the page last published in this session (the view as it was left), else the default.

    A value of the wrong type or outside what its widget allows is ignored; the names of ignored settings from the
    URL are returned so the page can say so.
    """
    ignored, kept = [], st.session_state.get(KEPT, {})
    for key, default in defaults.items():
        if key in st.session_state:
            continue
        raw = st.query_params.get(key)
        if raw is None:
            value = kept.get(key, default)
            st.session_state[key] = value if fits(value, (allowed or {}).get(key)) else default
            continue
        value = _parse(raw, default)
        if value is None or not fits(value, (allowed or {}).get(key)):
            ignored.append(key)
            value = default
        st.session_state[key] = value
    return ignored


def restore_with_notice(defaults: dict[str, Any], allowed: Allowed | None = None,
                        names: dict[str, str] | None = None) -> None:
    """`restore`, then a warning naming (by `names`, else by key) the settings of the link that were ignored."""
    ignored = restore(defaults, allowed)
    if ignored:
        shown = ", ".join(f"{names[k]} ({k})" if names and k in names else k for k in ignored)
        st.warning(f"Ignored settings from the link that are not valid values (defaults used): {shown}.")


def _parse(raw: str, default: Any) -> Any:
    """The URL text as the default's type, or None if it is not one."""
    try:
        if isinstance(default, bool):
            return {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
            return value if value == value else None  # NaN is not a setting
    except ValueError:
        return None
    return raw


def fits(value: Any, rule: Any) -> bool:
    """Whether a value keeps to its rule: a (low, high) range for numbers (NaN never fits), else a collection."""
    if rule is None:
        return True
    if isinstance(rule, tuple) and len(rule) == 2 and all(isinstance(r, (int, float)) for r in rule):
        return isinstance(value, (int, float)) and rule[0] <= value <= rule[1]
    return value in rule


def link(keys: list[str]) -> str:
    """The address that opens the current view: the page's URL (st.context.url; a relative link where the browser
    has not said it) with the URL's own settings and the current values of widget `keys`."""
    from urllib.parse import urlencode

    params = st.query_params.to_dict()
    for key in keys:
        value = st.session_state.get(key)
        if value is not None:
            params[key] = str(value)
    try:
        base = st.context.url or ""
    except AttributeError:  # older Streamlit: no URL in the context
        base = ""
    return f"{base}?{urlencode(params)}"


def page_link(url_path: str, label: str, params: dict[str, str], *, help: str | None = None) -> None:
    """A link that opens another page of the app (its URL path in app.PAGES) in this session with these settings,
    which seed its widgets as a shared link's do (restore)."""
    st.page_link(st.Page(_elsewhere, url_path=url_path, title=label), label=label, query_params=params,
                 icon=":material/arrow_forward:", help=help)


def _elsewhere() -> None:
    """The stand-in page function of a link to another page: the app's router runs that page's own."""


def publish(keys: list[str]) -> None:
    """Write the current values of widget keys to the URL, and keep them for when the page is opened again."""
    kept = st.session_state.setdefault(KEPT, {})
    for key in keys:
        value = st.session_state.get(key)
        if value is not None:
            kept[key] = value
        if value is not None and st.query_params.get(key) != str(value):
            st.query_params[key] = str(value)


def settings_from_json(raw: bytes, *, defaults: dict[str, Any], allowed: Allowed, max_bytes: int,
                       max_chars: dict[str, int] | None = None, what: str = "settings") -> dict[str, Any]:
    """A saved view (a JSON object of settings) checked before use: its size, UTF-8 text, nesting, then each key
    against the page's settings, with the type of its default and the values its widget allows; raises ValueError
    naming the file, the key and the rule."""
    if len(raw) > max_bytes:
        raise ValueError(f"the {what} file is larger than {max_bytes:,} bytes")
    try:
        data = parse_json(decode_text(raw))  # nesting checked before parsing
    except UnicodeDecodeError:
        raise ValueError(f"the {what} file is not UTF-8 text") from None
    except InputError as e:
        raise ValueError(f"the {what} file {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"a {what} must be a JSON object of settings")
    return {key: _setting(key, value, defaults=defaults, allowed=allowed, max_chars=max_chars or {}, what=what)
            for key, value in data.items()}


def _setting(key: str, value: Any, *, defaults: dict[str, Any], allowed: Allowed, max_chars: dict[str, int],
             what: str) -> Any:
    if key not in defaults:
        raise ValueError(f"unknown setting {key!r} in the {what}; known: {', '.join(defaults)}")
    kind = type(defaults[key])
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"setting {key!r} must be a {kind.__name__}, got {value!r}")
    too_long = key in max_chars and len(value) > max_chars[key]
    if not fits(value, allowed.get(key)) or too_long:
        rule = allowed.get(key, f"at most {max_chars.get(key, 0):,} characters")
        raise ValueError(f"setting {key!r} is {value!r}; allowed: {rule}")
    return value
