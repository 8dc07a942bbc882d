"""What the tuned lens adds to `llmcore train`: one run as `make train-default` makes it (its callbacks attached as the
CLI attaches them), timing the whole run and the lens phase side by side, with the lens's KL per depth.

usage: python -m bench.bench_lens [--steps N] [--threads N]
The bar (issue 29): the lens phase adds at most 15 % to the training time. Both are measured in the same run on the
same threads, so a busy machine slows both; the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from llmcore.maps.callbacks import MapCacheCallback
from llmcore.model.config import GPTConfig
from llmcore.training.config import TrainConfig
from llmcore.training.lens_phase import TunedLensCallback
from llmcore.training.trainer import TrainCallback, Trainer
from llmcore.world.load import DEFAULT_WORLD

BAR = 0.15


class PhaseClock(TrainCallback):
    """Wall and CPU time (this process, all threads) at the start of each end-of-training phase."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, float]] = []

    def on_train_start(self, trainer: Trainer) -> None:
        self.marks.append(("training loop", time.perf_counter(), time.process_time()))

    def on_phase(self, trainer: Trainer, phase: str) -> None:
        self.marks.append((phase.split(":")[0], time.perf_counter(), time.process_time()))

    def table(self, end: tuple[float, float]) -> list[tuple[str, float, float]]:
        """(phase, wall seconds, CPU seconds), each phase until the next one starts."""
        ends = [(w, c) for _, w, c in self.marks[1:]] + [end]
        return [(name, e[0] - w, e[1] - c) for (name, w, c), e in zip(self.marks, ends)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=TrainConfig().steps, help="training steps (default: the bundled "
                    "model's)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2, as make train-default)")
    args = ap.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    lens, clock = TunedLensCallback(), PhaseClock()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(Path(tmp) / "run", DEFAULT_WORLD, GPTConfig(),
                          TrainConfig(steps=args.steps, threads=args.threads),
                          callbacks=[clock, MapCacheCallback(), lens])  # the clock first: it sees each phase begin
        trainer.run()
        rows = clock.table((time.perf_counter(), time.process_time()))
    print(f"{'phase':<34}{'wall s':>9}{'CPU s':>9}")
    for name, wall, cpu in rows:
        print(f"{name:<34}{wall:>9.1f}{cpu:>9.1f}")
    lens_wall, lens_cpu = rows[-1][1], rows[-1][2]
    run_wall, run_cpu = sum(r[1] for r in rows[:-1]), sum(r[2] for r in rows[:-1])
    print(f"{'the run without the lens phase':<34}{run_wall:>9.1f}{run_cpu:>9.1f}")
    print(f"the lens adds {lens_wall / run_wall:.1%} of wall time ({lens_cpu / run_cpu:.1%} of CPU time) to the run; "
          f"bar {BAR:.0%}: {'holds' if lens_wall / run_wall <= BAR else 'FAILS'}")
    r = lens.lens.report
    print(f"{'depth':<10}{'KL logit lens':>15}{'KL tuned lens':>15}")
    for name, a, b in zip(r.layer_names, r.kl_logit, r.kl_tuned):
        print(f"{name:<10}{a:>15.4f}{b:>15.4f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
