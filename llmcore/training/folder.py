"""The training folder (--out) and its resume files: what a run may find there and write, checked before any work
(training never deletes what it did not make), the free space a run needs, and the checks of `.resume` before a run
resumes from it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from llmcore.files import LOCK_FILE, TEMP_NAME, remove_own_file
from llmcore.inputs import InputError, file_kind, parse_json, safetensors_header, safetensors_metadata
from llmcore.model.checkpoint import (
    CONFIG,
    FITTED_FILES,
    LANDSCAPE,
    LOG,
    MAPS_DIR,
    PENDING,
    RESUME_DIR,
    SNAPSHOTS,
    WEIGHT_SNAPSHOTS,
    WEIGHTS,
    CheckpointError,
    check_links,
    read_config,
    tensor_problem,
)

RESUME_MOMENTS = ("step", "exp_avg", "exp_avg_sq")  # AdamW's state of each parameter, as _resume_blobs writes it
RESUME_DTYPES = {"optimizer": ("F32",), "weights": ("F16",)}  # what _resume_blobs writes


def check_resume_tensors(path: Path, expected: dict[str, tuple[int, ...]], dtypes: tuple[str, ...]) -> None:
    """A resume file's header holds exactly these tensors (name -> shape), each of one of `dtypes`."""
    start_over = f"delete the folder's {RESUME_DIR} to start over"
    try:
        header = safetensors_header(path)
    except InputError as e:
        raise CheckpointError(f"{path}: {e}; {start_over}") from None
    declared = {k: t for k, t in header.items() if k != "__metadata__"}
    for k in sorted(set(declared) ^ set(expected))[:1]:
        what = "is missing" if k in expected else "is not one of this model's"
        raise CheckpointError(f"{path}: tensor {k[:60]!r} {what}; {start_over}")
    for k, shape in expected.items():
        if (problem := tensor_problem(declared[k], list(shape), dtypes)) is not None:
            raise CheckpointError(f"{path}: tensor {k} {problem}; {start_over}")


def resume_state(path: Path) -> dict[str, Any]:
    """.resume/state.json, checked for the keys and types resuming reads."""
    kinds = {"step": int, "seconds": float, "train_config": dict, "model_config": dict, "world_hash": str}
    try:
        meta = parse_json(path.read_text(encoding="utf-8"))
        ok = isinstance(meta, dict) and all(isinstance(meta.get(k), t) for k, t in kinds.items())
    except (ValueError, OSError):
        ok = False
    if not ok:
        raise CheckpointError(f"{path}: not a resume state ({', '.join(kinds)}); delete the folder's .resume to "
                              "start over")
    return meta


# What a training folder may hold besides a checkpoint's own files: what training writes (the tuned lens and the
# features fitted beside the weights too), and nothing else. A folder holding anything more and no checkpoint is
# refused before any work (training never deletes what it did not make).
_OWN_ENTRIES = {CONFIG, LOG, RESUME_DIR, MAPS_DIR, LOCK_FILE, *FITTED_FILES,
                *(name + end for name in (WEIGHTS, SNAPSHOTS, LANDSCAPE, WEIGHT_SNAPSHOTS) for end in ("", PENDING))}


def is_own_fitted_file(path: Path) -> bool:
    """Whether `path` is a lens or features file we wrote: a regular file of that name whose safetensors metadata
    holds the key its writer puts there (FITTED_FILES)."""
    key = FITTED_FILES.get(Path(path).name)
    if key is None or file_kind(Path(path), follow=False) != "a regular file":
        return False
    try:
        return key in safetensors_metadata(Path(path))
    except (InputError, OSError, ValueError):  # safetensors' own error is a ValueError subclass too
        return False


def clear_fitted_files(folder: Path) -> int:
    """Remove the lens and features files of ours from a training folder (a fresh run makes them stale: they were
    fitted to earlier weights); anything else of those names is left alone. Returns how many were removed."""
    return sum(remove_own_file(Path(folder) / name) for name in FITTED_FILES if is_own_fitted_file(Path(folder) / name))


def _foreign_fitted_file(path: Path) -> str | None:
    """The name of an entry called lens.safetensors or features.safetensors that we did not write (a run would
    replace it at its end), or None."""
    return next((name for name in FITTED_FILES if file_kind(path / name, follow=False) is not None
                 and not is_own_fitted_file(path / name)), None)


def check_training_folder(out: str | Path) -> Path:
    """The training folder (--out), checked before any work: a name, a folder or nothing yet (its nearest existing
    parent a folder that can be written), empty, holding only what training writes, or a checkpoint; no links."""
    if not str(out).strip():
        raise CheckpointError("--out is empty; name the folder to write the checkpoint to")
    path = Path(out)
    kind = file_kind(path)
    if kind not in (None, "a folder"):
        raise CheckpointError(f"{path}: is {kind}; --out must be a folder (new or holding a checkpoint)")
    if kind is None:
        parent = next(p for p in path.absolute().parents if p.exists())
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise CheckpointError(f"{path}: its folder {parent} cannot be written; choose another --out")
        return path
    check_links(path)
    foreign = sorted(e.name for e in path.iterdir() if e.name not in _OWN_ENTRIES and not TEMP_NAME.match(e.name))
    if foreign and not (path / CONFIG).is_file():
        raise CheckpointError(f"{path}: holds files that training did not write ({', '.join(foreign[:3])}"
                              f"{', …' if len(foreign) > 3 else ''}) and no checkpoint; choose a new or empty folder")
    if (name := _foreign_fitted_file(path)) is not None:
        raise CheckpointError(f"{path / name}: was not written by llmcore (no {FITTED_FILES[name]!r} metadata) and a "
                              "run would replace it; move it away or choose another --out")
    if not os.access(path, os.W_OK | os.X_OK):
        raise CheckpointError(f"{path}: cannot be written; choose another --out")
    return path


def checkpoint_bytes(n_params: int, weight_snapshots: int) -> int:
    """About how many bytes a run writes at its peak: weights, resume state (optimizer moments, weights) and weight
    snapshots, each once in place and once as the `.new` copy of the next write, plus 16 MB for the rest."""
    per_copy = 4 * n_params * 4 + 2 * n_params * (weight_snapshots + 1)
    return 2 * per_copy + (16 << 20)


def check_free_space(path: Path, need: int) -> None:
    """Refuse a run whose folder's disk has less free space than it will write (found before training, not after)."""
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if free < need:
        raise CheckpointError(f"{path}: {free / 1e6:,.1f} MB free on its disk, and training writes about "
                              f"{need / 1e6:,.1f} MB; free some space or choose another --out")


def has_complete_checkpoint(path: Path) -> bool:
    """True if the folder holds a finished training run (not only an interrupted one)."""
    if not (path / CONFIG).is_file():
        return False
    try:
        return bool(read_config(path)["metrics"].get("complete"))
    except (CheckpointError, KeyError, TypeError):
        return False
