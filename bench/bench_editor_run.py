"""The Training page's default run, timed end to end: the bundled world, 300 steps, one thread, as the page's
"Start training" button runs it (dashboard.jobs), into a temporary folder.

usage: python -m bench.bench_editor_run [--steps N]
Prints the time to the first step, the measured time per step, each piece of end-of-training work and the total.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_warmstart import wait_for
from dashboard import jobs
from llmcore.world.load import DEFAULT_WORLD


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    steps = ap.parse_args().steps
    with tempfile.TemporaryDirectory() as tmp:
        jobs.CHECKPOINTS_DIR, jobs.DATA_DIR = Path(tmp) / "checkpoints", Path(tmp) / "data"
        t0 = time.time()
        job = jobs.start_training("editor-default", DEFAULT_WORLD.read_text(), steps)
        first, total = wait_for(job, t0)
    if job.state != "done":
        sys.exit(f"the run ended as {job.state}: {job.message}")
    print(f"first step after     {first:7.1f} s")
    print(f"time per step        {job.seconds_per_step * 1000:7.0f} ms")
    for line in job.phase_lines():
        print(f"  {line}")
    print(f"total, start to done {total:7.1f} s")


if __name__ == "__main__":
    main()
