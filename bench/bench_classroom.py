"""A class on one server: N sessions of a classroom-mode dashboard typing prompts and moving sliders at once, on the
machine as it is and with one more busy core, side by side in one run (measure on an idle machine).

usage: python -m bench.bench_classroom [--sessions 30] [--rounds 3]
For each condition, starts `python -m dashboard --classroom` on a free port (as tests/test_load.py does) and speaks
to it over Streamlit's websocket with the messages a browser sends: the teacher (a session on this machine) and
N-1 visitors (their addresses forwarded by a proxy on this machine). Each round every session types a prompt at the
same moment, then every session moves the step slider at the same moment; every completion must equal the prompt
run alone and every step's caption be the same in every session. Prints the time from each action's message to the
end of its run (median, 90th percentile, worst: the wait a student has when the whole class acts at once), the CPU
time the server spent per action, the server's RSS, and the memory one more session takes (RSS growth from the
teacher's session alone to all N open, per session). Other jobs on the machine count: say the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def measure(sessions: int, rounds: int, expected: dict[str, list[str]]):
    """One fresh classroom server under `sessions` sessions for `rounds` rounds: (LoadReport, seconds taken)."""
    from tests.servers import free_port, running_server
    from tests.test_load import classroom_cmd, classroom_load

    port = free_port()
    with running_server(classroom_cmd(port), port, ROOT, env={**os.environ, "MALLOC_ARENA_MAX": "2"}) as proc:
        t0 = time.perf_counter()
        report = asyncio.run(classroom_load(f"http://127.0.0.1:{port}", proc.pid, expected, sessions=sessions,
                                            rounds=rounds))
        return report, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=30, help="sessions at once: the teacher and sessions-1 visitors")
    ap.add_argument("--rounds", type=int, default=3, help="prompts (and slider moves) per session; at most 25")
    ap.add_argument("--no-busy", action="store_true", help="the first column only (memory figures, a quick check)")
    args = ap.parse_args()
    if not 2 <= args.sessions <= 500 or not 1 <= args.rounds <= 25:  # 25: under a visitor's 30 new prompts a minute
        ap.error("--sessions must be 2 to 500 and --rounds 1 to 25")
    from llmcore.analysis.trace import trace_generation
    from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
    from tests.test_load import PROMPTS

    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    expected = {p: trace_generation(ckpt, p).completion.split() for p in PROMPTS}
    load_before = os.getloadavg()[0]
    results = {"as found": measure(args.sessions, args.rounds, expected)}
    if not args.no_busy:
        busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        try:
            results["+ busy core"] = measure(args.sessions, args.rounds, expected)
        finally:
            busy.kill()
            busy.wait()
    print(f"{args.sessions} sessions x {args.rounds} rounds (a prompt, then a step-slider move, all sessions at once) "
          f"on {len(os.sched_getaffinity(0))} cores; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")
    print(f"{'':36} " + " ".join(f"{c[:10]:>10}" for c in results))
    reports = [r for r, _ in results.values()]
    rows = {"took (s)": [t for _, t in results.values()]}
    for name, pick in (("every action", lambda r: r.prompts + r.sliders), ("prompt typed", lambda r: r.prompts),
                       ("step slider", lambda r: r.sliders)):
        rows[f"{name}: median (s)"] = [float(np.median(pick(r))) for r in reports]
        rows[f"{name}: p90 (s)"] = [float(np.percentile(pick(r), 90)) for r in reports]
    rows["every action: worst (s)"] = [max(r.prompts + r.sliders) for r in reports]
    rows["server CPU an action (s)"] = [r.cpu_s / len(r.prompts + r.sliders) for r in reports]
    rows["RSS, teacher alone (MB)"] = [r.rss_open[0] for r in reports]
    rows[f"RSS, {args.sessions} sessions open (MB)"] = [r.rss_open[1] for r in reports]
    rows["RSS after the last round (MB)"] = [r.rss[1] for r in reports]
    rows["memory one more session (MB)"] = [r.per_session_mb() for r in reports]
    for name, values in rows.items():
        print(f"{name:36} " + " ".join(f"{v:10.2f}" for v in values))


if __name__ == "__main__":
    main()
