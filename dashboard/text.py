"""Safe display of text that came from a user: Markdown control characters are escaped, never HTML."""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:])")


def escape_md(text: str) -> str:
    """Text that Streamlit's Markdown shows literally (no links, emphasis, HTML or LaTeX)."""
    return _MD_SPECIAL.sub(r"\\\1", text)
