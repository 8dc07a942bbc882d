"""Where the dashboard keeps what users make (data/, checkpoints/) and the names a user's model may have."""

from __future__ import annotations

import re

from llmcore.checkpoint import REPO_ROOT

DATA_DIR = REPO_ROOT / "data"
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # used with fullmatch: `$` would let "abc\n" through
RESERVED_NAMES = ("default",)  # the bundled model
