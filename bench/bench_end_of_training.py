"""Where a `llmcore train` run of the bundled world spends its time after the last training step (issue 28, item 2).

usage: python -m bench.bench_end_of_training [--steps N] [--threads N]
Runs the Trainer as the CLI runs it (its map and tuned-lens callbacks attached) and times, with time.perf_counter,
every piece: the set-up (corpus, tokens), the training steps, the weight snapshots and their measures, the periodic
evaluations and checkpoint writes, then each piece of end-of-training work (the final evaluation, the last snapshots,
the loss landscapes, writing the checkpoint, the Watch training maps, the tuned lens, reading the checkpoint back).
Prints each piece's seconds and share of the run, and the share the end-of-training work would take of a default
run (the steps scaled to the default count, everything else as measured: it does not depend on the step count).
The bar: end-of-training work <= 20 % of a default run. The load average is printed: under load every piece slows.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmcore.maps.callbacks import MapCacheCallback
from llmcore.model.checkpoint import load_checkpoint
from llmcore.model.config import GPTConfig
from llmcore.training.config import TrainConfig
from llmcore.training.lens_phase import TunedLensCallback
from llmcore.training.trainer import TrainCallback, Trainer
from llmcore.world.load import DEFAULT_WORLD

BAR = 0.20


class Clock(TrainCallback):
    """Seconds per piece: methods of the trainer wrapped with a timer, and the callbacks' phases timed between
    their announcement and the next one (or the end of the run)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.peak_mb: dict[str, float] = {}  # the process's peak RSS when the piece last ended
        self.loop_ended: float | None = None
        self.usable: float | None = None  # when the finished model's checkpoint was first committed
        self.phase: tuple[str, float] | None = None

    def wrap(self, owner: Any, method: str, name: str | Callable[[], str]) -> None:
        inner = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.add(name() if callable(name) else name, time.perf_counter() - t0)
        setattr(owner, method, timed)

    def add(self, key: str, seconds: float) -> None:
        self.seconds[key] += seconds
        self.peak_mb[key] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        if trainer.finished:
            self.loop_ended = time.perf_counter()

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        if trainer.finished and self.usable is None:
            self.usable = time.perf_counter()

    def on_phase(self, trainer: Trainer, phase: str) -> None:
        if self.loop_ended is None:
            return
        self.close()
        if phase.startswith(("watch", "tuned", "Watch")) or "lens" in phase or "maps" in phase:
            self.phase = ("end: " + phase.split(":")[0], time.perf_counter())

    def close(self) -> None:
        if self.phase is not None:
            self.add(self.phase[0], time.perf_counter() - self.phase[1])
            self.phase = None


def instrument(trainer: Trainer, clock: Clock) -> None:
    """Time the trainer's pieces; each is named for the loop or for the end of training, by when it ran."""
    def when(piece: str) -> Callable[[], str]:
        return lambda: f"{'end' if clock.loop_ended is not None else 'loop'}: {piece}"

    clock.wrap(trainer, "_train_step", "loop: training steps")
    clock.wrap(trainer.weight_snaps, "record", when("weight snapshots and their measures"))
    clock.wrap(trainer, "_snapshot", when("embedding snapshots"))
    clock.wrap(trainer, "_evaluate", when("evaluation"))
    clock.wrap(trainer, "_landscapes", "end: loss landscapes")
    clock.wrap(trainer, "_write", when("writing checkpoints (landscapes apart)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="training steps (default 40: the end is what is timed)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2, as make train-default)")
    args = ap.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        trainer = Trainer(Path(tmp) / "run", DEFAULT_WORLD, GPTConfig(),
                          TrainConfig(steps=args.steps, threads=args.threads),
                          callbacks=[clock, MapCacheCallback(), TunedLensCallback()])  # as cmd_train attaches them
        setup = time.perf_counter() - t0
        instrument(trainer, clock)
        trainer.run()
        clock.close()
        t1 = time.perf_counter()
        load_checkpoint(trainer.out_dir)  # what `llmcore train` does last (its summary line)
        clock.add("end: reading the checkpoint back", time.perf_counter() - t1)
        total = time.perf_counter() - t0
    rows = _rows(clock.seconds, setup, total)
    _print(rows, total, args.steps, clock.peak_mb)
    if clock.usable is not None and clock.loop_ended is not None:
        print(f"the model was saved and usable {clock.usable - clock.loop_ended:.1f} s after the last step; "
              f"the work after that took {t1 - clock.usable:.1f} s")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def _rows(seconds: dict[str, float], setup: float, total: float) -> list[tuple[str, float]]:
    landscapes = seconds.get("end: loss landscapes", 0.0)
    seconds["end: writing checkpoints (landscapes apart)"] -= landscapes  # _write calls _landscapes
    rows = [("set-up: corpus, tokens, model", setup)] + sorted(seconds.items(), key=lambda kv: not kv[0][:4] == "loop")
    rows.append(("other (callbacks, bars, the loop's own work)", total - sum(s for _, s in rows)))
    return rows


def _print(rows: list[tuple[str, float]], total: float, steps: int, peak_mb: dict[str, float]) -> None:
    print(f"{'piece':<58}{'seconds':>9}{'share':>8}{'peak RSS MB':>13}")
    for name, s in rows:
        peak = f"{peak_mb[name]:>13.0f}" if name in peak_mb else ""
        print(f"{name:<58}{s:>9.2f}{s / total:>8.1%}{peak}")
    print(f"{'the whole run':<58}{total:>9.2f}")
    end = sum(s for n, s in rows if n.startswith("end"))
    per_step = dict(rows)["loop: training steps"] / steps
    full = TrainConfig().steps
    projected = total + per_step * (full - steps)
    print(f"end-of-training work: {end:.1f} s, {end / total:.1%} of this {steps}-step run; of a default {full}-step "
          f"run ({per_step * 1000:.0f} ms a step, everything else as measured): {end / projected:.1%} of "
          f"{projected:.0f} s (bar {BAR:.0%}: {'holds' if end / projected <= BAR else 'FAILS'})")


if __name__ == "__main__":
    main()
