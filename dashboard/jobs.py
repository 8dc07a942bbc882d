"""Training jobs started from the browser: a background thread running llmcore's Trainer, watched by callbacks."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmcore import inputs
from llmcore.checkpoint import REPO_ROOT, atomic_write
from llmcore.model import GPTConfig
from llmcore.train import TrainCallback, TrainConfig, Trainer
from llmcore.world import MAX_WORLD_BYTES, WorldError, world_from_dict

DATA_DIR = REPO_ROOT / "data"
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # used with fullmatch: `$` would let "abc\n" through
RESERVED_NAMES = ("default",)  # the bundled model


def validate_world_text(text: str, source: str = "edited world") -> dict:
    """Parse and validate a world file's text; raises WorldError naming the problem."""
    if len(text.encode()) > MAX_WORLD_BYTES:
        raise WorldError(source, "file", f"is larger than {MAX_WORLD_BYTES:,} bytes")
    try:
        data = inputs.parse_toml(text)  # nesting checked before parsing; a BOM is dropped
    except inputs.InputError as e:
        raise WorldError(source, "file", str(e)) from None
    world_from_dict(data, source)
    return data


def checkpoint_dir_for(name: str) -> Path:
    """checkpoints/<name> for a new model; the name is checked so nothing lands outside the project."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(f"model name {name!r}: use 1-40 lower-case letters, digits, '-' or '_'")
    if name in RESERVED_NAMES:
        raise ValueError("'default' is the bundled model; choose another name")
    return CHECKPOINTS_DIR / name


@dataclass
class TrainingJob(TrainCallback):
    """One training run in a thread; its fields are read by the page while it runs."""

    name: str
    out: Path
    total: int
    step: int = 0
    loss: float = float("nan")
    evals: list[dict[str, Any]] = field(default_factory=list)
    state: str = "starting"  # starting, running, cancelling, done, cancelled, failed
    message: str = ""
    started: float = field(default_factory=time.time)
    trainer: Trainer | None = None
    thread: threading.Thread | None = None

    def on_step_end(self, trainer, step, loss):
        self.step, self.loss, self.state = step, loss, "running" if self.state != "cancelling" else self.state

    def on_eval(self, trainer, record):
        self.evals.append(record)

    def cancel(self) -> None:
        if self.trainer is not None and self.state in ("starting", "running"):
            self.state = "cancelling"
            self.trainer.request_stop()

    @property
    def finished(self) -> bool:
        return self.state in ("done", "cancelled", "failed")


def start_training(name: str, world_text: str, steps: int, threads: int = 1) -> TrainingJob:
    """Validate, save the world under data/worlds/, and train checkpoints/<name> in a background thread."""
    out = checkpoint_dir_for(name)
    validate_world_text(world_text, f"world for '{name}'")
    if not 20 <= steps <= 20_000:
        raise ValueError(f"steps must be between 20 and 20,000, got {steps}")
    world_path = DATA_DIR / "worlds" / f"{name}.toml"
    atomic_write(world_path, world_text.encode())
    job = TrainingJob(name, out, steps)
    config = TrainConfig(steps=steps, eval_every=max(steps // 8, 10), checkpoint_every=max(steps // 4, 10),
                         warmup_steps=min(100, steps // 10), threads=threads)

    def run() -> None:
        try:
            job.trainer = Trainer(out, world_path, GPTConfig(), config, [job])
            job.trainer.run()
            job.state = "cancelled" if job.trainer.stop_requested else "done"
        except Exception as e:  # reported on the page; the last good checkpoint stays on disk
            job.state, job.message = "failed", f"{type(e).__name__}: {e}"

    job.thread = threading.Thread(target=run, name=f"train-{name}", daemon=True)
    job.thread.start()
    return job
