"""A class on one server: N sessions of a classroom-mode dashboard typing prompts and moving sliders at once.

usage: python bench/bench_classroom.py [--sessions 30] [--rounds 5]
Starts `python -m dashboard --classroom` on a free port (as tests/test_load.py does) and speaks to it over
Streamlit's websocket with the messages a browser sends: the teacher (a session on this machine) and N-1 visitors
(their addresses forwarded by a proxy on this machine). Each round every session types a prompt at the same moment,
then every session moves the step slider at the same moment; every completion must equal the prompt run alone and
every step's caption be the same in every session. Prints the time from each action's message to the end of its
run (median, 90th percentile, worst: the wait a student has when the whole class acts at once), the CPU time the
server spent per action, and the server's RSS after the first round and after the last. The machine's load counts:
measure on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=30, help="sessions at once: the teacher and sessions-1 visitors")
    ap.add_argument("--rounds", type=int, default=5, help="prompts (and slider moves) per session; at most 25")
    args = ap.parse_args()
    if not 2 <= args.sessions <= 500 or not 1 <= args.rounds <= 25:  # 25: under a visitor's 30 new prompts a minute
        ap.error("--sessions must be 2 to 500 and --rounds 1 to 25")
    from llmcore.analysis.trace import trace_generation
    from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
    from tests.servers import free_port, running_server
    from tests.test_load import PROMPTS, classroom_cmd, classroom_load

    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    expected = {p: trace_generation(ckpt, p).completion.split() for p in PROMPTS}
    port = free_port()
    with running_server(classroom_cmd(port), port, ROOT, env={**os.environ, "MALLOC_ARENA_MAX": "2"}) as proc:
        t0 = time.perf_counter()
        report = asyncio.run(classroom_load(f"http://127.0.0.1:{port}", proc.pid, expected,
                                            sessions=args.sessions, rounds=args.rounds))
        elapsed = time.perf_counter() - t0
    every = report.prompts + report.sliders
    print(f"{args.sessions} sessions x {args.rounds} rounds (a prompt, then a step-slider move, all sessions at once) "
          f"in {elapsed:.0f} s on {len(os.sched_getaffinity(0))} cores")
    for name, times in (("every action", every), ("prompt typed", report.prompts), ("step slider", report.sliders)):
        p50, p90 = np.percentile(times, [50, 90])
        print(f"redraw, {name:>12}: median {p50:.2f} s, p90 {p90:.2f} s, worst {max(times):.2f} s "
              f"({len(times)} actions)")
    print(f"server CPU over the rounds {report.cpu_s:.1f} s: {report.cpu_s / len(every):.3f} s an action")
    print(f"server RSS after the first round {report.rss[0]:.0f} MB, after the last {report.rss[1]:.0f} MB")


if __name__ == "__main__":
    main()
