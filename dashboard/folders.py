"""Where the dashboard keeps what users make (the user data folder, never the install) and the names a user's model
may have."""

from __future__ import annotations

import re

from llmcore.files import user_data_dir
from llmcore.model.checkpoint import REPO_ROOT

DATA_DIR = user_data_dir()  # uploads (checkpoints/), the editor's worlds (worlds/), staging (uploads/)
CHECKPOINTS_DIR = DATA_DIR / "trained"  # models trained from the Training page
SOURCE_CHECKPOINTS = REPO_ROOT / "checkpoints"  # listed, never written: a source tree's models (`llmcore train`)
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # used with fullmatch: `$` would let "abc\n" through
RESERVED_NAMES = ("default",)  # the bundled model
