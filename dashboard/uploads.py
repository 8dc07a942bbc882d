"""Files users hand to the dashboard: size limits, validation before use, and storage only under data/."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from dashboard import classroom
from dashboard.folders import DATA_DIR, NAME_RE, RESERVED_NAMES
from llmcore.files import atomic_write
from llmcore.inputs import decode_text
from llmcore.model.checkpoint import (
    CONFIG,
    LANDSCAPE,
    SNAPSHOTS,
    WEIGHT_SNAPSHOTS,
    WEIGHTS,
    CheckpointError,
    load_checkpoint,
)
from llmcore.world.load import MAX_WORLD_BYTES

MAX_CHECKPOINT_BYTES = 64 * 2**20
CHECKPOINT_FILES = (CONFIG, WEIGHTS, SNAPSHOTS, LANDSCAPE, WEIGHT_SNAPSHOTS)


class UploadError(ValueError):
    """An uploaded file that cannot be used; the message names the file and the rule."""


def check_size(name: str, data: bytes, limit: int) -> bytes:
    if len(data) > limit:
        raise UploadError(f"{name}: {len(data):,} bytes is over the limit of {limit:,}")
    if not data:
        raise UploadError(f"{name}: the file is empty")
    return data


def uploaded_checkpoints_dir() -> Path:
    return DATA_DIR / "checkpoints"


def install_checkpoint(files: dict[str, bytes], name: str) -> Path:
    """Validate an uploaded checkpoint (config.json + model.safetensors, optionally snapshots and landscape) in a
    temporary folder under data/, then move it to data/checkpoints/<name>. Nothing is written anywhere else."""
    if classroom.visitor():  # the page offers a visitor no uploader; this holds whatever the page does
        raise UploadError(classroom.refusal("models are uploaded"))
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UploadError(f"model name {name!r}: use 1-40 lower-case letters, digits, '-' or '_'")
    if name in RESERVED_NAMES:
        raise UploadError(f"model name '{name}' is the bundled model's; choose another name")
    unknown = sorted(set(files) - set(CHECKPOINT_FILES))
    if unknown:
        raise UploadError(f"{', '.join(unknown)}: a checkpoint holds only {', '.join(CHECKPOINT_FILES)} "
                          "(pickle files such as .pt or .pkl are never accepted)")
    missing = [f for f in (CONFIG, WEIGHTS) if f not in files]
    if missing:
        raise UploadError(f"the upload lacks {', '.join(missing)}")
    if sum(len(d) for d in files.values()) > MAX_CHECKPOINT_BYTES:
        raise UploadError(f"the checkpoint is over the limit of {MAX_CHECKPOINT_BYTES:,} bytes")
    target = uploaded_checkpoints_dir() / name
    if target.exists():
        raise UploadError(f"a model named '{name}' was already uploaded; choose another name")
    staging = DATA_DIR / "uploads"
    staging.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=staging, prefix=f".{name}-"))
    try:
        for fname, data in files.items():
            atomic_write(tmp / fname, data)
        load_checkpoint(tmp)  # every check a checkpoint on disk gets: version, hashes, shapes, vocabulary
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(target)
    except CheckpointError as e:  # load_checkpoint turns every problem of a file into one (tests/test_fuzz.py)
        raise UploadError(str(e).replace(str(tmp), "uploaded checkpoint")) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def save_world_upload(data: bytes, name: str) -> str:
    """A world file's text after the size check; the caller validates it (jobs.validate_world_text)."""
    check_size(name, data, MAX_WORLD_BYTES)
    try:
        return decode_text(data)  # without a BOM
    except UnicodeDecodeError:
        raise UploadError(f"{name}: not UTF-8 text") from None
