"""A new animal in the bundled world, trained as the Training page trains it (dashboard.jobs, one thread): warm
from the bundled model until the bars hold, and (with --scratch) from random weights for the page's 300 steps, side
by side in one run, into temporary folders.

usage: python -m bench.bench_warmstart [--scratch] [--threads N]
Prints, for each run: time to the first step, time per step, steps taken, each piece of end-of-training work, the
total, and the bars at the end (the new animal's habitat and diet, and the old world's held-out habitat probability).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from dashboard import jobs
from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from llmcore.world.edit import set_animal, to_toml
from llmcore.world.load import DEFAULT_WORLD, read_world_data

LEMUR = dict(group="exotic", kind="a wild animal", habitats=["jungle", "forest", "tree"],
             diet=["banana", "mango", "figs", "berries"], drinks=["water"])


def wait_for(job: jobs.TrainingJob, t0: float) -> tuple[float | None, float]:
    """Wait for a training job started at t0 (time.time()); the seconds to its first step and to its end."""
    first = None
    while not job.finished:
        if first is None and job.step > 0:
            first = time.time() - t0
        time.sleep(0.1)
    return first, time.time() - t0


def run(name: str, text: str, steps: int, threads: int, warm_from: Path | None) -> float:
    t0 = time.time()
    job = jobs.start_training(name, text, steps, threads=threads, warm_from=warm_from)
    first, total = wait_for(job, t0)
    if job.state != "done":
        sys.exit(f"{name}: the run ended as {job.state}: {job.message}")
    m = load_checkpoint(job.out).metrics
    print(f"{name}: first step after {first:.1f} s, {job.seconds_per_step * 1000:.0f} ms a step, "
          f"{m['steps_done']} steps")
    for line in job.phase_lines():
        print(f"  {line}")
    if job.checks:
        last = job.checks[-1]
        print(f"  bars at step {last['step']}: " + ", ".join(f"{k} {v:.3f}" for k, v in last.items()
                                                           if isinstance(v, float) and k != "seconds")
              + ("  (every bar holds)" if not last["failing"] else f"  failing: {last['failing']}"))
    print(f"  held-out habitat probability {m.get('habitat_mass', float('nan')):.3f}, diet share "
          f"{m.get('diet_share', float('nan')):.3f}, neighbour purity {m.get('neighbour_purity', float('nan')):.3f}")
    print(f"  total {total:.1f} s")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scratch", action="store_true", help="also train from scratch (300 steps, minutes)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    text = to_toml(set_animal(read_world_data(DEFAULT_WORLD), "lemur", new=True, **LEMUR))
    with tempfile.TemporaryDirectory() as tmp:
        jobs.CHECKPOINTS_DIR, jobs.DATA_DIR = Path(tmp) / "checkpoints", Path(tmp) / "data"
        warm = run("warm", text, 400, args.threads, DEFAULT_CHECKPOINT)
        if args.scratch:
            scratch = run("scratch", text, 300, args.threads, None)
            print(f"warm start / from scratch: {warm / scratch:.2f}× the time")


if __name__ == "__main__":
    main()
