"""Training jobs started from the browser: a background thread running llmcore's Trainer, watched by callbacks."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashboard import classroom
from dashboard.folders import CHECKPOINTS_DIR, DATA_DIR, NAME_RE, RESERVED_NAMES
from llmcore import inputs
from llmcore.files import atomic_write
from llmcore.maps.callbacks import MapCacheCallback
from llmcore.maps.store import MapBook
from llmcore.model.config import GPTConfig
from llmcore.training.config import TrainConfig
from llmcore.training.lens_phase import TunedLensCallback
from llmcore.training.trainer import TrainCallback, Trainer
from llmcore.training.warmstart import WARM_DEFAULTS
from llmcore.world.load import MAX_WORLD_BYTES, world_from_dict
from llmcore.world.types import WorldError

if TYPE_CHECKING:
    from llmcore.model.checkpoint import Checkpoint

LANDSCAPE_GRID = 11  # loss landscapes of a browser run: 11 × 11 (the bundled model's are 21 × 21, 4× the work)


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
    warm: bool = False  # a warm start: `total` is the most steps, the run stops when its bars hold
    checks: list[dict[str, Any]] = field(default_factory=list)  # a warm run's bar checks
    step: int = 0
    loss: float = float("nan")
    evals: list[dict[str, Any]] = field(default_factory=list)
    state: str = "starting"  # starting, running, finishing, cancelling, done, cancelled, failed
    message: str = ""
    started: float = field(default_factory=time.time)
    first_step_at: float | None = None  # when step `first_step` ended: the pace is measured from there
    first_step: int = 0
    last_step_at: float | None = None
    phases: list[list] = field(default_factory=list)  # [name, started, ended or None] of end-of-training work
    trainer: Trainer | None = None
    thread: threading.Thread | None = None

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        now = time.time()
        if self.first_step_at is None:
            self.first_step_at, self.first_step = now, step
        self.step, self.loss, self.last_step_at = step, loss, now
        if self.state == "starting":
            self.state = "running"

    def on_phase(self, trainer: Trainer, phase: str) -> None:
        self.begin_phase(phase)

    def begin_phase(self, phase: str | None) -> None:
        """Close the running phase of end-of-training work and start the next (None: all done)."""
        now = time.time()
        if self.phases and self.phases[-1][2] is None:
            self.phases[-1][2] = now
        if phase is not None:
            self.phases.append([phase, now, None])
            if self.state == "running":
                self.state = "finishing"

    @property
    def seconds_per_step(self) -> float | None:
        """Measured on the steps run so far (from the end of the first one, so start-up is not counted)."""
        if self.first_step_at is None or self.step - self.first_step < 3:
            return None
        return (self.last_step_at - self.first_step_at) / (self.step - self.first_step)

    def status_text(self) -> str:
        """One line: what the run is doing, the loss, the measured pace and how long training has left."""
        if self.step == 0:
            return f"'{self.name}': preparing the corpus and the model ({time.time() - self.started:.0f} s)"
        pace = self.seconds_per_step
        most = "at most " if self.warm else ""
        text = f"'{self.name}': step {self.step:,} of {most}{self.total:,} · loss {self.loss:.3f}"
        if pace is not None and self.step < self.total and self.state in ("running", "cancelling"):
            text += f" · {pace * 1000:.0f} ms a step, about {pace * (self.total - self.step):.0f} s of training left"
        return text + f" · {self.state}"

    def phase_lines(self) -> list[str]:
        """One line per piece of end-of-training work: done with its time, or running for how long."""
        now = time.time()
        return [f"✓ {name}: {end - start:.1f} s" if end is not None else f"… {name}: running, {now - start:.0f} s"
                for name, start, end in self.phases]

    def on_eval(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.evals.append(record)

    def on_warm_check(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.checks.append(record)

    def check_line(self) -> str | None:
        """A warm run's last check of its bars, in words (None before the first)."""
        if not self.checks:
            return None
        r = self.checks[-1]
        if not r["failing"]:
            return f"at step {r['step']} every bar holds: the new facts are learned and the old ones kept"
        return f"at step {r['step']} still learning: " + "; ".join(r["failing"])

    def cancel(self) -> None:
        if self.trainer is not None and self.state in ("starting", "running"):
            self.state = "cancelling"
            self.trainer.request_stop()

    @property
    def finished(self) -> bool:
        return self.state in ("done", "cancelled", "failed")


def warm_start_plan(base: Checkpoint | None, world_text: str) -> tuple[bool, str]:
    """Whether a model trained from `world_text` can start from `base` (a warm start), and the sentence that says
    so: what changed and what the run does, or why it trains from scratch."""
    from llmcore.training.warmstart import is_warm_base, warm_start_problem, world_change

    if base is None or not is_warm_base(base):
        return False, "The selected model is not one of ours; the new model trains from scratch."
    try:
        world = world_from_dict(validate_world_text(world_text))
    except WorldError:
        return False, "The world file has a problem (see below when you train)."
    problem = warm_start_problem(base, world)
    if problem:
        return False, f"A warm start from '{base.name}' does not apply: {problem}."
    change = world_change(base.world, world)
    shown = ", ".join(change.words[:6]) + (" …" if len(change.words) > 6 else "")
    return True, (f"Warm start from '{base.name}': it already knows every entry but {len(change.words)} "
                  f"({shown}). Training starts from its weights, repeats the sentences about the change, and stops "
                  "when the new facts are learned and the old ones still hold (the steps below are the most).")


def start_training(name: str, world_text: str, steps: int, threads: int = 1, *,
                   warm_from: Path | None = None) -> TrainingJob:
    """Validate, save the world under data/worlds/, and train checkpoints/<name> in a background thread; with
    `warm_from`, from that checkpoint (llmcore.training.warmstart), which is checked before the thread starts."""
    if classroom.visitor():  # the page offers a visitor no training form; this holds whatever the page does
        raise ValueError(classroom.refusal("models are trained"))
    out = checkpoint_dir_for(name)
    validate_world_text(world_text, f"world for '{name}'")
    if not 20 <= steps <= 20_000:
        raise ValueError(f"steps must be between 20 and 20,000, got {steps}")
    base = _warm_base(warm_from, world_text) if warm_from is not None else None
    world_path = DATA_DIR / "worlds" / f"{name}.toml"
    atomic_write(world_path, world_text.encode())
    job = TrainingJob(name, out, steps, warm=base is not None)
    config = (TrainConfig(**{**WARM_DEFAULTS, "steps": steps, "threads": threads}) if base is not None else
              TrainConfig(steps=steps, eval_every=max(steps // 8, 10), checkpoint_every=max(steps // 4, 10),
                          warmup_steps=min(100, steps // 10), threads=threads, landscape_grid=LANDSCAPE_GRID))

    def run() -> None:
        try:
            job.trainer = Trainer(out, world_path, None if base else GPTConfig(), config,
                                  callbacks=[MapCacheCallback(), TunedLensCallback(), job],
                                  warm_from=base)  # the tuned lens beside the weights, as `llmcore train` fits it
            ckpt = job.trainer.run()
            if not job.trainer.stop_requested:
                job.begin_phase("maps: the model's states on reference sentences, PCA of every layer")
                MapBook(ckpt).precompute(methods=("pca",), dims=(2,))
            job.begin_phase(None)
            job.state = "cancelled" if job.trainer.stop_requested else "done"
        except Exception as e:  # reported on the page; the last good checkpoint stays on disk
            job.begin_phase(None)
            job.state, job.message = "failed", f"{type(e).__name__}: {e}"

    job.thread = threading.Thread(target=run, name=f"train-{name}", daemon=True)
    job.thread.start()
    return job


def _warm_base(path: Path, world_text: str) -> Checkpoint:
    """The checkpoint a warm start begins from, checked against the world before any work."""
    from llmcore.model.checkpoint import load_checkpoint
    from llmcore.training.warmstart import warm_start_problem

    base = load_checkpoint(path)
    problem = warm_start_problem(base, world_from_dict(validate_world_text(world_text)))
    if problem:
        raise ValueError(f"cannot start from '{base.name}': {problem}")
    return base
