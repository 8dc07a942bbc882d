"""Opening any model folder: one of our checkpoints (at a weight snapshot's step, if given) or a local Hugging Face
folder. Our checkpoints can be opened lazily (everything checked, the weights read into the model when it is first
used), so that a page that needs only the vocabulary, the world and the maps starts without torch."""

from __future__ import annotations

from pathlib import Path

from llmcore.model.checkpoint import Checkpoint, CheckpointError, is_hf_folder, load_checkpoint


def any_checkpoint(path: str | Path, step: int | None = None, *, lazy: bool = False) -> Checkpoint:
    """Our checkpoint folders (at a weight snapshot's step, if given; lazily if asked and no step is) and local
    Hugging Face folders alike; a missing 'hf' extra is a CheckpointError that says what to install."""
    if not is_hf_folder(path):
        if step is None:
            return load_checkpoint(path, lazy=lazy)
        from llmcore.training.snapshots import at_step

        return at_step(load_checkpoint(path), step)
    if step is not None:
        raise CheckpointError(f"{path}: a Hugging Face model folder has no weight snapshots to choose a step from")
    try:
        from llmcore.model.hf import load_hf_checkpoint

        return load_hf_checkpoint(path)
    except ImportError as e:
        raise CheckpointError(str(e)) from None
